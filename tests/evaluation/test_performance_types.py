"""benchmarks/performance_types.py on a hand-made set: the figures by type and label."""

from __future__ import annotations

import csv
import importlib.util
import json
import subprocess
import sys

import pytest

from tests.helpers import ROOT

SCRIPT = ROOT / "benchmarks" / "performance_types.py"


def _module():
    spec = importlib.util.spec_from_file_location("performance_types", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _set(tmp_path):
    """4 performers × 3 types × 2 labels (+ one neutral pose each); the model is right on every
    ekman_facs photo and on theatric photos of P1 and P2 only; observers on all but anger."""
    rows, result = [], {"path": [], "correct": [], "subject": [], "label": [], "fold": []}
    for s in ("P1", "P2", "P3", "P4"):
        for kind in ("ekman_facs", "theatric", "personal_event", "neutral_pose"):
            for label in ("anger", "happiness") if kind != "neutral_pose" else ("neutral",):
                path = f"images/{s}_{kind}_{label}.jpg"
                observed = "disgust" if label == "anger" else label
                if label == "neutral":
                    observed = "happiness"  # the observers had no neutral option
                rows.append(
                    {"path": path, "label": label, "subject": s, "performance_type": kind,
                     "observer_label": observed}
                )  # fmt: skip
                right = kind in ("ekman_facs", "neutral_pose") or (
                    kind == "theatric" and s in ("P1", "P2")
                )
                for key, value in zip(result, (path, right, s, label, 0), strict=True):
                    result[key].append(value)
    folder = tmp_path / "shared" / "data" / "taiwanese"
    folder.mkdir(parents=True)
    with (folder / "labels.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    out = tmp_path / "r.json"
    out.write_text(json.dumps({"photos": {"intended": result}}))
    return {r["path"]: r for r in rows}, out


def test_figures_by_type_and_the_test_between_types(tmp_path):
    m = _module()
    rows, result = _set(tmp_path)
    t = m.photo_table(json.loads(result.read_text()), rows)
    by_type = {r["type"]: r for r in m.type_rows(t)}
    assert by_type["ekman_facs"]["n"] == 8 and by_type["neutral_pose"]["n"] == 4
    assert by_type["ekman_facs"]["model"]["mean"] == 1.0
    assert by_type["theatric"]["model"]["mean"] == 0.5  # P1, P2 all right; P3, P4 none
    assert by_type["personal_event"]["model"]["mean"] == 0.0
    assert by_type["theatric"]["observers"]["mean"] == 0.5  # happiness only
    assert by_type["ekman_facs"]["gap"]["mean_diff"] == 0.5  # model 1.0 minus observers 0.5
    assert by_type["personal_event"]["gap"]["mean_diff"] == -0.5
    assert m.read_as(t, "anger", "theatric") == ("", "")  # no predictions recorded
    answers = dict(json.loads(result.read_text())["photos"]["intended"])
    answers["predicted"] = [lab if ok else "disgust" for lab, ok in
                            zip(answers["label"], answers["correct"], strict=True)]  # fmt: skip
    t = m.photo_table({"photos": {"intended": answers}}, rows)
    assert m.read_as(t, "anger", "theatric") == ("anger 0.50, disgust 0.50", "disgust 1.00")
    test = m.type_test(t, n_perm=199)
    assert test["unit"] == "image within person" and test["p_gap"] < 0.05
    with pytest.raises(ValueError, match="1 photo"):
        m.photo_table({"photos": {"intended": {"path": ["x.jpg"], "correct": [True]}}}, rows)
    with pytest.raises(ValueError, match=r"not a performer_folds\.py --json result"):
        m.photo_table({"photos": {}}, rows)


def test_the_script_prints_its_tables(tmp_path):
    _, result = _set(tmp_path)
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), str(result), "--shared", str(tmp_path / "shared")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "r.json: intended labels by performance type" in proc.stdout
    assert "1.00 / 0.00 (4)" in proc.stdout  # ekman_facs anger: model all, observers none
    bad = subprocess.run(
        [sys.executable, str(SCRIPT), str(tmp_path / "none.json"), "--shared", str(tmp_path)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert bad.returncode == 1 and "labels.csv: cannot read" in bad.stderr
