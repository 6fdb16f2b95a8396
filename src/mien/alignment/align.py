"""Upright crops from eye (and mouth) keypoints, keeping the affine matrix of each crop.

For each face a similarity transform (rotation, uniform scale, translation) is built:

* **rotation** makes the line through the two eyes horizontal;
* **scale** is the geometric mean of two estimates, eye distance and eye-to-mouth distance,
  each against the template; the mean is steadier than either alone (eye distance shrinks when
  the head turns, eye-to-mouth grows when the mouth opens);
* **translation** puts the eye midpoint at the template's.

The matrix ``M`` maps source pixels to crop pixels: ``[u, v] = M @ [x, y, 1]``.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import numpy.typing as npt

from mien.alignment.templates import FER_TEMPLATE, AlignTemplate
from mien.types import KP, Faces, ImageBGR


def similarity_matrices(
    keypoints: npt.NDArray[np.float32], size: int, template: AlignTemplate = FER_TEMPLATE
) -> npt.NDArray[np.float32]:
    """Affine matrices that map each face onto ``template`` in a ``size``×``size`` crop.

    Args:
        keypoints: ``(n, 6, 2)`` float32 pixel keypoints in ``KEYPOINT_NAMES`` order.
        size: crop side in pixels.
        template: where eyes and mouth should land.

    Returns:
        ``(n, 2, 3)`` float32 matrices, source pixels -> crop pixels.
    """
    kp = np.asarray(keypoints, np.float64)
    right_eye, left_eye = kp[:, KP["right_eye"]], kp[:, KP["left_eye"]]
    mouth = kp[:, KP["mouth_center"]]
    eye_mid = (right_eye + left_eye) / 2.0
    delta = left_eye - right_eye  # subject's right eye is on the viewer's left
    angle = np.arctan2(delta[:, 1], delta[:, 0])
    eye_dist = np.maximum(np.hypot(delta[:, 0], delta[:, 1]), 1e-3)
    eye_mouth = np.maximum(np.hypot(*(mouth - eye_mid).T), 1e-3)
    scale = np.sqrt(
        (template.eye_distance * size / eye_dist) * (template.eye_to_mouth * size / eye_mouth)
    )
    cos, sin = np.cos(-angle) * scale, np.sin(-angle) * scale
    tx = template.eye_center[0] * size - (cos * eye_mid[:, 0] - sin * eye_mid[:, 1])
    ty = template.eye_center[1] * size - (sin * eye_mid[:, 0] + cos * eye_mid[:, 1])
    m = np.stack([np.stack([cos, -sin, tx], axis=1), np.stack([sin, cos, ty], axis=1)], axis=1)
    return m.astype(np.float32)


def align_faces(
    image: ImageBGR,
    faces: Faces,
    *,
    size: int = 48,
    grey: bool = True,
    template: AlignTemplate = FER_TEMPLATE,
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.float32]]:
    """Cut an upright, template-framed crop for every face.

    Large faces are warped to an intermediate size and then shrunk with area averaging, so a
    crop of a big face is smooth like a FER2013 crop rather than aliased.

    Args:
        image: ``(H, W, 3)`` uint8 BGR.
        faces: ``n`` faces with ``keypoints``.
        size: crop side in pixels.
        grey: return single-channel crops (BT.601 luma, as ``cv2.COLOR_BGR2GRAY``).
        template: where eyes and mouth land in the crop.

    Returns:
        ``crops``: ``(n, size, size)`` uint8 when ``grey`` else ``(n, size, size, 3)`` BGR;
        ``matrices``: ``(n, 2, 3)`` float32, source pixels -> crop pixels (see
        :func:`invert_affine` for the way back).

    Raises:
        ValueError: ``faces`` has no keypoints.
    """
    if faces.keypoints is None:
        raise ValueError("align_faces needs faces with keypoints")
    src = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if grey else image
    matrices = similarity_matrices(faces.keypoints, size, template)
    shape = (len(faces), size, size) + (() if grey else (3,))
    crops = np.empty(shape, np.uint8)
    for i, m in enumerate(matrices):
        crops[i] = _warp(src, m, size)
    return crops, matrices


def _warp(src: np.ndarray, m: np.ndarray, size: int) -> np.ndarray:
    scale = math.hypot(float(m[0, 0]), float(m[1, 0]))  # crop px per source px
    if scale >= 0.5:
        return cv2.warpAffine(
            src, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
        )
    factor = min(int(0.5 / scale) + 1, 8)
    big = cv2.warpAffine(
        src,
        m * np.float32(factor),
        (size * factor, size * factor),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    )
    return cv2.resize(big, (size, size), interpolation=cv2.INTER_AREA)


def crop_whole_image(
    image: ImageBGR, *, size: int = 48, grey: bool = True
) -> npt.NDArray[np.uint8]:
    """Treat a whole (pre-cropped) image as one face: resize it to ``size``×``size``
    (area averaging to shrink, bilinear to enlarge).

    Args:
        image: ``(H, W, 3)`` uint8 BGR, or ``(H, W)`` uint8 grey (taken as is when ``grey``).

    Returns ``(size, size)`` uint8 grey, or ``(size, size, 3)`` BGR when ``grey`` is false.
    """
    if image.ndim == 2:
        if not grey:
            raise ValueError("crop_whole_image: a grey image cannot give a colour crop")
        src = image
    else:
        src = np.asarray(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if grey else image, np.uint8)
    h, w = src.shape[:2]
    interp = cv2.INTER_AREA if (h > size or w > size) else cv2.INTER_LINEAR
    return np.asarray(cv2.resize(src, (size, size), interpolation=interp), np.uint8)


def invert_affine(matrices: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Invert ``(n, 2, 3)`` affine matrices (crop pixels -> source pixels)."""
    return (
        np.stack([cv2.invertAffineTransform(m) for m in matrices])
        .astype(np.float32)
        .reshape(-1, 2, 3)
    )
