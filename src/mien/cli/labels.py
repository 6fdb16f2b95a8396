"""``mien labels``: a ``labels.csv`` for a public collection, from its distributed layout."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Annotated

import typer

from mien.cli.common import err, fail, interruptible, plural, unwritable


@interruptible
def labels(
    collection: Annotated[str, typer.Argument(help="kdef | jaffe | ckplus | rafdb | affectnet.")],
    root: Annotated[Path, typer.Argument(help="The collection's folder, as distributed.")],
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="The labels file to write (default ROOT/labels.csv)."),
    ] = None,
    angles: Annotated[
        str | None,
        typer.Option(
            help="kdef: camera angles to take, comma-separated (S HL HR FL FR; default S)."
        ),
    ] = None,
    first_frame_neutral: Annotated[
        bool,
        typer.Option(
            "--first-frame-neutral",
            help="ckplus: add each labelled sequence's first frame as neutral (a common "
            "convention; CK+ labels only the peak).",
        ),
    ] = False,
    aligned: Annotated[
        bool, typer.Option("--aligned", help="rafdb: the 100 px aligned crops, not the photos.")
    ] = False,
) -> None:
    """Write a labels.csv (path, label, code, and the collection's own columns) for KDEF,
    JAFFE, CK+, RAF-DB basic or AffectNet, read from the layout each is distributed in, with
    mien's labels (the collection's code kept as `code`): then `mien evaluate` scores it. Files
    that do not follow the collection's naming are left out and counted. Exit status 2 when
    nothing was found.
    """
    from mien.errors import DatasetError
    from mien.evaluation.collections import COLLECTIONS, write_labels_csv

    name = collection.lower().replace("+", "plus").replace("-", "")
    if name not in COLLECTIONS:
        fail(f"unknown collection {collection!r}; give one of {', '.join(COLLECTIONS)}")
    if not root.is_dir():
        fail(f"{root}: not a folder")
    target = out if out is not None else root / "labels.csv"
    if problem := unwritable(target, "--out"):
        fail(problem)
    given = {"kdef": angles is not None, "ckplus": first_frame_neutral, "rafdb": aligned}
    options_of = {"kdef": "--angles", "ckplus": "--first-frame-neutral", "rafdb": "--aligned"}
    for owner, used in given.items():
        if used and owner != name:
            fail(f"{options_of[owner]} is for {owner}, not {name}")
    options: dict = {}
    if name == "kdef" and angles is not None:
        options["angles"] = tuple(a.strip() for a in angles.split(",") if a.strip())
    elif name == "ckplus":
        options["first_frame_neutral"] = first_frame_neutral
    elif name == "rafdb":
        options["aligned"] = aligned
    try:
        result = COLLECTIONS[name](root, **options)
        write_labels_csv(result, target)
    except DatasetError as e:
        fail(str(e))
    counts: dict[str, int] = {}
    for row in result.rows:
        counts[row["label"]] = counts.get(row["label"], 0) + 1
    err.print(
        f"wrote {target}: {plural(len(result.rows), 'image')} ("
        + ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
        + ")"
    )
    for reason, n in sorted(result.skipped.items()):
        shown = ", ".join(result.examples.get(reason, []))
        err.print(f"left out: {n} × {reason} (e.g. {shown})", style="yellow")
    extra = "" if name == "rafdb" and aligned else " --detect"
    if name in ("kdef", "jaffe", "ckplus"):  # several photos per person: the person is the unit
        extra += " --cluster subject"
    elif name in ("rafdb", "affectnet"):
        extra += " --split test" if name == "rafdb" else " --split val"
    err.print(f"next: mien evaluate {shlex.quote(str(target))}{extra}", style="dim", markup=False)
