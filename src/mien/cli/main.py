"""``mien analyze | evaluate | models``: thin commands over the library."""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, cast

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Column, Table

if TYPE_CHECKING:
    from mien.detection.mediapipe import DetectorModel
    from mien.export.sinks import Format
    from mien.pipeline import Analyzer

app = typer.Typer(
    name="mien",
    help="Perceived facial expression in images: what a face looks like, with calibrated "
    "probabilities. Not a reading of anyone's inner emotion.",
    no_args_is_help=True,
    add_completion=False,
)
err = Console(stderr=True)


@contextlib.contextmanager
def _quiet_native_stderr() -> Iterator[None]:
    """Silence C++ log lines (MediaPipe/TFLite start-up) written straight to file descriptor 2."""
    try:
        fd = sys.stderr.fileno()
    except (OSError, ValueError):  # no real stderr (e.g. under a test runner): nothing to hide
        yield
        return
    sys.stderr.flush()
    saved = os.dup(fd)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fd)
        yield
    finally:
        os.dup2(saved, fd)
        os.close(devnull)
        os.close(saved)


def _make_analyzer(model: str, detector: str, min_confidence: float, max_pixels: int) -> Analyzer:
    import numpy as np

    from mien.errors import WeightsError
    from mien.pipeline import Analyzer  # lazily: keeps --help fast

    try:
        with _quiet_native_stderr():
            analyzer = Analyzer(
                model,
                detector=cast("DetectorModel", detector),
                min_confidence=min_confidence,
                max_pixels=max_pixels,
            )
            analyzer.detector.detect(np.zeros((64, 64, 3), np.uint8))  # build graphs quietly
    except (ValueError, WeightsError) as e:
        err.print(f"[red]error:[/red] {e}")
        raise typer.Exit(2) from e
    return analyzer


def _progress(enabled: bool) -> Progress:
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err,
        disable=not enabled,
        transient=True,
    )


@app.command()
def analyze(
    paths: Annotated[list[Path], typer.Argument(help="Image files or folders (folders recurse).")],
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write rows here (default: stdout).")
    ] = None,
    fmt: Annotated[
        str | None,
        typer.Option(
            "--format", "-f", help="json | jsonl | csv (default: from --out's suffix, else jsonl)."
        ),
    ] = None,
    annotate: Annotated[
        Path | None,
        typer.Option(
            "--annotate", help="Write copies with boxes and labels drawn into this folder."
        ),
    ] = None,
    model: Annotated[
        str, typer.Option(help="Expression model (see `mien models`).")
    ] = "fer_resnet_v1",
    detector: Annotated[str, typer.Option(help="auto | short | full (BlazeFace range).")] = "auto",
    min_confidence: Annotated[
        float,
        typer.Option(min=0.0, max=1.0, help="Detector score threshold (MediaPipe's floor is 0.5)."),
    ] = 0.5,
    max_pixels: Annotated[
        int,
        typer.Option(
            min=1,
            help="Refuse images with more pixels than this (Pillow refuses above ~179 M anyway).",
        ),
    ] = 100_000_000,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No summary table or progress bar.")
    ] = False,
) -> None:
    """Find faces and their perceived expression; one row per face (or per face-less/failed file).

    Exit status: 0 when every file was read (with or without faces), 1 when any file failed.
    """
    from mien.export import FORMATS, error_row, open_sink, result_rows, row_columns
    from mien.io import iter_image_paths

    if fmt is None:
        suffix = out.suffix.lower().lstrip(".") if out else ""
        fmt = suffix if suffix in FORMATS else "jsonl"
    if fmt not in FORMATS:
        err.print(f"[red]error:[/red] --format must be one of {list(FORMATS)}; got {fmt!r}")
        raise typer.Exit(2)
    files = list(iter_image_paths(paths))
    if not files:
        err.print("[yellow]no image files found[/yellow]")
        raise typer.Exit(1)
    problem = _check_outputs(out, annotate, paths, files)
    if problem:
        err.print(f"[red]error:[/red] {problem}")
        raise typer.Exit(2)
    analyzer = _make_analyzer(model, detector, min_confidence, max_pixels)
    names = analyzer.expression_names
    annotator = None
    if annotate is not None:
        from mien.annotate import ExpressionAnnotator

        annotate.mkdir(parents=True, exist_ok=True)
        annotator = ExpressionAnnotator()
    roots = [Path(p) for p in paths if Path(p).is_dir()]
    inputs = {_resolved(f) for f in files}
    written: set[Path] = set()
    summary: list[tuple[str, str, str]] = []
    n_failed = n_faces = 0
    with (
        open_sink(out, row_columns(names), cast("Format", fmt)) as sink,
        _progress(not quiet and len(files) > 1) as bar,
    ):
        task = bar.add_task("analyzing", total=len(files))
        items = analyzer.analyze_batch(files, keep_images=annotator is not None)
        for path, item in zip(files, items, strict=True):
            bar.advance(task)
            if item.result is None:
                message = _describe(item.error)
                sink.append(error_row(str(path), message, names))
                summary.append((str(path), "error", message))
                n_failed += 1
                continue
            result = item.result
            rows = result_rows(result)
            for row in rows:
                sink.append(row)
            n_faces += len(result.faces)
            labels = ", ".join(
                f"{row['label']} {row['label_probability']:.2f}"
                + (" (abstained)" if row["abstained"] else "")
                for row in rows
                if row["status"] == "ok"
            )
            summary.append((str(path), str(len(result.faces)), labels or "no face"))
            if annotator is not None and annotate is not None and item.image is not None:
                target = _unique(_image_name(annotate / _relative_name(path, roots)), written)
                try:
                    if _resolved(target) in inputs:
                        raise OSError("it would overwrite an input image")
                    _write_annotated(annotator.annotate(item.image, result), target)
                    written.add(target)
                except OSError as e:
                    err.print(f"[red]could not write {target}: {e}[/red]")
                    n_failed += 1
    analyzer.close()
    if not quiet:
        _print_summary(summary, n_faces, n_failed, out)
    raise typer.Exit(1 if n_failed else 0)


def _describe(error: Exception | None) -> str:
    from mien.errors import ImageError

    if isinstance(error, ImageError):
        return error.problem
    return f"{type(error).__name__}: {error}"


WRITABLE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


def _resolved(path: Path) -> Path:
    try:
        return path.resolve()
    except OSError:
        return path.absolute()


def _check_outputs(
    out: Path | None, annotate: Path | None, paths: list[Path], files: list[Path]
) -> str | None:
    """Why the requested outputs would destroy inputs or cannot be written, or ``None``."""
    from mien.io import IMAGE_SUFFIXES

    inputs = {_resolved(f) for f in files}
    if out is not None:
        if out.is_dir():
            return f"--out {out} is a folder; give a file name such as results.csv"
        if _resolved(out) in inputs:
            return f"--out {out} is one of the input images; it would be overwritten"
        if out.suffix.lower() in IMAGE_SUFFIXES:
            return f"--out {out} looks like an image file; rows go to .csv, .json or .jsonl"
    if annotate is not None:
        if annotate.exists() and not annotate.is_dir():
            return f"--annotate {annotate} is a file; give a folder"
        folders = {_resolved(p) for p in paths if p.is_dir()} | {_resolved(f).parent for f in files}
        if _resolved(annotate) in folders:
            return f"--annotate {annotate} holds input images; copies would overwrite them"
    return None


def _image_name(target: Path) -> Path:
    """``target`` with a suffix OpenCV can write (others become ``.png``)."""
    return target if target.suffix.lower() in WRITABLE_SUFFIXES else target.with_suffix(".png")


def _unique(target: Path, taken: set[Path]) -> Path:
    """``target``, or ``name_1.ext``, ``name_2.ext``… if this run already wrote that name."""
    candidate, i = target, 0
    while candidate in taken:
        i += 1
        candidate = target.with_name(f"{target.stem}_{i}{target.suffix}")
    return candidate


def _write_annotated(scene, target: Path) -> None:
    """Encode ``scene`` (BGR) to ``target``.

    Raises:
        OSError: the folder or file cannot be written, or the image cannot be encoded.
    """
    import cv2

    target.parent.mkdir(parents=True, exist_ok=True)
    ok, buf = cv2.imencode(target.suffix, scene)
    if not ok:
        raise OSError(f"cannot encode {target.suffix} image")
    target.write_bytes(buf.tobytes())


def _relative_name(path: Path, roots: list[Path]) -> Path:
    for root in roots:
        with contextlib.suppress(ValueError):
            return path.relative_to(root)
    return Path(path.name)


def _print_summary(
    summary: list[tuple[str, str, str]], n_faces: int, n_failed: int, out: Path | None
) -> None:
    """A table of every file (up to 20 files), else of the failed ones only; then the counts."""
    rows = summary if len(summary) <= 20 else [r for r in summary if r[1] == "error"]
    if rows:
        table = Table(box=None, header_style="bold")
        table.add_column("file", overflow="fold")
        table.add_column("faces")
        table.add_column("perceived expression (probability)", overflow="fold")
        for name, count, labels in rows:
            table.add_row(name, count, labels, style="red" if count == "error" else None)
        if len(summary) > 20:
            err.print(f"failed files ({len(rows)}):")
        err.print(table)
    where = f" → {out}" if out else ""
    err.print(f"{len(summary)} file(s), {n_faces} face(s), {n_failed} failed{where}")


@app.command()
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
        err.print(f"[red]error:[/red] {e}")
        raise typer.Exit(2) from e
    analyzer = _make_analyzer(model, detector, 0.5, 100_000_000)
    with _progress(not quiet) as bar:
        task = bar.add_task("evaluating", total=len(dataset))
        try:
            report = run_evaluate(
                analyzer, dataset, detect=detect, progress=lambda k: bar.advance(task, k)
            )
        except DatasetError as e:
            err.print(f"[red]error:[/red] {e}")
            raise typer.Exit(2) from e
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


@app.command()
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


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"mien {version('mien')}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    """mien: perceived facial expression, measured locally."""
