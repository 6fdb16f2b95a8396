"""Blur that outlasts a missed detection: where a face was a moment ago stays blurred.

A detector misses a face now and then (motion blur, a turned head, a hand passing): in a video
blurred frame by frame, that face then shows sharp for a frame. :class:`BlurHold` remembers
the face boxes of the last :data:`HOLD_S` seconds of one video (and of the frame before,
however long ago), so that the annotator blurs those places too while no face is found there.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from mien.tracking.iou import intersection_matrix

HOLD_S = 0.5
"""Seconds a face's place stays blurred after its last detection."""
MARGIN = 0.15
"""A held box grows by this share of its width and height on every side (the face may move)."""
_INSIDE = 0.5  # a held box this much inside a box found now, or a later held one, is that face


def _inside(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``(len(a),)`` bool: each box of ``a`` has at least half its area inside one of ``b``."""
    if len(a) == 0 or len(b) == 0:
        return np.zeros(len(a), bool)
    area = np.maximum((a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1]), 1e-6)
    return intersection_matrix(a, b).max(axis=1) / area >= _INSIDE


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
        min_frames: the faces of this many frames before are held whatever the time between
            (>= 0), so that sparse sampling (``--every 30``: frames 1 s apart) still holds a
            face over one missed frame.

    Raises:
        ValueError: ``hold_s`` or ``margin`` is negative.

    Example:
        >>> hold = BlurHold()
        >>> extra = hold.update(result.timestamp_s, result.faces.xyxy)
        >>> annotator.annotate(frame.image.copy(), result, also_blur=extra)
    """

    hold_s: float = HOLD_S
    margin: float = MARGIN
    min_frames: int = 1
    _seen: list[tuple[float, npt.NDArray[np.float32]]] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        if not self.hold_s >= 0 or not self.margin >= 0 or self.min_frames < 0:
            raise ValueError(
                "hold_s, margin and min_frames must be >= 0, got "
                f"{self.hold_s}, {self.margin}, {self.min_frames}"
            )

    def update(self, timestamp_s: float, xyxy: npt.ArrayLike) -> npt.NDArray[np.float32]:
        """Record this frame's face boxes and return the held ones to blur as well.

        Args:
            timestamp_s: the frame's presentation time, seconds.
            xyxy: ``(n, 4)`` the boxes found in this frame, pixels.

        Returns:
            ``(m, 4)`` float32 ``xyxy`` boxes, pixels, grown by ``margin``: the places of
            faces seen within ``hold_s`` before this frame, or in the ``min_frames`` frames
            before it, that no box of this frame covers
            (a held box at least half inside a box found now is that face, found again), most
            recent first, one per place.
        """
        now = np.asarray(xyxy, np.float32).reshape(-1, 4)
        if self._seen and timestamp_s < self._seen[-1][0]:
            self._seen.clear()
        recent = len(self._seen) - self.min_frames
        self._seen = [
            (t, b)
            for i, (t, b) in enumerate(self._seen)
            if i >= recent or timestamp_s - t <= self.hold_s
        ]
        kept: list[np.ndarray] = []
        for _, boxes in reversed(self._seen):  # most recent first
            for box in boxes[~_inside(boxes, now)]:
                if not kept or not _inside(box[None], np.stack(kept))[0]:
                    kept.append(box)
        self._seen.append((timestamp_s, now))
        if not kept:
            return np.zeros((0, 4), np.float32)
        held = np.stack(kept)
        grow = np.stack([held[:, 2] - held[:, 0], held[:, 3] - held[:, 1]], axis=1) * self.margin
        return np.concatenate([held[:, :2] - grow, held[:, 2:] + grow], axis=1).astype(np.float32)


__all__ = ["HOLD_S", "MARGIN", "BlurHold"]
