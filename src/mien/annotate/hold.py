"""Blur that outlasts a missed detection: where a face was a moment ago stays blurred.

A detector misses a face now and then (motion blur, a turned head, a hand passing): in a video
blurred frame by frame, that face then shows sharp for a frame. :class:`BlurHold` remembers
the face boxes of the last :data:`HOLD_S` seconds of one video (and of the frame before,
however long ago), so that the annotator blurs those places too while no face is found there.
A held box covers where the face was and where it was heading (its motion between its last
two sightings, carried on), grown by a margin that widens with the time since it was seen.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from mien.tracking.iou import intersection_matrix, resized

HOLD_S = 0.5
"""Seconds a face's place stays blurred after its last detection."""
MARGIN = 0.15
"""A held box grows by this share of its width and height on every side (the face may move)."""
MARGIN_PER_S = 0.5
"""…plus this share per second since the face was seen, when its motion is known."""
MARGIN_PER_S_UNKNOWN = 2.0
"""…or this share per second when it is not (a face seen once: a walking person's face moves
some 2 to 5 of its widths a second)."""
_COVERED = 0.8  # without track ids: a held box this much inside a box found now is that face
_NEAR = 1.5  # without track ids: boxes of two sightings this many widths apart may be one face


def _covered(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``(len(a),)`` bool: each box of ``a`` has at least :data:`_COVERED` of its area inside
    one box of ``b``."""
    if len(a) == 0 or len(b) == 0:
        return np.zeros(len(a), bool)
    area = np.maximum((a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1]), 1e-6)
    return intersection_matrix(a, b).max(axis=1) / area >= _COVERED


@dataclass
class _Sighting:
    t: float
    xyxy: npt.NDArray[np.float32]  # (n, 4)
    ids: npt.NDArray[np.int64] | None  # (n,) track ids, or None


@dataclass
class BlurHold:
    """The places to keep blurring in one video: faces seen in the last ``hold_s`` seconds and
    not found in this frame.

    Use one per video (or stream), in frame order: :meth:`update` with each frame's boxes
    (and track ids, when there are) returns the held boxes to blur beside them. A timestamp
    earlier than the last one (a new clip, a seek back) forgets what was held.

    Args:
        hold_s: seconds a face's place stays blurred after it was last detected (>= 0).
        margin: share of a held box's width and height added on every side.
        margin_per_s: share added on every side per second since the face was seen, when
            its motion is known (two sightings).
        margin_per_s_unknown: the same when it is not.
        min_frames: the faces of this many frames before are held whatever the time between
            (>= 0), so that sparse sampling (``--every 30``: frames 1 s apart) still holds a
            face over one missed frame.

    Raises:
        ValueError: a setting is negative.

    Example:
        >>> hold = BlurHold()
        >>> extra = hold.update(result.timestamp_s, result.faces.xyxy, result.faces.track_id)
        >>> annotator.annotate(frame.image.copy(), result, also_blur=extra)
    """

    hold_s: float = HOLD_S
    margin: float = MARGIN
    margin_per_s: float = MARGIN_PER_S
    margin_per_s_unknown: float = MARGIN_PER_S_UNKNOWN
    min_frames: int = 1
    _seen: list[_Sighting] = field(default_factory=list, repr=False)
    # per track: (its sighting before its newest, its newest), for its motion
    _last: dict[int, tuple[_Sighting | None, _Sighting]] = field(default_factory=dict, repr=False)
    _image_wh: tuple[int, int] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        settings = (
            self.hold_s,
            self.margin,
            self.margin_per_s,
            self.margin_per_s_unknown,
            self.min_frames,
        )
        if not all(v >= 0 for v in settings):
            raise ValueError(f"every setting (hold_s ... min_frames) must be >= 0, got {settings}")

    def update(
        self,
        timestamp_s: float,
        xyxy: npt.ArrayLike,
        track_id: npt.ArrayLike | None = None,
        image_wh: tuple[int, int] | None = None,
    ) -> npt.NDArray[np.float32]:
        """Record this frame's face boxes and return the held ones to blur as well.

        Args:
            timestamp_s: the frame's presentation time, seconds.
            xyxy: ``(n, 4)`` the boxes found in this frame, pixels.
            track_id: ``(n,)`` their track ids, or ``None``. With ids, a held face is found
                again when its track is in this frame with a box over 80 % of the held one (a
                track taken over by a crossing face is not), and its motion is read between
                its own last two sightings; without, a held box with 80 % of its area inside
                a box found now is that face. A face with no earlier sighting of its own takes
                its motion from the nearest box (within 1.5 widths) of the frame before.
            image_wh: the frame's ``(width, height)`` in pixels, if known. Where it differs
                from the previous frame's (a stream that changes resolution), the boxes held
                are scaled to the new size first, as the tracker scales its tracks, so the
                blur stays on the face's place.

        Returns:
            ``(m, 4)`` float32 ``xyxy`` boxes, pixels: the places of faces seen within
            ``hold_s`` before this frame, or in the ``min_frames`` frames before it, and not
            found in this one, most recent first, one per face. Each spans where the face was
            and where its motion since the sighting before carries it by now, grown on every
            side by ``margin`` plus ``margin_per_s`` (``margin_per_s_unknown`` without a
            known motion) × the seconds since it was seen, of its width and height.
        """
        now = np.asarray(xyxy, np.float32).reshape(-1, 4)
        ids = None if track_id is None else np.asarray(track_id, np.int64).reshape(-1)
        if self._seen and timestamp_s < self._seen[-1].t:
            self._seen.clear()
            self._last.clear()
        self._image_wh, scale = resized(self._image_wh, image_wh)
        if scale is not None:
            self._rescale(*scale)
        # the frames to hold (a suffix: within hold_s, or among the last min_frames), and the
        # one before them, kept only to tell how their faces were moving (without track ids)
        first = len(self._seen) - self.min_frames
        while first > 0 and timestamp_s - self._seen[first - 1].t <= self.hold_s:
            first -= 1
        first = max(first, 0)
        self._seen = self._seen[max(first - 1, 0) :]
        first = min(first, 1)
        held: list[np.ndarray] = []
        current = {} if ids is None else {int(i): now[j] for j, i in enumerate(ids)}
        handled: set[int] = set()  # tracks found again here, or held from a newer frame
        kept = np.zeros((0, 4), np.float32)  # held places (as last seen), without ids
        for k in range(len(self._seen) - 1, first - 1, -1):  # most recent first
            s = self._seen[k]
            if s.ids is not None and ids is not None:
                fresh = np.zeros(len(s.ids), bool)
                for j, i in enumerate(int(i) for i in s.ids):
                    if i in handled:
                        continue
                    handled.add(i)
                    found = i in current and _covered(s.xyxy[j : j + 1], current[i][None])[0]
                    fresh[j] = not found
            else:
                fresh = ~_covered(s.xyxy, now) & ~_covered(s.xyxy, kept)
            boxes = s.xyxy[fresh]
            if not len(boxes):
                continue
            kept = np.concatenate([kept, boxes])
            before = self._before(k, None if s.ids is None else s.ids[fresh], boxes)
            reach = boxes.copy()
            per_s = np.full(len(boxes), self.margin_per_s_unknown, np.float32)
            for i, prior in enumerate(before):
                if prior is None:
                    continue
                t0, box0 = prior
                per_s[i] = self.margin_per_s
                ahead = boxes[i] + (boxes[i] - box0) * ((timestamp_s - s.t) / (s.t - t0))
                reach[i, :2] = np.minimum(boxes[i, :2], ahead[:2])
                reach[i, 2:] = np.maximum(boxes[i, 2:], ahead[2:])
            share = self.margin + per_s * (timestamp_s - s.t)
            wh = (boxes[:, 2:] - boxes[:, :2]) * share[:, None]
            held.append(np.concatenate([reach[:, :2] - wh, reach[:, 2:] + wh], axis=1))
        sighting = _Sighting(timestamp_s, now, ids)
        if ids is not None:
            for i in ids:
                self._last[int(i)] = (self._last.get(int(i), (None, None))[1], sighting)
            gone = [i for i, (_, n) in self._last.items() if timestamp_s - n.t > self.hold_s]
            for i in gone:
                if i not in handled and i not in current:
                    del self._last[i]  # tracks not held any more
        self._seen.append(sighting)
        if not held:
            return np.zeros((0, 4), np.float32)
        return np.concatenate(held).astype(np.float32)

    def _rescale(self, sx: float, sy: float) -> None:
        """Move every sighting into a frame scaled by ``sx``, ``sy``."""
        scale = np.array([sx, sy, sx, sy], np.float32)
        sightings = {id(s): s for s in self._seen}  # the tracks' sightings, mostly the same
        for pair in self._last.values():
            sightings.update((id(s), s) for s in pair if s is not None)
        for s in sightings.values():
            s.xyxy = s.xyxy * scale

    def _before(
        self, k: int, ids: np.ndarray | None, boxes: np.ndarray
    ) -> list[tuple[float, np.ndarray] | None]:
        """For each of ``boxes`` (held from frame ``k``), where that face was at its sighting
        before: ``(t, (4,) box)``, or ``None`` when unknown. By its track when it has one with
        an earlier sighting; else (no ids, or a track new in frame ``k``: sparse frames of a
        fast face get a new id each time) the nearest box of the frame before, within
        :data:`_NEAR` widths."""
        s = self._seen[k]
        out: list[tuple[float, np.ndarray] | None] = []
        for n, box in enumerate(boxes):
            if ids is not None:
                prior = self._last.get(int(ids[n]), (None, None))[0]
                if prior is not None and prior.ids is not None and prior.t < s.t:
                    row = np.flatnonzero(prior.ids == ids[n])
                    if len(row):
                        out.append((prior.t, prior.xyxy[row[0]]))
                        continue
            out.append(self._nearest_before(k, box))
        return out

    def _nearest_before(self, k: int, box: np.ndarray) -> tuple[float, np.ndarray] | None:
        """The box of frame ``k − 1`` nearest ``box`` (centres within :data:`_NEAR` of its
        widths), with that frame's time; ``None`` when there is none."""
        if k == 0:
            return None
        prior, t = self._seen[k - 1], self._seen[k].t
        if not len(prior.xyxy) or prior.t >= t:
            return None
        centres = (prior.xyxy[:, :2] + prior.xyxy[:, 2:]) / 2
        d = np.linalg.norm(centres - (box[:2] + box[2:]) / 2, axis=1)
        j = int(d.argmin())
        return (prior.t, prior.xyxy[j]) if d[j] <= _NEAR * (box[2] - box[0]) else None


__all__ = ["HOLD_S", "MARGIN", "MARGIN_PER_S", "MARGIN_PER_S_UNKNOWN", "BlurHold"]
