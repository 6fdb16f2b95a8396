"""``mien summary``: a table per track (or per time window and track) from result rows."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mien.cli.common import err, fail, same_file, unwritable

if TYPE_CHECKING:
    import pandas as pd

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
    from mien.errors import DatasetError
    from mien.plots import read_rows
    from mien.summary import has_smoothed, track_summary, window_summary

    if out is not None:
        if out.suffix.lower() not in TABLE_SUFFIXES:
            fail(f"--out {out}: use a .csv, .parquet, .jsonl or .json file name")
        if problem := unwritable(out, "--out"):
            fail(problem)
        inputs = [results, *(sorted(results.glob("*.parquet")) if results.is_dir() else [])]
        if same_file(out, [*inputs, *([windows] if windows is not None else [])]) is not None:
            fail(f"--out {out}: it would overwrite an input")
    table_of_windows = None if windows is None else _read_windows(windows)
    try:
        rows = read_rows(results)
    except DatasetError as e:  # not a results file: a usage error (2)
        fail(str(e))
    if smoothed and not has_smoothed(rows):
        err.print(
            f"{results}: no smoothed columns (smoothed_label, ps_*): per-frame values used",
            style="yellow",
        )
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
    if table_of_windows is not None:
        _warn_outside(table, rows)
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


def _read_windows(path: Path) -> pd.DataFrame:
    """The windows CSV, every cell as written (``007`` stays ``007``, ``NA`` stays ``NA``);
    header names without spaces around them.

    Raises:
        typer.Exit: (2) the file cannot be read as a comma-separated CSV.
    """
    import warnings

    import pandas as pd

    try:
        with warnings.catch_warnings():  # a row with more cells than the header is an error
            warnings.simplefilter("error", pd.errors.ParserWarning)
            table = pd.read_csv(
                path, dtype=str, keep_default_na=False, encoding="utf-8-sig", index_col=False
            )
    except pd.errors.EmptyDataError:
        fail(f"--windows {path}: the file is empty")
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.ParserWarning) as e:
        reason = " ".join(str(e).split())  # pandas' parser errors run over several lines
        fail(
            f"--windows {path}: cannot be read as a comma-separated UTF-8 CSV ({reason}); "
            "quote a cell holding a comma"
        )
    table.columns = [str(c).strip() for c in table.columns]
    if "start_s" not in table and len(table.columns) == 1:
        fail(
            f"--windows {path}: one column {table.columns[0]!r}: the file must be "
            "comma-separated, with columns start_s and end_s"
        )
    return table


def _warn_outside(table: pd.DataFrame, rows: pd.DataFrame) -> None:
    """Say how many windows no analysed frame reaches, with the rows' time span: windows
    on another clock (a transcript's, from the start of a longer recording) find nothing."""
    if table.empty:
        return
    covered = table.groupby("window")["analysed_s"].max()
    outside = int((covered <= 0).sum())
    if outside == 0:
        return
    t = rows.loc[rows["status"].isin(["ok", "no_face"]), "timestamp_s"].astype("float64")
    err.print(
        f"{outside} of {len(covered)} windows lie outside the analysed time: the rows' "
        f"timestamp_s runs from {t.min():g} s to {t.max():g} s, and windows are read on "
        "that clock",
        style="yellow",
    )
