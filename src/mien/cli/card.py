"""``mien model-card``: regenerate a model's card from a fresh evaluation."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from mien.cli.common import (
    ModelName,
    Weights,
    bootstrap_option,
    err,
    fail,
    interruptible,
    make_analyzer,
    unwritable,
)
from mien.weights import DEFAULT_MODEL


@interruptible
def model_card(
    out: Annotated[Path, typer.Option("--out", "-o", help="Where to write the card (Markdown).")],
    model: ModelName = DEFAULT_MODEL,
    weights: Weights = None,
    shared: Annotated[  # default: ../shared beside the repository, run from the repo root
        Path,
        typer.Option(
            help="The folder holding data/ and media/ (relative to the current directory: the "
            "default is right when run from the repository's root)."
        ),
    ] = Path("../shared"),
    bootstrap: Annotated[
        int, bootstrap_option("Bootstrap resamples for the intervals: 0 or at least 100.")
    ] = 1000,
    limit: Annotated[
        int | None, typer.Option(min=1, help="At most N images per set (quick check).")
    ] = None,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Also write the evaluation JSON here.")
    ] = None,
) -> None:
    """Evaluate the model on the cross-dataset protocol and write its model card."""
    from mien.model_card import write_model_card

    if not (shared / "data").is_dir():
        fail(f"{shared}: no data folder (the card is measured on ../shared/data)")
    for path, option in ((out, "--out"), (json_out, "--json")):
        if path is not None and (problem := unwritable(path, option)):
            fail(problem)
    analyzer = make_analyzer(model, "auto", 0.5, 100_000_000, weights=weights)
    path, reports = write_model_card(analyzer, shared, out, n_boot=bootstrap, limit=limit)
    analyzer.close()
    if json_out is not None:
        json_out.write_text(json.dumps({k: r.to_dict() for k, r in reports.items()}, indent=2))
    err.print(f"wrote {path}")
