"""The upright check: its shipped weights, its outputs and its place in quality_ok."""

from __future__ import annotations

import json
import math
from importlib import resources

import cv2
import numpy as np
import pytest

from mien.quality import QualityThresholds, assess
from mien.quality.orientation import ORIENTATION_MODEL, UprightCheck
from mien.weights import sha256_of
from tests.helpers import SAMPLES

TURNS = {90: cv2.ROTATE_90_CLOCKWISE, 180: cv2.ROTATE_180, 270: cv2.ROTATE_90_COUNTERCLOCKWISE}


def test_the_shipped_weights_match_their_spec_and_card():
    folder = resources.files("mien.quality") / "weights"
    spec = json.loads((folder / f"{ORIENTATION_MODEL}.json").read_text())
    onnx = folder / f"{ORIENTATION_MODEL}.onnx"
    assert sha256_of(str(onnx)) == spec["sha256"]
    assert spec["turns_deg"] == [0, 90, 180, 270]
    assert onnx.stat().st_size < 1_000_000  # a small check beside a 3 MB expression model
    card = (folder / "ORIENTATION_CARD.md").read_text()
    assert spec["sha256"] in card and "media/faces" in card


def test_turn_probabilities_are_distributions_and_bad_crops_are_refused():
    check = UprightCheck()
    rng = np.random.default_rng(0)
    p = check.turn_probabilities(rng.integers(0, 255, (3, 48, 48), dtype=np.uint8))
    assert p.shape == (3, 4) and p.dtype == np.float32
    np.testing.assert_allclose(p.sum(1), 1.0, atol=1e-5)
    assert check.upright(np.zeros((0, 48, 48), np.uint8)).shape == (0,)
    with pytest.raises(ValueError, match=r"\(n, 48, 48\) uint8"):
        check.upright(np.zeros((2, 64, 64), np.uint8))
    with pytest.raises(ValueError, match="uint8"):
        check.upright(np.zeros((2, 48, 48), np.float32))


# caught (upright < 0.5) per turn; Grace Hopper turned 90° and 270° and the astronaut turned
# 270° are among the card's misses (quarter turns are missed more often than half turns)
CAUGHT = {
    "grace_hopper.jpg": {90: False, 180: True, 270: False},
    "astronaut.jpg": {90: True, 180: True, 270: False},
}


@pytest.mark.parametrize("name", sorted(CAUGHT))
def test_the_samples_are_upright_and_their_turned_copies_caught_as_the_card_says(analyzer, name):
    image = cv2.imread(str(SAMPLES / name))
    faces = analyzer.analyze(image).faces
    assert faces.data["upright"][0] > 0.9 and faces.data["quality_ok"][0]
    for turn, code in TURNS.items():
        turned = analyzer.analyze(cv2.rotate(image, code)).faces
        assert len(turned) == 1, turn
        caught = bool(turned.data["upright"][0] < 0.5)
        assert caught == CAUGHT[name][turn], (turn, float(turned.data["upright"][0]))
        if caught:
            assert not turned.data["quality_ok"][0] and turned.abstained[0], turn


def test_quality_ok_needs_the_upright_threshold_and_lets_unmeasured_pass():
    boxes = np.array([[10, 10, 110, 110]] * 3, np.float32)
    crops = np.stack([np.tile((np.arange(48) % 2 * 255).astype(np.uint8), (48, 1))] * 3)
    upright = np.array([0.9, 0.1, np.nan], np.float32)
    t = QualityThresholds(min_sharpness=30)
    values = assess(boxes, crops, (300, 300), None, t, upright)
    assert values["quality_ok"].tolist() == [True, False, True]
    assert np.isnan(values["upright"][2])
    off = assess(boxes, crops, (300, 300), None, QualityThresholds(min_sharpness=30, min_upright=0))
    assert off["quality_ok"].tolist() == [True, True, True] and np.isnan(off["upright"]).all()


def test_rows_and_the_api_carry_the_upright_value(analyzer):
    from mien.export import SCHEMA_VERSION, result_rows, row_columns
    from mien.service.app import faces_out

    result = analyzer.analyze(str(SAMPLES / "grace_hopper.jpg"))
    (row,) = result_rows(result)
    columns = row_columns(result.expression_names)
    assert SCHEMA_VERSION == "4" and row["schema_version"] == "4"
    assert columns.index("upright") == columns.index("truncated") + 1
    value = float(result.faces.data["upright"][0])
    assert row["upright"] == math.floor(value * 100 + 1e-6) / 100 > 0.9  # rounded down
    assert faces_out(result)[0].upright == pytest.approx(row["upright"], abs=0.01)


def test_a_face_just_below_the_threshold_never_shows_the_threshold(analyzer):
    import dataclasses

    from mien.export import result_rows

    result = analyzer.analyze(str(SAMPLES / "grace_hopper.jpg"))
    data = {**result.faces.data, "upright": np.array([0.4964], np.float32)}
    faces = dataclasses.replace(result.faces, data=data)
    (row,) = result_rows(dataclasses.replace(result, faces=faces))
    assert row["upright"] == 0.49  # rounded to 0.5 it read as passing


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("min_upright", float("nan")),
        ("min_upright", 1.5),
        ("min_upright", "0.5"),
        ("max_abs_yaw", -1),
    ],
)
def test_thresholds_refuse_values_that_would_silently_misbehave(field, value):
    with pytest.raises(ValueError, match=f"QualityThresholds.{field}"):
        QualityThresholds(**{field: value})


def test_thresholds_take_numpy_numbers():
    t = QualityThresholds(min_face_px=np.int64(30), min_upright=np.float32(0.6))
    assert t.min_face_px == 30 and t.min_upright == pytest.approx(0.6)
