"""Cross-validation by performer: one model per fold, each scored on the performers it never saw.

The fixed ``taiwanese_heldout`` split holds 5 performers, so its interval with the performer as
the unit is about ±0.27 wide. Scoring a *recipe* over all 29 performers needs one model per fold
(``subsets/taiwanese_folds.json``; ``scripts/performer_folds.sh`` trains them), each trained
without its fold's performers. :func:`run_folds` scores fold ``k``'s model on fold ``k``
through the whole pipeline, against the intended labels and against the observers' plurality,
and :func:`pool_folds` pools the folds with the performer as the unit.

Labels are fixed, whatever subset is scored: the 7 intended labels (no contempt) for the
intended-label figures, the 6 the observers could choose for the perceived ones, so that folds
and ``--limit`` subsets are one task. The perceived prediction of a photo is the argmax of the
same probabilities over those 6 labels (one pipeline pass per photo, not two).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from mien.evaluation.bootstrap import group_accuracy_interval, wilson_interval
from mien.evaluation.datasets import LabeledDataset
from mien.evaluation.protocol import (
    limited,
    protocol_analyzer,
    taiwanese_folds,
    taiwanese_performers,
)
from mien.evaluation.runner import evaluate

INTENDED_LABELS = ("anger", "disgust", "fear", "happiness", "sadness", "surprise", "neutral")
"""The labels the Taiwanese performers posed (no contempt)."""
OBSERVED_LABELS = ("anger", "disgust", "fear", "happiness", "sadness", "surprise")
"""The labels the observers could choose (no neutral, no contempt)."""


@dataclass
class Scored:
    """Per-photo outcomes, as parallel ``(n,)`` arrays (all of one length).

    Attributes:
        correct: bool, the top label equals the reference label (a photo without a face or
            that failed to read counts as wrong).
        path: str, the photo's path relative to the dataset folder (pairs two results).
        subject: str, the performer of each photo.
        label: str, the reference label (intended, or the observers' plurality).
        fold: int64, the fold the photo belongs to.
        predicted: str, the model's top label (``""`` without a face), or ``None`` where not
            recorded (results written before it was).

    Raises:
        ValueError: the arrays differ in length.
    """

    correct: npt.NDArray[np.bool_]
    path: npt.NDArray[np.str_]
    subject: npt.NDArray[np.str_]
    label: npt.NDArray[np.str_]
    fold: npt.NDArray[np.int64]
    predicted: npt.NDArray[np.str_] | None = None

    def __post_init__(self) -> None:
        arrays = [self.correct, self.path, self.subject, self.label, self.fold]
        lengths = {len(a) for a in arrays + ([] if self.predicted is None else [self.predicted])}
        if len(lengths) > 1:
            raise ValueError(f"Scored: arrays of different lengths {sorted(lengths)}")

    def to_dict(self) -> dict[str, list[Any]]:
        """JSON-ready lists (see :meth:`from_dict`)."""
        d = {
            "correct": self.correct.tolist(),
            "path": self.path.tolist(),
            "subject": self.subject.tolist(),
            "label": self.label.tolist(),
            "fold": self.fold.tolist(),
        }
        if self.predicted is not None:
            d["predicted"] = self.predicted.tolist()
        return d

    @classmethod
    def from_dict(cls, d: dict[str, list[Any]]) -> Scored:
        """Inverse of :meth:`to_dict`.

        Raises:
            KeyError: a field is missing. ValueError: the lists differ in length.
        """
        return cls(
            np.asarray(d["correct"], bool),
            np.asarray(d["path"], str),
            np.asarray(d["subject"], str),
            np.asarray(d["label"], str),
            np.asarray(d["fold"], np.int64),
            None if "predicted" not in d else np.asarray(d["predicted"], str),
        )

    @classmethod
    def concat(cls, parts: Sequence[Scored]) -> Scored:
        """The parts' outcomes end to end (``predicted`` only when every part has it)."""
        predicted = [p.predicted for p in parts]
        return cls(
            np.concatenate([p.correct for p in parts]).astype(bool),
            np.concatenate([p.path for p in parts]).astype(str),
            np.concatenate([p.subject for p in parts]).astype(str),
            np.concatenate([p.label for p in parts]).astype(str),
            np.concatenate([p.fold for p in parts]).astype(np.int64),
            None
            if not parts or any(p is None for p in predicted)
            else np.concatenate(predicted).astype(str),  # type: ignore[arg-type]
        )


def pool_folds(scored: Scored) -> dict[str, Any]:
    """Pooled accuracy of several folds.

    Returns:
        ``{"n": photos, "accuracy": over photos in [0, 1] (nan when empty), "accuracy_ci":
        Wilson, which treats photos as independent (they are not: read it as a lower bound
        on the spread), "by_performer":`` the mean of the performers' accuracies with its
        Student t interval (:func:`~mien.evaluation.bootstrap.group_accuracy_interval`)
        ``, "per_class_recall": {label: (recall, n)}, "per_fold": {fold: {"n", "accuracy",
        "performers"}}}`` (fold keys are ints; strings after a JSON round trip).
    """
    n = len(scored.correct)
    hits = int(scored.correct.sum())
    recall = {}
    for label in sorted(set(scored.label.tolist())):
        mine = scored.correct[scored.label == label]
        recall[label] = (float(mine.mean()), len(mine))
    per_fold = {}
    for k in sorted(set(scored.fold.tolist())):
        m = scored.fold == k
        per_fold[int(k)] = {
            "n": int(m.sum()),
            "accuracy": float(scored.correct[m].mean()),
            "performers": len(set(scored.subject[m].tolist())),
        }
    return {
        "n": n,
        "accuracy": hits / n if n else float("nan"),
        "accuracy_ci": wilson_interval(hits, n),
        "by_performer": group_accuracy_interval(scored.correct, scored.subject),
        "per_class_recall": recall,
        "per_fold": per_fold,
    }


def observer_scored(ds: LabeledDataset, fold: int) -> Scored:
    """The human reference in :class:`Scored` form: on a
    :func:`~mien.evaluation.protocol.taiwanese_performers` set, the observers' plurality label
    against the intended one, photo by photo (neutral photos count as misses: raters had no
    neutral option).

    Raises:
        KeyError: ``ds`` lacks the ``observer_label`` or ``subject`` column.
    """
    labels = np.asarray(ds.labels, str)
    return Scored(
        np.asarray(ds.columns["observer_label"], str) == labels,
        np.asarray(ds.paths, str),
        np.asarray(ds.columns["subject"], str),
        labels,
        np.full(len(labels), fold, np.int64),
    )


@dataclass
class FoldsResult:
    """Everything :func:`run_folds` measured.

    Attributes:
        weights: the model scored on each fold (``"bundled"`` or an export's path).
        folds: the performers of each fold.
        intended: per-photo outcomes against the performers' intended labels (7 labels).
        perceived: the non-neutral photos against the observers' plurality (6 labels).
        observers: the observers' plurality against the intended labels (the human reference).
        no_face: photos where the detector found no face (counted wrong), per fold.
    """

    weights: list[str]
    folds: list[list[str]]
    intended: Scored
    perceived: Scored
    observers: Scored
    no_face: dict[int, list[str]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the pooled figures and, under ``"photos"``, the per-photo outcomes that
        :func:`compare_folds` reads."""
        return {
            "weights": self.weights,
            "folds": self.folds,
            "intended": pool_folds(self.intended),
            "perceived": pool_folds(self.perceived),
            "observers": pool_folds(self.observers),
            "no_face": self.no_face,
            "photos": {"intended": self.intended.to_dict(), "perceived": self.perceived.to_dict()},
        }


def fold_scores(ds: LabeledDataset, probs: np.ndarray, k: int) -> tuple[Scored, Scored]:
    """Intended and perceived outcomes of fold ``k`` of a
    :func:`~mien.evaluation.protocol.taiwanese_performers` set.

    Args:
        ds: the fold's photos.
        probs: ``(n, 7)`` probabilities (or any scores) over :data:`INTENDED_LABELS`, one row
            per photo of ``ds``; a row of NaN (no face, unreadable) is wrong under both.
        k: the fold's index, recorded in the outcomes.

    Returns:
        ``(intended, perceived)``: every photo against its intended label (argmax over the 7),
        and the non-neutral photos against the observers' plurality (argmax over
        :data:`OBSERVED_LABELS`).
    """
    has = ~np.isnan(probs).any(axis=1)
    filled = np.nan_to_num(probs, nan=-1.0)
    labels = np.asarray(ds.labels, str)
    pred = np.where(has, np.asarray(INTENDED_LABELS, str)[filled.argmax(axis=1)], "")
    paths = np.asarray(ds.paths, str)
    subjects = np.asarray(ds.columns["subject"], str)
    fold = np.full(len(labels), k, np.int64)
    intended = Scored(pred == labels, paths, subjects, labels, fold, pred)
    observed_cols = [INTENDED_LABELS.index(name) for name in OBSERVED_LABELS]
    keep = labels != "neutral"
    sub = filled[keep][:, observed_cols]
    pred_p = np.where(has[keep], np.asarray(OBSERVED_LABELS, str)[sub.argmax(axis=1)], "")
    observed = np.asarray(ds.columns["observer_label"], str)[keep]
    seen = Scored(pred_p == observed, paths[keep], subjects[keep], observed, fold[keep], pred_p)
    return intended, seen


@dataclass(frozen=True)
class FoldProbabilities:
    """One fold's photos and its model's probabilities over them.

    Attributes:
        k: the fold's index.
        performers: the fold's performers.
        dataset: the fold's photos (a :func:`~mien.evaluation.protocol.taiwanese_performers`
            set, possibly ``limited``).
        probs: ``(n, 7)`` float probabilities over :data:`INTENDED_LABELS`, one row per photo
            of ``dataset``; a row of NaN where no face was found or the photo was unreadable.
        no_face: the photos (paths) where no face was found.
    """

    k: int
    performers: list[str]
    dataset: LabeledDataset
    probs: np.ndarray
    no_face: list[str]


def fold_probabilities(
    weights: Sequence[str | Path | None],
    shared: str | Path,
    *,
    folds: Sequence[Sequence[str]] | None = None,
    fold_ids: Sequence[int] | None = None,
    limit: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[FoldProbabilities]:
    """Run fold ``k``'s model on fold ``k``'s performers, whole pipeline (detect + align,
    largest face), one pass per photo.

    Args:
        weights: one model per fold, in fold order: an export's ``.onnx`` (spec beside it) or
            ``None``/``"bundled"`` for the bundled model (which trained on folds 1-3: a check
            of the tool, not a held-out figure).
        shared: the folder holding ``data/taiwanese``.
        folds: performer lists (default :func:`~mien.evaluation.protocol.taiwanese_folds`).
        fold_ids: the fold number of each entry of ``folds`` (default 0, 1, ...), so that a
            subset of the folds keeps its numbers (a pilot on folds 0 and 1: ``folds`` = those
            two lists, ``fold_ids`` = ``[0, 1]``).
        limit: at most this many photos per fold (spread out; for quick checks).
        progress: called with a line before each fold.

    Returns:
        One :class:`FoldProbabilities` per fold, in fold order.

    Raises:
        ValueError: ``weights``, ``folds`` and ``fold_ids`` differ in length, ``fold_ids``
            repeats a number, or ``limit`` is below 1.
        WeightsError: an export is missing or does not load.
        DatasetError: a fold names an unknown performer (checked for every fold before any
            model runs), or a model lacks a posed label.
        FileNotFoundError: no ``data/taiwanese/labels.csv`` under ``shared``.
    """
    folds = [list(f) for f in (folds if folds is not None else taiwanese_folds())]
    if len(weights) != len(folds):
        raise ValueError(f"{len(folds)} folds need {len(folds)} models, got {len(weights)}")
    ids = list(fold_ids) if fold_ids is not None else list(range(len(folds)))
    if len(ids) != len(folds) or len(set(ids)) != len(ids):
        raise ValueError(f"fold_ids {ids} must number the {len(folds)} folds, each once")
    shared = Path(shared)
    sets = [limited(taiwanese_performers(shared, f), limit) for f in folds]
    out = []
    for i, (k, w, ds) in enumerate(zip(ids, weights, sets, strict=True)):
        if progress is not None:
            progress(f"fold {k}: {len(folds[i])} performers, model {w or 'bundled'}")
        with protocol_analyzer(w) as analyzer:
            r = evaluate(
                analyzer, ds, detect=True, quality_slices=False, n_boot=0, labels=INTENDED_LABELS
            )
        probs = r.items["probs"][:, [r.labels.index(n) for n in INTENDED_LABELS]]  # our order
        out.append(FoldProbabilities(k, folds[i], ds, probs, list(r.no_face)))
    return out


def score_folds(
    weights: Sequence[str | Path | None], parts: Sequence[FoldProbabilities]
) -> FoldsResult:
    """Score :func:`fold_probabilities`' output (or probabilities derived from it, e.g. an
    ensemble's mean) against the intended labels, the observers' plurality and the observers'
    own reference.

    Args:
        weights: what produced the probabilities, one entry per fold (recorded only).
        parts: one :class:`FoldProbabilities` per fold, in fold order.
    """
    intended, seen, observers, no_face, folds = [], [], [], {}, []
    for part in parts:
        a, b = fold_scores(part.dataset, part.probs, part.k)
        intended.append(a)
        seen.append(b)
        observers.append(observer_scored(part.dataset, part.k))
        no_face[part.k] = part.no_face
        folds.append(list(part.performers))
    return FoldsResult(
        [str(w or "bundled") for w in weights],
        folds,
        Scored.concat(intended),
        Scored.concat(seen),
        Scored.concat(observers),
        no_face,
    )


def run_folds(
    weights: Sequence[str | Path | None],
    shared: str | Path,
    *,
    folds: Sequence[Sequence[str]] | None = None,
    fold_ids: Sequence[int] | None = None,
    limit: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> FoldsResult:
    """:func:`fold_probabilities` scored by :func:`score_folds`: each fold's model on the
    performers it never saw. Arguments and errors as :func:`fold_probabilities`.
    """
    parts = fold_probabilities(
        weights, shared, folds=folds, fold_ids=fold_ids, limit=limit, progress=progress
    )
    return score_folds(weights, parts)


def compare_folds(a: Scored, b: Scored) -> dict[str, Any]:
    """Paired difference B − A of two recipes scored on the same photos.

    The performer is the unit (:func:`~mien.evaluation.paired.by_person`: mean of the
    per-performer differences, Student t interval, sign-flip p); the photo-level bootstrap
    interval and McNemar's p are given beside it, and the difference within each fold. Each
    fold's performers share one pair of trained models, so training noise is shared within a
    fold and these intervals and p-values are too narrow for a difference between *recipes*:
    weigh a difference against the seed spread as well (the model card gives it).

    Returns:
        ``{"n", "accuracy_a", "accuracy_b", "diff", "diff_ci_images": (lo, hi),
        "mcnemar_p", "by_performer": by_person's dict, "per_fold": {fold: difference}}``.

    Raises:
        ValueError: the two were not scored on the same photos (paths, labels or folds
            differ).
    """
    from mien.evaluation.paired import by_person, mcnemar_exact, paired_interval

    same = len(a.path) == len(b.path) and all(
        np.array_equal(x, y) for x, y in ((a.path, b.path), (a.label, b.label), (a.fold, b.fold))
    )
    if not same:
        raise ValueError(
            f"the two results were not scored on the same photos ({len(a.path)} and "
            f"{len(b.path)} photos; paths, labels and folds must match in order)"
        )
    only_a = int((a.correct & ~b.correct).sum())
    only_b = int((b.correct & ~a.correct).sum())
    per_fold = {
        int(k): float(b.correct[a.fold == k].mean() - a.correct[a.fold == k].mean())
        for k in sorted(set(a.fold.tolist()))
    }
    return {
        "n": len(a.correct),
        "accuracy_a": float(a.correct.mean()),
        "accuracy_b": float(b.correct.mean()),
        "diff": float(b.correct.mean() - a.correct.mean()),
        "diff_ci_images": paired_interval(a.correct, b.correct),
        "mcnemar_p": mcnemar_exact(only_a, only_b),
        "by_performer": by_person(a.correct, b.correct, a.subject),
        "per_fold": per_fold,
    }
