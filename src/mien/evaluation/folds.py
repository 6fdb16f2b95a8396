"""Cross-validation by performer: one model per fold, each scored on the performers it never saw.

The fixed ``taiwanese_heldout`` split holds 5 performers, so its interval with the performer as
the unit is about ±0.27 wide. Scoring a *recipe* over all 29 performers needs one model per fold
(``subsets/taiwanese_folds.json``; ``scripts/performer_folds.sh`` trains them), each trained
without its fold's performers. :func:`run_folds` scores fold ``k``'s model on fold ``k``
through the whole pipeline, against the intended labels and against the observers' plurality,
and :func:`pool_folds` pools the folds with the performer as the unit.
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
    perceived,
    protocol_analyzer,
    taiwanese_folds,
    taiwanese_performers,
)
from mien.evaluation.runner import EvalReport, evaluate


@dataclass
class Scored:
    """Per-image outcome of some folds, as parallel ``(n,)`` arrays.

    Attributes:
        correct: bool, the top label equals the reference label (an image without a face or
            that failed to read counts as wrong).
        subject: str, the performer of each photo.
        label: str, the reference label (intended, or the observers' plurality).
        fold: int, the fold the photo belongs to.
    """

    correct: npt.NDArray[np.bool_]
    subject: npt.NDArray[np.str_]
    label: npt.NDArray[np.str_]
    fold: npt.NDArray[np.int64]

    @classmethod
    def from_report(cls, report: EvalReport, subjects: Sequence[str], fold: int) -> Scored:
        """One fold's :class:`EvalReport` (with its per-image ``items``) and the performer of
        each of its photos."""
        y_true, y_pred = report.items["y_true"], report.items["y_pred"]
        return cls(
            y_pred == y_true,
            np.asarray(subjects, str),
            np.asarray(report.labels, str)[y_true],
            np.full(len(y_true), fold, np.int64),
        )

    def to_dict(self) -> dict[str, list[Any]]:
        """JSON-ready lists (see :meth:`from_dict`)."""
        return {
            "correct": self.correct.tolist(),
            "subject": self.subject.tolist(),
            "label": self.label.tolist(),
            "fold": self.fold.tolist(),
        }

    @classmethod
    def from_dict(cls, d: dict[str, list[Any]]) -> Scored:
        """Inverse of :meth:`to_dict`."""
        return cls(
            np.asarray(d["correct"], bool),
            np.asarray(d["subject"], str),
            np.asarray(d["label"], str),
            np.asarray(d["fold"], np.int64),
        )

    @classmethod
    def concat(cls, parts: Sequence[Scored]) -> Scored:
        """The folds' outcomes end to end."""
        return cls(
            np.concatenate([p.correct for p in parts]),
            np.concatenate([p.subject for p in parts]),
            np.concatenate([p.label for p in parts]),
            np.concatenate([p.fold for p in parts]),
        )


def pool_folds(scored: Scored) -> dict[str, Any]:
    """Pooled accuracy of several folds.

    Returns:
        ``{"n": images, "accuracy": over images, "accuracy_ci": Wilson (images are not
        independent: read it as a lower bound on the spread), "by_performer":`` the mean of
        the performers' accuracies with its Student t interval (see
        :func:`~mien.evaluation.bootstrap.group_accuracy_interval`) ``, "per_class_recall":
        {label: (recall, n)}, "per_fold": {fold: {"n", "accuracy", "performers"}}}``.
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
    neutral option)."""
    labels = np.asarray(ds.labels, str)
    return Scored(
        np.asarray(ds.columns["observer_label"], str) == labels,
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
        intended: per-image outcomes against the performers' intended labels.
        perceived: the same on the non-neutral photos, against the observers' plurality.
        observers: the observers' plurality against the intended labels (the human reference).
        no_face: photos where the detector found no face, per fold.
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


def run_folds(
    weights: Sequence[str | Path | None],
    shared: str | Path,
    *,
    folds: Sequence[Sequence[str]] | None = None,
    limit: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> FoldsResult:
    """Score fold ``k``'s model on fold ``k``'s performers, whole pipeline (detect + align).

    Args:
        weights: one model per fold, in fold order: an export's ``.onnx`` (spec beside it) or
            ``None``/``"bundled"`` for the bundled model (which trained on folds 1-3: a check
            of the tool, not a held-out figure).
        shared: the folder holding ``data/taiwanese``.
        folds: performer lists (default :func:`~mien.evaluation.protocol.taiwanese_folds`).
        limit: at most this many photos per fold (spread out; for quick checks).
        progress: called with a line before each fold.

    Raises:
        ValueError: ``weights`` and ``folds`` differ in length.
        WeightsError: an export is missing or does not load.
        DatasetError: a fold names an unknown performer.
    """
    folds = [list(f) for f in (folds if folds is not None else taiwanese_folds())]
    if len(weights) != len(folds):
        raise ValueError(f"{len(folds)} folds need {len(folds)} models, got {len(weights)}")
    shared = Path(shared)
    intended, seen, observers, no_face = [], [], [], {}
    for k, (w, subjects) in enumerate(zip(weights, folds, strict=True)):
        if progress is not None:
            progress(f"fold {k}: {len(subjects)} performers, model {w or 'bundled'}")
        analyzer = protocol_analyzer(w)
        ds = limited(taiwanese_performers(shared, subjects), limit)
        r = evaluate(analyzer, ds, detect=True, quality_slices=False, n_boot=0)
        intended.append(Scored.from_report(r, ds.columns["subject"], k))
        observers.append(observer_scored(ds, k))
        no_face[k] = r.no_face
        ds_p = perceived(ds)
        r_p = evaluate(analyzer, ds_p, detect=True, quality_slices=False, n_boot=0)
        seen.append(Scored.from_report(r_p, ds_p.columns["subject"], k))
    return FoldsResult(
        [str(w or "bundled") for w in weights],
        folds,
        Scored.concat(intended),
        Scored.concat(seen),
        Scored.concat(observers),
        no_face,
    )


def compare_folds(a: Scored, b: Scored) -> dict[str, Any]:
    """Paired difference B − A of two recipes scored on the same photos.

    The performer is the unit (:func:`~mien.evaluation.paired.by_person`: mean of the
    per-performer differences, Student t interval, sign-flip p); the image-level bootstrap
    interval and McNemar's p are given beside it. Each fold's model is one training run, so
    the performer-level figures hold the variation between the folds' models, though not that
    of rerunning a fold with another seed.

    Raises:
        ValueError: the two were not scored on the same photos (performers or labels differ).
    """
    from mien.evaluation.paired import by_person, mcnemar_exact, paired_interval

    if not (np.array_equal(a.subject, b.subject) and np.array_equal(a.label, b.label)):
        raise ValueError("the two results were not scored on the same photos in the same order")
    only_a = int((a.correct & ~b.correct).sum())
    only_b = int((b.correct & ~a.correct).sum())
    return {
        "n": len(a.correct),
        "accuracy_a": float(a.correct.mean()),
        "accuracy_b": float(b.correct.mean()),
        "diff": float(b.correct.mean() - a.correct.mean()),
        "diff_ci_images": paired_interval(a.correct, b.correct),
        "mcnemar_p": mcnemar_exact(only_a, only_b),
        "by_performer": by_person(a.correct, b.correct, a.subject),
    }
