from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mien.errors import DatasetError
from mien.evaluation.folds import (
    Scored,
    compare_folds,
    observer_scored,
    pool_folds,
    run_folds,
)
from mien.evaluation.protocol import (
    load_subset,
    observer_reference,
    taiwanese_folds,
    taiwanese_heldout,
    taiwanese_performers,
)
from tests.helpers import ROOT


def test_folds_are_frozen_and_fold_0_is_the_heldout_split():
    folds = taiwanese_folds()
    assert len(folds) == 4
    assert folds[0] == load_subset("taiwanese_heldout")["values"]
    assert [len(f) for f in folds] == [5, 8, 8, 8]
    every = [p for f in folds for p in f]
    assert len(every) == len(set(every)) == 29  # disjoint


@pytest.mark.shared
def test_folds_cover_every_performer(shared):
    rows = list(csv.DictReader(open(shared / "data" / "taiwanese" / "labels.csv")))
    assert {p for f in taiwanese_folds() for p in f} == {r["subject"] for r in rows}


@pytest.mark.shared
def test_taiwanese_performers_matches_heldout_and_refuses_unknown(shared):
    a = taiwanese_heldout(shared)
    b = taiwanese_performers(shared, ["P29", "P01", "P08", "P15", "P22"])
    assert a.paths == b.paths and a.labels == b.labels
    with pytest.raises(DatasetError, match=r"no performer\(s\) \['P04'\]"):
        taiwanese_performers(shared, ["P01", "P04"])


def _scored(correct, subject, label, fold):
    paths = [f"{s}/{i}.jpg" for i, s in enumerate(subject)]
    return Scored(
        np.asarray(correct, bool),
        np.asarray(paths),
        np.asarray(subject),
        np.asarray(label),
        np.asarray(fold, np.int64),
    )


def test_pool_folds_known_values():
    s = Scored.concat(
        [
            _scored([1, 1, 0, 1], list("AABB"), ["fear", "anger", "fear", "anger"], [0] * 4),
            _scored([0, 0], ["C", "C"], ["fear", "fear"], [1, 1]),
        ]
    )
    p = pool_folds(s)
    assert p["n"] == 6 and p["accuracy"] == pytest.approx(0.5)
    assert p["per_class_recall"] == {"anger": (1.0, 2), "fear": (0.25, 4)}
    assert p["per_fold"] == {
        0: {"n": 4, "accuracy": 0.75, "performers": 2},
        1: {"n": 2, "accuracy": 0.0, "performers": 1},
    }
    by = p["by_performer"]  # performers A 1.0, B 0.5, C 0.0: mean 0.5, t(2) 4.303 * 0.5 / sqrt(3)
    assert by["n_groups"] == 3 and by["mean"] == pytest.approx(0.5)
    assert by["ci"] == (0.0, 1.0)  # 0.5 ± 1.242, clipped
    lo, hi = p["accuracy_ci"]
    assert lo == pytest.approx(0.188, abs=1e-3) and hi == pytest.approx(0.812, abs=1e-3)


@pytest.mark.shared
def test_observer_reference_over_all_folds(shared):
    """The observers' plurality matches the intended label on 896 of the 1232 photos (0.727),
    fold 0 giving the fixed split's 143 of 211."""
    parts = [
        observer_scored(taiwanese_performers(shared, f), k) for k, f in enumerate(taiwanese_folds())
    ]
    p = pool_folds(Scored.concat(parts))
    assert p["n"] == 1232 and round(p["accuracy"] * 1232) == 896
    assert p["per_fold"][0]["accuracy"] == pytest.approx(observer_reference(shared).accuracy_all)
    assert p["per_class_recall"]["neutral"] == (0.0, 78)
    assert p["per_class_recall"]["happiness"] == (1.0, 226)


def test_run_folds_needs_one_model_per_fold(tmp_path):
    with pytest.raises(ValueError, match="4 folds need 4 models, got 2"):
        run_folds(["bundled", "bundled"], tmp_path)


def test_run_folds_fold_ids_number_each_fold_once(tmp_path):
    folds = taiwanese_folds()[:2]
    with pytest.raises(ValueError, match="must number the 2 folds, each once"):
        run_folds(["bundled", "bundled"], tmp_path, folds=folds, fold_ids=[1, 1])
    with pytest.raises(ValueError, match="must number the 2 folds"):
        run_folds(["bundled", "bundled"], tmp_path, folds=folds, fold_ids=[0])


def _benchmark(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """``benchmarks/performer_folds.py ARGS`` in a subprocess."""
    script = str(ROOT / "benchmarks" / "performer_folds.py")
    return subprocess.run(
        [sys.executable, script, *args], capture_output=True, text=True, timeout=timeout
    )


@pytest.mark.shared
def test_performer_folds_script_scores_some_folds_under_their_numbers(shared, tmp_path):
    out = tmp_path / "pilot.json"
    proc = _benchmark(
        "--folds", "3,1", "bundled", "bundled", "--limit", "2", "--shared", str(shared),
        "--json", str(out),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(out.read_text())
    assert sorted(summary["intended"]["per_fold"]) == ["1", "3"]
    assert summary["intended"]["n"] == 4
    # each fold's photos come from its own performers (file names start with the number)
    folds = summary["photos"]["intended"]["fold"]
    paths = summary["photos"]["intended"]["path"]
    for k, path in zip(folds, paths, strict=True):
        assert "P" + Path(path).name[:2] in taiwanese_folds()[k]
    assert sorted(set(folds)) == [1, 3]
    bad = _benchmark("--folds", "1,1", "bundled", "bundled", timeout=60)
    assert bad.returncode == 2 and "each of 0..3 once" in bad.stderr


@pytest.mark.shared
def test_performer_folds_script_on_a_tiny_subset(shared, tmp_path):
    out = tmp_path / "folds.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "performer_folds.py"),
         "bundled", "bundled", "bundled", "bundled",
         "--limit", "3", "--shared", str(shared), "--json", str(out)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "pooled, by performer" in proc.stdout
    assert "check before reading this as" in proc.stdout  # the bundled model saw folds 1-3
    summary = json.loads(out.read_text())
    assert summary["intended"]["n"] == 12
    assert [f["n"] for f in summary["intended"]["per_fold"].values()] == [3, 3, 3, 3]
    assert summary["observers"]["n"] == 12  # the same photos as the model's
    assert summary["perceived"]["n"] <= 12  # neutral photos have no observed label
    assert summary["weights"] == ["bundled"] * 4
    assert len(summary["photos"]["intended"]["correct"]) == 12
    same = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "performer_folds.py"),
         "--compare", str(out), str(out)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert same.returncode == 0, same.stderr
    assert "+0.000 [+0.000, +0.000] (12)" in same.stdout  # intended: 12 photos, 12 people
    assert "│     1.000 │" in same.stdout  # McNemar p with no discordant photo


def test_compare_folds_pairs_photo_by_photo():
    people, labels = list("AABBCC"), ["fear"] * 6
    a = _scored([0, 0, 1, 0, 1, 1], people, labels, [0] * 6)
    b = _scored([1, 1, 1, 1, 1, 0], people, labels, [0] * 6)
    c = compare_folds(a, b)
    assert c["n"] == 6 and c["diff"] == pytest.approx(2 / 6)
    assert c["by_performer"]["diffs"] == {"A": 1.0, "B": 0.5, "C": -0.5}
    assert c["by_performer"]["mean_diff"] == pytest.approx(1 / 3)
    assert c["mcnemar_p"] == pytest.approx(0.625)  # 3 against 1 discordant photos
    assert Scored.from_dict(a.to_dict()).to_dict() == a.to_dict()  # JSON round trip
    assert c["per_fold"] == {0: pytest.approx(2 / 6)}
    with pytest.raises(ValueError, match="not scored on the same photos"):
        compare_folds(a, _scored([1] * 6, list("AABBCD"), labels, [0] * 6))
    with pytest.raises(ValueError, match="different lengths"):
        Scored(a.correct, a.path[:2], a.subject, a.label, a.fold)


def test_card_section_lists_each_recipe_and_the_observers():
    from mien.model_card.tables import folds_lines

    def arm(mean, per_fold):
        return {
            "performers": 29,
            "by_performer": mean,
            "by_performer_ci": [mean - 0.05, mean + 0.05],
            "per_fold": {str(k): v for k, v in enumerate(per_fold)},
        }

    folds = {
        "arms": [
            {
                "run": "ft",
                "change": "fine-tune",
                "folds": [["P01", "P08", "P15", "P22", "P29"], ["P02"], ["P03"], ["P05"]],
                "intended": arm(0.65, [0.6, 0.7, 0.6, 0.7]),
                "perceived": arm(0.72, [0.7, 0.7, 0.7, 0.8]),
            }
        ],
        "observers": arm(0.7274, [0.6777, 0.7054, 0.7554, 0.7533]),
    }
    text = "\n".join(folds_lines(folds))
    assert "rest on 5 performers. To score a recipe on all 29," in text and "(4 folds," in text
    assert "| ft | fine-tune | 0.650 [0.600, 0.700] | 0.600, 0.700, 0.600, 0.700 | 0.720" in text
    assert "| 0.727 [0.677, 0.777] | 0.678, 0.705, 0.755, 0.753 | – | – |" in text


@pytest.mark.shared
def test_compare_names_the_bad_file(shared, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"weights": []}')
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "performer_folds.py"),
         "--compare", str(bad), str(bad)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 2
    assert f"{bad}: not a performer_folds.py --json result" in proc.stderr


def test_fold_scores_use_fixed_labels_and_one_pass():
    """Perceived predictions are the argmax of the same probabilities over the 6 labels the
    observers had; a photo without a face (nan row) is wrong under both."""
    from mien.evaluation.datasets import LabeledDataset
    from mien.evaluation.folds import INTENDED_LABELS, fold_scores

    ds = LabeledDataset(
        Path("."),
        ("a.jpg", "b.jpg", "c.jpg"),
        ("fear", "neutral", "sadness"),
        {"subject": ("P1", "P1", "P2"), "observer_label": ("surprise", "", "sadness")},
    )
    probs = np.full((3, 7), 0.01, np.float32)
    probs[0, INTENDED_LABELS.index("neutral")] = 0.6  # top: neutral; among the 6: surprise
    probs[0, INTENDED_LABELS.index("surprise")] = 0.3
    probs[1, INTENDED_LABELS.index("neutral")] = 0.9
    probs[2] = np.nan
    intended, seen = fold_scores(ds, probs, 2)
    assert intended.correct.tolist() == [False, True, False]
    assert seen.path.tolist() == ["a.jpg", "c.jpg"]  # the neutral photo has no observed label
    assert seen.correct.tolist() == [True, False]
    assert seen.fold.tolist() == [2, 2]


def test_score_folds_pools_each_folds_scores_and_the_observers():
    from mien.evaluation.datasets import LabeledDataset
    from mien.evaluation.folds import INTENDED_LABELS, FoldProbabilities, fold_scores, score_folds

    def part(k, labels, observed, subject):
        ds = LabeledDataset(
            Path("."),
            tuple(f"{k}/{i}.jpg" for i in range(len(labels))),
            labels,
            {"subject": (subject,) * len(labels), "observer_label": observed},
        )
        probs = np.eye(7)[[INTENDED_LABELS.index("happiness")] * len(labels)]
        return FoldProbabilities(k, [subject], ds, probs, [])

    parts = [
        part(0, ("happiness", "fear"), ("happiness", "surprise"), "P1"),
        part(1, ("anger", "happiness", "neutral"), ("disgust", "happiness", ""), "P2"),
    ]
    r = score_folds(["m0.onnx", "m1.onnx"], parts)
    expected = [fold_scores(p.dataset, p.probs, p.k) for p in parts]
    assert r.intended.correct.tolist() == [True, False, False, True, False]
    assert r.intended.correct.tolist() == [*expected[0][0].correct, *expected[1][0].correct]
    assert r.perceived.correct.tolist() == [True, False, False, True]  # neutral has no observed
    assert r.observers.correct.tolist() == [True, False, False, True, False]
    assert r.folds == [["P1"], ["P2"]] and r.weights == ["m0.onnx", "m1.onnx"]
    assert r.to_dict()["intended"]["by_performer"]["mean"] == pytest.approx((0.5 + 1 / 3) / 2)
