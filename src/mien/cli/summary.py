"""``mien summary``: a table per track (or per time window and track) from result rows."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mien.cli.common import err, fail, unwritable

TABLE_SUFFIXES = (".csv", ".parquet", ".jsonl", ".json")


def summary(
    results: Annotated[
        Path,
        typer.Argument(
            help="Rows from `mien analyze`/`watch` (.csv, .jsonl, .json, .parquet), or a "
            "folder of .parquet files (`mien batch`'s parts/)."
        ),
    ],
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="Table to write: .csv, .parquet, .jsonl or .json (default: CSV to stdout).",
        ),
    ] = None,
    windows: Annotated[
        Path | None,
        typer.Option(
            help="A CSV of time windows (columns start_s, end_s in seconds; optional source, "
            "the video each belongs to; any others, such as an utterance's text, are carried "
            "over): one row per window and track seen in it, instead of one per track."
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
    import pandas as pd

    from mien.errors import DatasetError
    from mien.plots import read_rows
    from mien.summary import track_summary, window_summary

    if out is not None:
        if out.suffix.lower() not in TABLE_SUFFIXES:
            fail(f"--out {out}: use a .csv, .parquet, .jsonl or .json file name")
        if problem := unwritable(out, "--out"):
            fail(problem)
    table_of_windows = None
    if windows is not None:
        try:
            table_of_windows = pd.read_csv(windows)
        except (OSError, UnicodeDecodeError, pd.errors.ParserError) as e:
            fail(f"--windows {windows}: cannot be read as CSV ({e})")
        except pd.errors.EmptyDataError:
            fail(f"--windows {windows}: the file is empty")
    try:
        rows = read_rows(results)
    except DatasetError as e:  # not a results file: a usage error (2)
        fail(str(e))
    try:
        if table_of_windows is None:
            table = track_summary(rows, smoothed=smoothed, skip_abstained=skip_abstained)
        else:
            table = window_summary(
                rows, table_of_windows, smoothed=smoothed, skip_abstained=skip_abstained
            )
    except DatasetError as e:
        no_tracks = str(e).startswith(("no tracked faces", "no rows"))
        fail(f"{windows}: {e}" if table_of_windows is not None and not no_tracks else str(e),
             code=1 if no_tracks else 2)  # fmt: skip
    # CSV with 10 significant digits: sums of frame steps print as 1.7, not 1.7000000000000002
    if out is None:
        table.to_csv(typer.get_text_stream("stdout"), index=False, float_format="%.10g")
        return
    suffix = out.suffix.lower()
    if suffix == ".csv":
        table.to_csv(out, index=False, float_format="%.10g")
    elif suffix == ".parquet":
        table.to_parquet(out, index=False)
    else:
        table.to_json(out, orient="records", lines=suffix == ".jsonl", force_ascii=False)
    what = "window rows" if table_of_windows is not None else "tracks"
    err.print(f"wrote {len(table)} {what} to {out}")
