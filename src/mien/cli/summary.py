"""``mien summary``: a table per track (or per time window and track) from result rows."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mien.cli.common import (
    ResultsFile,
    dash_is_stdout,
    err,
    fail,
    plural,
    quiet_stdout,
    same_file,
    unwritable,
)

if TYPE_CHECKING:
    import pandas as pd

TABLE_SUFFIXES = (".csv", ".parquet", ".jsonl", ".json")


def summary(
    results: ResultsFile,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="Table to write: .csv, .parquet, .jsonl or .json (default, or -: CSV to stdout).",
        ),
    ] = None,
    windows: Annotated[
        Path | None,
        typer.Option(
            help="A comma-separated UTF-8 CSV of time windows: start_s, end_s in seconds on the "
            "rows' timestamp_s clock (not hh:mm:ss); optional source, the video each belongs "
            "to (its path, or the end of it); any other columns, such as an utterance's text, "
            "are carried over as text. Gives one row per window and track seen in it, instead "
            "of one per track."
        ),
    ] = None,
    smoothed: Annotated[
        bool,
        typer.Option(
            "--smoothed",
            help="Use the smoothed columns (ps_*, smoothed_label); they lag the face by about "
            "the smoother's tau.",
        ),
    ] = False,
    skip_abstained: Annotated[
        bool,
        typer.Option(
            "--skip-abstained",
            help="Leave frames whose prediction abstained out of the label, shares and means "
            "(abstained_share still counts them).",
        ),
    ] = False,
) -> None:
    """Summarise each track: time seen, the label held longest, time shares and mean
    probabilities, and its median box; with --windows, the same over each window's time.

    Frames are weighted by the time they stand for (up to the next analysed frame), not
    counted. Exit status 1 when the results hold no tracked face, 2 for a file that is not
    mien's results, unusable windows or an unusable --out.
    """
    import warnings

    from mien.errors import DatasetError
    from mien.plots import read_rows
    from mien.summary import (
        PartsWarning,
        TimeWindowsError,
        read_windows,
        track_summary,
        window_summary,
    )

    out = dash_is_stdout(out)
    if out is not None:
        if out.suffix.lower() not in TABLE_SUFFIXES:
            fail(f"--out {out}: use a .csv, .parquet, .jsonl or .json file name")
        if problem := unwritable(out, "--out"):
            fail(problem)
        if same_file(out, [results, *([windows] if windows is not None else [])]) is not None:
            fail(f"--out {out}: it would overwrite an input")
        if results.is_dir() and same_file(out.parent, [results]) is not None:  # parts/
            fail(f"--out {out}: inside the folder of results read ({results}); write elsewhere")
    table_of_windows = None
    if windows is not None:
        try:
            table_of_windows = read_windows(windows)
        except TimeWindowsError as e:
            fail(f"--windows {e}")
    try:
        rows = read_rows(results)
    except DatasetError as e:  # not a results file: a usage error (2)
        fail(str(e))
    if skip_abstained and "abstained" not in rows:
        fail(f"{results}: --skip-abstained needs rows with an abstained column")
    _warn_smoothed(rows, results, smoothed)
    try:
        with warnings.catch_warnings():  # _warn_in_order says it, naming the results file
            warnings.simplefilter("ignore", PartsWarning)
            if table_of_windows is None:
                table = track_summary(rows, smoothed=smoothed, skip_abstained=skip_abstained)
            else:
                table = window_summary(
                    rows, table_of_windows, smoothed=smoothed, skip_abstained=skip_abstained
                )
    except TimeWindowsError as e:
        fail(f"--windows {windows}: {e}")
    except DatasetError as e:
        no_tracks = str(e).startswith(("no tracked faces", "no rows"))
        if no_tracks:  # the inputs that failed are why, where some did
            _warn_untimed(rows)
        fail(f"{results}: {e}", code=1 if no_tracks else 2)
    _warn_cut(results)
    _warn_damaged(rows)
    _warn_in_order(rows, results)
    if table_of_windows is not None:
        _warn_outside(table, rows)
    try:
        _write(table, out)
    except BrokenPipeError:  # `mien summary … | head`: the reader has what it wanted
        quiet_stdout()
        return
    except OSError as e:
        fail(f"could not write {out or 'to standard output'}: {e.strerror or e}", code=1)
    if out is not None:
        if table_of_windows is not None:
            err.print(f"wrote {plural(len(table), 'window row')} to {out}")
        else:
            blank = int(table["track_id"].isna().sum())
            none = f" and {plural(blank, 'source')} without a face" if blank else ""
            err.print(f"wrote {plural(len(table) - blank, 'track')}{none} to {out}")
    if table_of_windows is None:
        _warn_untimed(rows)


def _write(table: pd.DataFrame, out: Path | None) -> None:
    """``table`` to ``out`` in the format its suffix names (CSV to stdout without ``out``).
    Numbers keep 15 significant digits in CSV and JSON: a long clock's times
    (``95443.717678``) come back as written, sums of frame steps print as ``1.7``, not
    ``1.7000000000000002``."""
    import json

    suffix = ".csv" if out is None else out.suffix.lower()
    if suffix == ".csv":
        target = typer.get_text_stream("stdout") if out is None else out
        table.to_csv(target, index=False, float_format="%.15g")
    elif suffix == ".parquet":
        table.to_parquet(out, index=False)
    else:
        records = [{k: _json_value(v) for k, v in row.items()} for row in table.to_dict("records")]
        with open(out, "w", encoding="utf-8") as f:
            if suffix == ".jsonl":
                f.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
            else:
                json.dump(records, f, ensure_ascii=False, indent=1)
                f.write("\n")


def _json_value(value: object) -> object:
    """A cell as JSON takes it: numbers rounded to 15 significant digits (as in the CSV),
    missing values (NaN, ``<NA>``, ``None``) as null, text as the row sinks write it."""
    import math

    import numpy as np
    import pandas as pd

    from mien.export.sinks import _clean

    if value is None or value is pd.NA:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isfinite(value):
        return float(f"{value:.15g}")
    if isinstance(value, float) and math.isinf(value):
        return None
    return _clean(value)  # NaN as null, text as the row sinks write it


def _warn_smoothed(rows: pd.DataFrame, results: Path, smoothed: bool) -> None:
    """Say when ``--smoothed`` cannot use the smoothed columns, wholly or in part."""
    from mien.summary import has_smoothed

    if not smoothed:
        return
    if not has_smoothed(rows):
        err.print(
            f"{results}: no smoothed columns (smoothed_label, ps_*): per-frame values used",
            style="yellow",
        )
        return
    analysed = rows[(rows["status"] == "ok") & rows["track_id"].notna()]  # stills have none
    smoothed_any = analysed["smoothed_label"].notna().groupby(analysed["source"]).any()
    plain = sorted(str(v) for v in smoothed_any.index[~smoothed_any.to_numpy(bool)])
    if plain:
        err.print(
            f"{results}: no smoothed values for {len(plain)} source(s), whose per-frame values "
            f"are used: {', '.join(plain[:3])}{' …' if len(plain) > 3 else ''}",
            style="yellow",
        )
    labels = [c[2:] for c in rows if c.startswith("p_")]
    if not all(f"ps_{n}" in rows for n in labels):
        err.print(
            f"{results}: smoothed labels but not every ps_ column: the means are per-frame",
            style="yellow",
        )


def _warn_in_order(rows: pd.DataFrame, results: Path) -> None:
    """Say which sources were read in several parts: where the frame index or the clock goes
    back in the rows' order, as in recordings joined or runs appended, but also in rows that
    were sorted (by track, by label) or shuffled after mien wrote them, whose figures are then
    wrong."""
    from mien.summary import parts_message, parts_per_source

    split = {s: n for s, n in parts_per_source(rows).items() if n > 1}
    if split:
        err.print(f"{results}: {parts_message(split)}", style="yellow")


def _warn_untimed(rows: pd.DataFrame) -> None:
    """Name the sources the per-track table leaves out: still images, and inputs that failed
    (a participant's recording must not vanish without a word)."""
    from mien.summary import untimed_sources

    still, failed = untimed_sources(rows)
    if still:
        err.print(
            f"left out: {plural(len(still), 'still image')} (faces, but no tracks to time; "
            f"e.g. {', '.join(still[:3])})",
            style="dim",
            markup=False,
        )
    for source, error in list(failed.items())[:10]:
        err.print(
            f"not in the table: {source} could not be read ({error})", style="yellow", markup=False
        )
    if len(failed) > 10:
        err.print(f"… and {len(failed) - 10} more sources that could not be read", style="yellow")


def _warn_damaged(rows: pd.DataFrame) -> None:
    """Name the videos whose damaged data was left out where rows made before mien 0.2.20 do
    not mark where (no ``damaged`` rows), so the summary times each stretch left out (up to
    10 s) as the frame before it held on screen."""
    from mien.export.rows import DAMAGED
    from mien.io.video import DAMAGED_DATA

    if "error" not in rows:
        return
    damaged = rows["error"].astype("string").str.contains(DAMAGED_DATA, regex=False)
    status = rows["status"].astype("string")
    ok = status.isin(["ok", "no_face"])
    marked = set(rows.loc[(status == DAMAGED).fillna(False).astype(bool), "source"].astype(str))
    sources = sorted(set(rows.loc[damaged.fillna(False).astype(bool), "source"].astype(str)))
    if "schema_version" in rows:  # rows of schema 4 mark every stretch they can place: damage
        # before the first frame or after the last one has no frame to mark
        import pandas as pd

        schema = pd.to_numeric(rows["schema_version"].astype("string"), errors="coerce")
        new = set(rows.loc[(schema >= 4).fillna(False).astype(bool), "source"].astype(str))
        marked |= new
    sources = [s for s in sources if s not in marked]
    for source in [s for s in sources if (ok & (rows["source"].astype(str) == s)).any()][:10]:
        err.print(
            f"{source}: damaged data was left out (its error row says where), and these rows "
            "(from before mien 0.2.20) do not mark where; the time of each stretch left out, "
            "up to 10 s, counts as the frame before it held, so seen_s and shares there can "
            "include time no frame was analysed (analyse the video again to have it marked)",
            style="yellow",
            markup=False,
        )


def _warn_cut(results: Path) -> None:
    """Say when a CSV of results does not end with a line break, as every file mien finished
    does: copied while mien was writing it, its last row may be cut inside a cell."""
    from mien.plots import ends_with_line_break

    if results.suffix.lower() != ".csv" or not results.is_file():
        return
    if not ends_with_line_break(results):
        err.print(
            f"{results}: the file does not end with a line break: if it was copied while mien "
            "was writing it, its last row may be cut short",
            style="yellow",
        )


def _warn_outside(table: pd.DataFrame, rows: pd.DataFrame) -> None:
    """Say which windows name a source with no analysed frame (its analysis failed) and how
    many others no analysed frame reaches, with their videos' analysed time: windows on
    another clock (a transcript's, from the start of a longer recording) find nothing."""
    if table.empty:
        return
    reached = table.groupby("window")["part"].agg(lambda p: p.notna().any())
    outside = table[table["window"].isin(reached.index[~reached])].drop_duplicates("window")
    if outside.empty:
        return
    import numpy as np
    import pandas as pd

    from mien.summary import TIME_DECIMALS, frame_durations

    analysed = rows[rows["status"].isin(["ok", "no_face"])]

    def span(t: pd.Series) -> pd.Series:  # the first frame to the end of the last one's time
        t = np.unique(t.dropna().to_numpy(np.float64))
        end = round(t[-1] + frame_durations(t)[-1], TIME_DECIMALS)
        return pd.Series({"min": t[0], "max": end})

    times = analysed.groupby(analysed["source"].astype(str))["timestamp_s"].apply(span).unstack()
    on_failed = outside[~outside["source"].astype(str).isin(times.index)]
    if len(on_failed):
        failed = sorted(set(on_failed["source"].astype(str)))
        err.print(
            f"{len(on_failed)} window(s) name {len(failed)} source(s) with no analysed frame "
            f"(failed in analysis?): {', '.join(failed[:3])}{' …' if len(failed) > 3 else ''}",
            style="yellow",
        )
    late = outside[outside["source"].astype(str).isin(times.index)]
    if late.empty:
        return
    spans = [
        f"{source}: {times.loc[source, 'min']:.15g} s to {times.loc[source, 'max']:.15g} s"
        for source in sorted(set(late["source"].astype(str)))[:3]
    ]
    err.print(
        f"{len(late)} of {len(reached)} windows lie outside their video's analysed time "
        f"(from the first analysed frame to the end of the last one's time, "
        f"{'; '.join(spans)}) on the rows' timestamp_s clock, "
        "on which windows are read",
        style="yellow",
    )
