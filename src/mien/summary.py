"""Per-track summaries of video rows, weighted by time: how long each track was seen and how
its expression was perceived over that time.

Frames are weighted by the time they stand for, not counted: on a variable-frame-rate video (a
phone's) or with ``--fps``/``--every`` sampling, frames are unevenly spaced, and a share of
frames is not a share of time. Each analysed frame of a source stands for the time up to the
source's next analysed frame; the last one for the median step. Summaries describe how faces
are likely to be *perceived*; they say nothing about what anyone felt.
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from mien.errors import DatasetError

if TYPE_CHECKING:
    import pandas as pd


def frame_durations(timestamps_s: np.ndarray) -> np.ndarray:
    """The time each analysed frame stands for.

    Args:
        timestamps_s: ``(n,)`` presentation timestamps in seconds of one source's analysed
            frames, sorted ascending, without repeats.

    Returns:
        ``(n,)`` float64 seconds: the step to the next frame; the last frame gets the median
        step (0.0 when there is a single frame).
    """
    t = np.asarray(timestamps_s, np.float64).reshape(-1)
    if len(t) < 2:
        return np.zeros(len(t))
    steps = np.diff(t)
    return np.append(steps, float(np.median(steps)))


def track_summary(
    df: pd.DataFrame, *, smoothed: bool = True, labels: Sequence[str] | None = None
) -> pd.DataFrame:
    """One row per track: when it was seen, for how long, and its perceived expression over
    that time.

    Args:
        df: rows of ``mien analyze`` / ``mien watch`` / ``mien batch`` (e.g. from
            :func:`mien.plots.read_rows`, or ``pandas.DataFrame(rows)`` of
            :func:`mien.export.result_rows`); needs ``source``, ``status``, ``timestamp_s``,
            ``track_id``, ``label`` and the ``p_<label>`` columns. ``no_face`` rows count as
            analysed frames (time in which the track was not seen).
        smoothed: use the per-track smoothed columns (``ps_*``, ``smoothed_label``) where they
            exist, else the per-frame ones (``p_*``, ``label``).
        labels: the expression labels (default: those of the ``p_<label>`` columns); the
            ``mean_<label>`` columns are given only for labels whose probabilities the rows
            hold.

    Returns:
        A DataFrame sorted by ``source``, ``model`` and ``track_id`` with: ``source``,
        ``model`` (empty when the rows have none), ``track_id``, ``first_s`` and ``last_s``
        (timestamps in seconds), ``frames``, ``seen_s`` (seconds the track stands for, see
        :func:`frame_durations`), ``label`` (the label held longest), ``share_<label>`` (the
        share of ``seen_s`` with that top label; they sum to 1), ``mean_<label>`` (the
        time-weighted mean probability) and, when the rows have ``abstained``,
        ``abstained_share`` (the share of ``seen_s`` in frames where the per-frame prediction
        abstained). Face rows without a label are left out, and a track seen twice at one
        timestamp counts once.

    Raises:
        DatasetError: a needed column is missing, or no row has a ``track_id`` (still images
            have no tracks).
    """
    import pandas as pd

    missing = {"source", "status", "timestamp_s", "track_id", "label"} - set(df.columns)
    if missing:
        raise DatasetError(f"rows without the column(s) {sorted(missing)}: not mien results")
    names = list(labels) if labels is not None else [c[2:] for c in df if c.startswith("p_")]
    if not names:
        raise DatasetError("no expression labels: give labels= or rows with p_<label> columns")
    use_smoothed = smoothed and "smoothed_label" in df and df["smoothed_label"].notna().any()
    prefix = "ps_" if use_smoothed and all(f"ps_{n}" in df for n in names) else "p_"
    measured = [n for n in names if f"{prefix}{n}" in df]
    df = df.assign(model=df["model"].fillna("") if "model" in df else "")
    analysed = df[df["status"].isin(["ok", "no_face"])]
    faces = analysed[
        (analysed["status"] == "ok") & analysed["track_id"].notna() & analysed["label"].notna()
    ]
    # a track seen twice at one timestamp (a repeated timestamp, rows of one run joined twice)
    # is one frame
    faces = faces.drop_duplicates(["source", "model", "track_id", "timestamp_s"])
    if faces.empty:
        raise DatasetError(
            "no tracked faces in these rows (no face was found, or only still images, which "
            "have no tracks)"
        )
    durations = []
    for (source, model), rows in analysed.groupby(["source", "model"], sort=False):
        t = np.unique(rows["timestamp_s"].dropna().to_numpy(np.float64))
        durations.append(
            pd.DataFrame(
                {
                    "source": source,
                    "model": model,
                    "timestamp_s": t,
                    "duration_s": frame_durations(t),
                }
            )
        )
    faces = faces.merge(pd.concat(durations), on=["source", "model", "timestamp_s"], how="left")
    top = faces["smoothed_label"].fillna(faces["label"]) if use_smoothed else faces["label"]
    out = []
    for (source, model, track), rows in faces.groupby(["source", "model", "track_id"]):
        w = rows["duration_s"].to_numpy(np.float64)
        seen = float(w.sum())
        if seen == 0:  # a single analysed frame: no time to weigh by, count the frame
            w = np.ones_like(w)
        held = top.loc[rows.index].astype(object)
        share = {n: float(w[(held == n).to_numpy(bool)].sum()) for n in names}
        row = {
            "source": source,
            "model": model,
            "track_id": int(track),
            "first_s": float(rows["timestamp_s"].min()),
            "last_s": float(rows["timestamp_s"].max()),
            "frames": len(rows),
            "seen_s": seen,
            "label": held_longest(share),
        }
        scale = 1.0 / float(w.sum())
        row.update({f"share_{n}": share[n] * scale for n in names})
        for n in measured:
            p = rows[f"{prefix}{n}"].to_numpy(np.float64)
            row[f"mean_{n}"] = float((p * w).sum() * scale)
        if "abstained" in rows:
            abstained = rows["abstained"].fillna(False).to_numpy(bool)
            row["abstained_share"] = float(w[abstained].sum() * scale)
        out.append(row)
    return pd.DataFrame(out)


def held_longest(times: dict[str, float]) -> str:
    """The label with the most time (seconds, or frames), ``times`` in the model's label order.
    Times equal to the nanosecond are a tie (sums of timestamp steps differ in their last
    bits), which goes to the earlier label."""
    return max(times, key=lambda label: round(times[label], 9))


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
        >>> times.add(0.1, {1: "happiness"})
        >>> times.add(0.2, {1: "happiness"})
        >>> times.add(0.3, {})  # a frame without a face
        >>> times.tracks()  # track 1: happiness for 0.2 of its 0.3 s
        [(1, 'happiness', 0.666..., 0.3...)]
    """

    def __init__(self, labels: Sequence[str] = ()) -> None:
        self._order = {label: k for k, label in enumerate(labels)}
        self._steps = array("d")
        self._last_t: float | None = None
        self._pending: dict[int, str] = {}
        self._seconds: dict[int, dict[str, float]] = {}
        self._frames: dict[int, dict[str, int]] = {}

    def add(self, timestamp_s: float, labels: dict[int, str]) -> None:
        """One analysed frame: its timestamp in seconds and ``{track_id: top label}`` of the
        faces in it (empty for a frame without a face). Frames come in timestamp order; one
        at the previous timestamp joins that frame."""
        if self._last_t is not None and timestamp_s <= self._last_t:
            for track, label in labels.items():
                self._pending.setdefault(track, label)
            return
        if self._last_t is not None:
            step = timestamp_s - self._last_t
            self._steps.append(step)
            self._credit(self._seconds, self._frames, self._pending, step)
        self._last_t, self._pending = timestamp_s, dict(labels)

    @staticmethod
    def _credit(
        seconds: dict[int, dict[str, float]],
        frames: dict[int, dict[str, int]],
        pending: dict[int, str],
        step: float,
    ) -> None:
        for track, label in pending.items():
            per = seconds.setdefault(track, {})
            per[label] = per.get(label, 0.0) + step
            count = frames.setdefault(track, {})
            count[label] = count.get(label, 0) + 1

    def tracks(self) -> list[tuple[int, str, float, float]]:
        """``(track_id, label, share, seen_s)`` per track, longest seen first: the label held
        longest, its share of the time seen, and the seconds seen (a track seen for no time,
        in a single frame, is weighed by frames)."""
        seconds = {k: dict(v) for k, v in self._seconds.items()}
        frames = {k: dict(v) for k, v in self._frames.items()}
        last = float(np.median(np.frombuffer(self._steps))) if self._steps else 0.0
        self._credit(seconds, frames, self._pending, last)
        out = []
        for track, per in seconds.items():
            seen = sum(per.values())
            weights = per if seen > 0 else {k: float(v) for k, v in frames[track].items()}
            first = sorted(weights, key=lambda k: self._order.get(k, len(self._order)))
            label = held_longest({k: weights[k] for k in first})
            out.append((track, label, weights[label] / sum(weights.values()), seen))
        return sorted(out, key=lambda r: (-r[3], r[0]))


__all__ = ["TrackTimes", "frame_durations", "track_summary"]
