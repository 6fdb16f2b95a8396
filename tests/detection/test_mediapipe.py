from __future__ import annotations

import numpy as np
import pytest

from mien.detection import MediaPipeFaceDetector
from mien.io import read_image
from mien.types import KP
from tests.helpers import SAMPLES, two_seated, two_small

# Boxes measured once with BlazeFace short-range and checked by eye on the annotated samples.
GRACE_HOPPER_BOX = (171.4, 146.9, 365.8, 341.4)
ASTRONAUT_BOX = (177.1, 82.9, 273.1, 178.9)


@pytest.fixture(scope="module")
def detector():
    with MediaPipeFaceDetector("auto") as det:
        yield det


@pytest.mark.parametrize(
    ("name", "box"), [("grace_hopper.jpg", GRACE_HOPPER_BOX), ("astronaut.jpg", ASTRONAUT_BOX)]
)
def test_finds_the_face_at_the_right_place(detector, name, box):
    faces = detector.detect(read_image(SAMPLES / name))
    assert len(faces) == 1
    np.testing.assert_allclose(faces.xyxy[0], box, atol=6)
    assert 0.8 < faces.confidence[0] <= 1.0
    kp = faces.keypoints[0]
    # subject's right eye is on the viewer's left; eyes above nose above mouth
    assert kp[KP["right_eye"], 0] < kp[KP["left_eye"], 0]
    assert kp[KP["left_eye"], 1] < kp[KP["nose_tip"], 1] < kp[KP["mouth_center"], 1]
    x1, y1, x2, y2 = faces.xyxy[0]
    assert x1 < kp[KP["nose_tip"], 0] < x2 and y1 < kp[KP["nose_tip"], 1] < y2


@pytest.mark.parametrize("shape", [(1, 1, 3), (64, 64, 3), (300, 200, 3)])
def test_no_face_is_empty_not_an_error(detector, shape):
    faces = detector.detect(np.full(shape, 127, np.uint8))
    assert len(faces) == 0 and faces.xyxy.shape == (0, 4)


@pytest.mark.parametrize("model", ["auto", "multi"])
def test_tiny_flat_or_noise_images_give_no_face_a_48_px_face_still_one(model):
    """BlazeFace fired on a 4×4 grey image (0.56) and on 16×16 noise: boxes under
    MIN_FACE_SIDE px are dropped; a FER-sized face is kept."""
    import cv2

    rng = np.random.default_rng(0)
    face = cv2.resize(read_image(SAMPLES / "grace_hopper.jpg")[140:350, 160:370], (48, 48))
    with MediaPipeFaceDetector(model) as det:
        assert len(det.detect(np.full((4, 4, 3), 128, np.uint8))) == 0
        for grey in range(0, 256, 5):  # flat grey at 12 px gave a "face" at 27 of 52 levels
            assert len(det.detect(np.full((12, 12, 3), grey, np.uint8))) == 0, grey
        assert len(det.detect(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8))) == 0
        found = det.detect(np.ascontiguousarray(face))
        # a dark photo keeps its face: squeezed into 0-6 grey levels its box's pixels vary by
        # 1.6 (a threshold of 2 dropped it)
        dark = read_image(SAMPLES / "grace_hopper.jpg").astype(float)
        dark = np.round((dark - dark.min()) / np.ptp(dark) * 6).astype(np.uint8)
        assert len(det.detect(dark)) >= 1
    assert len(found) == 1 and (found.xyxy[0, 2:] - found.xyxy[0, :2]).min() > 30


def test_boxes_are_clipped_to_the_image(detector):
    img = read_image(SAMPLES / "grace_hopper.jpg")[150:300, 200:330]  # face cut by every edge
    faces = detector.detect(np.ascontiguousarray(img))
    assert len(faces) >= 1
    h, w = img.shape[:2]
    assert (faces.xyxy[:, [0, 2]] >= 0).all() and (faces.xyxy[:, [0, 2]] <= w).all()
    assert (faces.xyxy[:, [1, 3]] >= 0).all() and (faces.xyxy[:, [1, 3]] <= h).all()


def test_auto_falls_back_to_full_range_for_small_faces():
    import cv2

    photo = cv2.resize(
        read_image(SAMPLES / "grace_hopper.jpg"), (128, 150), interpolation=cv2.INTER_AREA
    )
    scene = np.full((800, 800, 3), 90, np.uint8)
    scene[100:250, 100:228] = photo  # her face is now ~50 px wide in an 800 px scene
    with MediaPipeFaceDetector("short") as short, MediaPipeFaceDetector("auto") as auto:
        assert len(short.detect(scene)) == 0
        found = auto.detect(scene)
    assert len(found) == 1
    expected = (
        100
        + np.array(
            [
                (GRACE_HOPPER_BOX[0] + GRACE_HOPPER_BOX[2]) / 2,
                (GRACE_HOPPER_BOX[1] + GRACE_HOPPER_BOX[3]) / 2,
            ]
        )
        / 4
    )
    center = (found.xyxy[0, :2] + found.xyxy[0, 2:]) / 2
    np.testing.assert_allclose(center, expected, atol=8)


def test_auto_expecting_more_faces_adds_the_full_range_pass(detector):
    scene = two_seated(1)  # one short-range pass finds only the astronaut here
    assert len(detector.detect(scene)) == 1
    both = detector.detect(scene, expected=2)
    assert len(both) == 2
    assert sorted(both.xyxy[:, 0] < 320) == [False, True]  # one face on each side
    assert len(detector.detect(scene, expected=1)) == 1  # no more than it found: one pass
    with MediaPipeFaceDetector("short") as short:
        assert len(short.detect(scene, expected=2)) == 1  # only auto takes the hint


def test_auto_looking_wider_adds_the_full_range_pass(detector):
    scene = two_small()
    assert len(detector.detect(scene)) == 1 and len(detector.detect(scene, expected=1)) == 1
    assert len(detector.detect(scene, wider=True)) == 2


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"model": "long"}, "detector must be one of"), ({"min_confidence": 1.5}, "min_confidence")],
)
def test_bad_options(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MediaPipeFaceDetector(**kwargs)


@pytest.mark.shared
def test_short_range_finds_nearly_all_shared_photos(detector, shared):
    paths = sorted((shared / "media" / "faces").glob("*.jpg"))[:100]
    found = sum(len(detector.detect(read_image(p))) > 0 for p in paths)
    assert found >= 97


def test_min_confidence_is_applied(detector):
    image = read_image(SAMPLES / "grace_hopper.jpg")
    score = float(detector.detect(image).confidence[0])
    with MediaPipeFaceDetector("auto", min_confidence=min(1.0, score + 0.01)) as strict:
        assert len(strict.detect(image)) == 0


def test_nested_boxes_are_dropped():
    from mien.detection.mediapipe import _drop_nested
    from tests.helpers import make_faces

    faces = make_faces(
        [[0, 0, 100, 100], [10, 10, 40, 40], [90, 90, 160, 160], [200, 0, 260, 60]],
        [0.9, 0.6, 0.7, 0.55],
    )
    kept = _drop_nested(faces)  # the eye-sized box inside the face goes; overlaps stay
    np.testing.assert_array_equal(kept.confidence, np.float32([0.9, 0.7, 0.55]))


@pytest.mark.parametrize("shape", [(5, 100_000, 3), (40_000, 8, 3)])
def test_extreme_sides_do_not_crash(detector, shape):
    assert len(detector.detect(np.zeros(shape, np.uint8))) == 0


def test_large_image_boxes_map_back_to_full_resolution(detector):
    import cv2

    photo = read_image(SAMPLES / "grace_hopper.jpg")
    big = cv2.resize(photo, (5120, 6000), interpolation=cv2.INTER_LINEAR)  # shrunk to 4096 inside
    faces = detector.detect(big)
    assert len(faces) == 1
    np.testing.assert_allclose(faces.xyxy[0], np.array(GRACE_HOPPER_BOX) * 10, atol=60)


def test_tiled_finds_the_faces_of_a_group_scene_that_multi_misses():
    """In a 1280x720 scene of four faces, multi found 2 (the full-range pass returns the
    largest and misses the mid-sized ones); tiled adds short-range on tiles and finds all 4,
    with no other box, and on a close-up the same face as multi."""
    import cv2

    from tests.helpers import compose, face_patch

    patches, x = [], 10
    for i, size in enumerate((300, 200, 140, 100)):
        name = "grace_hopper.jpg" if i % 2 == 0 else "astronaut.jpg"
        patches.append((face_patch(name, size), x, (720 - size) // 2 + (i % 2) * 80))
        x += size + 40
    scene = compose((1280, 720), patches)
    with MediaPipeFaceDetector("multi") as multi, MediaPipeFaceDetector("tiled") as tiled:
        assert len(multi.detect(scene)) == 2
        found = tiled.detect(scene)
        close_up = cv2.resize(read_image(SAMPLES / "grace_hopper.jpg"), (400, 469))
        np.testing.assert_array_equal(tiled.detect(close_up).xyxy, multi.detect(close_up).xyxy)
    assert len(found) == 4
    centres = (found.xyxy[:, :2] + found.xyxy[:, 2:]) / 2
    for patch, px, py in patches:
        side = patch.shape[0]
        inside = (centres >= (px, py)).all(axis=1) & (centres <= (px + side, py + side)).all(axis=1)
        assert inside.sum() == 1  # each face once


def test_tiled_confirms_what_tiles_find_so_textures_give_no_faces(monkeypatch):
    """Without the second look, smooth colour blobs gave 32 boxes per 1920x1080 image from the
    tiles (scores 0.50-0.72); confirmed at 0.7 on a square twice each box's size, none."""
    import cv2

    rng = np.random.default_rng(0)
    small = rng.integers(0, 255, (136, 241, 3), dtype=np.uint8)
    big = cv2.resize(small, (1920, 1080), interpolation=cv2.INTER_CUBIC)
    blobs = cv2.GaussianBlur(big, (0, 0), 8 / 3)
    with MediaPipeFaceDetector("tiled") as tiled:
        assert len(tiled.detect(blobs)) == 0
        monkeypatch.setattr(MediaPipeFaceDetector, "_confirmed", lambda *_: True)
        assert len(tiled.detect(blobs)) >= 20  # what the tiles alone find


def test_tile_sides_reach_small_faces_in_720p_and_strips():
    """720p tiles stopped at 360 px (faces of 24-32 px missed); strips under 192 px got none."""
    from mien.detection.mediapipe import _tile_sides

    assert _tile_sides(720, 1280) == [720, 360, 192]
    assert _tile_sides(1080, 1920) == [1080, 540, 270]
    assert _tile_sides(500, 4000) == [500, 250]
    assert _tile_sides(180, 3000) == [180]
    assert _tile_sides(350, 350) == [] and _tile_sides(600, 512) == [512, 256]


def test_tiled_finds_faces_in_a_strip_under_192_px():
    from tests.helpers import compose, face_patch

    patches = [(face_patch("grace_hopper.jpg", 120), 100 + 600 * i, 30) for i in range(4)]
    strip = compose((2400, 180), patches)
    with MediaPipeFaceDetector("multi") as multi, MediaPipeFaceDetector("tiled") as tiled:
        assert len(multi.detect(strip)) == 0
        assert len(tiled.detect(strip)) == 4
