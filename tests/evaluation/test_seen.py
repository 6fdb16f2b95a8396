"""The record of the images a bundled model saw, and what ``evaluate`` does with it."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from mien.cli.main import app
from mien.evaluation.datasets import LabeledDataset
from mien.evaluation.seen import (
    SEEN_KINDS,
    build_seen,
    fingerprint,
    seen_images,
    without_seen,
)
from mien.io import read_image
from mien.registry import get_spec
from mien.weights import DEFAULT_MODEL


def test_fingerprint_is_of_the_pixels_not_the_file(tmp_path):
    rng = np.random.default_rng(0)
    grey = rng.integers(0, 256, (48, 48), np.uint8)
    Image.fromarray(grey).save(tmp_path / "a.png")
    Image.fromarray(np.dstack([grey] * 3)).save(tmp_path / "a_rgb.tiff")  # 3 equal channels
    Image.fromarray(grey).save(tmp_path / "a.jpg", quality=90)  # lossy: other pixels
    fp = fingerprint(read_image(tmp_path / "a.png"))
    assert fp == fingerprint(grey) == fingerprint(read_image(tmp_path / "a_rgb.tiff"))
    assert fp != fingerprint(read_image(tmp_path / "a.jpg"))
    assert fp != fingerprint(grey.T.copy())  # same bytes in another order
    assert fp != fingerprint(grey.reshape(24, 96))  # same bytes, another shape
    assert 0 <= fp < 2**64
    colour = rng.integers(0, 256, (8, 8, 3), np.uint8)
    assert fingerprint(colour) != fingerprint(colour[..., 0])
    with pytest.raises(ValueError, match=r"uint8 image; got float32"):
        fingerprint(grey.astype(np.float32))


def test_lookup_and_precedence():
    seen = build_seen({"compared": [5, 7], "trained": [7, 9], "tuned": [9, 11]}, "m")
    assert seen.fingerprints.tolist() == [5, 7, 9, 11]
    # an image used two ways keeps the first kind in SEEN_KINDS' order
    query = np.asarray([9, 7, 5, 11, 6, 2**64 - 1], np.uint64)
    assert seen.lookup(query).tolist() == ["trained", "trained", "compared", "tuned", None, None]
    assert build_seen({}, "m").lookup(query).tolist() == [None] * 6
    with pytest.raises(ValueError, match=r"unknown kind\(s\) \['test'\]"):
        build_seen({"test": [1]}, "m")


def test_the_bundled_record_belongs_to_the_bundled_weights():
    spec = get_spec(DEFAULT_MODEL)
    record = seen_images(spec.name, spec.sha256)
    assert record is not None
    counts = {k: int((record.kinds == c).sum()) for c, k in SEEN_KINDS.items()}
    # FER+ train and 24 performers; FER+ val less its copies of train images; 5 performers
    # and the 400 media photos
    assert counts == {"trained": 25007, "tuned": 2932, "compared": 611}
    assert np.all(np.diff(record.fingerprints.astype(np.float64)) > 0)  # sorted, unique
    assert seen_images(spec.name, "0" * 64) is None  # weights of your own under that name
    # none is larger than a 531 px side: a larger photo is not hashed at all
    assert record.max_side == 531
    assert record.could_hold(np.zeros((531, 400, 3), np.uint8))
    assert not record.could_hold(np.zeros((3000, 4000, 3), np.uint8))
    assert seen_images("no_such_model") is None


@pytest.mark.shared
def test_evaluate_marks_and_drops_the_training_performers(shared, tmp_path):
    """P02 trained the bundled model; P01 is a held-out performer."""
    tw = shared / "data/taiwanese"
    with open(tw / "labels.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["subject"] in ("P01", "P02")]
    picked = [r for r in rows if r["subject"] == "P01"][:3]
    picked += [r for r in rows if r["subject"] == "P02"][:2]
    labels = tmp_path / "labels.csv"
    with open(labels, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "label", "subject"])
        for r in picked:
            w.writerow([str(tw / r["path"]), r["label"], r["subject"]])
    dataset = LabeledDataset(
        tmp_path,
        tuple(str(tw / r["path"]) for r in picked),
        tuple(r["label"] for r in picked),
        {"subject": tuple(r["subject"] for r in picked)},
    )
    spec = get_spec(DEFAULT_MODEL)
    kept, dropped = without_seen(dataset, seen_images(spec.name, spec.sha256))
    assert dropped == 2 and kept.columns["subject"] == ("P01",) * 3
    assert kept.paths == dataset.paths[:3] and kept.labels == dataset.labels[:3]

    runner = CliRunner()
    base = ["evaluate", str(labels), "-q", "--bootstrap", "0", "--no-quality", "--all-labels"]
    pred = tmp_path / "pred.csv"
    result = runner.invoke(app, [*base, "--predictions", str(pred)])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["seen"] == {"trained": 2, "tuned": 0, "compared": 3}
    said = " ".join(result.stderr.split())
    assert "2 of the 5 images are ones fer_resnet_v3 was trained on" in said
    with open(pred, newline="") as f:
        marks = {r["subject"]: r["model_saw"] for r in csv.DictReader(f)}
    assert marks == {"P01": "compared", "P02": "trained"}

    result = runner.invoke(app, [*base, "--drop-trained"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (report["n"], report["dropped_trained"]) == (3, 2)
    assert report["seen"] == {"trained": 0, "tuned": 0, "compared": 3}
    assert "memory" not in result.stderr


@pytest.mark.shared
def test_drop_trained_says_when_it_left_too_few_labels(shared, tmp_path):
    tw = shared / "data/taiwanese"
    with open(tw / "labels.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    trained = [r for r in rows if r["subject"] == "P02" and r["label"] != "neutral"][:2]
    held = [r for r in rows if r["subject"] == "P01" and r["label"] == "neutral"][:1]
    labels = tmp_path / "labels.csv"
    with open(labels, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "label"])
        for r in trained + held:
            w.writerow([str(tw / r["path"]), r["label"]])
    result = CliRunner().invoke(app, ["evaluate", str(labels), "-q", "--drop-trained"])
    assert result.exit_code == 2
    said = " ".join(result.stderr.split())
    assert "only the label(s) ['neutral']" in said
    assert "(after --drop-trained left out 2 training image(s))" in said
