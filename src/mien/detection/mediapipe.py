"""MediaPipe BlazeFace (0.10.14, models shipped inside the wheel; nothing is downloaded).

BlazeFace: Bazarevsky et al., "BlazeFace: Sub-millisecond Neural Face Detection on Mobile GPUs"
(CVPR-W 2019). The *short-range* model (128×128 input) is made for faces that fill a good part
of the picture (within ~2 m of a camera); the *full-range* model (192×192, sparse) is made for
small, distant faces and misses close-ups. On the 400 close-up photos of ``shared/media/faces``
short-range finds 398 and full-range 43 (321 with the photo padded by half its size).

``model="auto"`` (the default) tries, stopping at the first pass that finds a face:

1. short-range on the image (close-ups: one fast pass);
2. short-range on the image padded by a quarter of its longer side with black: a face that fills
   the whole frame (a tight crop) is missed by pass 1 and found here (FER2013 val crops: 283 of
   300 found by pass 1, 300 of 300 with this pass);
3. full-range on the image (small, distant faces).

``auto`` is fast for close-ups, but once short-range finds one face it does not look for smaller
ones, except where the caller expects more faces than it found (``detect(image, expected=n)``; in a
video the pipeline passes the tracks seen within the last half second) or asks it to look wider
(``wider=True``; in a video once a second): then the full-range pass runs too and the faces of both
are kept. ``model="multi"`` runs both models on every image and keeps
the union (a full-range box overlapping a better-scoring box by IoU > 0.3 is dropped as the same
face), then falls back to the padded pass: about twice the detection time, for scenes that mix near
and far faces (group photos, wide video shots).

``model="tiled"`` adds the short-range model on overlapping square tiles (a third of each
overlapping the next, ``TILE_STRIDE``; sides from :func:`_tile_sides`: as tall as the image
when that makes more than one tile, then halving down to ``TILE_MIN_SIDE`` px, 720p getting
720, 360 and 192). A face too small
for the whole-image passes fills enough of a tile to be found, in a panorama or a strip too.
Only tile boxes of at most ``TILE_MAX_FACE`` of the tile's side are kept (larger faces are the
whole-image passes' work), none that is the same as, or mostly inside, a face already found,
and each is looked at a second time, best score first: short-range on a square twice its size
centred on it must find it again (IoU ≥ 0.4) at ``TILE_CONFIRM`` or more
(``TILE_CONFIRM_EDGE`` at the image's edge, where half-visible faces score lower). On
face-free textures (colour blobs, dots, text) the tiles alone gave 111 boxes and the second
look kept none; on a reviewer's 26 harder textures it kept 4, 3 of them at the image's edge.
Made for blurring faces, at many times ``multi``'s time (``benchmarks/group_scenes.py``
measures faces found, other boxes and time). Limits: small faces (in a 640×360 frame a
review missed 21 of 22 face boxes of about 23 px, 3 of 22 at 32 px, none at 40 px), faces
under about 50 px in images shrunk to ``MAX_SIDE`` first (6000 × 4000), and faces entering
from the edge until about half to two thirds of them is inside.

Whatever the model, four things are applied on top of MediaPipe:

* detections scoring below ``min_confidence`` are dropped (MediaPipe's own graph keeps
  everything above 0.5, so thresholds below 0.5 have no effect);
* a detection lying mostly (≥ 80 % of its area) inside a higher-scoring one is dropped: faces do
  not nest, and BlazeFace sometimes fires a second time on an eye or a spectacle lens; so is
  a lower-scoring, looser box of the same face (holding most of a higher-scoring box, at most
  ``LOOSER_AREA`` times its area);
* a box narrower or lower than ``MIN_FACE_SIDE`` pixels (once clipped to the image) is dropped:
  on images of 16 px or less BlazeFace fires on flat grey or noise (a 4×4 grey image gave a
  "face" at 0.56), and a face that small holds no readable expression; so is a box whose
  pixels hardly vary (``MIN_CONTRAST``: flat grey images of 12 px gave "faces" at 27 of 52
  grey levels). Small images of noise can still give a "face" (16-32 px noise: about half of
  them), at about 0.5 and abstained for its quality;
* images with a side longer than ``MAX_SIDE`` pixels are shrunk before detection (boxes are
  mapped back to full resolution). MediaPipe's own resampling fails on sides of 32,767 px or
  more, and the detectors look at the image at 128 or 192 px anyway.

Limit: the whole image is seen at 128 px (short-range) or 192 px (full-range), so a face much
smaller than about a twentieth of the image's longer side is missed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import warnings
from typing import Any, Literal

import cv2
import numpy as np

from mien.errors import UnknownDetectorError
from mien.tracking.iou import intersection_matrix, iou_matrix
from mien.types import KEYPOINT_NAMES, Faces, ImageBGR

DetectorModel = Literal["short", "full", "auto", "multi", "tiled"]
DETECTOR_MODELS: tuple[str, ...] = ("short", "full", "auto", "multi", "tiled")
MAX_SIDE = 4096
"""Longest image side, in pixels, handed to MediaPipe; larger images are shrunk first."""
MIN_FACE_SIDE = 8.0
"""Smallest box side, in pixels, kept as a face. Of 200 FER+ ``val`` crops (48 px), the
smallest box found was 9.2 px and the 1st percentile 22.8 px; a 4 × 4 grey image and one
16 × 16 noise image gave boxes of 3.8 and 6.3 px."""
MIN_CONTRAST = 0.5
"""Smallest standard deviation of a box's pixel values (0-255) kept as a face: a flat box has
0; faces the detector still finds in photos squeezed into 0-8 grey levels had 1.06 or more
(2.0 dropped 29 of 59 faces squeezed into 0-10)."""
TILE_MIN_SIDE = 192
"""``tiled``: smallest tile side, in pixels (the full-range model's own input size)."""
TILE_STRIDE = 2 / 3
"""``tiled``: step between tiles, as a share of their side (a third of each tile overlaps the
next: every face up to a third of a tile lies whole in one). Half as before found the same
72 of 72 faces of 24-64 px in twelve 720p scenes, at 1.6× the time."""
TILE_MAX_FACE = 0.6
"""``tiled``: largest box side kept from a tile, as a share of the tile's side (0.4 missed 3 of
the 12 faces of 300 and 400 px portraits in 4000×500 panoramas; 0.6 none, with no more other
boxes)."""
TILE_CONFIRM_EDGE = 0.55
"""``tiled``: the same for a box at the image's edge (a face partly outside the frame)."""
TILE_CONFIRM = 0.7
"""``tiled``: smallest score of the second look that confirms a face found in a tile (on
face-free textures no tile box reached 0.7; in the composed scenes 119 of 121 did)."""
NESTED_OVERLAP = 0.8
"""Share of a box's area inside a higher-scoring box above which it is dropped as nested."""
LOOSER_AREA = 6.0
"""A lower-scoring box holding a higher-scoring one and at most this many times its area is
the same face, boxed loosely, and is dropped (a face does not hold another face; a much larger
box may be a face whose eye scored higher)."""


def check_detector_model(model: object) -> None:
    """Raise :class:`~mien.errors.UnknownDetectorError` unless ``model`` is one of
    :data:`DETECTOR_MODELS` (checked before anything is loaded)."""
    if model not in DETECTOR_MODELS:
        raise UnknownDetectorError(
            f"detector must be one of {list(DETECTOR_MODELS)}; got {model!r}"
        )


class MediaPipeFaceDetector:
    """BlazeFace face detector.

    Args:
        model: ``"short"`` (short-range), ``"full"`` (full-range), ``"auto"`` (short, then
            short on a padded copy, then full), ``"multi"`` (short and full together) or
            ``"tiled"`` (``multi`` plus short-range on tiles of large images); see the module
            docstring.
        min_confidence: detections scoring below this (in ``[0, 1]``) are dropped.

    Raises:
        UnknownDetectorError: unknown ``model`` (a ``ValueError`` too).
        ValueError: ``min_confidence`` is not a number in ``[0, 1]``.

    Not thread-safe: give each thread its own detector. Use as a context manager or call
    :meth:`close` to free the MediaPipe graphs.
    """

    def __init__(self, model: DetectorModel = "auto", *, min_confidence: float = 0.5) -> None:
        check_detector_model(model)
        if (
            not isinstance(min_confidence, (int, float, np.integer, np.floating))
            or isinstance(min_confidence, bool)
            or not 0.0 <= min_confidence <= 1.0
        ):
            raise ValueError(f"min_confidence must be a number in [0, 1]; got {min_confidence!r}")
        self.model = model
        self.min_confidence = float(min_confidence)
        self._graphs: dict[int, Any] = {}

    def _graph(self, selection: int) -> Any:
        if selection not in self._graphs:
            os.environ.setdefault("GLOG_minloglevel", "2")  # quiet MediaPipe's C++ start-up log
            from mediapipe.python.solutions import face_detection

            from mien.logs import ignore_protobuf_deprecation, quiet_native_stderr

            ignore_protobuf_deprecation()
            # TF Lite's start-up lines come on the first image: one blank image, quietly, so
            # that the Python API is quiet in a notebook too
            with quiet_native_stderr():
                graph = face_detection.FaceDetection(
                    model_selection=selection, min_detection_confidence=self.min_confidence
                )
                graph.process(np.zeros((64, 64, 3), np.uint8))
            self._graphs[selection] = graph
        return self._graphs[selection]

    def detect(self, image: ImageBGR, *, expected: int = 0, wider: bool = False) -> Faces:
        """Detect every face in ``image`` (``(H, W, 3)`` uint8 BGR).

        Args:
            image: ``(H, W, 3)`` uint8 BGR.
            expected: how many faces the caller has reason to expect (in a video, the
                tracks seen a moment ago). With ``"auto"``, a short-range pass that finds
                fewer is followed by the full-range pass, and the faces of both are kept:
                one short-range pass does not always find both of two faces side by side
                (in a reviewer's clip of two seated people it lost one in 11 of 40 frames,
                and each loss could end a track). Other models ignore it.
            wider: with ``"auto"``, run the full-range pass after a short-range pass that
                found any face, whatever ``expected`` says: a face short-range never finds is
                never expected (in a video, the pipeline asks for this once a second).

        Returns:
            ``Faces`` sorted by decreasing confidence: ``xyxy`` clipped to the image, the
            detector's score, and 6 keypoints in :data:`~mien.types.KEYPOINT_NAMES` order.
            ``Faces.empty()`` when there is none.

        Raises:
            ValueError: ``image`` is not a ``(H, W, 3)`` uint8 array with at least one pixel
                (:func:`mien.io.read_image` makes one from a file, grey or BGRA).
        """
        if (
            not isinstance(image, np.ndarray)
            or image.dtype != np.uint8
            or image.ndim != 3
            or image.shape[2] != 3
            or image.size == 0
        ):
            got = (
                f"{image.dtype} {image.shape}"
                if isinstance(image, np.ndarray)
                else type(image).__name__
            )
            raise ValueError(
                f"detect needs an (H, W, 3) uint8 BGR image with pixels; got {got} "
                "(mien.io.read_image converts grey, BGRA and files)"
            )
        height, width = image.shape[:2]
        original = image
        scale = min(1.0, MAX_SIDE / max(width, height))
        if scale < 1.0:
            small = (max(1, round(width * scale)), max(1, round(height * scale)))
            image = cv2.resize(image, small, interpolation=cv2.INTER_AREA)
        faces = self._detect(cv2.cvtColor(image, cv2.COLOR_BGR2RGB), expected, wider)
        if scale < 1.0 and len(faces) and faces.keypoints is not None:
            inv = np.float32(1.0 / scale)
            faces = dataclasses.replace(
                faces, xyxy=faces.xyxy * inv, keypoints=faces.keypoints * inv
            )
        keep = faces.confidence >= self.min_confidence
        faces = _clip(faces[keep] if not keep.all() else faces, width, height)
        return _drop_nested(_drop_flat(faces, original))

    def _detect(self, rgb: np.ndarray, expected: int = 0, wider: bool = False) -> Faces:
        if self.model == "full":
            return self._run(1, rgb, pad=0)
        if self.model in ("multi", "tiled"):
            faces = _merge(self._run(0, rgb, pad=0), self._run(1, rgb, pad=0))
            if self.model == "tiled":
                faces = _merge(faces, self._tiles(rgb, faces))
            return faces if len(faces) else self._padded(rgb)
        faces = self._run(0, rgb, pad=0)
        if self.model == "auto" and len(faces) and (wider or len(faces) < expected):
            return _merge(faces, self._run(1, rgb, pad=0))
        if len(faces) or self.model == "short":
            return faces
        faces = self._padded(rgb)
        return faces if len(faces) else self._run(1, rgb, pad=0)

    def _tiles(self, rgb: np.ndarray, known: Faces) -> Faces:
        """Faces found on overlapping tiles (see the module docstring) and not in ``known``
        (IoU > 0.3, or over half inside a known face), each confirmed by a second look; boxes
        in image coordinates. Candidates are confirmed best score first, and one overlapping
        a confirmed face (IoU > 0.3) is that face: a tile's loose box at 0.56 no longer hides
        another tile's tight one at 0.98."""
        h, w = rgb.shape[:2]
        parts = [
            self._tile(rgb, x, y, side)
            for side in _tile_sides(h, w)
            for y in _starts(h, side, round(side * TILE_STRIDE))
            for x in _starts(w, side, round(side * TILE_STRIDE))
        ]
        parts = [p for p in parts if len(p)]
        if not parts:
            return Faces.empty()
        found = _concat(parts)
        if len(known):  # the same face, or part of one (a curl of hair inside a portrait)
            same = iou_matrix(found.xyxy, known.xyxy).max(axis=1) > 0.3
            found = found[~same & (_share_inside(found.xyxy, known.xyxy) <= 0.5)]
        kept: list[int] = []
        for i in np.argsort(-found.confidence, kind="stable"):
            if kept and iou_matrix(found.xyxy[i : i + 1], found.xyxy[kept]).max() > 0.3:
                continue
            if self._confirmed(rgb, found.xyxy[i]):
                kept.append(int(i))
        return found[np.asarray(sorted(kept, key=lambda i: -found.confidence[i]), np.int64)]

    def _tile(self, rgb: np.ndarray, x: int, y: int, side: int) -> Faces:
        """The small faces short-range finds in one tile, in image coordinates."""
        faces = self._run(0, np.ascontiguousarray(rgb[y : y + side, x : x + side]), pad=0)
        wh = faces.xyxy[:, 2:] - faces.xyxy[:, :2]
        faces = faces[wh.min(axis=1) <= TILE_MAX_FACE * side]
        if not len(faces):
            return faces
        shift = np.float32([x, y])
        return dataclasses.replace(
            faces,
            xyxy=faces.xyxy + np.tile(shift, 2),
            keypoints=None if faces.keypoints is None else faces.keypoints + shift,
        )

    def _confirmed(self, rgb: np.ndarray, box: np.ndarray) -> bool:
        """Whether short-range, on a square twice the box's size centred on it (black beyond
        the image), finds the box again (IoU ≥ 0.4) scoring at least :data:`TILE_CONFIRM`, or
        :data:`TILE_CONFIRM_EDGE` for a box at the image's edge (a face partly outside the
        frame scores lower: half-visible faces scored 0.56-0.68). Moving the square inside
        the image instead confirmed fewer of those (1 of 8 where centring found 7)."""
        x1, y1, x2, y2 = (float(v) for v in box)
        side = max(2, round(2 * max(x2 - x1, y2 - y1)))
        h, w = rgb.shape[:2]
        x0, y0 = round((x1 + x2 - side) / 2), round((y1 + y2 - side) / 2)
        square = np.zeros((side, side, 3), np.uint8)
        sx, sy = max(0, x0), max(0, y0)
        ex, ey = min(w, x0 + side), min(h, y0 + side)
        if ex <= sx or ey <= sy:
            return False
        square[sy - y0 : ey - y0, sx - x0 : ex - x0] = rgb[sy:ey, sx:ex]
        again = self._run(0, square, pad=0)
        if not len(again):
            return False
        moved = again.xyxy + np.float32([x0, y0, x0, y0])
        same = iou_matrix(moved, np.float32([[x1, y1, x2, y2]]))[:, 0] >= 0.4
        edge = x1 <= 2 or y1 <= 2 or x2 >= w - 2 or y2 >= h - 2
        need = TILE_CONFIRM_EDGE if edge else TILE_CONFIRM
        return bool(same.any() and again.confidence[same].max() >= need)

    def _padded(self, rgb: np.ndarray) -> Faces:
        """Short-range on a copy padded by a quarter of the longer side (tight crops)."""
        pad = max(rgb.shape[:2]) // 4
        padded = cv2.copyMakeBorder(rgb, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=(0, 0, 0))
        return self._run(0, padded, pad=pad)

    def _run(self, selection: int, rgb: np.ndarray, *, pad: int) -> Faces:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # protobuf deprecation noise per call
            result = self._graph(selection).process(rgb)
        detections = result.detections or []
        if not detections:
            return Faces.empty()
        h, w = rgb.shape[:2]
        xyxy, score, kps = [], [], []
        for d in detections:
            box = d.location_data.relative_bounding_box
            x1, y1 = box.xmin * w - pad, box.ymin * h - pad
            xyxy.append([x1, y1, x1 + box.width * w, y1 + box.height * h])
            score.append(d.score[0] if d.score else 0.0)
            points = [[k.x * w - pad, k.y * h - pad] for k in d.location_data.relative_keypoints]
            kps.append(points[: len(KEYPOINT_NAMES)])
        order = np.argsort(-np.asarray(score), kind="stable")
        return Faces(
            xyxy=np.asarray(xyxy, np.float32)[order],
            confidence=np.clip(np.asarray(score, np.float32), 0.0, 1.0)[order],
            keypoints=np.asarray(kps, np.float32)[order],
        )

    def close(self) -> None:
        """Free the MediaPipe graphs; the detector rebuilds them if used again."""
        for graph in self._graphs.values():
            graph.close()
        self._graphs.clear()

    def __del__(self) -> None:  # an instance dropped without close() frees its graphs too
        with contextlib.suppress(Exception):
            self.close()

    def __enter__(self) -> MediaPipeFaceDetector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _share_inside(boxes: np.ndarray, others: np.ndarray) -> np.ndarray:
    """``(n,)``: for each of ``boxes`` (``(n, 4)`` xyxy), the largest share of its area lying
    inside one of ``others`` (``(m, 4)``)."""
    area = np.maximum((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]), 1e-6)
    return intersection_matrix(boxes, others).max(axis=1) / area


def _tile_sides(height: int, width: int) -> list[int]:
    """Tile sides for ``tiled``, largest first: the shorter image side when that makes more
    than one tile (also under :data:`TILE_MIN_SIDE`: a 180 px strip), then halving while at
    least :data:`TILE_MIN_SIDE`, then :data:`TILE_MIN_SIDE` itself when the last used side
    is over 1.5 times it (720p: 720, 360 and 192; 360 alone missed faces of 24-32 px).

    >>> _tile_sides(720, 1280), _tile_sides(1080, 1920), _tile_sides(350, 350)
    ([720, 360, 192], [1080, 540, 270], [])
    """
    short, long = min(height, width), max(height, width)
    sides = [short] if 32 <= short < long else []
    side = short // 2
    while side >= TILE_MIN_SIDE:
        sides.append(side)
        side //= 2
    if sides and sides[-1] > 1.5 * TILE_MIN_SIDE:
        sides.append(TILE_MIN_SIDE)
    return sides


def _starts(length: int, side: int, stride: int) -> list[int]:
    """Tile origins along one axis: every ``stride`` px, the last tile flush with the end."""
    starts = list(range(0, max(1, length - side + 1), stride))
    if starts[-1] + side < length:
        starts.append(length - side)
    return starts


def _merge(first: Faces, second: Faces, *, same_iou: float = 0.3) -> Faces:
    """Union of two detectors' faces, sorted by score; a box of ``second`` overlapping one of
    ``first`` by more than ``same_iou`` is the same face and is dropped."""
    if not len(second):
        return first
    if len(first):
        second = second[iou_matrix(second.xyxy, first.xyxy).max(axis=1) <= same_iou]
    both = _concat([first, second])
    return both[np.argsort(-both.confidence, kind="stable")]


def _concat(parts: list[Faces]) -> Faces:
    """The detector's faces of several passes end to end (boxes, scores, keypoints)."""
    return Faces(
        xyxy=np.concatenate([p.xyxy for p in parts]),
        confidence=np.concatenate([p.confidence for p in parts]),
        keypoints=np.concatenate([p.keypoints for p in parts]),  # type: ignore[misc]
    )


def _drop_nested(faces: Faces) -> Faces:
    """Drop boxes lying mostly inside a higher-scoring box, and looser boxes of the same face:
    a lower-scoring box holding most of a higher-scoring one at most :data:`LOOSER_AREA` times
    its area (a 45 px box at 0.92 inside a 97 px one at 0.63; faces are sorted by score)."""
    if len(faces) < 2:
        return faces
    inter = intersection_matrix(faces.xyxy, faces.xyxy)
    area = np.maximum(faces.area.astype(np.float64), 1e-6)
    keep = np.ones(len(faces), bool)
    for i in range(1, len(faces)):
        for j in range(i):
            if not keep[j]:
                continue
            inside = inter[i, j] >= NESTED_OVERLAP * area[i]
            looser = inter[i, j] >= NESTED_OVERLAP * area[j] and area[i] <= LOOSER_AREA * area[j]
            if inside or looser:
                keep[i] = False
                break
    return faces if keep.all() else faces[keep]


def _drop_flat(faces: Faces, image: ImageBGR) -> Faces:
    """Drop boxes whose pixels hardly vary (standard deviation under :data:`MIN_CONTRAST`
    grey levels, from at most 64 × 64 samples): a face always has contrast, and BlazeFace
    fired on flat grey images of 12 px (27 of 52 grey levels)."""
    if not len(faces):
        return faces
    keep = np.ones(len(faces), bool)
    for i, (x1, y1, x2, y2) in enumerate(np.round(faces.xyxy).astype(int)):
        step = max(1, (x2 - x1) // 64, (y2 - y1) // 64)
        region = image[y1:y2:step, x1:x2:step]
        keep[i] = region.size > 0 and float(region.std()) >= MIN_CONTRAST
    return faces if keep.all() else faces[keep]


def _clip(faces: Faces, width: int, height: int) -> Faces:
    """Clip boxes to the image and drop boxes left with a side under :data:`MIN_FACE_SIDE`."""
    if not len(faces):
        return faces
    xyxy = faces.xyxy.copy()
    xyxy[:, [0, 2]] = np.clip(xyxy[:, [0, 2]], 0, width)
    xyxy[:, [1, 3]] = np.clip(xyxy[:, [1, 3]], 0, height)
    faces = dataclasses.replace(faces, xyxy=xyxy)
    keep = (xyxy[:, 2] - xyxy[:, 0] >= MIN_FACE_SIDE) & (xyxy[:, 3] - xyxy[:, 1] >= MIN_FACE_SIDE)
    return faces if keep.all() else faces[keep]
