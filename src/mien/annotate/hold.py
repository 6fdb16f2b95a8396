"""Blur that outlasts a missed detection: where a face was a moment ago stays blurred.

A detector misses a face now and then (motion blur, a turned head, a hand passing): in a video
blurred frame by frame, that face then shows sharp for a frame. :class:`BlurHold` remembers
the face boxes of the last :data:`HOLD_S` seconds of one video (and of the frame before,
however long ago), so that the annotator blurs those places too while no face is found there.
A held box covers where the face was and where it was heading (its shift since the frame
before, carried on), grown by a margin that widens with the time since it was seen.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from mien.tracking.iou import intersection_matrix, iou_matrix

HOLD_S = 0.5
"""Seconds a face's place stays blurred after its last detection."""
MARGIN = 0.15
"""A held box grows by this share of its width and height on every side (the face may move)."""
MARGIN_PER_S = 0.5
"""…plus this share per second since the face was seen (a face whose motion is unknown)."""
_COVERED = 0.8  # a held box this much inside one box found now (or a newer held one) is that face
_SAME = 0.2  # IoU above which boxes of consecutive frames are taken as one face moving


def _covered(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``(len(a),)`` bool: each box of ``a`` has at least :data:`_COVERED` of its area inside
    one box of ``b``."""
    if len(a) == 0 or len(b) == 0:
        return np.zeros(len(a), bool)
    area = np.maximum((a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1]), 1e-6)
    return intersection_matrix(a, b).max(axis=1) / area >= _COVERED


@dataclass
class BlurHold:
    """The places to keep blurring in one video: faces seen in the last ``hold_s`` seconds and
    not found in this frame.

    Use one per video (or stream), in frame order: :meth:`update` with each frame's boxes
    returns the held boxes to blur beside them. A timestamp earlier than the last one (a new
    clip, a seek back) forgets what was held.

    Args:
        hold_s: seconds a face's place stays blurred after it was last detected (>= 0).
        margin: share of a held box's width and height added on every side.
        margin_per_s: share added on every side per second since the face was seen.
        min_frames: the faces of this many frames before are held whatever the time between
            (>= 0), so that sparse sampling (``--every 30``: frames 1 s apart) still holds a
            face over one missed frame.

    Raises:
        ValueError: a setting is negative.

    Example:
        >>> hold = BlurHold()
        >>> extra = hold.update(result.timestamp_s, result.faces.xyxy)
        >>> annotator.annotate(frame.image.copy(), result, also_blur=extra)
    """

    hold_s: float = HOLD_S
    margin: float = MARGIN
    margin_per_s: float = MARGIN_PER_S
    min_frames: int = 1
    _seen: list[tuple[float, npt.NDArray[np.float32]]] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        settings = (self.hold_s, self.margin, self.margin_per_s, self.min_frames)
        if not all(v >= 0 for v in settings):
            raise ValueError(
                f"hold_s, margin, margin_per_s and min_frames must be >= 0, got {settings}"
            )

    def update(self, timestamp_s: float, xyxy: npt.ArrayLike) -> npt.NDArray[np.float32]:
        """Record this frame's face boxes and return the held ones to blur as well.

        Args:
            timestamp_s: the frame's presentation time, seconds.
            xyxy: ``(n, 4)`` the boxes found in this frame, pixels.

        Returns:
            ``(m, 4)`` float32 ``xyxy`` boxes, pixels: the places of faces seen within
            ``hold_s`` before this frame, or in the ``min_frames`` frames before it, that no
            box of this frame covers (a held box with 80 % of its area inside a box found now
            is that face, found again), most recent first, one per place. Each spans where the
            face was and, when the frame before that had it too (IoU > 0.2), where its shift
            since then carries it by now; grown on every side by ``margin`` plus
            ``margin_per_s`` × the seconds since it was seen, of its width and height.
        """
        now = np.asarray(xyxy, np.float32).reshape(-1, 4)
        if self._seen and timestamp_s < self._seen[-1][0]:
            self._seen.clear()
        # the frames to hold (a suffix: within hold_s, or among the last min_frames), and the
        # one before them, kept only to tell how their faces were moving
        first = len(self._seen) - self.min_frames
        while first > 0 and timestamp_s - self._seen[first - 1][0] <= self.hold_s:
            first -= 1
        first = max(first, 0)
        self._seen = self._seen[max(first - 1, 0) :]
        first = min(first, 1)
        held: list[np.ndarray] = []
        kept = np.zeros((0, 4), np.float32)  # the places already held (as last seen)
        for k in range(len(self._seen) - 1, first - 1, -1):  # most recent first
            t, boxes = self._seen[k]
            boxes = boxes[~_covered(boxes, now) & ~_covered(boxes, kept)]
            if not len(boxes):
                continue
            kept = np.concatenate([kept, boxes])
            reach = boxes.copy()
            if k > 0:  # carry each face on by its shift since the frame before
                t0, before = self._seen[k - 1]
                if len(before) and t > t0:
                    iou = iou_matrix(boxes, before)
                    match = iou.argmax(axis=1)
                    moving = iou[np.arange(len(boxes)), match] > _SAME
                    shift = (boxes - before[match]) * ((timestamp_s - t) / (t - t0))
                    ahead = boxes + np.where(moving[:, None], shift, 0)
                    reach = np.concatenate(
                        [
                            np.minimum(boxes[:, :2], ahead[:, :2]),
                            np.maximum(boxes[:, 2:], ahead[:, 2:]),
                        ],
                        axis=1,
                    )
            share = self.margin + self.margin_per_s * (timestamp_s - t)
            wh = (boxes[:, 2:] - boxes[:, :2]) * share
            held.append(np.concatenate([reach[:, :2] - wh, reach[:, 2:] + wh], axis=1))
        self._seen.append((timestamp_s, now))
        if not held:
            return np.zeros((0, 4), np.float32)
        return np.concatenate(held).astype(np.float32)


__all__ = ["HOLD_S", "MARGIN", "MARGIN_PER_S", "BlurHold"]
