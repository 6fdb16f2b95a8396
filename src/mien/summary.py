"""Per-track summaries of video rows, weighted by time: how long each track was seen and how
its expression was perceived over that time.

Frames are weighted by the time they stand for, not counted: on a variable-frame-rate video (a
phone's) or with ``--fps``/``--every`` sampling, frames are unevenly spaced, and a share of
frames is not a share of time. Each analysed frame of a source stands for the time up to the
source's next analysed frame; the last one for the median of the last steps. Summaries
describe how faces are likely to be *perceived*; they say nothing about what anyone felt.
"""

from __future__ import annotations

import collections
import io
import os
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from mien.errors import DatasetError, TimeWindowsError
from mien.export.rows import DAMAGED
from mien.tracking.iou import MAX_HOLD_S, STEP_WINDOW, is_hole

if TYPE_CHECKING:
    import pandas as pd

BOX_COLUMNS = ("x1", "y1", "x2", "y2")
"""The rows' box columns (pixels); summaries give each track's median box."""


def frame_durations(
    timestamps_s: np.ndarray, damaged_from_s: np.ndarray | Sequence[float] = ()
) -> np.ndarray:
    """The time each analysed frame stands for.

    Args:
        timestamps_s: ``(n,)`` presentation timestamps in seconds of one source's analysed
            frames, sorted ascending, without repeats.
        damaged_from_s: ``(k,)`` seconds where damaged data left out began (the ``damaged``
            rows' ``timestamp_s``): a frame followed by one stands for the time up to it at
            most, since nothing was seen from there to the next frame.

    Returns:
        ``(n,)`` float64 seconds: the step to the next frame (a frame a variable-frame-rate file
        holds for up to :data:`~mien.tracking.iou.MAX_HOLD_S` stands for all of it, as a player
        shows it). A frame before a hole (a step over both :data:`~mien.tracking.iou.MAX_HOLD_S`
        and :func:`~mien.tracking.iou.gap_limit` of the median of the
        :data:`~mien.tracking.iou.STEP_WINDOW` steps before it (the first step by itself), by
        which the tracker has ended every track: a stall, a long pause, two recordings joined
        with a jump forward) gets that median instead, and the last frame the median of the last
        :data:`~mien.tracking.iou.STEP_WINDOW` steps, the usual step where the clip ends (0.0
        when there is a single frame).
    """
    import pandas as pd

    t = np.asarray(timestamps_s, np.float64).reshape(-1)
    if len(t) < 2:
        return np.zeros(len(t))
    steps = np.diff(t)
    # each step judged by the median of the steps before it, as the tracker judges it (the
    # first by itself); a hole counts as that median
    before = (
        pd.Series(steps).shift(1).rolling(STEP_WINDOW, min_periods=1).median().to_numpy().copy()
    )
    before[0] = steps[0]
    held = np.where(np.vectorize(is_hole)(steps, before), before, steps)
    marks = np.sort(np.asarray(damaged_from_s, np.float64).reshape(-1))
    if len(marks):  # the first damage after each frame, if before the next frame, ends it
        k = np.searchsorted(marks, t[:-1], "right")
        first = marks[np.minimum(k, len(marks) - 1)]
        cut = (k < len(marks)) & (first <= t[1:])
        held = np.where(cut, np.minimum(held, first - t[:-1]), held)
    last = float(np.median(steps[-STEP_WINDOW:]))  # the usual step where the clip ends
    # steps between timestamps far from 0 (95443.717678 s) carry float noise below 1e-9 s
    return np.append(held, last).round(TIME_DECIMALS)


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
            A row without a smoothed label (another run's, without a tracker) counts its
            per-frame values.
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
        share of ``seen_s`` in frames where the per-frame prediction abstained) and, when the
        rows have box columns, ``x1, y1, x2, y2``: the track's median box in pixels (where
        the face was, to find it among the ``#track`` labels of an annotated video). Face rows
        without a label are left out, and a track seen twice at one timestamp counts once. A
        video (or part) whose analysed frames hold no face gets one row with an empty
        ``track_id`` (``Int64``, as always), ``frames`` 0, ``seen_s`` 0 and no label, so that
        it stays in the table; still images (faces without tracks) and sources that could not
        be read (``error`` rows only; :func:`untimed_sources` names both) get no row.

    Raises:
        DatasetError: no rows at all, a needed column is missing, ``skip_abstained``
            without an ``abstained`` column, or no row has a ``track_id`` (still images have
            no tracks).
    """
    import pandas as pd

    timed = _timed_faces(df, smoothed=smoothed, skip_abstained=skip_abstained, labels=labels)
    out = []
    for key, rows in timed.faces.groupby([*_KEYS, "part", "track_id"]):
        cols = _arrays(rows, timed)
        out.append(_track_row(key, cols, cols["duration_s"], timed, skip_abstained))
    # a video (or a part of one) with no tracked face keeps a row: a participant's recording
    # in which no face was found must not vanish from a per-participant table
    tracked = {(r["source"], r["model"], r["part"]) for r in out}
    blank = dict.fromkeys(out[0], np.nan) | {"label": None, "tied_labels": ""}
    still = set(untimed_sources(df)[0])  # faces, never tracks: not a video, nothing to time
    for key, _ in timed.analysed.groupby(_PART, sort=False):
        if (key[0], key[1], int(key[2])) not in tracked and str(key[0]) not in still:
            source, model, part = key
            row = {"source": source, "model": model, "part": int(part), "track_id": pd.NA}
            out.append(blank | row | {"frames": 0, "seen_s": 0.0})
    table = pd.DataFrame(out).astype({"track_id": "Int64", "part": "int64", "frames": "int64"})
    table = table.sort_values([*_KEYS, "part", "track_id"], kind="stable", ignore_index=True)
    return _round_times(table)


def untimed_sources(df: pd.DataFrame) -> tuple[list[str], dict[str, str]]:
    """The sources of ``df`` that :func:`track_summary` leaves out of its table.

    Returns:
        ``(still, failed)``: sources whose face rows have no ``track_id`` (still images), and
        ``{source: error}`` for those with only ``error`` rows (never read).
    """
    import pandas as pd

    status = df["status"].astype("string")
    faces = df[status == "ok"]
    still = sorted(str(k) for k, ids in faces.groupby("source")["track_id"] if ids.isna().all())
    read = set(df.loc[status.isin(["ok", "no_face"]), "source"])
    errors = df[(status == "error") & ~df["source"].isin(read)]
    column = errors["error"] if "error" in errors else pd.Series("", index=errors.index)
    failed = {str(k): str(v) for k, v in zip(errors["source"], column.fillna(""), strict=True)}
    return still, failed


TIME_DECIMALS = 9
"""Decimals the summaries' times and durations keep (nanoseconds): sums of steps between
timestamps far from 0 (an MPEG-TS clock at 95443.7 s) carry float noise there (2.85000000000582
for 2.85); rows' timestamps have 6 decimals."""


def _round_times(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` with ``first_s``, ``last_s``, ``seen_s`` and ``analysed_s`` to
    :data:`TIME_DECIMALS` decimals."""
    columns = [c for c in ("first_s", "last_s", "seen_s", "analysed_s") if c in table]
    return table.assign(**{c: table[c].astype("float64").round(TIME_DECIMALS) for c in columns})


WINDOW_COLUMNS = ("start_s", "end_s")
"""The columns every windows table needs: a window's start and end in seconds."""


def read_windows(path: str | Path) -> pd.DataFrame:
    """A windows CSV as :func:`window_summary` takes it (what ``mien summary --windows``
    reads): comma-separated UTF-8 (a BOM allowed), every cell as text as written (``007``
    stays ``007``, ``NA`` stays ``NA``, an empty cell is ``""``), header names without spaces
    around them, rows whose cells are all empty (a spreadsheet's trailing ``,,``) left out,
    and so is a column without a name or cells (a header's trailing comma). Each window's line
    in the file is kept in ``attrs["lines"]``, which :func:`window_summary` names in its errors.

    Raises:
        TimeWindowsError: the file is missing or unreadable, empty, not UTF-8, not a
            comma-separated table (one column; a row with more cells than the header, named
            by its line), a column named twice, or one with cells but no name.
    """
    import csv

    import pandas as pd

    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise TimeWindowsError(f"{path}: cannot be read ({e.strerror or e})") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise TimeWindowsError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
        rows, lines = [], []
        for row in reader:
            if any(cell.strip() for cell in row):  # a blank line, a spreadsheet's ",,"
                rows.append(row)
                lines.append(reader.line_num)
    except csv.Error as e:
        raise TimeWindowsError(f"{path}: line {reader.line_num}: not a CSV row ({e})") from None
    if not header:
        raise TimeWindowsError(f"{path}: the file is empty")
    names = [cell.strip() for cell in header]
    if len(names) == 1 and names[0] != "start_s":
        raise TimeWindowsError(
            f"{path}: one column {names[0]!r}: the file must be comma-separated, with columns "
            "start_s and end_s"
        )
    for row, line in zip(rows, lines, strict=True):
        if len(row) > len(names):
            raise TimeWindowsError(
                f"{path}: line {line} has {len(row)} cells, the header {len(names)}: quote a "
                "cell holding a comma"
            )
    cells = [row + [""] * (len(names) - len(row)) for row in rows]
    table = pd.DataFrame(cells, columns=range(len(names)), dtype=object)
    unnamed = [k for k, name in enumerate(names) if not name]
    for k in unnamed:  # a header's trailing comma: an empty column without a name
        if any(cell.strip() for cell in table[k]):
            raise TimeWindowsError(f"{path}: column {k + 1} has cells but no name in the header")
    keep = [k for k in range(len(names)) if names[k]]
    seen = collections.Counter(names[k] for k in keep)
    twice = sorted(name for name, n in seen.items() if n > 1)
    if twice:
        raise TimeWindowsError(f"{path}: column(s) named twice in the header: {twice}")
    table = table[keep].set_axis([names[k] for k in keep], axis=1).astype(str)
    # each window's line in the file, for messages, while the table is as read
    table.attrs["lines"] = lines
    table.attrs["read_bounds"] = _bounds_as_read(table)
    return table


def _bounds_as_read(windows: pd.DataFrame) -> list[tuple[str, str]] | None:
    if not all(c in windows for c in WINDOW_COLUMNS):
        return None
    return list(zip(windows["start_s"].astype(str), windows["end_s"].astype(str), strict=True))


def _window_names(windows: pd.DataFrame) -> list[str]:
    """``window 3`` for each window and, for a table :func:`read_windows` read and not
    filtered or sorted since (its bounds still those read, in that order), ``(line 7)``."""
    lines = windows.attrs.get("lines")
    if (
        isinstance(lines, list)
        and len(lines) == len(windows)
        and windows.attrs.get("read_bounds") == _bounds_as_read(windows)
    ):
        return [f"window {i} (line {line})" for i, line in enumerate(lines)]
    return [f"window {i}" for i in range(len(windows))]


def window_summary(
    df: pd.DataFrame,
    windows: pd.DataFrame,
    *,
    smoothed: bool = False,
    skip_abstained: bool = False,
    labels: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Per time window and track: how each face was perceived during given stretches of time
    (a transcript's utterances, a task's trials, a stimulus's presentations).

    Each analysed frame stands for the time up to the next one (:func:`frame_durations`); in a
    window it counts for the part of that time inside the window, so a window shorter than
    a frame step still gets the frame that covers it, and windows that meet share no time.
    Otherwise every figure follows :func:`track_summary`'s rules.

    Args:
        df: rows as :func:`track_summary` takes them.
        windows: one row per window with ``start_s`` and ``end_s`` (seconds on the rows'
            ``timestamp_s`` clock, end not before start; numbers or text of numbers; a window
            of no length, as speech recognisers give some words, is an instant: it takes the
            frame that covers it, with ``seen_s`` 0 and that frame's label); optionally
            ``source``, the video the window belongs to (the rows' ``source``, the end of its
            path, ``session1.mp4``, or a longer path ending with it; ``\\`` as ``/``; needed
            when the rows hold several videos, still images not counted); any other columns
            (an utterance's text, a speaker, a trial id) are carried into the output.
        smoothed, skip_abstained, labels: as :func:`track_summary`.

    Returns:
        A DataFrame, in window order, whose columns do not depend on what the windows found
        (none at all gives an empty table with them): ``window`` (the window's position in
        ``windows``, from 0), the windows' own columns, ``source`` (the rows' name for it),
        ``model``, ``part``, ``analysed_s`` (the seconds of the window covered by that
        source's analysed frames: less than ``end_s - start_s`` where the window runs past
        the analysed time), then :func:`track_summary`'s columns from
        ``track_id`` on, over the window's time only: ``seen_s`` is the seconds of the window
        in which the track was seen, and ``first_s``/``last_s`` the times of the first and
        last frames covering part of it (the first can start before the window). One row per
        track seen in the window; a window in which no track was seen gets one row with an
        empty ``track_id`` (``Int64``), ``seen_s`` 0 and no label, so every window appears;
        one in a pause of its source (no analysed frame in it) has that part and
        ``analysed_s`` 0, and one outside the source's analysed time (or on a source whose
        analysis failed) an empty ``part`` and ``analysed_s`` 0.

    Raises:
        DatasetError: as :func:`track_summary` (the rows are at fault).
        TimeWindowsError: (a :class:`~mien.errors.DatasetError`) ``windows`` without
            ``start_s``/``end_s``,
            with a start or end that is not a finite number or an end before its start,
            with a column named like an output column, or without ``source`` while the rows
            hold several videos; a window's ``source`` that names no source of the rows, or
            more than one, or is blank while the rows hold several videos.
    """
    import pandas as pd

    timed = _timed_faces(df, smoothed=smoothed, skip_abstained=skip_abstained, labels=labels)
    bounds = _window_bounds(windows, timed.names)
    # every source of the rows: a window may name a video whose analysis failed (no time)
    sources = sorted({str(v) for v in df["source"].dropna()})
    videos = _video_sources(timed)
    if "source" not in windows and len(videos) > 1:
        raise TimeWindowsError(
            f"the rows hold {len(videos)} videos: give the windows a source column saying "
            "which video each window belongs to"
        )
    # per source, model and part, as arrays sorted by time: a window looks only at the
    # frames near it
    clocks = {
        k: _arrays(g.sort_values("timestamp_s", kind="stable"), None)
        for k, g in timed.analysed.groupby(_PART)
    }
    faces = {
        k: _arrays(g.sort_values("timestamp_s", kind="stable"), timed)
        for k, g in timed.faces.groupby(_PART)
    }
    nothing = _arrays(timed.faces.iloc[:0], timed)
    out: list[dict[str, Any]] = []
    named = _window_names(windows)
    records = windows.to_dict("records")  # not .iloc per window: it copies the attrs each time
    for i, (start, end) in enumerate(bounds):
        info = {"window": i, **records[i], "start_s": start, "end_s": end}
        source = _window_source(info.get("source"), sources, videos, named[i])
        info["source"] = source
        rows_before = len(out)
        for key, whole in clocks.items():
            if str(key[0]) != source:
                continue
            clock = _near(whole, start, end)
            analysed_s = float(_overlap(clock, start, end).sum())
            t = whole["timestamp_s"]
            spans = len(t) > 0 and start < t[-1] + whole["duration_s"][-1] and end > t[0]
            if analysed_s <= 0 and not _instant_inside(clock, start, end).any() and not spans:
                continue  # this part of the source does not reach the window (a pause does)
            head = {**info, "model": key[1], "part": int(key[2]), "analysed_s": analysed_s}
            rows = _near(faces.get(key, nothing), start, end)
            inside = _overlap(rows, start, end)
            keep = (inside > 0) | _instant_inside(rows, start, end)
            rows, inside = _take(rows, keep), inside[keep]
            tracks = []
            for track in np.unique(rows["track_id"]):
                seen = rows["track_id"] == track
                tracks.append(
                    _track_row((*key, track), _take(rows, seen), inside[seen], timed,
                               skip_abstained)
                )  # fmt: skip
            out.extend({**head, **_without(row, _PART)} for row in tracks)
            if not tracks:
                out.append({**head, **_NO_TRACK})
        if len(out) == rows_before:  # the window lies outside every analysed stretch
            out.append({**info, "model": "", "part": None, "analysed_s": 0.0, **_NO_TRACK})
    table = pd.DataFrame(out, columns=_window_table_columns(windows, timed))
    labelled = {f"share_{n}" for n in timed.names} | {f"mean_{n}" for n in timed.measured}
    numbers = [c for c in table.columns if c in _WINDOW_FLOATS | labelled]
    table = table.astype({"window": "int64", "track_id": "Int64", "part": "Int64",
                          "frames": "int64", **dict.fromkeys(numbers, "float64")})  # fmt: skip
    return _round_times(table)


_WINDOW_FLOATS = {"start_s", "end_s", "analysed_s", "first_s", "last_s", "seen_s",
                  "abstained_share", *BOX_COLUMNS}  # fmt: skip
"""Number columns of :func:`window_summary` (typed also in a table without rows)."""


def _window_table_columns(windows: pd.DataFrame, timed: _Timed) -> list[str]:
    """:func:`window_summary`'s columns, whatever the windows found: the same for a table
    whose first window, or every window, saw no track, and for no windows at all."""
    carried = list(windows.columns)
    head = ["window", *carried, *(["source"] if "source" not in carried else [])]
    tracks = ["model", "part", "analysed_s", "track_id", "first_s", "last_s", "frames",
              "seen_s", "label", "tied_labels"]  # fmt: skip
    tail = [f"share_{n}" for n in timed.names] + [f"mean_{n}" for n in timed.measured]
    if "abstained" in timed.faces:
        tail.append("abstained_share")
    tail += [c for c in BOX_COLUMNS if c in timed.faces]
    return [*head, *tracks, *tail]


def _video_sources(timed: _Timed) -> list[str]:
    """The sources that are videos (a tracked face, or more than one analysed frame), not
    still images; all sources when none is."""
    frames = timed.analysed.groupby("source").size()
    tracked = {str(v) for v in timed.faces["source"]}
    videos = sorted(str(s) for s, n in frames.items() if n > 1 or str(s) in tracked)
    return videos or sorted(str(s) for s in frames.index)


def _blank(value: Any) -> bool:
    """A missing or empty cell: ``None``, NaN, ``<NA>`` or only spaces."""
    import pandas as pd

    if isinstance(value, str):
        return not value.strip()
    return value is None or (np.ndim(value) == 0 and bool(pd.isna(value)))


_NO_TRACK = {"track_id": None, "frames": 0, "seen_s": 0.0, "label": None, "tied_labels": ""}
"""A window row where no track was seen."""


def _without(row: dict[str, Any], keys: Sequence[str]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k not in keys}


_Columns = dict[str, np.ndarray]
"""Rows as parallel arrays, one per column: ``timestamp_s`` and ``duration_s`` (float64
seconds), and for face rows ``track_id`` (int64), ``top`` (object), ``abstained`` (bool),
the probability and box columns (float64)."""


def _arrays(rows: pd.DataFrame, timed: _Timed | None) -> _Columns:
    """``rows`` as :data:`_Columns`: the timing columns, and with ``timed`` those
    :func:`_track_row` reads. The longest ``duration_s`` is kept as ``reach`` (0-d)."""
    cols = {c: rows[c].astype("float64").to_numpy() for c in ("timestamp_s", "duration_s")}
    cols["reach"] = np.asarray(cols["duration_s"].max() if len(rows) else 0.0)
    if timed is None:
        return cols
    cols["track_id"] = rows["track_id"].astype("int64").to_numpy()
    cols["top"] = rows["top"].to_numpy(object)
    if "abstained" in rows:
        cols["abstained"] = rows["abstained"].astype("boolean").fillna(False).to_numpy(bool)
    for c in [f"{timed.prefix}{n}" for n in timed.measured] + list(BOX_COLUMNS):
        if c in rows:
            cols[c] = rows[c].astype("float64").to_numpy()
    return cols


def _take(cols: _Columns, index: slice | np.ndarray) -> _Columns:
    """The rows ``index`` (a slice or a boolean mask) picks, in every column."""
    return {c: v if v.ndim == 0 else v[index] for c, v in cols.items()}


def _near(rows: _Columns, start: float, end: float) -> _Columns:
    """The rows (sorted by ``timestamp_s``) whose time can reach ``[start, end)``: from the
    longest ``duration_s`` before ``start`` up to ``end``; for an instant (``start == end``)
    up to and including the frames that start at it (they cover it)."""
    t = rows["timestamp_s"]
    lo = np.searchsorted(t, start - float(rows["reach"]))
    hi = np.searchsorted(t, end, side="right" if end == start else "left")
    return _take(rows, slice(lo, hi))


def _window_bounds(windows: pd.DataFrame, names: Sequence[str]) -> list[tuple[float, float]]:
    """``(start_s, end_s)`` of each window, checked.

    Raises:
        DatasetError: a missing column, a bound that is not a finite number, an end before
            its start, or a column the output uses for itself.
    """
    missing = [c for c in WINDOW_COLUMNS if c not in windows]
    if missing:
        found = ", ".join(repr(str(c)) for c in windows.columns[:8]) or "none"
        raise TimeWindowsError(
            f"windows without the column(s) {missing}: each needs start_s and end_s "
            f"(columns found: {found})"
        )
    label_columns = {f"{kind}_{n}" for n in names for kind in ("share", "mean")}
    taken = sorted(c for c in windows.columns if c in _WINDOW_OUTPUT_TAKEN | label_columns)
    if taken:
        raise TimeWindowsError(
            f"windows with column(s) {taken}, which the summary uses itself: rename them"
        )
    bounds = []
    for i, (start, end) in enumerate(zip(windows["start_s"], windows["end_s"], strict=True)):
        a, b = _seconds(start), _seconds(end)
        if not (np.isfinite(a) and np.isfinite(b)):
            raise TimeWindowsError(
                f"{_window_names(windows)[i]}: start_s {start!r} and end_s {end!r} must be "
                "numbers of seconds"
            )
        if b < a:
            raise TimeWindowsError(
                f"{_window_names(windows)[i]}: end_s {b:g} is before start_s {a:g}"
            )
        bounds.append((a, b))
    return bounds


def _seconds(value: Any) -> float:
    """A window bound as a float: a number, or text of one (``"12.5"``, ``" 3e1 "``); NaN for
    anything else, booleans and Python's ``1_000`` spelling included."""
    if isinstance(value, bool | np.bool_):
        return float("nan")
    if isinstance(value, str):
        if "_" in value:
            return float("nan")
        value = value.strip()
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


_WINDOW_OUTPUT_TAKEN = {
    "window", "model", "part", "analysed_s", "track_id", "first_s", "last_s", "frames",
    "seen_s", "label", "tied_labels", "abstained_share", *BOX_COLUMNS,
}  # fmt: skip


def _window_source(name: Any, sources: list[str], videos: list[str], where: str) -> str:
    """The rows' source a window names (``name``): itself, or the one source whose path ends
    with it, or whose path it ends with (an absolute path for a relative one); compared with
    ``/`` for ``\\``, without spaces around and a leading ``./``. A blank or missing name
    means the rows' only video.

    Raises:
        TimeWindowsError: it names none, or several; a blank name while the rows hold several
            videos."""
    if _blank(name):
        if len(videos) == 1:
            return videos[0]
        raise TimeWindowsError(
            f"{where}: no source, and the rows hold {len(videos)} videos: say which one"
        )
    wanted = _path_parts(name)
    exact = [s for s in sources if _path_parts(s) == wanted]
    if len(exact) == 1:
        return exact[0]

    def ends(longer: tuple[str, ...], shorter: tuple[str, ...]) -> bool:
        return len(longer) > len(shorter) and longer[-len(shorter) :] == shorter

    found = exact or [
        s for s in sources if ends(_path_parts(s), wanted) or ends(wanted, _path_parts(s))
    ]
    if len(found) > 1 and not exact:  # a longer path: the source that matches most of it
        most = max(min(len(_path_parts(s)), len(wanted)) for s in found)
        longest = [s for s in found if min(len(_path_parts(s)), len(wanted)) == most]
        if len(longest) == 1 and all(len(_path_parts(s)) <= len(wanted) for s in found):
            return longest[0]
    if len(found) == 1:
        return found[0]
    if not found:  # ../C.mp4 in the rows, /data/C.mp4 in the windows: the same file from here
        here = [s for s in sources if os.path.abspath(s) == os.path.abspath(str(name).strip())]
        if len(here) == 1:
            return here[0]
        shown = ", ".join(sources[:5]) + (" …" if len(sources) > 5 else "")
        raise TimeWindowsError(f"{where}: source {name!r} is none of the rows' sources ({shown})")
    raise TimeWindowsError(
        f"{where}: source {name!r} could be any of {', '.join(found)}: give more of its path"
    )


def _path_parts(path: Any) -> tuple[str, ...]:
    """A source path's components, ``\\`` read as ``/``, without empty and ``.`` ones."""
    text = str(path).strip().replace("\\", "/")
    return tuple(part for part in text.split("/") if part not in ("", "."))


def _overlap(rows: _Columns, start: float, end: float) -> np.ndarray:
    """Seconds of ``[start, end)`` inside each row's ``[timestamp_s, timestamp_s + duration_s)``."""
    t, d = rows["timestamp_s"], rows["duration_s"]
    inside = np.clip(np.minimum(end, t + d) - np.maximum(start, t), 0.0, None)
    return inside.round(TIME_DECIMALS)  # far from 0 a clock's sums carry float noise


def _instant_inside(rows: _Columns, start: float, end: float) -> np.ndarray:
    """Rows that stand for no time (a source's single frame) at a time inside the window; for
    a window of no length (an instant, ``start == end``), the rows whose frame covers it."""
    t, d = rows["timestamp_s"], rows["duration_s"]
    if end == start:
        return ((t <= start) & (start < t + d)) | ((d == 0) & (t == start))
    return (d == 0) & (t >= start) & (t < end)


class _Timed(NamedTuple):
    """Analysed face rows with the time each frame stands for (``duration_s``), its top label
    (``top``), and the label names and probability columns to summarise."""

    faces: pd.DataFrame
    analysed: pd.DataFrame
    """every analysed frame (``ok`` and ``no_face``), one row per frame, with ``part`` and
    ``duration_s``"""
    names: list[str]
    measured: list[str]
    prefix: str


_KEYS = ["source", "model"]
_PART = [*_KEYS, "part"]


def has_smoothed(df: pd.DataFrame) -> bool:
    """Whether rows hold smoothed values (a ``smoothed_label`` column with a value) that
    ``smoothed=True`` can use; without them the summaries use the per-frame values."""
    return "smoothed_label" in df and bool(df["smoothed_label"].notna().any())


class PartsWarning(UserWarning):
    """Rows whose frame index or clock goes back within a source: each part is timed on its
    own. Right for runs appended or recordings joined; wrong for rows sorted or shuffled after
    mien wrote them (``mien summary`` says so itself and hides this warning)."""


def _warn_parts(analysed: pd.DataFrame) -> None:
    """Warn (:class:`PartsWarning`, at the caller of the public function) when a source's
    rows fall into several parts (``analysed`` as :func:`with_parts` marks them)."""
    import warnings

    if analysed.empty or not (analysed["part"] > 0).any():
        return
    split = analysed.groupby("source")["part"].max()
    split = split[split > 0] + 1
    warnings.warn(parts_message(dict(split.items())), PartsWarning, stacklevel=4)


def parts_message(split: Mapping[str, int]) -> str:
    """What to say of sources read in several parts (``{source: parts}``, each > 1): timed
    part by part, which is right for runs appended and wrong for rows sorted or shuffled."""
    named = ", ".join(f"{s} ({n} parts)" for s, n in list(split.items())[:3])
    more = f" and {len(split) - 3} more" if len(split) > 3 else ""
    return (
        f"the frame index or clock goes back in {named}{more}: each part is timed on its own "
        "(runs appended, recordings joined). If the rows were sorted or shuffled after mien "
        "wrote them, these figures are wrong: sort them by source and frame_index first "
        "(a stable sort keeps each frame's faces in order)."
    )


def _timed_faces(
    df: pd.DataFrame, *, smoothed: bool, skip_abstained: bool, labels: Sequence[str] | None
) -> _Timed:
    """Check ``df`` and time its face rows (see :func:`track_summary` for the rules).

    Raises:
        DatasetError: as :func:`track_summary`.
    """
    import pandas as pd

    if len(df) == 0:
        raise DatasetError(
            "no rows to summarise (every input failed, none was given, or no frame lay in "
            "the --start/--end window)"
        )
    missing = {"source", "status", "timestamp_s", "track_id", "label"} - set(df.columns)
    if missing:
        raise DatasetError(f"rows without the column(s) {sorted(missing)}: not mien results")
    if skip_abstained and "abstained" not in df:
        raise DatasetError("skip_abstained needs rows with an abstained column")
    names = list(labels) if labels is not None else [c[2:] for c in df if c.startswith("p_")]
    if not names:
        raise DatasetError("no expression labels: give labels= or rows with p_<label> columns")
    use_smoothed = smoothed and has_smoothed(df)
    prefix = "ps_" if use_smoothed and all(f"ps_{n}" in df for n in names) else "p_"
    measured = [n for n in names if f"{prefix}{n}" in df]
    df = df.assign(model=df["model"].fillna("") if "model" in df else "")
    # the damaged rows take the parts of the frames they come before (their frame_index)
    marked = with_parts(df[df["status"].isin(["ok", "no_face", DAMAGED])], _KEYS)
    damaged = marked[marked["status"] == DAMAGED]
    analysed = marked[marked["status"] != DAMAGED]
    _warn_parts(analysed)
    faces = analysed[
        (analysed["status"] == "ok") & analysed["track_id"].notna() & analysed["label"].notna()
    ]
    # a track seen twice at one timestamp (a repeated timestamp, rows of one run joined twice)
    # is one frame
    faces = faces.drop_duplicates([*_KEYS, "part", "track_id", "timestamp_s"])
    if faces.empty:
        raise DatasetError(
            "no tracked faces in these rows (no face was found, or only still images, which "
            "have no tracks)"
        )
    durations = []
    marks = {
        key: rows["timestamp_s"].dropna().to_numpy(np.float64)
        for key, rows in damaged.groupby([*_KEYS, "part"], sort=False)
    }
    for (source, model, part), rows in analysed.groupby([*_KEYS, "part"], sort=False):
        t = np.unique(rows["timestamp_s"].dropna().to_numpy(np.float64))
        durations.append(
            pd.DataFrame(
                {
                    "source": source,
                    "model": model,
                    "part": part,
                    "timestamp_s": t,
                    "duration_s": frame_durations(t, marks.get((source, model, part), ())),
                }
            )
        )
    frames = pd.concat(durations, ignore_index=True)
    faces = faces.merge(frames, on=[*_KEYS, "part", "timestamp_s"], how="left")
    top = faces["smoothed_label"].fillna(faces["label"]) if use_smoothed else faces["label"]
    faces = faces.assign(top=top.astype(object))
    if prefix == "ps_":  # a row without smoothed values (another run's) counts per-frame ones
        plain = faces["smoothed_label"].isna().to_numpy(bool)
        faces = faces.assign(**{
            f"ps_{n}": faces[f"ps_{n}"].astype("float64").mask(plain, faces[f"p_{n}"])
            for n in measured if f"p_{n}" in faces
        })  # fmt: skip
    return _Timed(faces, frames, names, measured, prefix)


def _track_row(
    key: tuple[Any, ...], rows: _Columns, w: np.ndarray, timed: _Timed, skip_abstained: bool
) -> dict[str, Any]:
    """One track's summary row from its face rows (:func:`_arrays`) and each row's weight
    ``w`` (seconds)."""
    source, model, part, track = key
    names = timed.names
    seen = float(w.sum())
    if seen == 0:  # a single analysed frame: no time to weigh by, count the frame
        w = np.ones_like(w)
    t = rows["timestamp_s"]
    abstained = rows["abstained"] if "abstained" in rows else np.zeros(len(t), bool)
    counted = np.where(abstained, 0.0, w) if skip_abstained else w
    held = rows["top"]
    share = {n: float(counted[held == n].sum()) for n in names}
    total = float(counted.sum())
    label = held_longest(share) if total > 0 else None
    row = {
        "source": source,
        "model": model,
        "part": int(part),
        "track_id": int(track),
        "first_s": float(t.min()),
        "last_s": float(t.max()),
        "frames": len(t),
        "seen_s": seen,
        "label": label,
        "tied_labels": ", ".join(tied_with(share, label)) if label else "",
    }
    scale = 1.0 / total if total > 0 else float("nan")
    row.update({f"share_{n}": share[n] * scale for n in names})
    for n in timed.measured:
        p = rows[f"{timed.prefix}{n}"]
        row[f"mean_{n}"] = float((p * counted).sum() * scale)
    if "abstained" in rows:
        row["abstained_share"] = float(w[abstained].sum() / w.sum())
    for c in BOX_COLUMNS:  # where the face was: to find the track in an annotated video
        if c in rows:
            box = rows[c][~np.isnan(rows[c])]
            row[c] = float(np.median(box)) if len(box) else float("nan")
    return row


def parts_per_source(df: pd.DataFrame) -> dict[str, int]:
    """How many parts each source's analysed rows are read in (see :func:`track_summary`):
    more than one where, in the rows' order, the frame index or the clock goes back, as in
    runs appended or recordings joined, and also in rows sorted (by track, by label) or
    shuffled after mien wrote them, whose summaries are then wrong.

    Args:
        df: rows as :func:`track_summary` takes them (``source``, ``status``,
            ``timestamp_s``; ``frame_index`` to find parts).

    Returns:
        ``{source: parts}`` for the sources with analysed (``ok``/``no_face``) rows.
    """
    analysed = df[df["status"].isin(["ok", "no_face"])]
    analysed = analysed.assign(model=analysed["model"].fillna("") if "model" in df else "")
    parts = with_parts(analysed, _KEYS)
    if parts.empty:
        return {}
    return {str(k): int(v) + 1 for k, v in parts.groupby("source")["part"].max().items()}


def with_parts(analysed: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
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
    for a stream of frames, in little memory (the last 16 steps, and per track its time per
    label).

    Args:
        labels: the expression labels in the model's order, which breaks ties between labels
            held equally long, as :func:`track_summary` does (default: the order first seen).
        hold_s: a step up to this long counts as the earlier frame held on screen
            (:data:`~mien.tracking.iou.MAX_HOLD_S`, as :func:`frame_durations`); ``0`` for a
            live source, where a step is an outage (as its tracker is told).

    Example:
        >>> times = TrackTimes()
        >>> times.add(0.0, {1: "neutral"})
        >>> times.add(0.1, {1: "happiness"}, abstained={1})
        >>> times.add(0.2, {1: "happiness"})
        >>> times.add(0.3, {})  # a frame without a face
        >>> times.tracks()[0].text()  # track 1: happiness for 0.2 of its 0.3 s
        '#1 happiness 67% of 0.3 s (33% abstained)'
    """

    def __init__(self, labels: Sequence[str] = (), *, hold_s: float = MAX_HOLD_S) -> None:
        self._order = {label: k for k, label in enumerate(labels)}
        self.hold_s = hold_s
        # the last steps of the current part (since the clock last went back)
        self._window: collections.deque[float] = collections.deque(maxlen=STEP_WINDOW)
        self._last_t: float | None = None
        self._pending: dict[int, str] = {}
        self._pending_abstained: set[int] = set()
        self._seconds: dict[int, dict[str, float]] = {}
        self._frames: dict[int, dict[str, int]] = {}
        self._abstained: dict[int, list[float]] = {}  # track -> [seconds, frames]

    def add(
        self,
        timestamp_s: float,
        labels: dict[int, str],
        abstained: Collection[int] = (),
        damaged_from_s: float | None = None,
    ) -> None:
        """One analysed frame: its timestamp in seconds, ``{track_id: top label}`` of the
        faces in it (empty for a frame without a face), the track ids whose prediction
        abstained and, where damaged data was left out just before it, where that began
        (seconds). Frames come in order; one at the previous timestamp joins that frame, and
        one earlier than it (the clock went back) ends the part before it, whose last frame
        takes the median of that part's last steps, as in :func:`track_summary`; so does a
        frame before a hole, as :func:`frame_durations` says, and the frame before damage
        stands for the time up to it at most."""
        if self._last_t is not None and timestamp_s == self._last_t:
            for track, label in labels.items():  # the first row of a track at a time counts
                if track not in self._pending:
                    self._pending[track] = label
                    if track in abstained:
                        self._pending_abstained.add(track)
            return
        if self._last_t is not None and timestamp_s < self._last_t:
            self._credit(self._median())
            self._window.clear()
        elif self._last_t is not None:
            step = timestamp_s - self._last_t
            # judged by the steps before it, as the tracker does; a hole counts as one of them
            local = float(np.median(self._window)) if self._window else step
            self._window.append(step)
            credit = local if is_hole(step, local, self.hold_s) else step
            if damaged_from_s is not None and damaged_from_s <= timestamp_s:
                credit = min(credit, max(damaged_from_s - self._last_t, 0.0))
            self._credit(credit)
        self._last_t, self._pending = timestamp_s, dict(labels)
        self._pending_abstained = set(abstained) & set(labels)

    def add_rows(self, timestamp_s: float, rows: Sequence[Mapping[str, Any]]) -> None:
        """One analysed frame from its rows (:func:`mien.export.result_rows`): each tracked
        face's per-frame ``label`` and ``abstained``, and a ``damaged`` row's time, as
        :meth:`add` takes them."""
        tracked = [r for r in rows if r.get("track_id")]
        marks = [float(r["timestamp_s"]) for r in rows if r.get("status") == DAMAGED]
        self.add(
            timestamp_s,
            {int(r["track_id"]): str(r["label"]) for r in tracked},
            {int(r["track_id"]) for r in tracked if r["abstained"]},
            min(marks) if marks else None,
        )

    def _median(self) -> float:
        return float(np.median(self._window)) if self._window else 0.0

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
        # the last frame takes the median of the last steps (on copies: more frames may follow)
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
                    seen_s=round(seen, TIME_DECIMALS),  # as track_summary's steps
                    abstained_share=(a_seconds if by_time else a_frames) / total,
                    tied_labels=tuple(tied_with(ordered, label)),
                )
            )
        return sorted(out, key=lambda r: (-r.seen_s, r.track_id))


__all__ = [
    "WINDOW_COLUMNS",
    "TimeWindowsError",
    "TrackLine",
    "TrackTimes",
    "frame_durations",
    "has_smoothed",
    "parts_per_source",
    "read_windows",
    "track_summary",
    "window_summary",
]
