from __future__ import annotations

import csv

import pytest

from mien.evaluation.protocol import (
    load_subset,
    observer_reference,
    protocol_sets,
    run_protocol,
    taiwanese_heldout,
    taiwanese_heldout_perceived,
)


def test_heldout_performers_are_frozen():
    subset = load_subset("taiwanese_heldout")
    assert subset["column"] == "subject"
    assert subset["values"] == ["P01", "P08", "P15", "P22", "P29"]


@pytest.mark.shared
def test_heldout_set_holds_only_those_performers(shared):
    ds = taiwanese_heldout(shared)
    rows = {
        r["path"]: r for r in csv.DictReader(open(shared / "data" / "taiwanese" / "labels.csv"))
    }
    assert len(ds) == 211
    assert {rows[p]["subject"] for p in ds.paths} == {"P01", "P08", "P15", "P22", "P29"}
    agree = ds.columns["observers_agree"]
    assert (agree.count("yes"), agree.count("no"), agree.count("neutral")) == (143, 56, 12)
    for p, a in zip(ds.paths, agree, strict=True):
        r = rows[p]
        assert a == ("neutral" if r["label"] == "neutral" else
                     "yes" if r["observer_label"] == r["label"] else "no")  # fmt: skip


@pytest.mark.shared
def test_perceived_set_uses_the_observers_plurality_on_expressive_photos(shared):
    ds = taiwanese_heldout_perceived(shared)
    rows = {
        r["path"]: r for r in csv.DictReader(open(shared / "data" / "taiwanese" / "labels.csv"))
    }
    assert len(ds) == 199  # the 211 held-out photos less their 12 neutral ones
    assert all(rows[p]["label"] != "neutral" for p in ds.paths)
    assert list(ds.labels) == [rows[p]["observer_label"] for p in ds.paths]
    assert list(ds.columns["intended_label"]) == [rows[p]["label"] for p in ds.paths]


@pytest.mark.shared
def test_observer_reference_known_values(shared):
    ref = observer_reference(shared)
    assert (ref.n_all, ref.n_expressive) == (211, 199)
    assert ref.accuracy_all == pytest.approx(143 / 211)
    assert ref.accuracy_expressive == pytest.approx(143 / 199)
    assert ref.per_class_recall["fear"] == (pytest.approx(7 / 34), 34)
    assert ref.per_class_recall["happiness"] == (1.0, 36)
    assert ref.per_class_recall["neutral"] == (0.0, 12)
    assert ref.read_as["fear"] == {
        "surprise": 13,
        "fear": 7,
        "happiness": 6,
        "anger": 5,
        "sadness": 3,
    }


@pytest.mark.shared
def test_protocol_runs_on_a_tiny_subset(analyzer, shared):
    sets = protocol_sets(shared)
    assert [s.name for s in sets] == [
        "fer_val",
        "taiwanese_heldout",
        "taiwanese_heldout_perceived",
        "media_faces",
    ]
    assert [s.detect for s in sets] == [False, True, True, True]
    reports = run_protocol(analyzer, sets, limit=6)
    assert "observers_agree" in reports["taiwanese_heldout"].slices
    for name, report in reports.items():
        assert report.n == 6, name
        assert 0.0 <= report.accuracy <= 1.0
        assert report.mode == ("crop" if name == "fer_val" else "detect")


@pytest.mark.shared
def test_model_card_regenerates(tmp_path, shared):
    from typer.testing import CliRunner

    from mien.cli.main import app

    out = tmp_path / "card.md"
    args = [
        "model-card",
        "--out",
        str(out),
        "--limit",
        "6",
        "--bootstrap",
        "100",
        "--shared",
        str(shared),
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    text = out.read_text()
    for heading in (
        "## Data",
        "## Recipe",
        "## Measured",
        "### Calibration",
        "### Quality flags",
        "## Intended uses",
        "## Out of scope and refused uses",
        "Barrett",
    ):
        assert heading in text
    assert "| taiwanese_heldout | detect | 6 |" in text
    assert "| taiwanese_heldout_perceived | detect | 6 |" in text
    assert "**Human reference (not a ceiling).** On `taiwanese_heldout`" in text
    assert "The model scores on the photos whose observers chose the intended label " in text
    assert "Intervals: 95 % Wilson score" in text
    assert "a Student t interval over 5 performers): taiwanese_heldout 0." in text


@pytest.mark.shared
def test_protocol_scripts_run_on_a_tiny_subset(tmp_path, shared):
    import json
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    cross, compare = tmp_path / "cross.json", tmp_path / "compare.json"
    common = ["--limit", "3", "--shared", str(shared)]
    for script, args in (
        ("cross_dataset.py", ["--json", str(cross)]),
        ("compare_models.py", ["bundled", "bundled", "--json", str(compare)]),
    ):
        done = subprocess.run(
            [sys.executable, str(root / "benchmarks" / script), *args, *common],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr[-2000:]
    reports = json.loads(cross.read_text())
    assert {k: v["n"] for k, v in reports.items() if k != "observer_reference"} == {
        "fer_val": 3,
        "taiwanese_heldout": 3,
        "taiwanese_heldout_perceived": 3,
        "media_faces": 3,
    }
    assert reports["observer_reference"]["n_all"] == 211
    for row in json.loads(compare.read_text()).values():  # a model against itself
        assert (row["diff"], row["only_a"], row["only_b"], row["p_mcnemar"]) == (0.0, 0, 0, 1.0)
        assert row["macro_f1_diff"] == 0.0 and row["macro_f1_ci"] == [0.0, 0.0]
    by_subject = {k: v["by_subject"] for k, v in json.loads(compare.read_text()).items()}
    assert by_subject["fer_val"] is None and by_subject["media_faces"] is None
    assert by_subject["taiwanese_heldout"]["mean_diff"] == 0.0
    assert by_subject["taiwanese_heldout"]["p_sign_flip"] == 1.0


def test_calibration_table_without_resamples_has_no_interval(analyzer, shared):
    # `mien model-card --bootstrap 0` crashed here (an empty resample set unpacked as 2)
    from mien.model_card.measure import calibration_table

    table = calibration_table(analyzer.expression, shared / "data" / "fer", n_boot=0, limit=8)
    assert [c["ci"] for c in table.values()] == [None, None]
    assert all(0.0 <= c["ece"] <= 1.0 for c in table.values())
    with_ci = calibration_table(analyzer.expression, shared / "data" / "fer", n_boot=100, limit=8)
    assert [c["ece"] for c in with_ci.values()] == [c["ece"] for c in table.values()]
    assert all(lo <= hi for lo, hi in (c["ci"] for c in with_ci.values()))


def test_the_person_level_test_flips_each_persons_difference():
    import numpy as np

    from mien.evaluation import paired as cm

    # 5 people, 4 photos each; B gains 2, 1, 1, 0 and 0 photos: differences .5, .25, .25, 0, 0
    people = np.repeat(list("vwxyz"), 4)
    a = np.zeros(20, bool)
    b = np.zeros(20, bool)
    b[[0, 1, 4, 8]] = True
    out = cm.by_person(a, b, people)
    assert out["people"] == 5 and out["mean_diff"] == 0.2
    assert out["diffs"] == {"v": 0.5, "w": 0.25, "x": 0.25, "y": 0.0, "z": 0.0}
    # only "all three gains positive" and "all negative" reach |mean| 0.2: 2 of 8 sign patterns
    assert out["p_sign_flip"] == 0.25
    sd = np.std([0.5, 0.25, 0.25, 0, 0], ddof=1)  # t(4) = 2.776445
    assert out["ci"] == pytest.approx((0.2 - 2.776445 * sd / 5**0.5, 0.2 + 2.776445 * sd / 5**0.5))
    one = cm.by_person(a[:4], b[:4], people[:4])  # one person: no evidence at all
    assert (one["people"], one["p_sign_flip"]) == (1, 1.0)
    assert cm.by_person(b, a, people)["p_sign_flip"] == 0.25  # B worse: the same p
    assert np.isnan(cm.by_person(a[:0], b[:0], people[:0])["p_sign_flip"])
    many = cm.by_person(np.zeros(20, bool), np.ones(20, bool), np.arange(20), n_draws=999)
    assert many["people"] == 20 and many["p_sign_flip"] == 1 / 1000  # never 0: (k + 1) / (N + 1)


def test_card_intervals_carry_the_decimals_of_their_estimate():
    from mien.model_card.tables import ci as _ci

    assert _ci((0.7661, 0.8559)) == " [0.766, 0.856]"  # beside a 3-decimal accuracy
    assert _ci((0.7661, 0.8559), 2) == " [0.77, 0.86]"  # beside a 2-decimal recall
    assert _ci(None) == ""


def test_seed_spread_is_the_largest_gap_between_seeds_of_one_recipe():
    from mien.model_card.tables import seed_spread

    sets = ("fer_val", "taiwanese_heldout", "taiwanese_heldout_perceived", "media_faces")
    rows = [
        {"run": "a", **dict(zip(sets, (0.80, 0.60, 0.70, 0.75), strict=True))},
        {"run": "a2", **dict(zip(sets, (0.81, 0.65, 0.69, 0.75), strict=True))},
        {"run": "b", **dict(zip(sets, (0.80, 0.60, 0.70, 0.75), strict=True))},
        {"run": "b2", **dict(zip(sets, (0.78, 0.62, 0.70, 0.76), strict=True))},
        {"run": "lone", **dict(zip(sets, (0.1, 0.1, 0.1, 0.1), strict=True))},
    ]
    pairs, spread = seed_spread(rows, (("a", "a2"), ("b", "b2"), ("lone", "missing")))
    assert pairs == [("a", "a2"), ("b", "b2")]
    assert spread == pytest.approx(
        {"fer_val": 0.02, "taiwanese_heldout": 0.05, "taiwanese_heldout_perceived": 0.01,
         "media_faces": 0.01}
    )  # fmt: skip
    assert seed_spread(rows, (("lone", "missing"),)) == ([], {})
