"""Central data types: the one internal image form, keypoint order, label names, `Faces`.

Conventions (used everywhere in mien):

* **Image form.** Every image inside mien is ``ImageBGR``: a ``numpy.uint8`` array of shape
  ``(H, W, 3)`` in OpenCV's BGR channel order, C-contiguous, already turned upright
  (EXIF orientation applied). Conversion from files, bytes and Pillow images happens only at
  the boundary, in :func:`mien.io.read_image`; an array is taken as BGR (nothing can tell
  RGB from BGR: reverse an RGB one first, ``rgb[..., ::-1]``).
* **Coordinates** are absolute ``float32`` pixels of that upright image, origin top-left,
  x to the right, y down. Boxes are ``xyxy``. Sizes are ``(width, height)`` named ``*_wh``.
* **Keypoints** follow MediaPipe BlazeFace's six points in :data:`KEYPOINT_NAMES` order.
  "right" and "left" are the *subject's own* sides: in an unmirrored photo the subject's right
  eye appears on the viewer's left (smaller x).
* **Expression labels** are perceived (what a face looks like), never claims about felt emotion.
"""

from __future__ import annotations

import decimal
import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

ImageBGR = npt.NDArray[np.uint8]
"""``(H, W, 3)`` uint8 BGR image, the only internal image form."""

KEYPOINT_NAMES: tuple[str, ...] = (
    "right_eye",
    "left_eye",
    "nose_tip",
    "mouth_center",
    "right_ear_tragion",
    "left_ear_tragion",
)
"""BlazeFace keypoint order; sides are the subject's own (right eye = viewer's left)."""

KP = {name: i for i, name in enumerate(KEYPOINT_NAMES)}
"""Keypoint name -> index into the second axis of ``Faces.keypoints``."""

EXPRESSIONS: tuple[str, ...] = (
    "anger",
    "disgust",
    "fear",
    "happiness",
    "sadness",
    "surprise",
    "neutral",
    "contempt",
)
"""Perceived-expression labels of mien's models, in output-column order."""


def _as(array: Any, dtype: Any, name: str = "") -> np.ndarray:
    """``array`` as a C-contiguous array of ``dtype``. For an integer or bool ``dtype`` the
    values must already be whole numbers (``track_id=[1.7]`` is not id 1) or, for bool,
    booleans or 0/1 (``"False"`` is not False).

    Raises:
        ValueError: values that the conversion would change.
    """
    given = np.asarray(array)
    if given.dtype == object and given.size:  # numbers held as Python objects
        try:
            given = np.asarray(given.tolist())
        except ValueError:
            pass
    target = np.dtype(dtype)
    if target.kind in "iub" and given.size:
        if given.dtype.kind not in "iubf":
            raise ValueError(f"{name} must hold numbers; got {given.dtype} values")
        if given.dtype.kind == "f" and not np.all(np.isfinite(given) & (given == np.round(given))):
            raise ValueError(f"{name} must hold whole numbers; got {given.ravel()[:4].tolist()}")
        if target.kind == "b" and not np.all((given == 0) | (given == 1)):
            raise ValueError(
                f"{name} must hold booleans (or 0/1); got {given.ravel()[:4].tolist()}"
            )
    return np.ascontiguousarray(np.asarray(given, dtype=dtype))


@dataclass(eq=False)
class Faces:
    """The faces found in one image, as parallel arrays (first axis = face, length ``n``).

    Attributes:
        xyxy: ``(n, 4)`` float32 box corners ``x1, y1, x2, y2`` in pixels, clipped to the image.
        confidence: ``(n,)`` float32 detector score in ``[0, 1]``.
        keypoints: ``(n, 6, 2)`` float32 pixel ``(x, y)`` in :data:`KEYPOINT_NAMES` order, or
            ``None``. Keypoints are not clipped (an ear may lie outside the image).
        expression: ``(n, K)`` float32 calibrated probabilities, each row sums to 1, columns
            named by the ``FrameResult.expression_names``; ``None`` before classification.
        abstained: ``(n,)`` bool, ``True`` where the top probability is below the model's
            abstention threshold or the face fails the quality checks (``quality_ok`` false in
            ``data``); ``None`` before classification.
        track_id: ``(n,)`` int64 id of the face's track within one video or stream (ids start
            at 1 and restart with every source; ``-1`` = not tracked); ``None`` for stills.
        smoothed: ``(n, K)`` float32 per-track temporally smoothed probabilities (rows sum to
            1), given beside ``expression``, never instead of it; ``None`` for stills.
        data: extra per-face arrays, each with first axis ``n``.

    Raises:
        ValueError: if an array has the wrong shape; the message gives expected and actual.
    """

    xyxy: npt.NDArray[np.float32]
    confidence: npt.NDArray[np.float32]
    keypoints: npt.NDArray[np.float32] | None = None
    expression: npt.NDArray[np.float32] | None = None
    abstained: npt.NDArray[np.bool_] | None = None
    track_id: npt.NDArray[np.int64] | None = None
    smoothed: npt.NDArray[np.float32] | None = None
    data: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.xyxy = _as(self.xyxy, np.float32)
        if self.xyxy.shape in ((0,), (0, 0)):  # an empty list: no faces
            self.xyxy = self.xyxy.reshape(0, 4)
        n = len(self.xyxy)
        _check(self.xyxy, "xyxy", (n, 4))
        self.confidence = _as(self.confidence, np.float32)
        _check(self.confidence, "confidence", (n,))
        if self.keypoints is not None:
            self.keypoints = _as(self.keypoints, np.float32)
            if n == 0 and self.keypoints.size == 0:
                self.keypoints = self.keypoints.reshape(0, len(KEYPOINT_NAMES), 2)
            _check(self.keypoints, "keypoints", (n, len(KEYPOINT_NAMES), 2))
        if self.expression is not None:
            self.expression = _as(self.expression, np.float32)
            if self.expression.ndim != 2 or len(self.expression) != n:
                raise ValueError(f"expression must be (n={n}, K); got {self.expression.shape}")
        if self.abstained is not None:
            self.abstained = _as(self.abstained, bool, "abstained")
            _check(self.abstained, "abstained", (n,))
        if self.track_id is not None:
            self.track_id = _as(self.track_id, np.int64, "track_id")
            _check(self.track_id, "track_id", (n,))
        if self.smoothed is not None:
            self.smoothed = _as(self.smoothed, np.float32)
            if self.smoothed.ndim != 2 or len(self.smoothed) != n:
                raise ValueError(f"smoothed must be (n={n}, K); got {self.smoothed.shape}")
        for key, value in list(self.data.items()):
            try:  # a list is stored as an array: faces[[0]] indexes it
                value = np.asarray(value)
            except ValueError:  # ragged (one landmark array per face, of several lengths)
                ragged = np.empty(len(value), dtype=object)
                ragged[:] = list(value)
                value = ragged
            if value.ndim == 0 or len(value) != n:
                raise ValueError(f"data[{key!r}] must have first axis n={n}; got {np.shape(value)}")
            self.data[key] = value

    def __len__(self) -> int:
        return len(self.xyxy)

    def __eq__(self, other: object) -> bool:
        """Whether ``other`` is ``Faces`` with the same arrays: the same fields set, the same
        shapes and values (NaN equals NaN), and the same ``data`` keys and arrays."""
        if not isinstance(other, Faces):
            return NotImplemented
        names = (
            "xyxy",
            "confidence",
            "keypoints",
            "expression",
            "abstained",
            "track_id",
            "smoothed",
        )
        pairs = [(getattr(self, f), getattr(other, f)) for f in names]
        if self.data.keys() != other.data.keys():
            return False
        pairs += [(self.data[k], other.data[k]) for k in self.data]
        return all(_same_array(a, b) for a, b in pairs)

    __hash__ = None  # type: ignore[assignment]  # mutable arrays: not hashable

    def __getitem__(self, index: int | slice | Sequence[int] | np.ndarray) -> Faces:
        """Select faces by int, slice, index list or tuple, or boolean mask; always returns
        ``Faces``. A slice gives views of the arrays (as numpy does); the others give copies.

        Raises:
            TypeError: a bool or another type of index (``faces[True]`` is not face 1; a
                string, a float, an array of floats or of more than one dimension).
            IndexError: an index out of range, or a mask of the wrong length.
        """
        wrong = TypeError("index faces with an int, a slice, indices or a boolean mask")
        if isinstance(index, (bool, np.bool_)):
            raise wrong
        if isinstance(index, (int, np.integer)):
            index = np.array([int(index)])
        elif isinstance(index, (list, tuple)):
            index = np.asarray(index).reshape(-1)
            if index.size == 0:
                index = index.astype(int)
        if isinstance(index, np.ndarray):
            whole = index.dtype == bool or np.issubdtype(index.dtype, np.integer)
            if index.ndim != 1 or not whole:
                raise wrong
        elif not isinstance(index, slice):
            raise wrong

        def pick(a: np.ndarray | None) -> np.ndarray | None:
            return None if a is None else a[index]

        return Faces(
            xyxy=self.xyxy[index],
            confidence=self.confidence[index],
            keypoints=pick(self.keypoints),
            expression=pick(self.expression),
            abstained=pick(self.abstained),
            track_id=pick(self.track_id),
            smoothed=pick(self.smoothed),
            data={k: v[index] for k, v in self.data.items()},
        )

    @classmethod
    def empty(cls) -> Faces:
        """No faces: every array has first axis 0."""
        return cls(
            xyxy=np.zeros((0, 4), np.float32),
            confidence=np.zeros((0,), np.float32),
            keypoints=np.zeros((0, len(KEYPOINT_NAMES), 2), np.float32),
        )

    @property
    def area(self) -> npt.NDArray[np.float32]:
        """``(n,)`` float32 box areas in square pixels."""
        return (self.xyxy[:, 2] - self.xyxy[:, 0]) * (self.xyxy[:, 3] - self.xyxy[:, 1])

    def top_labels(self, names: Sequence[str]) -> list[str]:
        """Argmax label name per face (``names`` are the expression column names).

        Raises:
            ValueError: if the faces have not been classified.
        """
        if self.expression is None:
            raise ValueError("faces have no expression probabilities yet")
        return [names[i] for i in self.expression.argmax(axis=1)]


def _same_array(a: np.ndarray | None, b: np.ndarray | None) -> bool:
    """Both ``None``, or arrays of one shape and equal values (NaN equal to NaN)."""
    if a is None or b is None:
        return a is b
    a, b = np.asarray(a), np.asarray(b)
    inexact = np.issubdtype(a.dtype, np.inexact) and np.issubdtype(b.dtype, np.inexact)
    return bool(np.array_equal(a, b, equal_nan=inexact))


def _check(array: np.ndarray, name: str, shape: tuple[int, ...]) -> None:
    if array.shape != shape:
        raise ValueError(f"{name} must be {shape}; got {array.shape}")


@dataclass(frozen=True)
class Frame:
    """One decoded image of a video file or live stream; the only type that carries pixels.

    Attributes:
        image: ``(H, W, 3)`` uint8 BGR, upright (container rotation already applied).
        index: 0-based index of the frame in its source, counting every decoded frame (so
            sampled or dropped frames leave gaps).
        timestamp_s: presentation timestamp in seconds: the container's PTS for files (correct
            for variable frame rate), seconds since the stream was opened for live sources.
        source: the file path or stream address.
        damaged_from_s: where damaged data was left out just before this frame (a video file
            whose packets would not decode, or whose frames the decoder flagged as corrupt):
            the presentation time in seconds at which the left-out stretch began, after the
            previous frame and at most this one's ``timestamp_s``; ``None`` when nothing was
            left out since the previous frame. Nothing was seen in that stretch: the frame
            before it is not held on screen through it, as a variable-frame-rate file holds
            a frame.
    """

    image: ImageBGR
    index: int
    timestamp_s: float
    source: str
    damaged_from_s: float | None = None

    def __post_init__(self) -> None:
        """Raises ``ValueError`` for a ``timestamp_s`` (or ``damaged_from_s``) that is not a
        finite number (NaN made every frame a new track and switched smoothing off); an int
        becomes a float."""
        t = finite_seconds(self.timestamp_s, f"{self.source} frame {self.index}")
        object.__setattr__(self, "timestamp_s", t)  # frozen: set once, here
        if self.damaged_from_s is not None:
            where = f"{self.source} frame {self.index} damaged_from_s"
            object.__setattr__(self, "damaged_from_s", finite_seconds(self.damaged_from_s, where))


def whole_number(value: object, name: str, minimum: int = 0) -> int:
    """``value`` as an int, if it is a whole number (an int or numpy integer, not a bool)
    of at least ``minimum``.

    Raises:
        ValueError: anything else, named as ``name`` in the message.
    """
    if (
        not isinstance(value, (int, np.integer))
        or isinstance(value, (bool, np.bool_))
        or value < minimum
    ):
        raise ValueError(f"{name} must be a whole number >= {minimum}; got {value!r}")
    return int(value)


def finite_seconds(value: object, where: str) -> float:
    """``value`` (an int, float, numpy number, ``Decimal``, ``Fraction`` such as PyAV's
    ``pts * time_base``, or other real number) as a float number of seconds.

    Raises:
        ValueError: ``value`` is not a real number, or is NaN or infinite (``where`` names the
            frame or call in the message).
    """
    real = isinstance(value, (numbers.Real, decimal.Decimal))  # numpy's numbers register too
    if isinstance(value, (bool, np.bool_, np.timedelta64)) or not real:
        raise ValueError(f"{where}: timestamp_s must be a number of seconds; got {value!r}")
    try:
        t = float(value)
    except (OverflowError, ValueError, TypeError):  # 10**400, Decimal("sNaN")
        t = math.nan if isinstance(value, decimal.Decimal) else math.inf
    if not np.isfinite(t):
        raise ValueError(f"{where}: timestamp_s must be finite; got {t}")
    return t


@dataclass
class FrameResult:
    """Everything mien found in one image or frame. Holds no pixels, so it is cheap to keep.

    Attributes:
        faces: the faces, with ``expression`` and ``abstained`` filled in.
        frame_index: 0-based index of the frame in its source (0 for a still image).
        timestamp_s: presentation timestamp in seconds (0.0 for a still image).
        image_wh: ``(width, height)`` of the upright image in pixels.
        source: where the image came from (a path, or a caller-given name).
        expression_names: column names of ``faces.expression``.
        abstain_threshold: the top probability below which a face is marked abstained.
        timings_ms: wall time per stage in milliseconds. A still image has ``read`` (decoding, or
            checking an array passed in), ``detect``, ``align``, ``expression`` and ``quality``
            (sharpness and head pose); a video frame has ``detect``, ``align``,
            ``expression``, ``quality`` (head pose, measured per track) and ``track``
            (tracking and smoothing) and no ``read``: its frames arrive decoded.
        model: name of the expression model that produced ``faces.expression`` (its spec's
            ``name``, e.g. ``"fer_resnet_v3"``); empty when not recorded.
        damaged_from_s: the frame's :attr:`Frame.damaged_from_s`: where damaged data left
            out just before it began, seconds; ``None`` when nothing was left out.
    """

    faces: Faces
    frame_index: int
    timestamp_s: float
    image_wh: tuple[int, int]
    source: str
    expression_names: tuple[str, ...]
    abstain_threshold: float
    timings_ms: dict[str, float] = field(default_factory=dict)
    model: str = ""
    damaged_from_s: float | None = None
