"""``evaluate()``: score an :class:`~mien.pipeline.Analyzer` on a labelled image folder, with
bootstrap confidence intervals and sliced accuracy (an audit).

Policy:

* Without ``detect`` every image is taken as one pre-cropped face: converted to the model's
  input form and resized to its input size (no detector, no alignment).
* With ``detect`` the whole pipeline runs and the **largest** face (box area) is scored; an
  image with **no face** counts as wrong and is listed under ``no_face``.
* An image that cannot be read counts as wrong and is listed under ``failed``.
* Only labels present in the set are scored (or the ``labels`` given, a superset of them): the
  model's probabilities are restricted to those labels and renormalised before the argmax, ECE
  and every other metric. A label the model does not have raises
  :class:`~mien.errors.DatasetError`. This is the usual cross-dataset protocol (a set without
  contempt is not marked wrong for a contempt answer), but the fewer the labels, the easier the
  task: the report's ``labels_restricted`` says when it happened, and ``labels=`` the model's
  own labels (CLI ``--all-labels``) scores what :meth:`~mien.pipeline.Analyzer.analyze` outputs.
* Macro-F1 averages the F1 of the labels that occur in the set's labels (with ``labels`` wider
  than the set, a label only ever predicted costs the true labels' recall but adds no zero F1
  of its own).
* Abstention is reported as mien applies it, independent of the restriction: a face abstains
  when its top probability over *all* the model's labels is below the model's threshold, or its
  ``quality_ok`` is false (where measured); ``abstention`` gives the share kept and the accuracy
  on kept and abstained faces of the model's own top label over all its labels.
* Intervals: accuracy and per-class recall get Wilson score intervals (a binomial proportion
  over the set's images, or that label's; honest at small n); macro-F1 and ECE a percentile
  bootstrap over images (:mod:`mien.evaluation.bootstrap`), which collapses to a point when
  every resample scores alike (a small set scored all right gives [1, 1]: read the accuracy's
  interval then).
* Slices: by any ``labels.csv`` column (``by``) and by the built-in quality bins of
  :data:`QUALITY_BINS` (face size, sharpness, |yaw|, |pitch|, ``quality_ok``). Each slice has its
  n, accuracy and 95 % Wilson score interval (honest for small slices, where a bootstrap
  collapses to [1, 1] or [0, 0]), its label counts and per-label recall, its balanced accuracy
  (the mean recall over the labels it holds) and ``expected_accuracy``: what its label mix
  would score at the whole set's per-label recall. A group whose labels are easier scores
  higher without the model treating its faces any better; ``accuracy - expected_accuracy`` is
  the part its label mix does not explain. The worst-slice gap is the largest minus the
  smallest accuracy among slices with at least ``min_slice_n`` images, blank values (the
  ``(blank)`` slice) and unmeasured quality bins (no face) left out; a value of the set's
  own that reads ``unmeasured`` or ``(blank)`` is a slice like any other
  (``worst_gap_between`` names the two slices, when they differ);
  ``worst_gap_beyond_label_mix`` is the same for ``accuracy - expected_accuracy``. The largest
  of several noisy accuracies minus the smallest is biased upward, so each gap gets a
  permutation p-value (``gap_test``, :mod:`mien.evaluation.gap_test`): how often shuffling
  the groups gives a gap at least as large; with ``cluster``, whole persons are shuffled
  between groups, or each person's images among that person's groups.
* Clustered images: where one person (or session) gives many images, images are not
  independent and Wilson intervals are too narrow. With ``cluster`` (a column naming the
  person), the whole set and each slice also get ``by_cluster``: the mean of the persons'
  accuracies with a Student t interval over persons
  (:func:`~mien.evaluation.bootstrap.group_accuracy_interval`), widened where needed to hold
  the Wilson interval over the images, and replaced by a Wilson interval with the persons as n
  when every person scores alike (t collapses to a point then); images with a blank person
  are left out and counted (``n_unassigned``).
* A dataset's own group columns may be used here to audit accuracy per group; mien never
  infers such groups itself.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from mien.errors import DatasetError, ImageError
from mien.evaluation.bootstrap import (
    bootstrap_metrics,
    group_accuracy_interval,
    wilson_interval,
)
from mien.evaluation.datasets import LabeledDataset
from mien.evaluation.gap_test import blank_values, gap_permutation_test
from mien.evaluation.metrics import (
    accuracy,
    confusion_matrix,
    expected_calibration_error,
    macro_f1,
    per_class_recall,
)
from mien.evaluation.seen import SEEN_KINDS, fingerprint, seen_by
from mien.io import read_image
from mien.pipeline import Analyzer
from mien.quality.measures import QUALITY_COLUMNS
from mien.types import EXPRESSIONS

MIN_BOOT = 100
"""The fewest bootstrap resamples (and gap-test shuffles) :func:`evaluate` takes, besides 0."""

QUALITY_BINS: dict[str, tuple[float, ...]] = {
    "face_size_px": (0, 32, 64, 128, float("inf")),
    "sharpness": (0, 100, 300, 1000, 3000, float("inf")),
    "abs_yaw": (0, 15, 30, 45, float("inf")),
    "abs_pitch": (0, 15, 30, float("inf")),
}
"""Bin edges (left-closed) of the built-in quality slices."""


@dataclass
class EvalReport:
    """Metrics over a labelled set (JSON-ready via :meth:`to_dict`).

    Attributes:
        n: images scored (failures and face-less images included, as wrong).
        accuracy: share correct in ``[0, 1]``.
        macro_f1: unweighted mean F1 over the labels that occur in the set.
        per_class_recall: recall per label.
        confusion: ``{"labels", "matrix", "no_prediction"}``, rows true, columns predicted.
        ece: expected calibration error, 15 equal-width bins, over the images with a prediction.
        labels: the labels scored (those present in the set, in the model's order).
        labels_restricted: whether ``labels`` are fewer than the model's (probabilities
            renormalised over them; see the module docstring).
        mode: ``"crop"`` or ``"detect"``.
        no_face: paths where ``detect`` found no face.
        failed: ``{"path", "error"}`` for images that could not be read.
        ci: ``{"level", "n_boot", "method", "accuracy": [lo, hi], "macro_f1": …, "ece": …,
            "per_class_recall": {label: …}}`` (95 %: Wilson score for accuracy and per-class
            recall, percentile bootstrap for macro-F1 and ECE, as ``method`` says; empty when
            ``n_boot`` was 0).
        slices: ``{column: {"slices": {value: {"n", "accuracy", "ci", "label_counts",
            "per_class_recall", "balanced_accuracy", "expected_accuracy", "no_prediction",
            "abstained_share", "in_gap" (counted in the worst-slice gap: at least
            ``min_slice_n`` images, not blank, not unmeasured)[, "by_cluster"]}},
            "worst_gap", "worst_gap_between",
            "worst_gap_beyond_label_mix", "gap_test", "min_n"}}`` (see the module docstring;
            ``gap_test`` is :func:`~mien.evaluation.gap_test.gap_permutation_test`'s result,
            ``None`` when there is no gap or ``n_boot`` was 0).
        by_cluster: with ``cluster``: ``{"column", "n_clusters", "mean", "ci",
            "n_unassigned"}``, accuracy with the cluster (person) as the unit; else ``None``.
        seen: how many scored images the model already saw (:mod:`mien.evaluation.seen`):
            ``{"trained", "tuned", "compared"}`` counts, identical pixels only; ``None`` when
            the model ships no record of its images (weights of your own).
        abstention: mien's own abstention rule on the images with a prediction:
            ``{"threshold", "quality_checked", "n_kept", "n_abstained", "n_no_prediction"
            (images not counted in either: unreadable, or no face found), "coverage" (share of
            the images with a prediction kept), "accuracy_kept", "accuracy_abstained"}``;
            the accuracies are those of the model's top label over *all* its labels (what
            ``analyze`` outputs), not of the restricted task (``None`` for an empty group);
            ``None`` when no image got a prediction.
        items: per-image arrays for figures (``y_true``, ``y_pred``, ``probs``, ``abstained``
            (float 1/0, NaN without a prediction), ``top_label`` (the model's top label over
            all its labels, ``None`` without a prediction), ``seen`` (a :data:`SEEN_KINDS`
            value or ``None``) and the quality values); not part of :meth:`to_dict`.
    """

    n: int
    accuracy: float
    macro_f1: float
    per_class_recall: dict[str, float | None]
    confusion: dict[str, Any]
    ece: float | None
    labels: list[str]
    mode: str
    no_face: list[str]
    failed: list[dict[str, str]]
    ci: dict[str, Any] = field(default_factory=dict)
    slices: dict[str, Any] = field(default_factory=dict)
    labels_restricted: bool = False
    abstention: dict[str, Any] | None = None
    by_cluster: dict[str, Any] | None = None
    seen: dict[str, int] | None = None
    items: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("items")
        return d


def evaluate(
    analyzer: Analyzer,
    dataset: LabeledDataset,
    *,
    detect: bool = False,
    by: Sequence[str] = (),
    quality_slices: bool = True,
    n_boot: int = 1000,
    min_slice_n: int = 20,
    batch_size: int = 64,
    progress: Callable[[int], None] | None = None,
    labels: Sequence[str] | None = None,
    cluster: str | None = None,
) -> EvalReport:
    """Score ``analyzer`` on ``dataset``; see the module docstring for the policy.

    Args:
        analyzer: the pipeline (its expression model defines the label space).
        dataset: images and labels (and extra columns for ``by``).
        detect: run detection + alignment and score the largest face.
        by: ``labels.csv`` columns to slice by.
        quality_slices: also slice by the built-in quality bins (needs ``analyzer.quality``).
        n_boot: bootstrap resamples for the intervals, and shuffles for the worst-slice gaps'
            permutation tests: 0 (neither, and no Wilson intervals) or at least 100.
        min_slice_n: smallest slice counted in the worst-slice gap.
        batch_size: crops per model call in crop mode.
        progress: called with 1 after each image (for a progress bar).
        labels: the labels to score over (default: those present in ``dataset``); a fixed
            set keeps subsets of one collection on one task (e.g. a few photos per fold).
            At least two are needed.
        cluster: a ``labels.csv`` column naming the person (or session) each image comes
            from; adds ``by_cluster`` intervals with the person as the unit.

    Raises:
        DatasetError: as :func:`check_labels`.
        ValueError: ``n_boot`` from 1 to 99 (with one resample, the "95 %" interval missed
            the estimate).
    """
    if n_boot != 0 and n_boot < MIN_BOOT:
        raise ValueError(
            f"n_boot must be 0 (no intervals) or at least {MIN_BOOT}; got {n_boot} (a 95 % "
            "interval from so few resamples does not mean 95 %)"
        )
    names = list(analyzer.expression_names)
    present = check_labels(dataset, names, labels=labels, by=by, cluster=cluster)
    cols = np.asarray([names.index(n) for n in present], np.int64)
    n = len(dataset)
    y_true = np.asarray([present.index(label) for label in dataset.labels], np.int64)
    y_pred = np.full(n, -1)
    probs = np.full((n, len(present)), np.nan, np.float32)
    abstained = np.full(n, np.nan)  # mien's rule, over all the model's labels
    top_all = np.full(n, -1)  # the model's own top label (what analyze outputs), by index
    quality = {c: np.full(n, np.nan) for c in QUALITY_COLUMNS}
    record_of_seen = seen_by(analyzer.expression.spec)
    prints = np.zeros(n, np.uint64)
    read = np.zeros(n, bool)
    want_quality = quality_slices and analyzer.quality
    no_face: list[str] = []
    failed: list[dict[str, str]] = []
    pending: list[tuple[int, np.ndarray]] = []

    def record(i: int, p: np.ndarray) -> None:
        q = p[cols] / max(float(p[cols].sum()), 1e-12)
        probs[i] = q
        y_pred[i] = int(q.argmax())
        abstained[i] = float(analyzer.expression.abstained(p[None])[0])
        top_all[i] = int(np.argmax(p))

    def flush() -> None:
        if pending:
            batch = analyzer.expression.predict(np.stack([c for _, c in pending]))
            for (i, _), p in zip(pending, batch, strict=True):
                record(i, p)
            pending.clear()

    for i, rel in enumerate(dataset.paths):
        path = dataset.root / rel
        try:
            img = read_image(path, max_pixels=analyzer.max_pixels)
            if record_of_seen is not None and record_of_seen.could_hold(img):
                prints[i], read[i] = fingerprint(img), True
            if detect:
                faces = analyzer.analyze(img, source=rel).faces
                if len(faces) == 0:
                    no_face.append(rel)
                else:
                    k = int(np.argmax(faces.area))
                    record(i, faces.expression[k])
                    if faces.abstained is not None:  # the pipeline's own, quality included
                        abstained[i] = float(faces.abstained[k])
                    for c in QUALITY_COLUMNS:
                        if c in faces.data:
                            quality[c][i] = float(faces.data[c][k])
            else:
                pending.append((i, analyzer.whole_image_crop(img)))
                if want_quality:
                    for c, v in analyzer.crop_quality(img).items():
                        quality[c][i] = float(v)
                if len(pending) >= batch_size:
                    flush()
        except ImageError as err:
            failed.append({"path": rel, "error": err.problem})
        except Exception as err:
            failed.append({"path": rel, "error": f"{type(err).__name__}: {err}"})
        if progress is not None:
            progress(1)
    flush()
    top_label = np.asarray([names[k] if k >= 0 else None for k in top_all], object)
    seen = np.full(n, None, dtype=object)
    if record_of_seen is not None:
        seen[read] = record_of_seen.lookup(prints[read])
    ok = quality["quality_ok"]
    abstained[(ok == 0) & ~np.isnan(abstained)] = 1.0  # crop mode: quality_ok where measured
    has = y_pred >= 0
    cm = confusion_matrix(y_true[has], y_pred[has], len(present))
    missing = np.bincount(y_true[~has], minlength=len(present))
    recall = per_class_recall(cm, missing)
    ece = expected_calibration_error(probs[has], y_true[has]) if has.any() else None
    ci: dict[str, Any] = {}
    if n_boot > 0 and n > 0:
        b = bootstrap_metrics(y_true, y_pred, np.nan_to_num(probs), len(present), n_boot=n_boot)
        ci = {
            "level": 0.95,
            "n_boot": n_boot,
            "method": {
                "accuracy": "wilson",
                "macro_f1": "percentile bootstrap",
                "ece": "percentile bootstrap",
                "per_class_recall": "wilson",
            },
            "accuracy": list(wilson_interval(int((y_pred == y_true).sum()), n)),
            "macro_f1": list(b.macro_f1),
            "ece": None if b.ece is None else list(b.ece),
            "per_class_recall": {
                label: (None if r is None else list(r))
                for label, r in zip(present, b.per_class_recall, strict=True)
            },
        }
    correct = y_pred == y_true
    columns = {c: np.asarray(dataset.columns[c]) for c in by}
    if want_quality:
        columns.update(_quality_bins(quality))
    persons = np.asarray(dataset.columns[cluster]) if cluster else None
    per_image = _SliceInputs(present, y_true, correct, has, abstained, recall, persons)
    slices = {
        c: _slice_table(
            values,
            per_image,
            wilson=n_boot > 0,
            min_n=min_slice_n,
            n_perm=n_boot,
            unmeasured=c.startswith("quality:"),
        )
        for c, values in columns.items()
    }
    return EvalReport(
        n=n,
        accuracy=accuracy(y_true, y_pred),
        macro_f1=macro_f1(cm, missing),
        per_class_recall={
            name: (None if np.isnan(r) else float(r))
            for name, r in zip(present, recall, strict=True)
        },
        confusion={"labels": present, "matrix": cm.tolist(), "no_prediction": missing.tolist()},
        ece=ece,
        labels=present,
        mode="detect" if detect else "crop",
        no_face=no_face,
        failed=failed,
        ci=ci,
        slices=slices,
        labels_restricted=len(present) < len(names),
        abstention=_abstention(
            abstained,
            (top_label == np.asarray(dataset.labels, object)).astype(bool),
            analyzer.expression.spec,
            quality_checked=not np.isnan(ok).all(),
        ),
        by_cluster=(
            None
            if persons is None
            else {"column": cluster, **_by_cluster(correct, persons, interval=n_boot > 0)}
        ),
        seen=(
            None
            if record_of_seen is None
            else {kind: int((seen == kind).sum()) for kind in SEEN_KINDS.values()}
        ),
        items={
            "seen": seen,
            "top_label": top_label,
            "y_true": y_true,
            "y_pred": y_pred,
            "probs": probs,
            "abstained": abstained,
            **quality,
        },
    )


def check_labels(
    dataset: LabeledDataset,
    names: Sequence[str],
    *,
    labels: Sequence[str] | None = None,
    by: Sequence[str] = (),
    cluster: str | None = None,
) -> list[str]:
    """The labels :func:`evaluate` would score ``dataset`` over (in the model's order), or the
    error it would raise, without scoring anything: check every set before a long run.

    Args:
        dataset: the set.
        names: the model's labels (``analyzer.expression_names``).
        labels, by, cluster: as :func:`evaluate`.

    Raises:
        DatasetError: the set has a label the model lacks, a label outside ``labels``, fewer
            than two labels to score over, or ``by`` or ``cluster`` names a missing column.
    """
    names = list(names)
    if labels is not None:
        outside = sorted(set(dataset.labels) - set(labels))
        if outside:
            raise DatasetError(f"{dataset.name}: label(s) {outside} are not in labels={labels}")
    unknown = sorted((set(labels) if labels is not None else set(dataset.labels)) - set(names))
    if unknown:
        raise DatasetError(
            f"{dataset.name}: label(s) {unknown} are not among the model's labels {names}; "
            "map them onto those with --label-map (a preset such as rafdb or affectnet, a file, "
            "or pairs like 1=surprise; mien.evaluation.label_maps.relabel in Python)"
        )
    if "label" in by:
        raise DatasetError(
            f"{dataset.name}: --by label slices by the set's own label column: "
            "per_class_recall already gives the accuracy of each label"
        )
    missing_cols = [c for c in (*by, *([cluster] if cluster else [])) if c not in dataset.columns]
    if missing_cols:
        raise DatasetError(
            f"{dataset.name}: no column(s) {missing_cols} to slice or cluster by; its "
            f"columns besides path and label: {sorted(dataset.columns)}"
        )
    wanted = set(labels) if labels is not None else set(dataset.labels)
    present = [n for n in names if n in wanted]
    if len(present) < 2:
        raise DatasetError(
            f"{dataset.name}: only the label(s) {present} to score over; restricted to the "
            "labels a set contains, every prediction would be right. Score over the model's "
            "labels instead (labels=analyzer.expression_names; CLI: --all-labels)"
        )
    return present


def _abstention(
    abstained: np.ndarray, correct: np.ndarray, spec: Any, *, quality_checked: bool
) -> dict[str, Any] | None:
    """Coverage and accuracy of kept and abstained faces (NaN in ``abstained``: no prediction);
    ``correct``: the model's top label over all its labels equals the set's label."""
    has = ~np.isnan(abstained)
    if not has.any():
        return None
    out = abstained[has] > 0.5
    hits = correct[has]
    return {
        "threshold": float(spec.abstain_threshold),
        "quality_checked": quality_checked,
        "n_kept": int((~out).sum()),
        "n_abstained": int(out.sum()),
        "n_no_prediction": int((~has).sum()),
        "coverage": float((~out).mean()),
        "accuracy_kept": float(hits[~out].mean()) if (~out).any() else None,
        "accuracy_abstained": float(hits[out].mean()) if out.any() else None,
    }


def prediction_rows(report: EvalReport, dataset: LabeledDataset) -> list[dict[str, Any]]:
    """One row per scored image: what :func:`evaluate` predicted, to check or compare models.

    Args:
        report: :func:`evaluate`'s report on ``dataset`` (its ``items`` are used).
        dataset: the set it scored, in the same order.

    Returns:
        Dicts with ``path`` (relative to ``dataset.root``), ``label`` (the set's), ``predicted``
        (``None`` without a prediction), ``correct``, ``status`` (``ok``, ``no_face`` or
        ``failed``; ``no_prediction`` if none was recorded otherwise), ``error``, ``p_<label>``
        for each scored label (probabilities renormalised over ``report.labels``, as scored;
        ``None`` without a prediction), the quality values that were measured (``face_size_px``,
        ``sharpness``, ``yaw``, ``pitch``, ``roll``, ``truncated`` and ``quality_ok`` as
        booleans …; ``None`` where not measured), ``abstained`` (mien's rule over all the
        model's labels and ``quality_ok``; ``None`` without a prediction), ``top_label`` (the
        model's top label over all its labels, what ``analyze`` outputs and ``abstention``
        scores; ``None`` without a prediction), ``model_saw`` (when the model ships a record of
        its images: ``trained``, ``tuned``, ``compared`` or ``None``;
        :mod:`mien.evaluation.seen`) and the set's own columns (e.g. ``subject``; one whose
        name, in any case, is taken by a column above, by ``p_<label>`` of any expression label,
        or by another renamed column is kept as ``set_<name>``, ``set_set_<name>``, …).

    Raises:
        ValueError: ``report`` has no per-image items or does not match ``dataset``'s length.
    """
    items = report.items
    if not items or len(items["y_true"]) != len(dataset):
        raise ValueError("the report's per-image items do not match this dataset")
    failed = {f["path"]: f["error"] for f in report.failed}
    no_face = set(report.no_face)
    # only what was measured (none with quality off); flags as booleans, as in the rows
    quality = [c for c in QUALITY_COLUMNS if c in items and not np.isnan(items[c]).all()]
    flags = {"truncated", "quality_ok"}
    names = _set_column_names(list(dataset.columns), report.labels)
    rows = []
    for i, (path, label) in enumerate(zip(dataset.paths, dataset.labels, strict=True)):
        k = int(items["y_pred"][i])
        status = (
            "failed"
            if path in failed
            else "no_face"
            if path in no_face
            else "ok"
            if k >= 0
            else "no_prediction"
        )
        row: dict[str, Any] = {
            "path": path,
            "label": label,
            "predicted": report.labels[k] if k >= 0 else None,
            "correct": k == int(items["y_true"][i]),
            "status": status,
            "error": failed.get(path),
        }
        for j, name in enumerate(report.labels):
            row[f"p_{name}"] = None if k < 0 else round(float(items["probs"][i, j]), 6)
        for c in quality:
            v = float(items[c][i])
            row[c] = None if np.isnan(v) else bool(v) if c in flags else v
        a = float(items["abstained"][i]) if "abstained" in items else float("nan")
        row["abstained"] = None if np.isnan(a) else bool(a)
        if "top_label" in items:
            row["top_label"] = items["top_label"][i]
        if report.seen is not None:
            row["model_saw"] = items["seen"][i]
        for c, values in dataset.columns.items():
            row[names[c]] = values[i]
        rows.append(row)
    return rows


def _set_column_names(columns: list[str], labels: Sequence[str]) -> dict[str, str]:
    """Names for a set's own columns in prediction rows: ``set_`` prefixed until no clash.

    A clash is a name equal, in any case, to one of mien's columns (whether or not this run
    fills it: ``p_contempt`` of a 7-label run too), or to another of the set's names.
    """
    ours = ["path", "label", "predicted", "correct", "status", "error", "abstained"]
    ours += ["top_label", "model_saw"]
    ours += [*QUALITY_COLUMNS, *(f"p_{n}" for n in (*EXPRESSIONS, *labels))]
    ours_lower = {c.lower() for c in ours}
    taken = ours_lower | {c.lower() for c in columns}
    out = {}
    for c in columns:
        name = c
        if c.lower() in ours_lower:
            name = f"set_{c}"
            while name.lower() in taken:
                name = f"set_{name}"
            taken.add(name.lower())
        out[c] = name
    return out


def _quality_bins(quality: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Bin labels per image for the built-in quality slices (``unmeasured`` where NaN)."""
    values = {
        "face_size_px": quality["face_size_px"],
        "sharpness": quality["sharpness"],
        "abs_yaw": np.abs(quality["yaw"]),
        "abs_pitch": np.abs(quality["pitch"]),
    }
    out = {}
    for name, v in values.items():
        edges = QUALITY_BINS[name]
        labels = np.full(len(v), "unmeasured", dtype=object)
        for lo, hi in itertools.pairwise(edges):
            sel = (v >= lo) & (v < hi)
            labels[sel] = f"[{lo:g}, {hi:g})" if np.isfinite(hi) else f">= {lo:g}"
        out[f"quality:{name}"] = labels
    ok = quality["quality_ok"]
    out["quality:quality_ok"] = np.where(
        np.isnan(ok), "unmeasured", np.where(ok > 0.5, "true", "false")
    )
    return out


def _slice_order(value: object) -> tuple[int, float, str]:
    """Quality bins by their lower edge (``[0, 15)`` before ``>= 45``), then text values."""
    import re

    m = re.fullmatch(r"\[(\d+(?:\.\d+)?), (?:\d+(?:\.\d+)?|inf)\)|>= (\d+(?:\.\d+)?)", str(value))
    if m:
        return (0, float(m.group(1) or m.group(2)), "")
    return (1, 0.0, str(value))


@dataclass(frozen=True)
class _SliceInputs:
    """Per-image arrays a slice table needs (all ``(n,)``; ``recall`` per scored label)."""

    labels: list[str]
    y_true: np.ndarray
    correct: np.ndarray
    has_prediction: np.ndarray
    abstained: np.ndarray
    recall: np.ndarray
    persons: np.ndarray | None


def _by_cluster(correct: np.ndarray, persons: np.ndarray, *, interval: bool) -> dict[str, Any]:
    """Accuracy with the person as the unit. Images with a blank person are left out (counted
    in ``n_unassigned``).

    The interval is the Student t interval over the persons' accuracies, widened where needed
    to hold the Wilson interval over the images (clustering can only widen an interval, never
    narrow it below what independent images give). When every person scores alike, t
    collapses to a point (three persons all right: [1, 1]); the Wilson interval with the
    persons as n takes its place then (all right: [0.44, 1] for 3 persons)."""
    persons = np.asarray(persons, dtype=object)
    known = ~blank_values(persons)
    g = group_accuracy_interval(correct[known], persons[known])
    ci = None
    if interval and g["n_groups"] >= 2:
        if np.ptp(list(g["per_group"].values())) == 0:  # t collapsed
            lo, hi = wilson_interval(round(g["mean"] * g["n_groups"]), g["n_groups"])
        else:
            lo, hi = g["ci"]
        w_lo, w_hi = wilson_interval(int(correct[known].sum()), int(known.sum()))
        ci = [float(min(lo, w_lo)), float(max(hi, w_hi))]
    return {
        "n_clusters": g["n_groups"],
        "mean": None if g["n_groups"] == 0 else g["mean"],
        "ci": ci,
        "n_unassigned": int((~known).sum()),
    }


def _slice_table(
    values: np.ndarray,
    x: _SliceInputs,
    *,
    wilson: bool,
    min_n: int,
    n_perm: int = 0,
    unmeasured: bool = False,
) -> dict[str, Any]:
    """Per distinct value: accuracy with n and a 95 % Wilson interval, the label mix and what
    it explains (see the module docstring); the worst-slice gaps and, with ``n_perm``, their
    permutation test (:func:`~mien.evaluation.gap_test.gap_permutation_test`). Blank values
    form the ``(blank)`` slice (``((blank))`` if the column holds ``(blank)`` itself), left
    out of the gap, as is ``unmeasured`` in a quality column (``unmeasured=True``)."""
    values = np.asarray(values, dtype=object)
    blank = blank_values(values)
    marker = "(blank)"
    while blank.any() and marker in {str(v) for v in values[~blank]}:
        marker = f"({marker})"  # a real value "(blank)" stays its own slice
    values = np.where(blank, marker, values)
    left_out = {marker} | ({"unmeasured"} if unmeasured else set())
    recall = np.nan_to_num(x.recall)  # a label with no image in the set is in no slice either
    table: dict[str, Any] = {}
    for value in sorted(set(values.tolist()), key=_slice_order):
        sel = values == value
        hits = x.correct[sel]
        counts = np.bincount(x.y_true[sel], minlength=len(x.labels))
        held = counts > 0
        own = np.bincount(x.y_true[sel], weights=hits.astype(float), minlength=len(x.labels))
        slice_recall = {x.labels[k]: float(own[k] / counts[k]) for k in np.flatnonzero(held)}
        scored = x.has_prediction[sel]
        row: dict[str, Any] = {
            "n": int(sel.sum()),
            "accuracy": float(hits.mean()),
            "ci": list(wilson_interval(int(hits.sum()), len(hits))) if wilson else None,
            "label_counts": {x.labels[k]: int(counts[k]) for k in np.flatnonzero(held)},
            "per_class_recall": slice_recall,
            "balanced_accuracy": float(np.mean(list(slice_recall.values()))),
            "expected_accuracy": float((counts * recall).sum() / counts.sum()),
            "no_prediction": int((~scored).sum()),
            "abstained_share": (
                float(np.mean(x.abstained[sel][scored] > 0.5)) if scored.any() else None
            ),
        }
        if x.persons is not None:
            row["by_cluster"] = _by_cluster(hits, x.persons[sel], interval=wilson)
        table[str(value)] = row
    counted = {k: v for k, v in table.items() if v["n"] >= min_n and k not in left_out}
    for k, v in table.items():
        v["in_gap"] = k in counted
    gap = between = beyond = test = None
    if len(counted) >= 2:
        best = max(counted, key=lambda k: counted[k]["accuracy"])
        worst = min(counted, key=lambda k: counted[k]["accuracy"])
        gap = float(counted[best]["accuracy"] - counted[worst]["accuracy"])
        between = [best, worst] if gap > 0 else None
        excess = [v["accuracy"] - v["expected_accuracy"] for v in counted.values()]
        beyond = float(max(excess) - min(excess))
        if n_perm > 0:
            order = {value: i for i, value in enumerate(counted)}
            index = np.asarray([order.get(str(v), -1) for v in values], np.int64)
            test = gap_permutation_test(
                index, x.correct, x.y_true, x.recall, units=x.persons, n_perm=n_perm
            )
    return {
        "slices": table,
        "worst_gap": gap,
        "worst_gap_between": between,
        "worst_gap_beyond_label_mix": beyond,
        "gap_test": test,
        "min_n": min_n,
    }


__all__ = ["MIN_BOOT", "QUALITY_BINS", "EvalReport", "check_labels", "evaluate", "prediction_rows"]
