"""Per-track summaries of video rows, weighted by time: how long each track was seen and how
its expression was perceived over that time.

Frames are weighted by the time they stand for, not counted: on a variable-frame-rate video (a
phone's) or with ``--fps``/``--every`` sampling, frames are unevenly spaced, and a share of
frames is not a share of time. Each analysed frame of a source stands for the time up to the
source's next analysed frame; the last one for the median step. Summaries describe how faces
are likely to be *perceived*; they say nothing about what anyone felt.
"""

from __future__ import annotations

import collections
from array import array
from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from mien.errors import DatasetError
from mien.tracking.iou import STEP_WINDOW, gap_limit

if TYPE_CHECKING:
    import pandas as pd


def frame_durations(timestamps_s: np.ndarray) -> np.ndarray:
    """The time each analysed frame stands for.

    Args:
        timestamps_s: ``(n,)`` presentation timestamps in seconds of one source's analysed
            frames, sorted ascending, without repeats.

    Returns:
        ``(n,)`` float64 seconds: the step to the next frame. A frame before a hole (a step
        over :func:`~mien.tracking.iou.gap_limit` of the median of the last
        :data:`~mien.tracking.iou.STEP_WINDOW` steps, by which the tracker has ended every
        track: a long pause, two recordings joined with a jump forward) gets that
        median instead, and the last frame the median step (0.0 when there is a single frame).
    """
    import pandas as pd

    t = np.asarray(timestamps_s, np.float64).reshape(-1)
    if len(t) < 2:
        return np.zeros(len(t))
    steps = np.diff(t)
    local = pd.Series(steps).rolling(STEP_WINDOW, min_periods=1).median().to_numpy()
    held = np.where(steps > np.vectorize(gap_limit)(local), local, steps)
    return np.append(held, float(np.median(steps)))


def track_summary(
    df: pd.DataFrame,
    *,
    smoothed: bool = False,
    skip_abstained: bool = False,
    labels: Sequence[str] | None = None,
) -> pd.DataFrame:
    """One row per track: when it was seen, for how long, and its perceived expression over
    that time.

    Args:
        df: rows of ``mien analyze`` / ``mien watch`` / ``mien batch`` (e.g. from
            :func:`mien.plots.read_rows`, or ``pandas.DataFrame(rows)`` of
            :func:`mien.export.result_rows`); needs ``source``, ``status``, ``timestamp_s``,
            ``track_id``, ``label`` and the ``p_<label>`` columns. ``no_face`` rows count as
            analysed frames (time in which the track was not seen). With ``frame_index``,
            a source's rows are read in their order (mien writes them in frame order), and a
            timestamp earlier than the frame before it (the clock went back: recordings
            joined end to end) or a frame index that goes back (two runs' rows appended)
            starts a new part, timed on its own.
        smoothed: use the per-track smoothed columns (``ps_*``, ``smoothed_label``) instead of
            the per-frame ones (``p_*``, ``label``). The smoother is causal: its labels change
            about ``tau`` seconds after the face does, which moves time toward the label held
            before, and its means lag the same way; per-frame values (the default) have no lag.
        skip_abstained: leave frames whose per-frame prediction abstained (low confidence or
            ``quality_ok`` false; needs ``abstained``) out of ``label``, ``share_<label>`` and
            ``mean_<label>``; ``seen_s`` and ``abstained_share`` still count them. A track that
            abstained throughout then has no label (``None``) and NaN shares and means.
        labels: the expression labels (default: those of the ``p_<label>`` columns); the
            ``mean_<label>`` columns are given only for labels whose probabilities the rows
            hold.

    Returns:
        A DataFrame sorted by ``source``, ``model``, ``part`` and ``track_id`` with:
        ``source``, ``model`` (empty when the rows have none), ``part`` (0, then 1, 2 … after
        each point where the source's clock or frame index went back: two runs appended keep
        their own tracks though their ids repeat), ``track_id``, ``first_s`` and ``last_s``
        (timestamps in seconds), ``frames``, ``seen_s`` (seconds the track stands for, see
        :func:`frame_durations`), ``label`` (the label held longest; a tie goes to the earlier
        label in the model's order), ``tied_labels`` (the other labels held exactly as long,
        comma-separated; empty when there is no tie), ``share_<label>`` (the share of the
        time counted with that top label; they sum to 1), ``mean_<label>`` (the time-weighted
        mean probability) and, when the rows have ``abstained``, ``abstained_share`` (the
        share of ``seen_s`` in frames where the per-frame prediction abstained). Face rows
        without a label are left out, and a track seen twice at one timestamp counts once.

    Raises:
        DatasetError: no rows at all, a needed column is missing, ``skip_abstained``
            without an ``abstained`` column, or no row has a ``track_id`` (still images have
            no tracks).
    """
    import pandas as pd

    if len(df) == 0 and len(df.columns) == 0:
        raise DatasetError("no rows to summarise (every input failed, or none was given)")
    missing = {"source", "status", "timestamp_s", "track_id", "label"} - set(df.columns)
    if missing:
        raise DatasetError(f"rows without the column(s) {sorted(missing)}: not mien results")
    if skip_abstained and "abstained" not in df:
        raise DatasetError("skip_abstained needs rows with an abstained column")
    names = list(labels) if labels is not None else [c[2:] for c in df if c.startswith("p_")]
    if not names:
        raise DatasetError("no expression labels: give labels= or rows with p_<label> columns")
    use_smoothed = smoothed and "smoothed_label" in df and df["smoothed_label"].notna().any()
    prefix = "ps_" if use_smoothed and all(f"ps_{n}" in df for n in names) else "p_"
    measured = [n for n in names if f"{prefix}{n}" in df]
    keys = ["source", "model"]
    df = df.assign(model=df["model"].fillna("") if "model" in df else "")
    analysed = _parts(df[df["status"].isin(["ok", "no_face"])], keys)
    faces = analysed[
        (analysed["status"] == "ok") & analysed["track_id"].notna() & analysed["label"].notna()
    ]
    # a track seen twice at one timestamp (a repeated timestamp, rows of one run joined twice)
    # is one frame
    faces = faces.drop_duplicates([*keys, "part", "track_id", "timestamp_s"])
    if faces.empty:
        raise DatasetError(
            "no tracked faces in these rows (no face was found, or only still images, which "
            "have no tracks)"
        )
    durations = []
    for (source, model, part), rows in analysed.groupby([*keys, "part"], sort=False):
        t = np.unique(rows["timestamp_s"].dropna().to_numpy(np.float64))
        durations.append(
            pd.DataFrame(
                {
                    "source": source,
                    "model": model,
                    "part": part,
                    "timestamp_s": t,
                    "duration_s": frame_durations(t),
                }
            )
        )
    faces = faces.merge(pd.concat(durations), on=[*keys, "part", "timestamp_s"], how="left")
    top = faces["smoothed_label"].fillna(faces["label"]) if use_smoothed else faces["label"]
    out = []
    for (source, model, part, track), rows in faces.groupby([*keys, "part", "track_id"]):
        w = rows["duration_s"].to_numpy(np.float64)
        seen = float(w.sum())
        if seen == 0:  # a single analysed frame: no time to weigh by, count the frame
            w = np.ones_like(w)
        abstained = (
            rows["abstained"].fillna(False).to_numpy(bool)
            if "abstained" in rows
            else np.zeros(len(rows), bool)
        )
        counted = np.where(abstained, 0.0, w) if skip_abstained else w
        held = top.loc[rows.index].astype(object)
        share = {n: float(counted[(held == n).to_numpy(bool)].sum()) for n in names}
        total = float(counted.sum())
        label = held_longest(share) if total > 0 else None
        row = {
            "source": source,
            "model": model,
            "part": int(part),
            "track_id": int(track),
            "first_s": float(rows["timestamp_s"].min()),
            "last_s": float(rows["timestamp_s"].max()),
            "frames": len(rows),
            "seen_s": seen,
            "label": label,
            "tied_labels": ", ".join(tied_with(share, label)) if label else "",
        }
        scale = 1.0 / total if total > 0 else float("nan")
        row.update({f"share_{n}": share[n] * scale for n in names})
        for n in measured:
            p = rows[f"{prefix}{n}"].to_numpy(np.float64)
            row[f"mean_{n}"] = float((p * counted).sum() * scale)
        if "abstained" in rows:
            row["abstained_share"] = float(w[abstained].sum() / w.sum())
        out.append(row)
    return pd.DataFrame(out)


def _parts(analysed: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """``analysed`` with a ``part`` column: 0, then 1, 2 … per source from each row where, in
    row order (mien writes rows in frame order), the clock goes back within one run (the
    frame index goes on, the timestamp goes back: recordings joined end to end) or a new run
    starts (the frame index goes back: two runs' rows appended). Sources whose rows lack a
    ``frame_index`` stay one part."""
    if "frame_index" not in analysed or analysed.empty:
        return analysed.assign(part=0)
    index = analysed["frame_index"].astype("float64")  # nullable and pyarrow dtypes too
    t = analysed["timestamp_s"].astype("float64")
    groups = [analysed[k] for k in keys]
    # one row per frame decides (the faces of a frame share its index and time)
    d_index = index.groupby(groups, sort=False).diff()
    d_t = t.groupby(groups, sort=False).diff()
    starts = ((d_index < 0) | ((d_index > 0) & (d_t < 0))).astype(np.int64)
    part = starts.groupby(groups, sort=False).cumsum()
    complete = index.notna().groupby(groups, sort=False).transform("all")
    return analysed.assign(part=part.where(complete, 0).to_numpy(np.int64))


def held_longest(times: dict[str, float]) -> str:
    """The label with the most time (seconds, or frames), ``times`` in the model's label order.
    Times equal to the nanosecond are a tie (sums of timestamp steps differ in their last
    bits), which goes to the earlier label."""
    return max(times, key=lambda label: round(times[label], 9))


def tied_with(times: dict[str, float], label: str) -> list[str]:
    """The other labels held exactly as long as ``label`` (to the nanosecond), in ``times``'s
    order; empty when ``label`` leads alone."""
    best = round(times[label], 9)
    return [k for k, v in times.items() if k != label and round(v, 9) == best]


def _credit(
    step: float,
    pending: dict[int, str],
    pending_abstained: set[int],
    seconds: dict[int, dict[str, float]],
    frames: dict[int, dict[str, int]],
    abstained: dict[int, list[float]],
) -> None:
    """Add one frame's ``step`` seconds (and one frame) to each pending track's label."""
    for track, label in pending.items():
        per = seconds.setdefault(track, {})
        per[label] = per.get(label, 0.0) + step
        count = frames.setdefault(track, {})
        count[label] = count.get(label, 0) + 1
        if track in pending_abstained:
            a = abstained.setdefault(track, [0.0, 0])
            a[0] += step
            a[1] += 1


class TrackLine(NamedTuple):
    """One track of :meth:`TrackTimes.tracks`."""

    track_id: int
    label: str
    share: float
    """share of the time seen with ``label`` on top, in [0, 1]"""
    seen_s: float
    abstained_share: float
    """share of the time seen in frames whose prediction abstained, in [0, 1]"""
    tied_labels: tuple[str, ...]

    def text(self) -> str:
        """The CLI's words for it: ``#3 happiness 71% of 8.0 s (74% abstained)``."""
        notes = []
        if self.tied_labels:
            notes.append("tied with " + ", ".join(self.tied_labels))
        if self.abstained_share > 0:
            share = f"{self.abstained_share:.0%}" if self.abstained_share >= 0.01 else "<1%"
            notes.append(f"{share} abstained")
        more = f" ({'; '.join(notes)})" if notes else ""
        return f"#{self.track_id} {self.label} {self.share:.0%} of {self.seen_s:.1f} s{more}"


class TrackTimes:
    """Per-track time per top label, added up frame by frame: :func:`track_summary`'s rule
    for a stream of frames, in little memory (8 bytes per frame for the median step, about
    20 MB for 24 h at 30 fps; the rest per track).

    Args:
        labels: the expression labels in the model's order, which breaks ties between labels
            held equally long, as :func:`track_summary` does (default: the order first seen).

    Example:
        >>> times = TrackTimes()
        >>> times.add(0.0, {1: "neutral"})
        >>> times.add(0.1, {1: "happiness"}, abstained={1})
        >>> times.add(0.2, {1: "happiness"})
        >>> times.add(0.3, {})  # a frame without a face
        >>> times.tracks()[0].text()  # track 1: happiness for 0.2 of its 0.3 s
        '#1 happiness 67% of 0.3 s (33% abstained)'
    """

    def __init__(self, labels: Sequence[str] = ()) -> None:
        self._order = {label: k for k, label in enumerate(labels)}
        self._steps = array("d")  # of the current part (since the clock last went back)
        self._window: collections.deque[float] = collections.deque(maxlen=STEP_WINDOW)
        self._last_t: float | None = None
        self._pending: dict[int, str] = {}
        self._pending_abstained: set[int] = set()
        self._seconds: dict[int, dict[str, float]] = {}
        self._frames: dict[int, dict[str, int]] = {}
        self._abstained: dict[int, list[float]] = {}  # track -> [seconds, frames]

    def add(
        self, timestamp_s: float, labels: dict[int, str], abstained: Collection[int] = ()
    ) -> None:
        """One analysed frame: its timestamp in seconds, ``{track_id: top label}`` of the
        faces in it (empty for a frame without a face) and the track ids whose prediction
        abstained. Frames come in order; one at the previous timestamp joins that frame, and
        one earlier than it (the clock went back) ends the part before it, whose last frame
        takes that part's median step, as in :func:`track_summary`. A frame before a hole
        takes the median of the last steps, as :func:`frame_durations` says."""
        if self._last_t is not None and timestamp_s == self._last_t:
            for track, label in labels.items():  # the first row of a track at a time counts
                if track not in self._pending:
                    self._pending[track] = label
                    if track in abstained:
                        self._pending_abstained.add(track)
            return
        if self._last_t is not None and timestamp_s < self._last_t:
            self._credit(self._median())
            self._steps = array("d")
            self._window.clear()
        elif self._last_t is not None:
            step = timestamp_s - self._last_t
            self._steps.append(step)
            self._window.append(step)
            local = float(np.median(self._window))  # a hole counts as one ordinary step
            self._credit(local if step > gap_limit(local) else step)
        self._last_t, self._pending = timestamp_s, dict(labels)
        self._pending_abstained = set(abstained) & set(labels)

    def add_rows(self, timestamp_s: float, rows: Sequence[Mapping[str, Any]]) -> None:
        """One analysed frame from its rows (:func:`mien.export.result_rows`): each tracked
        face's per-frame ``label`` and ``abstained``, as :meth:`add` takes them."""
        tracked = [r for r in rows if r.get("track_id")]
        self.add(
            timestamp_s,
            {int(r["track_id"]): str(r["label"]) for r in tracked},
            {int(r["track_id"]) for r in tracked if r["abstained"]},
        )

    def _median(self) -> float:
        return float(np.median(np.frombuffer(self._steps))) if self._steps else 0.0

    def _credit(self, step: float) -> None:
        _credit(step, self._pending, self._pending_abstained, self._seconds, self._frames,
                self._abstained)  # fmt: skip
        self._pending, self._pending_abstained = {}, set()

    def tracks(self) -> list[TrackLine]:
        """One :class:`TrackLine` per track, longest seen first: the label held longest, its
        share of the time seen, the seconds seen, the share of it abstained and the labels
        tied with it (a track seen for no time, in a single frame, is weighed by frames)."""
        seconds = {k: dict(v) for k, v in self._seconds.items()}
        frames = {k: dict(v) for k, v in self._frames.items()}
        abstained = {k: list(v) for k, v in self._abstained.items()}
        # the last frame takes the median step (on copies: more frames may follow)
        _credit(self._median(), self._pending, self._pending_abstained, seconds, frames,
                abstained)  # fmt: skip
        out = []
        for track, per in seconds.items():
            seen = sum(per.values())
            by_time = seen > 0
            weights = per if by_time else {k: float(v) for k, v in frames[track].items()}
            first = sorted(weights, key=lambda k: self._order.get(k, len(self._order)))
            ordered = {k: weights[k] for k in first}
            label = held_longest(ordered)
            total = sum(weights.values())
            a_seconds, a_frames = abstained.get(track, (0.0, 0))
            out.append(
                TrackLine(
                    track_id=track,
                    label=label,
                    share=weights[label] / total,
                    seen_s=seen,
                    abstained_share=(a_seconds if by_time else a_frames) / total,
                    tied_labels=tuple(tied_with(ordered, label)),
                )
            )
        return sorted(out, key=lambda r: (-r.seen_s, r.track_id))


__all__ = ["TrackLine", "TrackTimes", "frame_durations", "track_summary"]
