"""``mien plot``: a figure of each track's perceived-expression probabilities over time."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mien.cli.common import ResultsFile, err, fail, unwritable


def plot(
    results: ResultsFile,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="Figure to write: .png, .pdf, .svg or .jpg (default: RESULTS with .png).",
        ),
    ] = None,
    max_tracks: Annotated[
        int,
        typer.Option(
            min=1,
            help="At most this many tracks (seen longest first; a note says how many are left "
            "out).",
        ),
    ] = 12,
) -> None:
    """Plot each track's expression probabilities over time, one panel per track.

    With more tracks than --max-tracks, a note on stderr and the figure's title say how many
    were left out. Exit status 1 when the results hold no tracked face, 2 for a file that is
    not mien's results or an unusable --out.
    """
    import warnings

    from mien.errors import DatasetError
    from mien.plots import TracksLeftOut, plot_tracks, read_rows

    # "." or ".." (a parts folder given as the current one) has no name to put .png on
    named = results if results.name not in ("", "..") else results.resolve()
    if out is None and not named.name:  # "/"
        fail(f"{results}: give --out, the file to draw the plot into")
    target = out or named.with_suffix(".png")
    if target.suffix.lower() not in (".png", ".pdf", ".svg", ".jpg", ".jpeg"):
        fail(f"--out {target}: use a .png, .pdf, .svg or .jpg file name")
    if problem := unwritable(target, "--out"):
        fail(problem)
    try:
        rows = read_rows(results)
    except DatasetError as e:  # not a results file: a usage error (2)
        fail(str(e))
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", TracksLeftOut)
            fig = plot_tracks(rows, max_tracks=max_tracks)
    except DatasetError as e:  # results without a tracked face: nothing to draw (1)
        fail(str(e), code=1)
    for w in caught:  # ours as a note; any other warning passes on unchanged
        if isinstance(n := w.message, TracksLeftOut):
            err.print(
                f"note: drew the {n.shown} longest of {n.total} tracks; {n.total - n.shown} "
                "left out (raise --max-tracks to see them)",
                style="yellow",
            )
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    target.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(target, dpi=110)
    err.print(f"wrote {target}")
