"""An IoU tracker with constant-velocity prediction (SORT-style, boxes only, no appearance).

Why our own: supervision 0.31 no longer ships ByteTrack, and its successor package `trackers`
requires the `opencv-python` wheel, which must not sit beside MediaPipe's
`opencv-contrib-python`. Faces are few per frame, so greedy IoU matching is enough.

Method (Bewley et al., "Simple Online and Realtime Tracking", ICIP 2016, without the Kalman
filter, plus the matching cascade of Wojke et al., "Simple Online and Realtime Tracking with a
Deep Association Metric", ICIP 2017, without its appearance term): each track predicts its box
by moving its last box (same size) by the smoothed velocity of its centre times the time
elapsed, that time capped at ``max(coast_s, step)``, so a track that lost its face stops
instead of drifting on; tracks take detections in order of recency (those matched in the
previous frame first, then all the others), greedily by IoU within each group (highest
first, at least ``min_iou``); a track lost before this frame then takes a free detection of
about its size near the course of its last half second of matches
(:meth:`FaceTracker._recover`); unmatched detections start new tracks; a track ends once it is
unseen for more than ``max(max_age_s, (max_missed + 1.5) × step)``, where ``step`` is the median
time between the 16 frames before this one (this one's own step where there is none), and the
time a frame it was seen in stayed on screen beyond a step (a variable-frame-rate file holding a
still picture, up to :data:`MAX_HOLD_S`) does not count as unseen. Time is media time; scaling
by the step keeps tracks across sparse sampling (``--fps 1`` puts 1 s between frames, which a
fixed 1 s limit would end at every frame), while a stall in a live source (minutes without
frames) still ends them."""

from __future__ import annotations

import collections
import dataclasses
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from mien.types import Faces, finite_seconds


@dataclass
class _Track:
    track_id: int
    box: np.ndarray  # (4,) xyxy at last_t
    velocity: np.ndarray  # (2,) of the box centre, pixels per second
    last_t: float
    hits: int
    missed: int = 0  # frames since the last match; 0: matched in the previous frame
    # how much longer than the usual step its last frame was shown (a variable-frame-rate
    # file holds a frame while the picture does not change): not time it went unseen
    hold: float = 0.0
    # (t, box) of its matches within HISTORY_S of its latest (at least the last 2): its
    # course and size before it was lost
    history: collections.deque[tuple[float, np.ndarray]] = dataclasses.field(
        default_factory=lambda: collections.deque(maxlen=HISTORY_MAX)
    )

    def remember(self) -> None:
        """Add the track's latest match to its history and drop those older than
        :data:`HISTORY_S` before it (keeping at least two)."""
        self.history.append((self.last_t, self.box))
        while len(self.history) > 2 and self.history[0][0] < self.last_t - HISTORY_S:
            self.history.popleft()


def intersection_matrix(
    a: npt.NDArray[np.floating], b: npt.NDArray[np.floating]
) -> npt.NDArray[np.float64]:
    """``(len(a), len(b))`` intersection areas of ``xyxy`` boxes, square pixels."""
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    return np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)


def iou_matrix(a: npt.NDArray[np.float32], b: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
    """``(len(a), len(b))`` intersection-over-union of ``xyxy`` boxes."""
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    inter = intersection_matrix(a, b)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-9), 0.0)


def cascade_match(
    iou: npt.NDArray[np.float64], missed: npt.NDArray[np.int64], min_iou: float
) -> npt.NDArray[np.int64]:
    """Match tracks to detections, the tracks matched in the previous frame first.

    Two rounds: first the tracks with ``missed == 0``, then all the others together (however
    long each has been lost: among lost tracks only the overlap counts, so a face that both
    tracks lost for a while goes to the track that predicts it best). In each round the pair
    with the highest IoU is matched first, then the next among the tracks and detections
    still free, down to ``min_iou``. A track that has lost its face thus never takes a
    detection from a track that was matched in the previous frame, however much it overlaps.

    Args:
        iou: ``(t, d)`` IoU between each track's predicted box and each detection.
        missed: ``(t,)`` frames since each track was last matched (0: the previous frame).
        min_iou: smallest IoU that matches.

    Returns:
        ``(t,)`` int64: for each track, the index of its detection, or -1 for none.
    """
    missed = np.asarray(missed).reshape(-1)
    match = np.full(len(missed), -1, np.int64)
    if len(missed) == 0:
        return match
    iou = np.array(iou, np.float64, copy=True).reshape(len(missed), -1)
    for in_round in (missed == 0, missed > 0):
        in_group = in_round[:, None]
        while iou.size:
            candidates = np.where(in_group, iou, -1.0)
            ti, di = np.unravel_index(int(np.argmax(candidates)), iou.shape)
            if candidates[ti, di] < min_iou:
                break
            match[ti] = di
            iou[ti, :] = -1.0
            iou[:, di] = -1.0
    return match


def _to_segment(
    point: npt.NDArray[np.float64], a: npt.NDArray[np.float64], b: npt.NDArray[np.float64]
) -> float:
    """Distance in pixels from ``point`` to the segment from ``a`` to ``b`` (each ``(2,)``)."""
    ab = b - a
    length = float(ab @ ab)
    k = 0.0 if length == 0 else min(max(float((point - a) @ ab) / length, 0.0), 1.0)
    return float(np.hypot(*(point - (a + k * ab))))


def _centre(box: npt.NDArray[np.floating]) -> npt.NDArray[np.float64]:
    """``(2,)`` centre ``(x, y)`` in pixels of one ``xyxy`` box."""
    box = np.asarray(box, np.float64)
    return (box[:2] + box[2:]) / 2


HISTORY_S = 0.5
"""How far back (seconds of media time) a track's course is measured for finding it again
after it was lost (:meth:`FaceTracker._recover`)."""
HISTORY_MAX = 256
"""The most matches a track's history holds (0.5 s at up to 512 frames/s; a source whose
timestamps stand still cannot grow it without bound)."""
WHOLE = 0.85
"""A box at least this share of a track's median width counts as the whole face when its
course is measured (a narrower one is taken for a face being covered)."""
MIN_COURSE_S = 0.1
"""The shortest span of matches (seconds) a course is measured over; over less (a new track,
repeated timestamps: 4 px of jitter over 1 µs is 4,000,000 px/s) the track's smoothed
velocity stands in."""

MAX_AGE_S = 1.0
""":class:`FaceTracker`'s default ``max_age_s``."""
MAX_MISSED = 2
""":class:`FaceTracker`'s default ``max_missed``."""
STEP_WINDOW = 16
"""How many of the latest steps between frames the usual step is the median of."""
MAX_HOLD_S = 10.0
"""The longest a single frame may stand (seconds to the next frame) and still count as shown
the whole time: a variable-frame-rate file (a screen or video-call recording) holds a frame
while the picture does not change, and a face in it stays in view. A longer step is a break
(a stall of a live source, a pause): tracks end across it unless ``max_age_s`` allows more."""


def resized(
    previous: tuple[int, int] | None, image_wh: tuple[int, int] | None
) -> tuple[tuple[int, int] | None, tuple[float, float] | None]:
    """A frame size to remember and the ``(sx, sy)`` to scale boxes kept from earlier frames
    by: ``None`` unless the size changed (a stream that changes resolution). An unknown or
    empty size keeps ``previous``."""
    if image_wh is None or min(int(image_wh[0]), int(image_wh[1])) <= 0:
        return previous, None
    wh = (int(image_wh[0]), int(image_wh[1]))
    if previous is None or wh == previous:
        return wh, None
    return wh, (wh[0] / previous[0], wh[1] / previous[1])


def gap_limit(
    median_step_s: float, max_age_s: float = MAX_AGE_S, max_missed: int = MAX_MISSED
) -> float:
    """The longest time (seconds) a track may go unseen before it ends: ``max(max_age_s,
    (max_missed + 1.5) × median_step_s)``, the median over the last :data:`STEP_WINDOW`
    steps between frames before the current one (the current one where there is none)."""
    return max(max_age_s, (max_missed + 1.5) * median_step_s)


def is_hole(step_s: float, median_step_s: float, hold_s: float = MAX_HOLD_S) -> bool:
    """Whether a step between frames is a break that ends every track (a stall, a pause, a
    jump forward), not a frame held on screen: longer than both :func:`gap_limit` and
    ``hold_s`` (:data:`MAX_HOLD_S`; ``0`` for a live source)."""
    return step_s > gap_limit(median_step_s) and step_s > hold_s


class FaceTracker:
    """Gives each face a ``track_id`` that stays the same while the face stays in view.

    Association looks only at boxes (no face embedding, no identity). The rule: tracks matched in
    the previous frame choose first, each by the better overlap of its predicted box and its last
    box (the last box only where no lost track overlaps the face more), so a face detected in
    consecutive frames keeps its id (neither a fast face nor one jumpy box of a still face loses
    it); a track that lost its face (say, behind another face
    crossing in front) moves its box on at its centre's last velocity for at most ``coast_s``, then
    waits there, and can take only a detection that no more recently matched track took. A face that
    reappears within the age limit while that track still overlaps it, or along the course of
    the track's last half second of matches (at about its size, taken by no other track), gets
    its id back; otherwise a new id. Still possible: two faces that swap places while both are
    hidden swap ids, and so do two faces seen side by side when the detector's boxes jump from
    one to the other; another person who appears within the age limit along a lost face's
    course takes its id.

    Args:
        min_iou: smallest IoU between a track's predicted box and a detection to match them.
        max_age_s: a track not matched for this many seconds of media time ends (unless the
            frames come further apart: see ``max_missed``); a face that comes back later gets
            a new id. The time the last frame it was seen in stayed on screen (up to
            :data:`MAX_HOLD_S` before the next frame) counts as seen, not as unseen.
        max_missed: sampled frames a track may miss, at the source's usual step between
            frames, so that sparse sampling (one frame a second or fewer) keeps tracks.
        velocity_smoothing: weight of the newest velocity estimate in ``[0, 1]``.
        coast_s: seconds of media time a missed track's predicted box keeps moving at its
            last velocity (at least one step between frames); after that it stays put.
        recover: find a lost track again along its course when the overlap test fails: a free
            detection of its usual size near the path its last half second of matches points
            along (see :meth:`_recover`); ``False`` matches by overlap alone.
        hold_s: a step between frames up to this long counts as the earlier frame held on
            screen (a variable-frame-rate file), not as time its faces went unseen
            (:data:`MAX_HOLD_S`, as the summaries count it). ``0`` for a live source, whose
            frames are stamped by arrival: there a step is an outage (``mien watch`` on a
            camera or stream, the service's stream).

    Raises:
        ValueError: an argument out of range.

    Call :meth:`reset` between videos: ids then restart at 1. Where the clock goes back within
    one source (recordings joined end to end), the tracks end and ids go on counting, so the
    parts never share an id.
    """

    def __init__(
        self,
        *,
        min_iou: float = 0.25,
        max_age_s: float = MAX_AGE_S,
        max_missed: int = MAX_MISSED,
        velocity_smoothing: float = 0.5,
        coast_s: float = 0.5,
        recover: bool = True,
        hold_s: float = MAX_HOLD_S,
    ) -> None:
        if not 0.0 < min_iou <= 1.0:
            raise ValueError(f"min_iou must be in (0, 1]; got {min_iou}")
        if not max_age_s > 0:  # NaN too: it gave a still face a new id every frame
            raise ValueError(f"max_age_s must be > 0; got {max_age_s}")
        if max_missed < 0:
            raise ValueError(f"max_missed must be >= 0; got {max_missed}")
        if not 0.0 <= velocity_smoothing <= 1.0:
            raise ValueError(f"velocity_smoothing must be in [0, 1]; got {velocity_smoothing}")
        if not coast_s >= 0:
            raise ValueError(f"coast_s must be >= 0; got {coast_s}")
        if not hold_s >= 0:
            raise ValueError(f"hold_s must be >= 0; got {hold_s}")
        self.min_iou = min_iou
        self.max_age_s = max_age_s
        self.max_missed = max_missed
        self.velocity_smoothing = velocity_smoothing
        self.coast_s = coast_s
        self.recover = recover
        self.hold_s = hold_s
        self.reset()

    def reset(self) -> None:
        """Forget every track; the next id is 1."""
        self._next_id = 1
        self._forget()

    def _forget(self) -> None:
        """End every track and forget the clock; ids go on counting."""
        self._image_wh: tuple[int, int] | None = None
        self._tracks: list[_Track] = []
        self._last_t: float | None = None
        self._steps: collections.deque[float] = collections.deque(maxlen=STEP_WINDOW)

    def recent_count(self) -> int:
        """How many tracks were matched within ``coast_s`` (at least the usual step between
        frames) before the last frame: the faces a detector has reason to expect in the next
        one. ``0`` before the first frame and after :meth:`reset`."""
        if self._last_t is None:
            return 0
        step = float(np.median(self._steps)) if self._steps else 0.0
        within = max(self.coast_s, step)
        return sum(1 for tr in self._tracks if self._last_t - tr.last_t <= within)

    def update(
        self,
        faces: Faces,
        timestamp_s: float,
        image_wh: tuple[int, int] | None = None,
        *,
        after_damage: bool = False,
    ) -> Faces:
        """Assign track ids to one frame's faces.

        Args:
            faces: the frame's faces (``xyxy`` in pixels).
            timestamp_s: the frame's media time in seconds, non-decreasing within one video
                or stream. A time earlier than the previous frame's ends every track (the
                clock went back: recordings joined end to end, or a tracker reused for the
                next video without :meth:`reset`): no face's id carries across, and new ids go
                on from the last one given, so the two sides never share an id.
            image_wh: the frame's ``(width, height)`` in pixels, if known. Where it differs
                from the previous frame's (a stream that changes resolution, as adaptive
                streams and some recorders do), the tracks' boxes are scaled to the new size
                first, so the faces keep their ids.
            after_damage: damaged data was left out just before this frame
                (:attr:`~mien.types.Frame.damaged_from_s`): the frame before it was not held on
                screen meanwhile, so the whole step counts as unseen, whatever ``hold_s``.

        Returns:
            ``faces`` with ``track_id`` set, ``(n,)`` int64, every id ≥ 1.

        Raises:
            ValueError: ``timestamp_s`` is not a finite number.
        """
        t = finite_seconds(timestamp_s, "FaceTracker.update")
        if self._last_t is not None and t < self._last_t:
            self._forget()
        self._image_wh, scale = resized(self._image_wh, image_wh)
        if scale is not None:
            self._rescale(*scale)
        # the usual step: the median of the steps before this one (this one only where there
        # are none), so an outage two frames into a stream is not its own measure
        before = float(np.median(self._steps)) if self._steps else None
        if self._last_t is not None and t > self._last_t:
            self._steps.append(t - self._last_t)
        step = before if before is not None else (self._steps[-1] if self._steps else 0.0)
        limit = gap_limit(step, self.max_age_s, self.max_missed)
        for tr in self._tracks:
            if tr.missed == 0 and tr.last_t == self._last_t:  # seen in the frame before this
                # a frame held on screen, as the summaries judge it (is_hole): not time unseen
                held = limit < t - tr.last_t <= self.hold_s and not after_damage
                tr.hold = t - tr.last_t - step if held else 0.0
        # unseen time leaves out the hold of the frame it was last seen in
        self._tracks = [tr for tr in self._tracks if t - tr.last_t - tr.hold <= limit]
        ids = np.full(len(faces), -1, np.int64)
        if self._tracks and len(faces):
            coast = max(self.coast_s, step)
            predicted = np.stack(
                [
                    tr.box + np.tile(tr.velocity, 2) * min(t - tr.last_t - tr.hold, coast)
                    for tr in self._tracks
                ]
            )
            missed = np.array([tr.missed for tr in self._tracks], np.int64)
            iou = iou_matrix(predicted, faces.xyxy)
            # a track seen in the previous frame also matches where it was: one jumpy box
            # (the detector's jitter) made a fast velocity whose prediction missed a face
            # that had hardly moved. Not where a lost track overlaps the face more: a face
            # walking in front of a seated one, missed in the frame that uncovers it, took
            # the seated face's id by its last box
            live = missed == 0
            held = iou_matrix(np.stack([tr.box for tr in self._tracks]), faces.xyxy)
            lost_best = iou[~live].max(axis=0) if (~live).any() else np.zeros(len(faces))
            held = np.where(held > lost_best[None, :], held, 0.0)
            iou = np.where(live[:, None], np.maximum(iou, held), iou)
            match = cascade_match(iou, missed, self.min_iou)
        else:
            match = np.full(len(self._tracks), -1, np.int64)
        if self.recover and len(faces):
            match = self._recover(match, faces.xyxy, t, max(self.coast_s, step))
        for track, di in zip(self._tracks, match.tolist(), strict=True):
            if di < 0:
                track.missed += 1
            else:
                self._advance(track, faces.xyxy[di], t)
                ids[di] = track.track_id
        for di in np.flatnonzero(ids < 0):
            track = _Track(self._next_id, faces.xyxy[di].astype(np.float64), np.zeros(2), t, 1)
            track.remember()
            self._tracks.append(track)
            ids[di] = track.track_id
            self._next_id += 1
        self._last_t = t
        return dataclasses.replace(faces, track_id=ids)

    def _recover(
        self,
        match: npt.NDArray[np.int64],
        boxes: npt.NDArray[np.floating],
        t: float,
        coast: float,
    ) -> npt.NDArray[np.int64]:
        """``match`` with lost tracks given the detections no track took, found along their
        course: a face hidden behind another while they cross is seen shrinking and stalling
        as it goes, so its last velocity (near 0) predicts it behind the place where it comes
        out, off by more than a box width, and the overlap test fails (a new id after 0.7 s
        hidden).

        A track lost before this frame (``missed > 0``) takes a free detection whose centre
        lies within half the track's usual width of its course: the segment from where its
        prediction stopped (after ``coast`` seconds: ``coast_s``, or the step between frames
        if longer) to where its last whole box (at least :data:`WHOLE` of its median width)
        would be by now, moving at the velocity of its centre from its first match within
        :data:`HISTORY_S` seconds to that box (over at least :data:`MIN_COURSE_S`; else its
        smoothed velocity); the detection's width within 0.6-1.6 times the track's median
        width. Closest first. In the spirit of OC-SORT's observation-centric recovery (Cao et
        al., "Observation-Centric SORT", CVPR 2023), without its Kalman filter.

        The cost: another person who appears within the age limit along a lost face's course
        takes its id (before, only one who appeared where its prediction overlapped).
        """
        free = np.ones(len(boxes), bool)
        free[match[match >= 0]] = False
        if not free.any():
            return match
        candidates = []
        for ti, track in enumerate(self._tracks):
            if match[ti] >= 0 or track.missed == 0 or len(track.history) < 2:
                continue
            widths = np.array([h[1][2] - h[1][0] for h in track.history])
            width = float(np.median(widths))
            # the course runs to its last whole box: a face being covered shows a narrower
            # box whose centre stalls, which would bend the course back
            whole = np.flatnonzero(widths >= WHOLE * width)
            t1, anchor = track.history[int(whole[-1]) if len(whole) else -1]
            t0, first = track.history[0]
            course = (
                (_centre(anchor) - _centre(first)) / (t1 - t0)
                if t1 - t0 >= MIN_COURSE_S
                else track.velocity
            )
            start = _centre(track.box) + track.velocity * min(t - track.last_t - track.hold, coast)
            end = _centre(anchor) + course * (t - track.hold - t1)
            for di in np.flatnonzero(free):
                box = np.asarray(boxes[di], np.float64)
                if not 0.6 <= (box[2] - box[0]) / max(width, 1e-6) <= 1.6:
                    continue
                distance = _to_segment(_centre(box), start, end)
                if distance <= 0.5 * width:
                    candidates.append((distance / width, ti, int(di)))
        match = match.copy()
        for _, ti, di in sorted(candidates):
            if match[ti] < 0 and free[di]:
                match[ti] = di
                free[di] = False
        return match

    def _rescale(self, sx: float, sy: float) -> None:
        """Move every track into a frame scaled by ``sx``, ``sy`` (its boxes, velocity and
        course)."""
        scale = np.array([sx, sy, sx, sy])
        for track in self._tracks:
            track.box = track.box * scale
            track.velocity = track.velocity * scale[:2]
            track.history = collections.deque(
                ((t, box * scale) for t, box in track.history), maxlen=HISTORY_MAX
            )

    def _advance(self, track: _Track, box: np.ndarray, t: float) -> None:
        dt = t - track.last_t - track.hold
        jumped = track.hold > 0  # the picture jumped after a held frame: no speed to read
        track.hold = 0.0
        if dt > 1e-6 and not jumped:
            velocity = (_centre(box) - _centre(track.box)) / dt
            a = self.velocity_smoothing if track.hits > 1 else 1.0
            track.velocity = a * velocity + (1 - a) * track.velocity
        track.box = box.astype(np.float64)
        track.last_t = t
        track.hits += 1
        track.missed = 0
        track.remember()
