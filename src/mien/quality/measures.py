"""Quality measures of each face and the combined ``quality_ok`` flag.

* ``face_size_px``: the shorter side of the face box, in pixels of the source image.
* ``sharpness``: variance of the Laplacian (Pech-Pacheco et al., "Diatom autofocusing in
  brightfield microscopy", ICPR 2000) of the 48×48 grey aligned crop
  (:data:`QUALITY_CROP_SIDE`, whatever the model's input size); low = blurred or featureless.
* ``yaw``, ``pitch``, ``roll``: head pose in degrees (:mod:`mien.quality.pose`); NaN when not
  measured.
* ``truncated``: the face box touches the image border (part of the face may be cut off).
* ``upright``: probability in ``[0, 1]`` that the face is upright, not turned by a quarter or
  half turn (:mod:`mien.quality.orientation`); NaN when not measured.
* ``quality_ok``: every value within :class:`QualityThresholds`. A pose that was not measured
  (``pose=False``) does not fail it; a face on which FaceMesh found no face does (accuracy on
  such faces: 0.51 on FER+ val, 0.17 on the media photos).

The thresholds were chosen from how accuracy falls with each value, measured with the shipped
model through the whole pipeline on FER+ ``val`` (3,189 faces) and ``shared/media/faces`` (400):

=====================  =====================================  ===============================
flag                   FER+ val: n, accuracy (others)         media: n, accuracy (others)
=====================  =====================================  ===============================
face < 20 px           10, 0.40 (0.87)                        0
sharpness < 3000       96, 0.69 (0.88)                        26, 0.58 (0.79)
abs(yaw) > 30°         224, 0.79 (0.88)                       38, 0.50 (0.80)
abs(pitch) > 20°       169, 0.82 (0.87)                       15, 0.73 (0.78)
no FaceMesh face       49, 0.51 (0.88)                        6, 0.17 (0.78)
=====================  =====================================  ===============================

``upright`` < 0.5 fails ``quality_ok`` too: a turned face is read as if it were upright
(``python benchmarks/upright_check.py`` measures the check on the media photos turned by 0, 90,
180 and 270 degrees).

``truncated`` is reported but allowed by default: tight crops (FER-style) touch the border by
construction (2,385 of 3,189 FER+ faces, no loss of accuracy).
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

QUALITY_COLUMNS: tuple[str, ...] = (
    "face_size_px",
    "sharpness",
    "yaw",
    "pitch",
    "roll",
    "truncated",
    "upright",
    "quality_ok",
)
"""Keys :func:`assess` adds to ``Faces.data`` (and columns of the row schema)."""


@dataclass(frozen=True)
class QualityThresholds:
    """Limits for ``quality_ok``.

    Attributes:
        min_face_px: smallest acceptable shorter box side, pixels.
        min_sharpness: smallest acceptable Laplacian variance of the 48×48 grey aligned crop
            (:data:`QUALITY_CROP_SIDE`; :func:`sharpness`).
        max_abs_yaw: largest acceptable |yaw|, degrees.
        max_abs_pitch: largest acceptable |pitch|, degrees.
        allow_truncated: accept faces whose box touches the image border.
        require_pose: fail faces whose pose was asked for but could not be measured.
        min_upright: smallest acceptable ``upright`` probability, 0-1 (``0`` turns the check
            off).

    Raises:
        ValueError: a limit that is not a number, negative or NaN, or ``min_upright`` above 1.
    """

    min_face_px: float = 20.0
    min_sharpness: float = 3000.0
    max_abs_yaw: float = 30.0
    max_abs_pitch: float = 20.0
    allow_truncated: bool = True
    require_pose: bool = True
    min_upright: float = 0.5

    def __post_init__(self) -> None:
        limits = ("min_face_px", "min_sharpness", "max_abs_yaw", "max_abs_pitch", "min_upright")
        for name in limits:
            value = getattr(self, name)
            if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Real):
                raise ValueError(f"QualityThresholds.{name} must be a number >= 0; got {value!r}")
            if not value >= 0:  # NaN too
                raise ValueError(f"QualityThresholds.{name} must be a number >= 0; got {value!r}")
        if self.min_upright > 1:
            raise ValueError(
                f"QualityThresholds.min_upright is a probability (0-1); got {self.min_upright}"
            )


def face_size(xyxy: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """``(n,)`` shorter side of each ``xyxy`` box, pixels."""
    xyxy = np.asarray(xyxy, np.float32).reshape(-1, 4)
    return np.minimum(xyxy[:, 2] - xyxy[:, 0], xyxy[:, 3] - xyxy[:, 1])


QUALITY_CROP_SIDE = 48
"""Side, pixels, of the grey aligned crop the quality measures read (:func:`sharpness`).
:class:`mien.Analyzer` cuts it at this side whatever the model's input size, so one
threshold means the same for every model."""


def sharpness(crops: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
    """``(n,)`` variance of the 3×3 Laplacian of each ``(n, S, S)`` grey uint8 crop. The value
    depends on ``S``: mien measures :data:`QUALITY_CROP_SIDE` px crops."""
    return np.array(
        [cv2.Laplacian(c, cv2.CV_64F, ksize=3).var() for c in np.asarray(crops)], np.float32
    )


def truncated(
    xyxy: npt.NDArray[np.float32], image_wh: tuple[int, int], *, margin: float = 1.0
) -> npt.NDArray[np.bool_]:
    """``(n,)`` True where a box lies within ``margin`` pixels of an image edge."""
    w, h = image_wh
    b = np.asarray(xyxy, np.float32).reshape(-1, 4)
    return (
        (b[:, 0] <= margin)
        | (b[:, 1] <= margin)
        | (b[:, 2] >= w - margin)
        | (b[:, 3] >= h - margin)
    )


def quality_ok(values: dict[str, Any], t: QualityThresholds) -> npt.NDArray[np.bool_]:
    """``(n,)`` combined flag from the measured ``values`` (see the module docstring);
    ``values["pose_attempted"]`` says whether NaN poses mean "FaceMesh found no face"."""
    ok = (values["face_size_px"] >= t.min_face_px) & (values["sharpness"] >= t.min_sharpness)
    with np.errstate(invalid="ignore"):
        ok &= ~(np.abs(values["yaw"]) > t.max_abs_yaw)  # NaN passes here ...
        ok &= ~(np.abs(values["pitch"]) > t.max_abs_pitch)
    if t.require_pose and values.get("pose_attempted", False):
        ok &= ~np.isnan(values["yaw"])  # ... but not when FaceMesh was run and found no face
    if not t.allow_truncated:
        ok &= ~values["truncated"]
    if "upright" in values:
        with np.errstate(invalid="ignore"):
            ok &= ~(values["upright"] < t.min_upright)  # NaN (not measured) passes
    return ok


def assess(
    xyxy: npt.NDArray[np.float32],
    crops: npt.NDArray[np.uint8],
    image_wh: tuple[int, int],
    pose: npt.NDArray[np.float32] | None,
    thresholds: QualityThresholds,
    upright: npt.NDArray[np.float32] | None = None,
) -> dict[str, np.ndarray]:
    """All quality values for ``n`` faces, keyed by :data:`QUALITY_COLUMNS`.

    Args:
        xyxy: ``(n, 4)`` boxes, pixels.
        crops: ``(n, 48, 48)`` grey uint8 aligned crops (:data:`QUALITY_CROP_SIDE`; crops of
            another side give sharpness values the thresholds were not set for).
        image_wh: source image size.
        pose: ``(n, 3)`` yaw, pitch, roll in degrees, or ``None`` (not measured: NaN).
        thresholds: limits for ``quality_ok``.
        upright: ``(n,)`` probability that each face is upright
            (:class:`mien.quality.orientation.UprightCheck`), or ``None`` (not measured: NaN).
    """
    n = len(xyxy)
    angles = np.full((n, 3), np.nan, np.float32) if pose is None else np.asarray(pose, np.float32)
    values: dict[str, np.ndarray] = {
        "face_size_px": face_size(xyxy),
        "sharpness": sharpness(crops) if n else np.zeros(0, np.float32),
        "yaw": angles[:, 0],
        "pitch": angles[:, 1],
        "roll": angles[:, 2],
        "truncated": truncated(xyxy, image_wh),
        "upright": np.full(n, np.nan, np.float32)
        if upright is None
        else np.asarray(upright, np.float32).reshape(n),
    }
    values["quality_ok"] = quality_ok({**values, "pose_attempted": pose is not None}, thresholds)
    return values
