"""Head pose (yaw, pitch, roll in degrees) from MediaPipe FaceMesh landmarks and ``cv2.solvePnP``.

3D template: six vertices of MediaPipe's canonical face model
(``mediapipe/modules/face_geometry/data/canonical_face_model.obj``; the same mesh topology as
FaceMesh, so the landmark indices match): nose tip (1), chin (152), outer eye corners (33, 263)
and mouth corners (61, 291). Converted from the model's centimetres (y up, z towards the
viewer) to millimetres in the camera's axes: x to the image right, y down, z away from the
camera, origin at the nose tip.

Camera: no lens distortion, and the principal point placed on the nose tip, so the angles
describe the head relative to the line of sight from the camera to the face (a frontal face
near an image corner is still 0, 0, 0), which is what matters for how the face looks. Focal
length: :func:`head_pose` takes the longer image side in pixels unless told otherwise (the
usual assumption when the camera is unknown), but :class:`FaceMeshPose` gives it
``FOCAL_PER_EYE_SPAN`` times the face's eye span, the same perspective for every face
whatever the frame: with the image side, a generic template's perspective depended on the
frame, and one posed photo measured a pitch of 7° in a 400×400 frame and 34° in a 1280×720
one. Of the 1,232 Taiwanese portraits centred in grey frames, 3.2 %, 17.4 % and 22.9 % then
failed ``|pitch| ≤ 20°`` in 400×400, 1280×720 and 1920×1080 frames, and 0.6 % in each now
(the same 7 photos; none of the 78 neutral ones): ``python benchmarks/pose_frames.py``.

Angles (``cv2.RQDecomp3x3`` of the head's rotation): ``pitch`` about x (positive: chin down /
looking down), ``yaw`` about y (positive: the face turns towards the image's right), ``roll``
about z (positive: the head tilts clockwise in the image). A frontal face is (0, 0, 0).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

FACE_3D_TEMPLATE = np.array(
    [
        [0.0, 0.0, 0.0],  # 1: nose tip
        [0.0, 82.76513, 32.11112],  # 152: chin
        [-44.45859, -37.90856, 43.02182],  # 33: outer eye corner on the image's left
        [44.45859, -37.90856, 43.02182],  # 263: outer eye corner on the image's right
        [-24.56206, 32.15756, 31.9172],  # 61: mouth corner on the image's left
        [24.56206, 32.15756, 31.9172],  # 291: mouth corner on the image's right
    ]
)
"""``(6, 3)`` template points, millimetres, camera axes (x right, y down, z away)."""

FOCAL_PER_EYE_SPAN = 2.374
"""Focal length, in multiples of the distance between the outer eye corners (landmarks 33 and
263), that :class:`FaceMeshPose` gives the camera. Measured so that the 78 frontal, neutral,
posed 256 px photos of the Taiwanese set keep the camera they had (focal length 256 px, the
image side; median eye span 107.8 px), and with it :data:`PITCH_OFFSET_DEG`'s calibration."""

PITCH_OFFSET_DEG = 14.6
"""Added to FaceMesh-based pitch. Measured: the median pitch of the 78 frontal, neutral, posed
photos of the Taiwanese set was −14.6° (IQR −17.4 to −12.3) before this correction; the bias
comes from the generic camera and template, not from the heads."""

MESH_POINTS = 468
"""Landmarks of FaceMesh without iris refinement (the canonical face model's vertices)."""

MESH_INDICES = (1, 152, 33, 263, 61, 291)
"""FaceMesh landmark indices matching :data:`FACE_3D_TEMPLATE` row by row."""


def head_pose(
    points: npt.ArrayLike, image_wh: tuple[int, int], *, focal_px: float | None = None
) -> tuple[float, float, float]:
    """``(yaw, pitch, roll)`` in degrees from the six template points seen in an image.

    Args:
        points: ``(6, 2)`` pixel coordinates in :data:`FACE_3D_TEMPLATE` order.
        image_wh: ``(width, height)`` of the image the points are in.
        focal_px: the camera's focal length in pixels (default: the longer image side).

    Returns:
        Angles in degrees (see the module docstring for the signs); NaNs if PnP fails.
    """
    w, h = image_wh
    f = float(max(w, h)) if focal_px is None else float(focal_px)
    pts = np.asarray(points, np.float64).reshape(6, 2)
    cx, cy = pts[0]
    camera = np.array([[f, 0, cx], [0, f, cy], [0, 0, 1]], np.float64)
    # start from a frontal head at the distance its eye span implies, so the iterative solver
    # stays in the basin of the upright solution (without it, it can settle upside down)
    span = max(float(np.linalg.norm(pts[3] - pts[2])), 1e-3)
    depth = f * float(FACE_3D_TEMPLATE[3, 0] - FACE_3D_TEMPLATE[2, 0]) / span
    tvec = np.array([[0.0], [0.0], [depth]])
    rvec = np.zeros((3, 1))
    ok, rvec, _ = cv2.solvePnP(
        FACE_3D_TEMPLATE,
        pts.reshape(6, 1, 2),
        camera,
        None,
        rvec,
        tvec,
        useExtrinsicGuess=True,
        flags=cv2.SOLVEPNP_ITERATIVE,
    )
    if not ok:
        return (float("nan"),) * 3  # type: ignore[return-value]
    rotation, _ = cv2.Rodrigues(rvec)
    angles = cv2.RQDecomp3x3(rotation)[0]  # (about x, about y, about z) in degrees
    pitch, yaw, roll = (float(a) for a in angles)
    return -yaw, -pitch, roll


class FaceMeshPose:
    """Head pose of detected faces with MediaPipe FaceMesh (468 landmarks, from the 0.10.14
    wheel) run on a square crop around each face box.

    Args:
        margin: crop side as a multiple of the box's longer side.
        size: crop side in pixels given to FaceMesh.

    Not thread-safe; call :meth:`close` (or use ``with``) to free the graph.
    """

    def __init__(self, *, margin: float = 1.8, size: int = 256) -> None:
        self.margin = margin
        self.size = size
        self._mesh: Any = None

    def _graph(self) -> Any:
        if self._mesh is None:
            os.environ.setdefault("GLOG_minloglevel", "2")
            from mediapipe.python.solutions import face_mesh

            from mien.logs import ignore_protobuf_deprecation, quiet_native_stderr

            ignore_protobuf_deprecation()
            # TF Lite's start-up lines come on the first image: one blank image, quietly, so
            # that the Python API is quiet in a notebook too
            with quiet_native_stderr():
                self._mesh = face_mesh.FaceMesh(
                    static_image_mode=True,
                    max_num_faces=1,
                    refine_landmarks=False,
                    min_detection_confidence=0.3,
                )
                self._mesh.process(np.zeros((64, 64, 3), np.uint8))
        return self._mesh

    def landmarks(
        self,
        image: np.ndarray,
        xyxy: npt.NDArray[np.float32],
        indices: Sequence[int] | None = None,
    ) -> npt.NDArray[np.float32]:
        """``(n, P, 3)`` float32 FaceMesh landmarks per box, in the image's pixels: ``x``
        right, ``y`` down, ``z`` depth on the same scale as ``x`` (smaller is nearer the
        camera; MediaPipe's convention); NaN rows where FaceMesh finds no face in the crop.

        Args:
            image: ``(H, W, 3)`` uint8 BGR.
            xyxy: ``(n, 4)`` face boxes in pixels; FaceMesh runs on a ``size`` px square crop
                of side ``margin`` × the box's longer side, centred on the box.
            indices: the landmarks to return, in this order (default: all ``P = 468``).
        """
        wanted = list(range(MESH_POINTS)) if indices is None else list(indices)
        out = np.full((len(xyxy), len(wanted), 3), np.nan, np.float32)
        for i, (x1, y1, x2, y2) in enumerate(np.asarray(xyxy, np.float64)):
            side = max(x2 - x1, y2 - y1) * self.margin
            if side < 4:
                continue
            s = self.size / side
            cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
            m = np.array([[s, 0, self.size / 2 - cx * s], [0, s, self.size / 2 - cy * s]])
            crop = cv2.warpAffine(image, m, (self.size, self.size), borderMode=cv2.BORDER_CONSTANT)
            found = self._graph().process(cv2.cvtColor(crop, cv2.COLOR_BGR2RGB))
            if not found.multi_face_landmarks:
                continue
            lm = found.multi_face_landmarks[0].landmark
            crop_pts = np.array([[lm[k].x, lm[k].y, lm[k].z] for k in wanted]) * self.size
            # back to image pixels (z only scales)
            crop_pts[:, :2] -= [self.size / 2 - cx * s, self.size / 2 - cy * s]
            out[i] = crop_pts / s
        return out

    def estimate(self, image: np.ndarray, xyxy: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """``(n, 3)`` float32 ``yaw, pitch, roll`` in degrees per box (focal length
        :data:`FOCAL_PER_EYE_SPAN` eye spans; pitch corrected by :data:`PITCH_OFFSET_DEG`);
        NaN where FaceMesh finds no face in the crop.

        Args:
            image: ``(H, W, 3)`` uint8 BGR.
            xyxy: ``(n, 4)`` face boxes in pixels.
        """
        out = np.full((len(xyxy), 3), np.nan, np.float32)
        h_img, w_img = image.shape[:2]
        points = self.landmarks(image, xyxy, MESH_INDICES)
        for i, pts in enumerate(points):
            if np.isnan(pts).any():
                continue
            # the same perspective for every face: a focal length in eye spans, not the
            # image side (see the module docstring)
            xy = pts[:, :2].astype(np.float64)
            span = float(np.linalg.norm(xy[3] - xy[2]))
            out[i] = head_pose(xy, (w_img, h_img), focal_px=FOCAL_PER_EYE_SPAN * max(span, 1.0))
            out[i, 1] += PITCH_OFFSET_DEG
        return out

    def warm_up(self) -> None:
        """Build the FaceMesh graph and its sub-models now (they load on the first image)."""
        self._graph()

    def close(self) -> None:
        if self._mesh is not None:
            self._mesh.close()
            self._mesh = None

    def __del__(self) -> None:  # an instance dropped without close() frees its graphs too
        with contextlib.suppress(Exception):
            self.close()

    def __enter__(self) -> FaceMeshPose:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
