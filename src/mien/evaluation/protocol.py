"""The cross-dataset validation protocol: one model, several collections, one table.

Sets (paths relative to the ``shared`` folder beside the repository):

* ``fer_val`` — FER+ ``val`` crops, classified as crops (``data/fer``, ``split == "val"``);
* ``taiwanese_heldout`` — posed photos of the performers in ``subsets/taiwanese_heldout.json``
  (never trained on nor used to pick checkpoints; used to compare candidate models), through
  the whole pipeline (detect + align), intended labels; sliced by ``observers_agree``
  (``yes`` where the observers' plurality choice is the intended label, ``no`` where it is
  another, ``neutral`` for the neutral photos, which the observers could not choose), which
  separates the model's errors from the poses that people, too, read otherwise;
* ``taiwanese_heldout_perceived`` — the same performers' non-neutral photos, labelled with
  their observers' plurality choice (``observer_label`` as the dataset gives it, which also
  settles its one tie, ``images/disgust/2221e12.jpg``, anger = disgust = 0.34, as anger; 99–100
  raters a photo, and in 40 of the 199 photos the plurality is under half the votes): the
  figure that matches what mien claims to measure, *perceived* expression;
* ``media_faces`` — the 400 photos of ``media/faces`` through the whole pipeline; their labels
  come from single annotators and agree with a second one about half the time, so this is an
  *agreement* figure, never a tuning target.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from mien.errors import DatasetError, WeightsError
from mien.evaluation.datasets import LabeledDataset, read_labels_csv
from mien.evaluation.runner import EvalReport, evaluate
from mien.pipeline import Analyzer
from mien.weights import check_export


@dataclass(frozen=True)
class ProtocolSet:
    """One collection of the protocol: its images and whether the detector runs."""

    name: str
    dataset: LabeledDataset
    detect: bool
    note: str
    by: tuple[str, ...] = ()
    """Columns of ``dataset`` to slice the accuracy by (see :func:`~mien.evaluation.evaluate`)."""


@dataclass(frozen=True)
class ObserverReference:
    """How often the observers' plurality choice equals the performer's intended label.

    The human reference for ``taiwanese_heldout``: a model that matched the observers exactly
    would score ``accuracy_all`` on that set. Observers had no "neutral" option, so neutral
    photos always count as misses in ``accuracy_all``.

    Attributes:
        n_all: photos of the held-out performers.
        accuracy_all: plurality == intended over all ``n_all`` photos, in [0, 1].
        n_expressive: the non-neutral ones.
        accuracy_expressive: plurality == intended over those, in [0, 1].
        per_class_recall: intended label → (share read as that label, n).
        read_as: intended label → {observers' plurality label: photos}.
    """

    n_all: int
    accuracy_all: float
    n_expressive: int
    accuracy_expressive: float
    per_class_recall: dict[str, tuple[float, int]]
    read_as: dict[str, dict[str, int]]


def load_subset(name: str) -> dict[str, Any]:
    """A frozen subset definition from ``mien/evaluation/subsets/<name>.json``."""
    return json.loads(
        resources.files("mien.evaluation.subsets").joinpath(f"{name}.json").read_text()
    )


def taiwanese_performers(shared: Path, subjects: Sequence[str]) -> LabeledDataset:
    """The posed photos of the Taiwanese performers in ``subjects`` (intended labels), with the
    columns ``subject``, ``observer_label`` and ``observers_agree`` (``yes``/``no``,
    ``neutral`` for the neutral photos: the observers had no neutral option).

    Raises:
        DatasetError: a name in ``subjects`` is not a performer of the set.
    """
    root = shared / "data" / "taiwanese"
    with open(root / "labels.csv", newline="", encoding="utf-8") as f:
        every = list(csv.DictReader(f))
    unknown = sorted(set(subjects) - {r["subject"] for r in every})
    if unknown:
        raise DatasetError(f"{root / 'labels.csv'}: no performer(s) {unknown}")
    rows = [r for r in every if r["subject"] in set(subjects)]
    extra = ("subject", "observer_label")
    agree = tuple(
        "neutral"
        if r["label"] == "neutral"
        else ("yes" if r["observer_label"] == r["label"] else "no")
        for r in rows
    )
    return LabeledDataset(
        root,
        tuple(r["path"] for r in rows),
        tuple(r["label"] for r in rows),
        {c: tuple(r[c] for r in rows) for c in extra} | {"observers_agree": agree},
        root / "labels.csv",
    )


def perceived(ds: LabeledDataset) -> LabeledDataset:
    """The non-neutral photos of a :func:`taiwanese_performers` set, labelled with the
    observers' plurality (``intended_label`` keeps the performer's)."""
    keep = [i for i, label in enumerate(ds.labels) if label != "neutral"]
    observed = ds.columns["observer_label"]
    return LabeledDataset(
        ds.root,
        tuple(ds.paths[i] for i in keep),
        tuple(observed[i] for i in keep),
        {"intended_label": tuple(ds.labels[i] for i in keep)}
        | {c: tuple(v[i] for i in keep) for c, v in ds.columns.items()},
        ds.source,
    )


def taiwanese_heldout(shared: Path) -> LabeledDataset:
    """The held-out Taiwanese performers (``subsets/taiwanese_heldout.json``); see
    :func:`taiwanese_performers`."""
    return taiwanese_performers(shared, load_subset("taiwanese_heldout")["values"])


def taiwanese_heldout_perceived(shared: Path) -> LabeledDataset:
    """The held-out performers' non-neutral photos, labelled with the observers' plurality."""
    return perceived(taiwanese_heldout(shared))


def taiwanese_folds() -> list[list[str]]:
    """The 4 performer folds of ``subsets/taiwanese_folds.json`` (fold 0 is
    ``taiwanese_heldout``): disjoint lists of performer ids covering all 29 performers."""
    return [list(f) for f in load_subset("taiwanese_folds")["folds"]]


OBSERVERS_AGREE: tuple[tuple[str, str], ...] = (
    ("yes", "the photos whose observers chose the intended label"),
    ("no", "the photos they read as another expression"),
    ("neutral", "the neutral photos (no option for them)"),
)
"""The ``observers_agree`` values of ``taiwanese_heldout`` and what each means. The dataset's
``observer_label`` settles its one tie (``images/disgust/2221e12.jpg``: anger = disgust =
0.34) as anger, so that photo counts as ``no``."""


def observers_split(report: EvalReport | None) -> list[tuple[str, dict[str, Any]]]:
    """A ``taiwanese_heldout`` report's accuracy per ``observers_agree`` value, in the order of
    :data:`OBSERVERS_AGREE`: ``[(meaning, {"n", "accuracy", "ci"}), ...]`` (``ci`` a Wilson
    interval, ``None`` without intervals); empty when the report was not sliced so."""
    slices = ((report.slices if report else {}).get("observers_agree") or {}).get("slices") or {}
    return [(what, slices[key]) for key, what in OBSERVERS_AGREE if key in slices]


def describe_observers_split(report: EvalReport | None) -> str:
    """:func:`observers_split` as one sentence for the card and ``cross_dataset.py`` (empty
    when the report was not sliced so)."""
    split = observers_split(report)
    if not split:
        return ""

    def ci(s: dict[str, Any]) -> str:
        return f" [{s['ci'][0]:.3f}, {s['ci'][1]:.3f}]" if s.get("ci") else ""

    parts = [f"on {what} {s['accuracy']:.3f}{ci(s)} (n {s['n']})" for what, s in split]
    wilson = any(s.get("ci") for _, s in split)
    return "The model scores " + ", ".join(parts) + (" (Wilson intervals). " if wilson else ". ")


def observer_reference(shared: str | Path) -> ObserverReference:
    """The observers' own agreement with the intended labels on the held-out performers (for
    any folds, see :func:`mien.evaluation.folds.observer_scored`)."""
    ds = taiwanese_heldout(Path(shared))
    observed = ds.columns["observer_label"]
    hits = [o == t for o, t in zip(observed, ds.labels, strict=True)]
    expressive = [h for h, t in zip(hits, ds.labels, strict=True) if t != "neutral"]
    recall, read_as = {}, {}
    for label in dict.fromkeys(sorted(ds.labels)):
        mine = [h for h, t in zip(hits, ds.labels, strict=True) if t == label]
        recall[label] = (sum(mine) / len(mine), len(mine))
        seen = [o for o, t in zip(observed, ds.labels, strict=True) if t == label]
        read_as[label] = {o: seen.count(o) for o in sorted(set(seen), key=lambda o: -seen.count(o))}
    return ObserverReference(
        len(hits),
        sum(hits) / len(hits),
        len(expressive),
        sum(expressive) / len(expressive),
        recall,
        read_as,
    )


def protocol_sets(shared: str | Path) -> list[ProtocolSet]:
    """The protocol's sets that exist under ``shared`` (missing ones are left out)."""
    shared = Path(shared)
    sets = []
    if (shared / "data" / "fer" / "labels.csv").is_file():
        sets.append(
            ProtocolSet(
                "fer_val",
                read_labels_csv(shared / "data" / "fer", split="val"),
                False,
                "FER+ majority labels, 48×48 crops",
            )
        )
    if (shared / "data" / "taiwanese" / "labels.csv").is_file():
        sets.append(
            ProtocolSet(
                "taiwanese_heldout",
                taiwanese_heldout(shared),
                True,
                "posed, held-out performers, intended labels, whole pipeline",
                by=("observers_agree",),
            )
        )
        sets.append(
            ProtocolSet(
                "taiwanese_heldout_perceived",
                taiwanese_heldout_perceived(shared),
                True,
                "same performers, non-neutral photos, observers' plurality label, whole pipeline",
            )
        )
    if (shared / "media" / "faces" / "labels.csv").is_file():
        sets.append(
            ProtocolSet(
                "media_faces",
                read_labels_csv(shared / "media" / "faces"),
                True,
                "agreement with noisy single-annotator labels, whole pipeline",
            )
        )
    return sets


SET_NAMES = ("fer_val", "taiwanese_heldout", "taiwanese_heldout_perceived", "media_faces")
"""Every set of the protocol, in table order."""


def select_sets(shared: str | Path, names: list[str] | None = None) -> list[ProtocolSet]:
    """The protocol sets named in ``names`` (all that exist when ``None``).

    Raises:
        DatasetError: a name not in :data:`SET_NAMES`, no protocol data at all under
            ``shared``, or a named set whose data is missing.
    """
    unknown = sorted(set(names or ()) - set(SET_NAMES))
    if unknown:
        raise DatasetError(f"unknown set(s) {unknown}; the sets are {list(SET_NAMES)}")
    sets = protocol_sets(shared)
    if not sets:
        raise DatasetError(
            f"no protocol data under {Path(shared).resolve()} (expected data/fer, "
            "data/taiwanese or media/faces with a labels.csv); pass --shared"
        )
    if names:
        missing = sorted(set(names) - {s.name for s in sets})
        if missing:
            raise DatasetError(f"set(s) {missing} have no data under {Path(shared).resolve()}")
        sets = [s for s in sets if s.name in names]
    return sets


def protocol_analyzer(weights: str | Path | None, *, pose: bool = True) -> Analyzer:
    """An :class:`Analyzer` for the bundled model (``None`` or ``"bundled"``) or for an
    exported ONNX file, which must have its spec JSON (same stem) beside it, so that its
    labels, temperature, logit bias and checksum are the ones it was exported with.
    ``pose=False`` skips head pose (FaceMesh): probabilities are the same, abstention may not be.

    Raises:
        WeightsError: the file or its spec is missing, or the model does not load.
    """
    if weights is None or str(weights) == "bundled":
        return Analyzer(pose=pose)
    path = check_export(weights)
    try:
        return Analyzer(weights=path, pose=pose)
    except WeightsError:
        raise
    except Exception as e:  # onnxruntime's own errors for a file that is not a model
        raise WeightsError(f"{path}: does not load as an ONNX model ({e})") from e


def limited(dataset: LabeledDataset, limit: int | None) -> LabeledDataset:
    """A spread-out subset of ``limit`` items (every ``len/limit``-th), or the whole set.

    Raises:
        ValueError: ``limit`` below 1.
    """
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")
    if limit is None or limit >= len(dataset):
        return dataset
    step = len(dataset) / limit
    idx = [int(i * step) for i in range(limit)]
    return LabeledDataset(
        dataset.root,
        tuple(dataset.paths[i] for i in idx),
        tuple(dataset.labels[i] for i in idx),
        {c: tuple(v[i] for i in idx) for c, v in dataset.columns.items()},
        dataset.source,
    )


def run_protocol(
    analyzer: Analyzer,
    sets: list[ProtocolSet],
    *,
    limit: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, EvalReport]:
    """Evaluate ``analyzer`` on every set (at most ``limit`` images each)."""
    reports = {}
    for s in sets:
        if progress is not None:
            progress(s.name)
        reports[s.name] = evaluate(
            analyzer,
            limited(s.dataset, limit),
            detect=s.detect,
            by=s.by,
            labels=sorted(set(s.dataset.labels)),  # the whole set's, also for a --limit subset
        )
    return reports
