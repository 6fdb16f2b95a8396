"""Plots of results: each track's perceived-expression probabilities over time (matplotlib)."""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

from mien.errors import DatasetError
from mien.types import whole_number

DTYPES = {"string": "string", "int": "Int64", "bool": "boolean", "float": "float64"}
"""A column kind of :func:`mien.export.column_types` -> the pandas dtype :func:`read_rows`
gives it."""

_CSV_NA = (
    *("", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND"),
    *("1.#QNAN", "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null"),
)  # pandas' default missing-value markers (read_csv's ``na_values`` docs)


class TracksLeftOut(UserWarning):
    """:func:`plot_tracks` drew only the ``shown`` longest of the rows' ``total`` tracks."""

    def __init__(self, shown: int, total: int) -> None:
        self.shown, self.total = shown, total
        super().__init__(
            f"drew the {shown} longest of {total} tracks; {total - shown} left out "
            "(raise max_tracks to see them)"
        )


def row_dtypes(columns: Sequence[str]) -> dict[str, str]:
    """Column -> pandas dtype for the mien columns among ``columns`` (:data:`DTYPES` of
    :func:`mien.export.column_types`): ``string``, ``Int64``, ``boolean`` or ``float64``.

    The expression labels are taken from the ``p_<label>`` columns present, so ``p_*`` and
    ``ps_*`` of any model are known; other columns are left out.
    """
    from mien.export import column_types

    kinds = column_types([c[2:] for c in columns if c.startswith("p_")])
    return {c: DTYPES[kinds[c]] for c in columns if c in kinds}


def _blank_file(path: Path) -> bool:
    """Empty, or only white space (a line break)."""
    size = path.stat().st_size
    return size == 0 or (size <= 64 and not path.read_bytes().strip())


def _read_csv(path: Path) -> pd.DataFrame:
    import pandas as pd

    header = [str(c) for c in pd.read_csv(path, nrows=0).columns]
    text = [c for c, dtype in row_dtypes(header).items() if dtype == "string"]
    # text is read as text ("001" stays "001"), and only an empty field is missing there (a
    # file or label named "NA" stays); the other columns are cast by _typed
    na = {c: [""] if c in text else list(_CSV_NA) for c in header}
    cells = _last_row_cells(path)
    if 0 < cells < len(header):
        raise DatasetError(
            f"{path}: the last row has {cells} of the header's {len(header)} cells: the file "
            "ends mid-row (copied while mien was still writing it?); remove that row"
        )
    return pd.read_csv(
        path, dtype=dict.fromkeys(text, "string"), keep_default_na=False, na_values=na
    )


def ends_with_line_break(path: Path) -> bool:
    """Whether the file ends with a line break, as every results file mien finished does
    (an empty file counts as ending so)."""
    with open(path, "rb") as f:
        f.seek(0, os.SEEK_END)
        if f.tell() == 0:
            return True
        f.seek(-1, os.SEEK_END)
        return f.read(1) in (b"\n", b"\r")


def _last_row_cells(path: Path) -> int:
    """How many cells the last record of a CSV that does not end with a line break holds (0
    when it ends with one, as every file mien finished does, or holds only a header): a row
    cut short by a copy made mid-write has fewer than the header. The file is parsed as CSV
    only in that case (a quoted cell may hold a line break)."""
    import csv

    if ends_with_line_break(path):
        return 0
    with open(path, encoding="utf-8", errors="replace", newline="") as f:
        last, count = [], 0
        for last in csv.reader(f):  # noqa: B007 (the loop keeps the last record)
            count += 1
    return len(last) if count > 1 else 0


def _read_json(path: Path, *, lines: bool) -> pd.DataFrame:
    """Rows of a JSON array or of JSON Lines, each number parsed exactly by Python (``0.066667``
    stays ``0.066667``) and no type guessed from the values (``"2"`` stays text)."""
    import pandas as pd

    with open(path, encoding="utf-8") as f:
        if not lines:
            records = json.load(f)
        else:
            records = []
            for number, line in enumerate(f, start=1):
                if not line.strip():
                    continue
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError as e:
                    cut = not line.endswith("\n")  # the last line, without its line break
                    hint = ": the file ends mid-row (copied while mien was writing it?)"
                    raise ValueError(f"line {number}: {e.msg}{hint if cut else ''}") from e
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise ValueError("expected row objects (a JSON array of them, or one per line)")
    return pd.DataFrame.from_records(records)


def _typed(df: pd.DataFrame, path: Path) -> pd.DataFrame:
    """``df`` with each mien column in its :func:`row_dtypes` dtype; an empty string counts as
    missing in a string column, as it must in CSV."""
    import pandas as pd

    for column, dtype in row_dtypes([str(c) for c in df.columns]).items():
        try:
            values = df[column].astype(dtype)
        except (TypeError, ValueError) as err:
            raise DatasetError(f"{path}: column {column!r} is not {dtype} ({err})") from err
        df[column] = values.replace("", pd.NA) if dtype == "string" else values
    return df


def read_rows(path: str | Path) -> pd.DataFrame:
    """Rows written by ``mien analyze`` / ``mien watch`` (CSV, JSON Lines, JSON or Parquet), or
    a folder of Parquet files (``mien batch``'s ``parts/``), with the same dtypes whatever the
    format.

    Each column of mien's row schema gets the pandas dtype of its kind in
    :func:`mien.export.column_types` (see :func:`row_dtypes`): text (``source``, ``status``,
    ``label``, ``schema_version``…) ``string``; ``frame_index``, ``image_width``,
    ``image_height``, ``face``, ``track_id`` ``Int64``; ``abstained``, ``truncated``,
    ``quality_ok`` ``boolean``; the rest (``timestamp_s`` in seconds, boxes in pixels,
    probabilities ``p_*``/``ps_*`` in [0, 1], quality measures) ``float64``. Missing values are
    ``<NA>`` (``NaN`` in float columns), and an empty string is missing (CSV cannot tell them
    apart), so ``df[~df.abstained]`` keeps the faces that did not abstain. Numbers come back as
    written (``0.066667``, not ``0.06666699999999999``). Columns outside the schema keep the
    dtype the format reader gives them.

    Raises:
        DatasetError: the file is missing, of an unknown kind, not readable in its format or
            not in mien's row schema (a schema column whose values do not fit its dtype); the
            folder holds no ``.parquet`` file.
    """
    import pandas as pd

    if not os.fspath(path):
        raise DatasetError("'': empty path (give a results file or a parts/ folder)")
    path = Path(path)
    if path.is_dir():
        parts = sorted(path.glob("*.parquet"))
        if not parts:
            hint = (
                f"mien batch writes its rows to {path / 'parts'}: give that folder"
                if any((path / "parts").glob("*.parquet"))
                else "give a results file"
            )
            raise DatasetError(f"{path}: a folder without .parquet files ({hint})")
    elif not path.is_file():
        raise DatasetError(f"{path}: no such file")
    suffix = path.suffix.lower()
    try:
        if path.is_dir():
            df = _read_parts(parts)
        elif suffix == ".csv":
            df = pd.DataFrame() if _blank_file(path) else _read_csv(path)
        elif suffix in (".jsonl", ".json"):
            df = _read_json(path, lines=suffix == ".jsonl")
        elif suffix == ".parquet":
            df = pd.read_parquet(path)
        else:
            raise DatasetError(
                f"{path}: unknown results format (use .csv, .jsonl, .json, .parquet)"
            )
    except DatasetError:
        raise
    except (ValueError, TypeError, OSError) as err:  # JSONDecodeError, UnicodeDecodeError too
        raise DatasetError(f"{path}: cannot read results ({err})") from err
    if suffix in (".jsonl", ".json", ".csv") and len(df) == 0 and len(df.columns) == 0:
        # a run that gave no row (--start past the end) wrote an empty file or []: no
        # columns to check; the schema's, without probabilities (an empty .csv, which mien
        # never writes, is taken alike: "no rows", not "cannot read")
        from mien.export.rows import row_columns

        df = pd.DataFrame(columns=row_columns([]))
    missing = {"source", "status", "timestamp_s", "track_id"} - set(df.columns)
    if missing:
        raise DatasetError(f"{path}: not mien results (missing columns {sorted(missing)})")
    return _typed(df, path)


def _read_parts(parts: list[Path]) -> pd.DataFrame:
    """The rows of ``mien batch``'s Parquet parts, in file order: read as one dataset where
    every part has one schema (937 one-photo parts: 1.8 s, against 5.1 s one file at a time),
    else file by file, keeping every column (a dataset takes the first part's schema and would
    drop a column the others add: parts of several versions copied together)."""
    import pandas as pd
    import pyarrow.parquet as pq

    files = [str(p) for p in parts]
    try:
        schemas = [pq.read_schema(f) for f in files]  # footers only: 0.3 s for those 937
        # page checksums verified (where written: mien's own since 0.2.18), so a damaged
        # part is named, not read as wrong numbers
        if all(schema.equals(schemas[0]) for schema in schemas):
            dataset = pq.ParquetDataset(files, schema=schemas[0], page_checksum_verification=True)
            return dataset.read().to_pandas()
        return pd.concat(
            [pd.read_parquet(f, page_checksum_verification=True) for f in files],
            ignore_index=True,
        )
    except (OSError, ValueError):
        from mien.export.sinks import read_parquet_whole

        for f in files:  # name the part that fails
            try:
                read_parquet_whole(f)
            except (OSError, ValueError) as err:
                raise DatasetError(
                    f"{f}: a damaged Parquet part ({err}); delete it and run the mien batch "
                    "command that wrote it again: it redoes missing parts"
                ) from err
        raise


def track_breaks(positions: np.ndarray, analysed: np.ndarray) -> np.ndarray:
    """Where a track's line must break: between two consecutive points of the track that
    enclose an analysed frame of its source in which the track is absent.

    Args:
        positions: ``(n,)`` the track's frame indices (or timestamps), in drawing order.
        analysed: ``(m,)`` frame indices (or timestamps, as ``positions``) of every frame of
            the source that was analysed, in any order, repeats allowed.

    Returns:
        ``(max(n - 1, 0),)`` bool: True between points ``i`` and ``i + 1`` when an analysed
        frame lies strictly between them. Frames never sampled (``--fps``, ``--every``, a
        variable frame rate) leave no rows, so they never break a line.
    """
    pos = np.asarray(positions, np.float64)
    frames = np.unique(np.asarray(analysed, np.float64))
    lo, hi = np.minimum(pos[:-1], pos[1:]), np.maximum(pos[:-1], pos[1:])
    inside = np.searchsorted(frames, hi, "left") - np.searchsorted(frames, lo, "right")
    return inside > 0


def isolated(breaks: np.ndarray) -> np.ndarray:
    """``(n,)`` bool: the points of a track with a break on each side (or a track of one
    point), which a line cannot show, from the ``(n - 1,)`` breaks of :func:`track_breaks`."""
    b = np.asarray(breaks, bool)
    edge = np.ones(1, bool)
    return np.concatenate([edge, b]) & np.concatenate([b, edge])


def with_gaps(
    t: np.ndarray, breaks: np.ndarray, ends: np.ndarray
) -> tuple[np.ndarray, Callable[[np.ndarray], np.ndarray]]:
    """Times of one track for a step line that holds each value for the time its frame
    stands for and breaks where ``breaks`` says (:func:`track_breaks`).

    Args:
        t: ``(n,)`` sorted timestamps in seconds.
        breaks: ``(n - 1,)`` bool, True to break between points ``i`` and ``i + 1``.
        ends: ``(n,)`` seconds where each point's time ends (its timestamp plus its
            :func:`mien.summary.frame_durations` step, as the summaries count it).

    Returns:
        ``(times, cut)``: times with, after each point before a break and after the last
        point, that point's end; and a function that puts NaN at those added points of an
        ``(n,)`` series. Drawn with ``drawstyle="steps-post"``, each value then holds until
        its end and the line stops there (matplotlib breaks a line at NaN).
    """
    t = np.asarray(t, np.float64)
    e = np.asarray(ends, np.float64)
    at = np.append(np.flatnonzero(np.asarray(breaks, bool)) + 1, len(t))
    times = np.insert(t, at, np.maximum(e[at - 1], t[at - 1]))
    return times, lambda values: np.insert(np.asarray(values, np.float64), at, np.nan)


def short_names(sources: Sequence[str]) -> dict[str, str]:
    """The shortest trailing part of each path that tells it from the others: ``p01/s1.mp4``
    and ``p02/s1.mp4`` for two ``s1.mp4`` files, just ``a.mp4`` where the name is unique."""
    parts = {s: Path(s).parts or (s,) for s in set(sources)}
    out = {}
    for s, p in parts.items():
        k = 1
        while k < len(p) and any(q[-k:] == p[-k:] for o, q in parts.items() if o != s):
            k += 1
        out[s] = Path(*p[-k:]).as_posix()
    return out


def shade_abstained(ax: Any, rows: pd.DataFrame, ends: np.ndarray) -> None:
    """Grey bands where a track's per-frame prediction abstained, each frame's from its
    timestamp to its ``ends`` entry (seconds; as :func:`with_gaps` takes them)."""
    t = rows["timestamp_s"].to_numpy(np.float64)
    abstained = rows["abstained"].fillna(False).to_numpy(bool)
    if not abstained.any():
        return
    start = None
    for i, a in enumerate(abstained):  # one band per run of abstained frames
        if a and start is None:
            start = t[i]
        if start is not None and (not a or i == len(t) - 1):
            end = ends[i] if a else ends[i - 1]  # the run ended at the frame before
            ax.axvspan(start, max(end, start + 1e-3), color="0.85", zorder=0, linewidth=0)
            start = None


def frame_ends(t: np.ndarray, times: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """``(n,)`` seconds where the time of each of a track's points ends.

    Args:
        t: ``(n,)`` the track's timestamps, seconds.
        times: ``(m,)`` sorted unique timestamps of every analysed frame of its source.
        steps: ``(m,)`` their :func:`mien.summary.frame_durations` (the next analysed frame;
            before a hole or at the end, the usual step).
    """
    t = np.asarray(t, np.float64)
    if not len(times):
        return t
    at = np.clip(np.searchsorted(times, t), 0, len(times) - 1)
    return t + np.where(np.isclose(times[at], t, rtol=0, atol=1e-9), steps[at], 0.0)


def median_box_text(rows: pd.DataFrame) -> str:
    """`` · box x 120–260, y 80–240 px``: a track's median box (pixels), to tell which face in
    the frame it is; empty without box columns."""
    box = ["x1", "y1", "x2", "y2"]
    if not set(box) <= set(rows.columns) or rows[box].isna().all().any():
        return ""
    x1, y1, x2, y2 = (round(float(v)) for v in rows[box].median())
    return f" · box x {x1}–{x2}, y {y1}–{y2} px"


def plot_tracks(df: pd.DataFrame, *, max_tracks: int = 12, title: str | None = None) -> Figure:
    """One panel per track: each label's probability (y, 0–1) against time in seconds (x).

    Smoothed probabilities (``ps_*``) are drawn solid and the raw per-frame ones (``p_*``)
    faint, both as steps: a frame's value holds for the time :func:`mien.summary.track_summary`
    gives its frame (until the next analysed frame; before a hole and after the last frame,
    the usual step), so neither line seems to change a sample before the other and no value is
    drawn into time its face was absent; grey bands mark frames whose prediction abstained
    (with an ``abstained`` column).
    Tracks are taken per source (and per model, when rows of several models were joined, and
    per part, as :func:`mien.summary.track_summary` reads runs appended or recordings joined:
    such panels say ``part k``, numbered from 0 as the summaries' ``part`` column), the
    longest ``max_tracks``, and shown per source in time order; the panels of one source
    share its analysed time span on x. Each panel names its source by the shortest end of
    its path that tells it from the others (``p01/session1.mp4``), its model, and where the
    face was: the track's median box in pixels (with box columns), to match it with the
    ``#track`` labels of an annotated video. When
    there are more tracks, the figure's title says how many were left out and a
    :class:`TracksLeftOut` warning is issued.

    A line breaks only where its track is absent from frames that were analysed: rows (``ok``
    or ``no_face``) of the same source and model whose ``frame_index`` lies between two
    consecutive points of the track (``timestamp_s`` where ``frame_index`` is missing). So a
    gap is never drawn as if the face had been there, and a face present in every analysed
    frame is one unbroken line however irregular the timestamps (variable frame rate,
    ``--fps``/``--every`` sampling, dropped live frames).

    Args:
        df: rows as :func:`read_rows` gives them (``source``, ``status``, ``track_id``,
            ``timestamp_s``, ``p_*``; ``model``, ``frame_index`` and ``ps_*`` when present).
        max_tracks: draw at most this many tracks, the longest first (time seen, as
            :func:`mien.summary.track_summary` counts it).
        title: the figure's title (default: what the lines show).

    Raises:
        DatasetError: the rows hold no tracked faces (e.g. still images only), or lack
            mien's ``source``, ``status``, ``timestamp_s`` or ``track_id`` columns.
        ValueError: ``max_tracks`` is not a whole number >= 1.
    """
    from matplotlib.figure import Figure

    whole_number(max_tracks, "max_tracks", 1)

    missing = {"source", "status", "timestamp_s", "track_id"} - set(df.columns)
    if len(df.columns) == 0:
        raise DatasetError("no rows to plot (every input failed, or none was given)")
    if missing:
        raise DatasetError(f"rows without the column(s) {sorted(missing)}: not mien results")
    df = df.assign(model=df["model"].fillna("") if "model" in df else "")
    faces = df[(df["status"] == "ok") & df["track_id"].notna()]
    if faces.empty:
        raise DatasetError(
            "no tracked faces in these results (no face was found, or only still images, which "
            "have no tracks)"
        )
    from mien.export.rows import DAMAGED
    from mien.summary import frame_durations, with_parts

    labels = [c[2:] for c in df.columns if c.startswith("p_")]
    # runs appended or recordings joined are read in parts, as the summaries read them
    marked = with_parts(
        df[df["status"].isin(["ok", "no_face", DAMAGED])], ["source", "model"]
    )  # the damaged rows take the parts of the frames they come before
    damaged = marked[marked["status"] == DAMAGED]
    analysed = marked[marked["status"] != DAMAGED]
    faces = analysed[(analysed["status"] == "ok") & analysed["track_id"].notna()]
    several = {k for k, n in analysed.groupby(["source", "model"])["part"].max().items() if n}
    # per source, model and part: where damaged data was left out (nothing seen from there to
    # the next frame: a track's line breaks there and its last value ends there)
    marks = {
        key: rows["timestamp_s"].dropna().to_numpy(np.float64)
        for key, rows in damaged.groupby(["source", "model", "part"])
    }
    clocks = {}  # per source, model and part: its analysed rows, frame times and their steps
    for key, same in analysed.groupby(["source", "model", "part"]):
        times = np.unique(same["timestamp_s"].dropna().to_numpy(np.float64))
        clocks[key] = (same, times, frame_durations(times, marks.get(key, ())))
    seen: list[tuple[tuple, pd.DataFrame, np.ndarray]] = []
    for key, rows in faces.groupby(["source", "model", "part", "track_id"]):
        rows = rows.sort_values("timestamp_s", kind="stable")
        _, times, steps = clocks[key[:3]]
        seen.append((key, rows, frame_ends(rows["timestamp_s"].to_numpy(), times, steps)))
    # the longest tracks (time seen, as the summaries count it), then in time order per
    # source; each source's panels share its time axis
    seen.sort(key=lambda g: -float((g[2] - g[1]["timestamp_s"].to_numpy(np.float64)).sum()))
    n_tracks, groups = len(seen), seen[:max_tracks]
    groups.sort(
        key=lambda g: (str(g[0][0]), str(g[0][1]), g[0][2], g[1]["timestamp_s"].min(), g[0][3])
    )
    names = short_names([str(g[0][0]) for g in groups])
    left_out = ""
    if n_tracks > len(groups):
        left_out = f"the {len(groups)} longest of {n_tracks} tracks shown"
        warnings.warn(TracksLeftOut(len(groups), n_tracks), stacklevel=2)
    spans = analysed.groupby(["source", "model", "part"])["timestamp_s"].agg(["min", "max"])
    fig = Figure(figsize=(10, 2.2 * len(groups) + 0.6), layout="constrained")
    axes = fig.subplots(len(groups), 1, squeeze=False, sharex=False)[:, 0]
    colours = [f"C{i}" for i in range(len(labels))]
    any_abstained = False
    for ax, ((source, model, part, track), rows, ends) in zip(axes, groups, strict=True):
        same, times, steps = clocks[(source, model, part)]
        key = "frame_index"
        if key not in rows or rows[key].isna().any():
            key = "timestamp_s"  # rows without frame indices (hand-made, or older files)
        frames = same[key].dropna().to_numpy(np.float64)
        breaks = track_breaks(rows[key].to_numpy(np.float64), frames)
        if (source, model, part) in marks:
            at = rows["timestamp_s"].to_numpy(np.float64)
            breaks |= track_breaks(at, marks[(source, model, part)])
        t, cut = with_gaps(rows["timestamp_s"].to_numpy(np.float64), breaks, ends)
        alone = isolated(breaks)  # points no line reaches: drawn as dots
        t_alone = rows["timestamp_s"].to_numpy(np.float64)[alone]
        for label, colour in zip(labels, colours, strict=True):
            raw = cut(rows[f"p_{label}"])
            main = f"p_{label}"
            if f"ps_{label}" in rows and rows[f"ps_{label}"].notna().any():
                main = f"ps_{label}"
                # each value holds until the next analysed frame (as track_summary weighs
                # it): both lines as steps, so neither seems to change a sample early
                ax.plot(t, raw, color=colour, alpha=0.4, linewidth=0.8, drawstyle="steps-post")
                smooth = cut(rows[main])
                ax.plot(t, smooth, color=colour, linewidth=1.6, label=label, drawstyle="steps-post")
            else:
                ax.plot(t, raw, color=colour, linewidth=1.2, label=label, drawstyle="steps-post")
            if alone.any():
                values = rows[main].to_numpy(np.float64)[alone]
                ax.plot(t_alone, values, color=colour, linestyle="none", marker="o", markersize=3)
        if "abstained" in rows:
            shade_abstained(ax, rows, ends)
            any_abstained |= bool(rows["abstained"].fillna(False).any())
        ax.set_ylim(-0.03, 1.03)  # lines at exactly 0 or 1 stay visible
        lo, hi = spans.loc[(source, model, part)]
        hi = max(hi, float(times[-1] + steps[-1]))  # the last frame's time too
        pad = max(0.02 * (hi - lo), 0.5 if hi == lo else 0.0)
        ax.set_xlim(lo - pad, hi + pad)  # the source's analysed time: its panels align
        ax.set_ylabel("probability")
        ax.set_xlabel("time (s)", fontsize=8)
        in_part = f" · part {part}" if (source, model) in several else ""
        ax.set_title(
            f"{names[str(source)]}{in_part} · track {int(track)} · {len(rows)} "
            + ("frame" if len(rows) == 1 else "frames")
            + (f" · {model}" if model else "")
            + median_box_text(rows),
            fontsize=9,
        )
        ax.grid(alpha=0.3)
    handles, names = axes[0].get_legend_handles_labels()  # one legend, below every panel
    fig.legend(handles, names, ncol=len(labels), fontsize=7, loc="outside lower center")
    heading = title or (
        "perceived expression per track (solid: smoothed, faint: per frame; each value holds "
        "until the next frame" + ("; grey: abstained" if any_abstained else "") + ")"
    )
    fig.suptitle(heading + (f"\n{left_out}" if left_out else ""), fontsize=10)
    return fig
