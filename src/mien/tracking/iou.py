"""An IoU tracker with constant-velocity prediction (SORT-style, boxes only, no appearance).

Why our own: supervision 0.31 no longer ships ByteTrack, and its successor package `trackers`
requires the `opencv-python` wheel, which must not sit beside MediaPipe's
`opencv-contrib-python`. Faces are few per frame, so greedy IoU matching is enough.

Method (Bewley et al., "Simple Online and Realtime Tracking", ICIP 2016, without the Kalman
filter): each track predicts its box by its last box plus its smoothed velocity times the time
elapsed; detections are matched to predictions greedily by IoU (highest first, at least
``min_iou``); unmatched detections start new tracks; a track ends once it is unseen for more
than ``max(max_age_s, (max_missed + 1.5) × step)``, where ``step`` is the median time between
the last 16 frames (this one included). Time is media time; scaling by the step keeps tracks
across sparse sampling (``--fps 1`` puts 1 s between frames, which a fixed 1 s limit would end
at every frame), while a stall in a live source (minutes without frames) still ends them.
"""

from __future__ import annotations

import collections
import dataclasses
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from mien.types import Faces


@dataclass
class _Track:
    track_id: int
    box: np.ndarray  # (4,) xyxy at last_t
    velocity: np.ndarray  # (4,) pixels per second
    last_t: float
    hits: int


def iou_matrix(a: npt.NDArray[np.float32], b: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
    """``(len(a), len(b))`` intersection-over-union of ``xyxy`` boxes."""
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-9), 0.0)


class FaceTracker:
    """Gives each face a ``track_id`` that stays the same while the face stays in view.

    Args:
        min_iou: smallest IoU between a track's predicted box and a detection to match them.
        max_age_s: a track not matched for this many seconds of media time ends (unless the
            frames come further apart: see ``max_missed``); a face that comes back later gets
            a new id.
        max_missed: sampled frames a track may miss, at the source's usual step between
            frames, so that sparse sampling (one frame a second or fewer) keeps tracks.
        velocity_smoothing: weight of the newest velocity estimate in ``[0, 1]``.

    Raises:
        ValueError: an argument out of range.

    Call :meth:`reset` between videos: ids then restart at 1.
    """

    def __init__(
        self,
        *,
        min_iou: float = 0.25,
        max_age_s: float = 1.0,
        max_missed: int = 2,
        velocity_smoothing: float = 0.5,
    ) -> None:
        if not 0.0 < min_iou <= 1.0:
            raise ValueError(f"min_iou must be in (0, 1]; got {min_iou}")
        if max_age_s <= 0:
            raise ValueError(f"max_age_s must be > 0; got {max_age_s}")
        if max_missed < 0:
            raise ValueError(f"max_missed must be >= 0; got {max_missed}")
        if not 0.0 <= velocity_smoothing <= 1.0:
            raise ValueError(f"velocity_smoothing must be in [0, 1]; got {velocity_smoothing}")
        self.min_iou = min_iou
        self.max_age_s = max_age_s
        self.max_missed = max_missed
        self.velocity_smoothing = velocity_smoothing
        self.reset()

    def reset(self) -> None:
        """Forget every track; the next id is 1."""
        self._tracks: list[_Track] = []
        self._next_id = 1
        self._last_t: float | None = None
        self._steps: collections.deque[float] = collections.deque(maxlen=16)

    def update(self, faces: Faces, timestamp_s: float) -> Faces:
        """Assign track ids to one frame's faces.

        Args:
            faces: the frame's faces (``xyxy`` in pixels).
            timestamp_s: the frame's media time in seconds (non-decreasing).

        Returns:
            ``faces`` with ``track_id`` set, ``(n,)`` int64, every id ≥ 1.
        """
        t = float(timestamp_s)
        if self._last_t is not None and t > self._last_t:
            self._steps.append(t - self._last_t)  # one long gap does not move the median
        step = float(np.median(self._steps)) if self._steps else 0.0
        limit = max(self.max_age_s, (self.max_missed + 1.5) * step)
        self._tracks = [tr for tr in self._tracks if t - tr.last_t <= limit]
        ids = np.full(len(faces), -1, np.int64)
        if self._tracks and len(faces):
            predicted = np.stack([tr.box + tr.velocity * (t - tr.last_t) for tr in self._tracks])
            iou = iou_matrix(predicted, faces.xyxy)
            while True:
                ti, di = np.unravel_index(int(np.argmax(iou)), iou.shape)
                if iou[ti, di] < self.min_iou:
                    break
                self._advance(self._tracks[ti], faces.xyxy[di], t)
                ids[di] = self._tracks[ti].track_id
                iou[ti, :] = -1.0
                iou[:, di] = -1.0
        for di in np.flatnonzero(ids < 0):
            track = _Track(self._next_id, faces.xyxy[di].astype(np.float64), np.zeros(4), t, 1)
            self._tracks.append(track)
            ids[di] = track.track_id
            self._next_id += 1
        self._last_t = t
        return dataclasses.replace(faces, track_id=ids)

    def _advance(self, track: _Track, box: np.ndarray, t: float) -> None:
        dt = t - track.last_t
        if dt > 1e-6:
            velocity = (box - track.box) / dt
            a = self.velocity_smoothing if track.hits > 1 else 1.0
            track.velocity = a * velocity + (1 - a) * track.velocity
        track.box = box.astype(np.float64)
        track.last_t = t
        track.hits += 1
