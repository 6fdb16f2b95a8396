"""``mien evaluate`` and ``mien models``: scoring the model on labelled sets, listing models."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Column, Table

from mien.cli.common import err, fail, make_analyzer, progress


def evaluate(
    dataset_dir: Annotated[
        Path,
        typer.Argument(
            exists=True, file_okay=False, help="Folder with labels.csv (path,label,split,...)."
        ),
    ],
    split: Annotated[str | None, typer.Option(help="Only rows of this split.")] = None,
    detect: Annotated[
        bool, typer.Option("--detect", help="Run detection + alignment and score the largest face.")
    ] = False,
    model: Annotated[
        str, typer.Option(help="Expression model (see `mien models`).")
    ] = "fer_resnet_v1",
    detector: Annotated[str, typer.Option(help="auto | short | full (with --detect).")] = "auto",
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Score the model on a labelled folder and print JSON metrics to stdout.

    The JSON holds n, accuracy, macro_f1, per_class_recall, confusion, ece (15 bins), the labels
    scored, and the images with no face (--detect) or that failed to load. Exit status 1 when
    any image failed to load (it still counts, as wrong).
    """
    from mien.errors import DatasetError
    from mien.evaluation.datasets import read_labels_csv
    from mien.evaluation.runner import evaluate as run_evaluate

    try:
        dataset = read_labels_csv(dataset_dir, split=split)
    except DatasetError as e:
        fail(str(e))
    analyzer = make_analyzer(model, detector, 0.5, 100_000_000)
    with progress(not quiet) as bar:
        task = bar.add_task("evaluating", total=len(dataset))
        try:
            report = run_evaluate(
                analyzer, dataset, detect=detect, progress=lambda k: bar.advance(task, k)
            )
        except DatasetError as e:
            fail(str(e))
    analyzer.close()
    typer.echo(json.dumps(report.to_dict(), indent=2))
    if report.no_face:
        err.print(
            f"[yellow]{len(report.no_face)} image(s) with no face found (counted as wrong)[/yellow]"
        )
    if report.failed:
        err.print(f"[red]{len(report.failed)} image(s) failed to load (counted as wrong):[/red]")
        for f in report.failed[:20]:
            err.print(f"  {f['path']}: {f['error']}")
        raise typer.Exit(1)


def models() -> None:
    """List the bundled expression models and their measured numbers."""
    from mien.registry import get_spec, list_models

    table = Table("labels", "input", "val accuracy*", "val ECE*", "abstain below")
    table.columns.insert(0, Column("name", no_wrap=True))
    for name in list_models():
        spec = get_spec(name)
        m = spec.metrics
        table.add_row(
            name,
            ", ".join(spec.names),
            f"{spec.input_size}×{spec.input_size} {'grey' if spec.grey else 'BGR'}",
            str(m.get("val_accuracy", "?")),
            str(m.get("val_ece_calibrated", "?")),
            str(spec.abstain_threshold),
        )
    Console().print(table)
    Console().print(
        "* on the validation split that also selected and calibrated the model (see MODEL_CARD.md)"
    )
