from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mien.alignment import FER_TEMPLATE, align_faces, crop_whole_image, invert_affine
from mien.alignment.align import similarity_matrices
from mien.types import KP
from tests.helpers import make_faces

SIZE = 48


def keypoints_for(center=(100.0, 120.0), eye_dist=40.0, angle_deg=0.0) -> np.ndarray:
    """Six keypoints of an upright template face, rotated by ``angle_deg`` about ``center``."""
    t = FER_TEMPLATE
    s = eye_dist / t.eye_distance  # crop side in source pixels
    canon = {
        "right_eye": (-t.eye_distance / 2, 0.0),
        "left_eye": (t.eye_distance / 2, 0.0),
        "nose_tip": (0.0, 0.2),
        "mouth_center": (0.0, t.eye_to_mouth),
        "right_ear_tragion": (-0.35, 0.1),
        "left_ear_tragion": (0.35, 0.1),
    }
    a = math.radians(angle_deg)
    rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    kp = np.zeros((6, 2), np.float32)
    for name, (x, y) in canon.items():
        kp[KP[name]] = rot @ (np.array([x, y]) * s) + center
    return kp


@settings(max_examples=50, deadline=None)
@given(
    angle=st.floats(-60, 60),
    eye_dist=st.floats(8, 400),
    cx=st.floats(-50, 500),
    cy=st.floats(-50, 500),
)
def test_eyes_and_mouth_land_on_the_template(angle, eye_dist, cx, cy):
    kp = keypoints_for((cx, cy), eye_dist, angle)
    m = similarity_matrices(kp[None], SIZE)[0]
    mapped = (m[:, :2] @ kp.T).T + m[:, 2]
    ex, ey = FER_TEMPLATE.eye_center
    half = FER_TEMPLATE.eye_distance * SIZE / 2
    np.testing.assert_allclose(mapped[KP["right_eye"]], [ex * SIZE - half, ey * SIZE], atol=1e-2)
    np.testing.assert_allclose(mapped[KP["left_eye"]], [ex * SIZE + half, ey * SIZE], atol=1e-2)
    np.testing.assert_allclose(
        mapped[KP["mouth_center"]], [ex * SIZE, (ey + FER_TEMPLATE.eye_to_mouth) * SIZE], atol=1e-2
    )


def test_matrices_round_trip_to_the_source():
    kp = keypoints_for((300, 200), 60, 25)
    faces = make_faces([[250, 150, 350, 260]], keypoints=kp[None])
    img = np.zeros((400, 600, 3), np.uint8)
    crops, m = align_faces(img, faces)
    inv = invert_affine(m)
    assert crops.shape == (1, SIZE, SIZE) and m.shape == (1, 2, 3) and inv.shape == (1, 2, 3)
    back = inv[0][:, :2] @ (m[0][:, :2] @ kp.T + m[0][:, 2:]) + inv[0][:, 2:]
    np.testing.assert_allclose(back.T, kp, atol=1e-3)


def test_rotated_face_comes_out_upright():
    """Draw two eye dots on a rotated face; the crop shows them level at the template height."""
    img = np.zeros((300, 300, 3), np.uint8)
    kp = keypoints_for((150, 150), 80, -30)
    for name in ("right_eye", "left_eye"):
        cv2.circle(img, tuple(round(v) for v in kp[KP[name]]), 6, (255, 255, 255), -1)
    crops, _ = align_faces(img, make_faces([[0, 0, 300, 300]], keypoints=kp[None]))
    crop = crops[0].astype(float)
    ys, xs = np.nonzero(crop > 128)
    left, right = xs < SIZE / 2, xs >= SIZE / 2
    assert abs(ys[left].mean() - ys[right].mean()) < 1.0
    assert abs(ys.mean() - FER_TEMPLATE.eye_center[1] * SIZE) < 1.5


def test_colour_crops_and_whole_image_crop():
    img = np.full((500, 400, 3), (10, 20, 30), np.uint8)
    faces = make_faces([[0, 0, 1, 1]], keypoints=keypoints_for((200, 250), 150)[None])
    crops, _ = align_faces(img, faces, grey=False)
    assert crops.shape == (1, SIZE, SIZE, 3)
    np.testing.assert_array_equal(crops[0, 24, 24], (10, 20, 30))
    whole = crop_whole_image(img)
    assert whole.shape == (SIZE, SIZE) and whole.dtype == np.uint8


def test_whole_image_crop_of_a_grey_image_and_its_errors():
    grey = np.arange(48 * 48, dtype=np.uint8).reshape(48, 48)
    np.testing.assert_array_equal(crop_whole_image(grey, size=48), grey)  # same size: as is
    big = crop_whole_image(grey, size=64)
    assert big.shape == (64, 64) and big.dtype == np.uint8
    np.testing.assert_array_equal(big, crop_whole_image(np.dstack([grey] * 3), size=64))
    with pytest.raises(ValueError, match="grey image cannot give a colour crop"):
        crop_whole_image(grey, grey=False)


def test_no_faces_gives_empty_arrays():
    from mien.types import Faces

    crops, m = align_faces(np.zeros((10, 10, 3), np.uint8), Faces.empty())
    assert crops.shape == (0, SIZE, SIZE) and m.shape == (0, 2, 3)


def test_faces_without_keypoints_are_refused():
    with pytest.raises(ValueError, match="keypoints"):
        align_faces(np.zeros((10, 10, 3), np.uint8), make_faces([[0, 0, 5, 5]]))
