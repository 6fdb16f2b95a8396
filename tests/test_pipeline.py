from __future__ import annotations

import numpy as np
import pytest

from mien import EXPRESSIONS, Analyzer, FrameResult
from mien.errors import ImageNotFoundError
from mien.io import read_image
from tests.detection.test_mediapipe import GRACE_HOPPER_BOX
from tests.helpers import SAMPLES


def test_analyze_path_gives_calibrated_probabilities(analyzer):
    result = analyzer.analyze(SAMPLES / "grace_hopper.jpg")
    assert isinstance(result, FrameResult)
    assert result.image_wh == (512, 600) and result.source.endswith("grace_hopper.jpg")
    assert result.expression_names == EXPRESSIONS
    faces = result.faces
    assert len(faces) == 1
    np.testing.assert_allclose(faces.xyxy[0], GRACE_HOPPER_BOX, atol=6)
    assert faces.expression.shape == (1, 8) and faces.expression.dtype == np.float32
    np.testing.assert_allclose(faces.expression.sum(1), 1.0, atol=1e-5)
    assert (faces.expression >= 0).all()
    assert faces.abstained.tolist() == [bool(faces.expression.max() < result.abstain_threshold)]
    assert set(result.timings_ms) == {"read", "detect", "align", "expression"}


def test_path_bytes_and_array_agree(analyzer):
    path = SAMPLES / "astronaut.jpg"
    a = analyzer.analyze(path).faces.expression
    b = analyzer.analyze(path.read_bytes()).faces.expression
    c = analyzer.analyze(read_image(path)).faces.expression
    np.testing.assert_allclose(a, b, atol=1e-6)
    np.testing.assert_allclose(a, c, atol=1e-6)


def test_no_face_is_an_empty_result(analyzer):
    result = analyzer.analyze(np.full((240, 320, 3), 30, np.uint8))
    assert len(result.faces) == 0
    assert result.faces.expression.shape == (0, 8) and result.faces.abstained.shape == (0,)
    assert result.image_wh == (320, 240) and result.source == "<array>"


def test_missing_file_raises_typed_error(analyzer, tmp_path):
    with pytest.raises(ImageNotFoundError, match=r"missing\.jpg"):
        analyzer.analyze(tmp_path / "missing.jpg")


def test_exif_rotated_photo_reports_boxes_in_the_upright_image(analyzer):
    from tests.helpers import jpeg_with_orientation

    upright = read_image(SAMPLES / "grace_hopper.jpg")[:, :, ::-1]  # RGB for PIL
    stored = np.ascontiguousarray(np.rot90(upright, 1))  # what a sideways camera stores
    result = analyzer.analyze(jpeg_with_orientation(stored, 6))
    assert result.image_wh == (512, 600)
    assert len(result.faces) == 1
    np.testing.assert_allclose(result.faces.xyxy[0], GRACE_HOPPER_BOX, atol=8)


def test_bad_constructor_options():
    with pytest.raises(ValueError, match="model must be one of"):
        Analyzer(detector="sideways")  # type: ignore[arg-type]
