"""``mien evaluate`` and ``mien models``: scoring the model on labelled sets, listing models."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Column, Table

from mien.cli.common import (
    ModelName,
    Weights,
    bootstrap_option,
    err,
    fail,
    interruptible,
    make_analyzer,
    plural,
    progress,
    unwritable,
)
from mien.weights import DEFAULT_MODEL


@interruptible
def evaluate(
    dataset_dirs: Annotated[
        list[Path],
        typer.Argument(
            exists=True,
            help="Folder(s) with labels.csv (path,label,split,...), or a labels CSV whose paths "
            "are relative to its folder; several: side by side.",
        ),
    ],
    split: Annotated[str | None, typer.Option(help="Only rows of this split.")] = None,
    detect: Annotated[
        bool, typer.Option("--detect", help="Run detection + alignment and score the largest face.")
    ] = False,
    by: Annotated[
        list[str] | None, typer.Option("--by", help="Slice by this labels.csv column (repeatable).")
    ] = None,
    cluster: Annotated[
        str | None,
        typer.Option(
            help="A labels.csv column naming the person (or session) of each image: also "
            "give accuracy with the person as the unit (Student t over persons, never "
            "narrower than Wilson over the images), for the set and each slice. Use it when "
            "people give many images each.",
        ),
    ] = None,
    min_slice_n: Annotated[
        int,
        typer.Option(
            min=1, help="Smallest slice counted in the worst-slice gap (smaller ones are listed)."
        ),
    ] = 20,
    report: Annotated[
        Path | None, typer.Option("--report", help="Write a Markdown report with figures here.")
    ] = None,
    predictions: Annotated[
        Path | None,
        typer.Option(
            "--predictions",
            help="Also write one CSV row per image: label, predicted, status, probabilities "
            "over the scored labels, quality values and the set's own columns.",
        ),
    ] = None,
    bootstrap: Annotated[
        int,
        bootstrap_option(
            "Bootstrap resamples for the 95 % intervals, and shuffles for the slices' "
            "gap tests: 0 (none of these, and no Wilson intervals) or at least 100."
        ),
    ] = 1000,
    quality_slices: Annotated[
        bool,
        typer.Option("--quality/--no-quality", help="Slice by face size, sharpness and head pose."),
    ] = True,
    model: ModelName = DEFAULT_MODEL,
    weights: Weights = None,
    detector: Annotated[
        str, typer.Option(help="auto | short | full | multi | tiled (with --detect).")
    ] = "auto",
    all_labels: Annotated[
        bool,
        typer.Option(
            "--all-labels",
            help="Score over all the model's labels (what analyze outputs), not only those "
            "the set contains. Without it the probabilities are renormalised over the set's "
            "labels: the usual cross-set protocol, but fewer labels make an easier task.",
        ),
    ] = False,
    label_map: Annotated[
        list[str] | None,
        typer.Option(
            "--label-map",
            help="Map the set's labels onto mien's (repeatable; a later one wins): a preset ("
            "fer2013, affectnet, rafdb, ckplus, kdef, jaffe), a .json or .csv file, or pairs "
            "like 1=surprise,2=fear (8= drops label 8's rows). Word forms such as happy or "
            "angry are always mapped. The original labels stay as the column original_label.",
        ),
    ] = None,
    drop_trained: Annotated[
        bool,
        typer.Option(
            "--drop-trained",
            help="Leave out the images the bundled model was trained on (identical pixels; "
            "the JSON's seen counts them). Without it they are scored, with a warning: their "
            "scores measure memory, not accuracy.",
        ),
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Score the model on labelled folders and print JSON metrics (an audit) to stdout.

    One folder: a JSON object with the model used (name, file, sha256), n, accuracy, macro_f1
    (over the labels the set contains), per_class_recall, confusion, ece (15 bins), their 95 %
    intervals (ci: Wilson score for accuracy and per-class recall, bootstrap for macro_f1 and
    ece), slices, mien's abstention (coverage, accuracy kept and abstained), labels_restricted,
    the images with no face (--detect) or that failed to load, relabelled (when --label-map or a
    word form such as happy changed something, or a map names labels no row has), and
    unlabelled_rows_skipped (rows with an empty label, not scored; 0 when none), seen (how many
    images the bundled model was trained, tuned or compared on; null for weights without such a
    record) and, with --drop-trained, dropped_trained. Several folders: {"model": ...,
    "datasets": {folder: that object}}; every set's labels and columns are checked before any is
    scored. Exit status 1 when any image failed to load (it still counts, as wrong).
    """
    from mien.errors import DatasetError
    from mien.evaluation.datasets import read_labels_csv
    from mien.evaluation.label_maps import combine_label_maps, relabel
    from mien.evaluation.runner import check_labels
    from mien.evaluation.runner import evaluate as run_evaluate

    label_files = [(d if d.is_file() else d / "labels.csv").resolve() for d in dataset_dirs]
    if len(set(label_files)) < len(label_files):
        fail("a set is given twice (a folder, or its labels.csv); give each once")
    try:
        mapping, overrides = combine_label_maps(label_map or ())
        datasets = {str(d): read_labels_csv(d, split=split) for d in dataset_dirs}
        relabelled = {}
        for name in datasets:
            datasets[name], relabelled[name] = relabel(datasets[name], mapping)
    except DatasetError as e:
        fail(str(e))
    if mapping and not any(done.matched for done in relabelled.values()):
        seen_labels = sorted(
            {x for d in datasets.values() for x in d.columns.get("original_label", d.labels)}
        )
        fail(
            f"--label-map matches no label of the set(s): they hold {seen_labels[:12]}"
            + (" …" if len(seen_labels) > 12 else "")
            + f", the map names {sorted(mapping)[:12]}"
            + (" …" if len(mapping) > 12 else "")
            + "; check that it is the map for this collection"
        )
    for note in overrides:
        err.print(f"--label-map: a later map changes {note}", style="yellow")
    for name, done in relabelled.items():
        if done:
            err.print(f"{name}: labels mapped: {done.describe()}", style="dim")
        if done.unused:
            err.print(
                f"{name}: the label map's {', '.join(done.unused)} match no row: fine for part "
                "of a collection; if most of a preset is unused, check it fits this one",
                style="yellow",
            )
    for name, dataset in datasets.items():
        # one image however its path is spelled (./a.jpg, a//b.jpg, absolute, via a link)
        repeats = len(dataset.paths) - len(
            {os.path.realpath(dataset.root / p) for p in dataset.paths}
        )
        if repeats:
            err.print(
                f"{name}: {repeats} row(s) repeat an image already listed; each row counts as "
                "an image (one row per annotator inflates n and narrows the intervals)",
                style="yellow",
            )
    from mien.evaluation.report import foreign_report

    if report is not None and report.exists() and not report.is_dir():
        fail(f"--report {report} is a file; give a folder")
    if report is not None and (problem := foreign_report(report)):
        fail(problem)
    if predictions is not None:
        if predictions.suffix.lower() != ".csv":
            fail(f"--predictions {predictions}: give a .csv file")
        if _is_input(predictions, label_files, datasets.values()):
            fail(f"--predictions {predictions} is an input of this run; give another name")
    for name, dataset in datasets.items():
        if not any((dataset.root / p).is_file() for p in dataset.paths):
            fail(
                f"{name}: none of its {len(dataset.paths)} image path(s) is a file (the first: "
                f"{dataset.root / dataset.paths[0]}); paths are read relative to the folder "
                f"of the labels file, here {dataset.root}"
            )
    if len(datasets) > 1:  # a column no set has is a typo, as with one set (before
        # the models load)
        nowhere = [c for c in by or () if not any(c in d.columns for d in datasets.values())]
        if nowhere:
            fail(
                f"--by {', '.join(nowhere)}: no set has such a column (columns: "
                f"{sorted({c for d in datasets.values() for c in d.columns})})"
            )
    analyzer = make_analyzer(model, detector, 0.5, 100_000_000, weights=weights)
    names = analyzer.expression_names
    dropped = _drop_trained(analyzer, datasets) if drop_trained else {}
    columns_by_set = {}
    for name, dataset in datasets.items():  # every set checked before any is scored
        columns = [c for c in by or () if c in dataset.columns]
        if len(datasets) == 1:
            columns = list(by or ())  # one set: a missing column is an error
        columns_by_set[name] = columns
        try:
            check_labels(
                dataset,
                names,
                labels=names if all_labels else None,
                by=columns,
                cluster=cluster,
            )
        except DatasetError as e:
            if dropped.get(name):
                fail(f"{e} (after --drop-trained left out {dropped[name]} training image(s))")
            unknown = sorted(set(dataset.labels) - set(names))
            if unknown and mapping:
                fail(
                    f"{dataset.name}: label(s) {unknown} are neither among the model's labels "
                    f"{list(names)} nor mapped by the --label-map given"
                )
            fail(str(e))
    # writable outputs, checked (and their folders made) once the sets passed their checks
    if report is not None and (problem := unwritable(report, "--report", folder=True)):
        fail(problem)
    if predictions is not None and (problem := unwritable(predictions, "--predictions")):
        fail(problem)
    if not detect:
        err.print(
            "crop mode: each image is scored as one aligned face crop, with no detection; "
            "for photos of people use --detect",
            style="dim",
        )
    if not quality_slices:
        analyzer.quality = False
    reports = {}
    with progress(not quiet) as bar:
        for name, dataset in datasets.items():
            task = bar.add_task(f"evaluating {Path(name).name}", total=len(dataset))
            columns = columns_by_set[name]
            for c in sorted(set(by or ()) - set(columns)):
                err.print(f"{name}: no column {c!r}; not sliced by it", style="yellow")
            for c in columns:
                if clash := _case_variants(dataset.columns[c]):
                    err.print(
                        f"{name}: --by {c}: values that differ only in case ({clash}) are "
                        "separate slices; make them one spelling if they are one group",
                        style="yellow",
                    )
            reports[name] = run_evaluate(
                analyzer,
                dataset,
                detect=detect,
                by=columns,
                n_boot=bootstrap,
                quality_slices=quality_slices,
                progress=lambda k, t=task: bar.advance(t, k),
                labels=names if all_labels else None,
                cluster=cluster,
                min_slice_n=min_slice_n,
            )
    spec = analyzer.expression.spec
    used = {
        "name": spec.name,
        "file": str(Path(analyzer.expression.path).resolve()),
        "sha256": spec.sha256,
    }
    n_model_labels = len(analyzer.expression_names)
    analyzer.close()
    results = {}
    for k, r in reports.items():
        results[k] = r.to_dict()
        if r.by_cluster and (blank := r.by_cluster.get("n_unassigned", 0)):
            err.print(
                f"{k}: --cluster {cluster}: {plural(blank, 'image')} with no value there: left "
                "out of the intervals over persons, and each a person of its own in the gap "
                "tests (n_unassigned)",
                style="yellow",
            )
        if relabelled[k] or relabelled[k].unused:
            results[k]["relabelled"] = relabelled[k].to_dict()
        results[k]["unlabelled_rows_skipped"] = datasets[k].n_unlabelled
        if k in dropped:
            results[k]["dropped_trained"] = dropped[k]
    if len(results) == 1:
        typer.echo(json.dumps({"model": used} | next(iter(results.values())), indent=2))
    else:
        typer.echo(json.dumps({"model": used, "datasets": results}, indent=2))
    if predictions is not None:
        _write_predictions(predictions, reports, datasets)
        err.print(f"predictions: {predictions}")
    if report is not None:
        from mien.evaluation.report import write_report

        notes = {}
        for k in reports:
            said = []
            if relabelled[k]:
                said.append(f"Labels mapped onto mien's: {relabelled[k].describe()}.")
            if datasets[k].n_unlabelled:
                said.append(
                    f"{datasets[k].n_unlabelled} row(s) with an empty label were skipped "
                    "(not scored, not in n)."
                )
            said += [
                f"**Warning:** {note}" if warn else note
                for note, warn in _seen_notes(reports[k], spec.name, dropped.get(k))
            ]
            if said:
                notes[k] = " ".join(said)
        err.print(f"report: {write_report(reports, report, notes=notes)}")
    failed = False
    for name, r in reports.items():
        if r.labels_restricted:
            err.print(
                f"{name}: scored over its {len(r.labels)} labels ({', '.join(r.labels)}) of the "
                f"model's {n_model_labels}, probabilities renormalised over "
                "them; --all-labels scores what analyze outputs",
                style="yellow",
            )
        for column, table in r.slices.items():
            if column.startswith("quality:"):
                continue
            small = [
                f"{k} (n={v['n']})" for k, v in table["slices"].items() if v["n"] < min_slice_n
            ]
            if small:
                err.print(
                    f"{name}: --by {column}: {', '.join(small[:10])}"
                    + (f" and {len(small) - 10} more" if len(small) > 10 else "")
                    + f" under --min-slice-n {min_slice_n}: listed, not in the worst-slice gap "
                    "(their accuracies rest on few images)",
                    style="yellow",
                )
        for note, warn in _seen_notes(r, spec.name, dropped.get(name)):
            err.print(f"{name}: {note}", style="yellow" if warn else "dim")
        if r.no_face:
            err.print(
                f"{name}: {len(r.no_face)} image(s) without a face (counted as wrong)",
                style="yellow",
            )
        if r.failed:
            failed = True
            err.print(
                f"{name}: {len(r.failed)} image(s) failed to load (counted as wrong):", style="red"
            )
            for f in r.failed[:20]:
                err.print(f"  {f['path']}: {f['error']}")
            if len(r.failed) > 20:
                err.print(f"  … and {len(r.failed) - 20} more (--predictions lists every image)")
            err.print(f"  (paths are read relative to {datasets[name].root})")
    if failed:
        raise typer.Exit(1)


def _case_variants(values: Iterable[str]) -> str:
    """Spellings of one value in several cases (``Female/female``), up to three groups."""
    spellings: dict[str, set[str]] = {}
    for v in values:
        spellings.setdefault(v.casefold(), set()).add(v)
    clashes = ["/".join(sorted(s)) for s in spellings.values() if len(s) > 1]
    return ", ".join(clashes[:3]) + (" …" if len(clashes) > 3 else "")


def _drop_trained(analyzer: Any, datasets: dict) -> dict[str, int]:
    """Leave out of each set (in place) the images the model trained on; how many, by set."""
    from mien.evaluation.seen import seen_by, without_seen

    spec = analyzer.expression.spec
    record = seen_by(spec)
    if record is None:
        fail(
            f"--drop-trained: {spec.name} ships no record of its training images (weights of "
            "your own); mien cannot tell which images it saw"
        )
    dropped = {}
    for name in datasets:
        datasets[name], dropped[name] = without_seen(
            datasets[name], record, max_pixels=analyzer.max_pixels
        )
        if not datasets[name].paths:
            fail(f"{name}: every image is one {spec.name} trained on; nothing left to score")
    return dropped


def _seen_notes(report: Any, model: str, dropped: int | None) -> list[tuple[str, bool]]:
    """What to say about the images the model saw: ``(note, is a warning)`` pairs."""
    seen = report.seen
    if seen is None:
        return []
    notes = []
    if dropped:
        notes.append(
            (f"{dropped} image(s) {model} was trained on were left out (--drop-trained).", False)
        )
    if seen["trained"]:
        notes.append(
            (
                f"{seen['trained']} of the {report.n} images are ones {model} was trained on "
                "(identical pixels): their scores measure memory, not accuracy; --drop-trained "
                "leaves them out, and --predictions marks each (model_saw).",
                True,
            )
        )
    if seen["tuned"]:
        notes.append(
            (
                f"{seen['tuned']} image(s) chose {model}'s checkpoint and calibration: "
                "slightly optimistic.",
                False,
            )
        )
    if seen["compared"]:
        notes.append(
            (
                f"{seen['compared']} image(s) were scored when choosing {model} among "
                "candidate models: slightly optimistic.",
                False,
            )
        )
    return notes


def _is_input(path: Path, label_files: list[Path], datasets: Iterable[Any]) -> bool:
    """Whether ``path`` is (or is a link to the same file as) a labels file or an image of the
    sets."""
    import os

    if not path.exists():
        return False
    inputs = [*label_files, *(d.root / p for d in datasets for p in d.paths)]
    return any(q.exists() and os.path.samefile(path, q) for q in inputs)


def _write_predictions(path: Path, reports: dict, datasets: dict) -> None:
    """The per-image rows of every set as one CSV (a ``set`` column first when several)."""
    import csv

    from mien.evaluation.runner import prediction_rows

    rows = []
    for name, r in reports.items():
        for row in prediction_rows(r, datasets[name]):
            if len(reports) > 1:  # the set's own "set" column, if any, becomes set_set
                row = {"set": name} | {("set_set" if k == "set" else k): v for k, v in row.items()}
            rows.append(row)
    columns = list(dict.fromkeys(c for row in rows for c in row))  # first seen, in order
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, columns)
        writer.writeheader()
        writer.writerows(rows)


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
        "* on the validation split that also selected and calibrated the model; off FER2013-style "
        "crops accuracy is lower (see the cross-dataset table in MODEL_CARD.md)"
    )
