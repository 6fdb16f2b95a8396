"""``evaluate()``: score an :class:`~mien.pipeline.Analyzer` on a labelled image folder.

Policy:

* Without ``detect`` every image is taken as one pre-cropped face: converted to the model's
  input form and resized to its input size (no detector, no alignment).
* With ``detect`` the whole pipeline runs and the **largest** face (box area) is scored; an
  image with **no face** counts as wrong and is listed under ``no_face``.
* An image that cannot be read counts as wrong and is listed under ``failed``.
* Only labels present in the set are scored: the model's probabilities are restricted to
  those labels and renormalised before the argmax, ECE and every other metric. A label the
  model does not have raises :class:`~mien.errors.DatasetError`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from mien.errors import DatasetError, ImageError
from mien.evaluation.datasets import LabeledDataset
from mien.evaluation.metrics import (
    accuracy,
    confusion_matrix,
    expected_calibration_error,
    macro_f1,
    per_class_recall,
)
from mien.pipeline import Analyzer


@dataclass
class EvalReport:
    """Metrics over a labelled set (JSON-ready via :meth:`to_dict`).

    Attributes:
        n: images scored (failures and face-less images included, as wrong).
        accuracy: share correct in ``[0, 1]``.
        macro_f1: unweighted mean F1 over ``labels``.
        per_class_recall: recall per label.
        confusion: ``{"labels": [...], "matrix": [[...]]}``, rows true, columns predicted.
        ece: expected calibration error, 15 equal-width bins, over the images with a prediction.
        labels: the labels scored (those present in the set, in the model's order).
        mode: ``"crop"`` or ``"detect"``.
        no_face: paths where ``detect`` found no face.
        failed: ``{"path", "error"}`` for images that could not be read.
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

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def evaluate(
    analyzer: Analyzer,
    dataset: LabeledDataset,
    *,
    detect: bool = False,
    batch_size: int = 64,
    progress: Callable[[int], None] | None = None,
) -> EvalReport:
    """Score ``analyzer`` on ``dataset``; see the module docstring for the policy.

    Args:
        analyzer: the pipeline (its expression model defines the label space).
        dataset: images and labels.
        detect: run detection + alignment and score the largest face.
        batch_size: crops per model call in crop mode.
        progress: called with 1 after each image (for a progress bar).

    Raises:
        DatasetError: the set has a label the model lacks.
    """
    names = list(analyzer.expression_names)
    unknown = sorted(set(dataset.labels) - set(names))
    if unknown:
        raise DatasetError(
            f"{dataset.root}: label(s) {unknown} are not among the model's labels {names}"
        )
    present = [n for n in names if n in set(dataset.labels)]
    cols = np.asarray([names.index(n) for n in present])
    y_true = np.asarray([present.index(label) for label in dataset.labels])
    y_pred = np.full(len(dataset), -1)
    probs = np.full((len(dataset), len(present)), np.nan, np.float32)
    no_face: list[str] = []
    failed: list[dict[str, str]] = []
    pending: list[tuple[int, np.ndarray]] = []  # crop mode: (row, crop) awaiting a batch

    def record(i: int, p: np.ndarray) -> None:
        q = p[cols] / max(float(p[cols].sum()), 1e-12)
        probs[i] = q
        y_pred[i] = int(q.argmax())

    def flush() -> None:
        if pending:
            batch = analyzer.expression.predict(np.stack([c for _, c in pending]))
            for (i, _), p in zip(pending, batch, strict=True):
                record(i, p)
            pending.clear()

    for i, rel in enumerate(dataset.paths):
        path = dataset.root / rel
        try:
            if detect:
                faces = analyzer.analyze(path, source=rel).faces
                if len(faces) == 0:
                    no_face.append(rel)
                else:
                    record(i, faces.expression[int(np.argmax(faces.area))])
            else:
                pending.append((i, analyzer.whole_image_crop(path)))
                if len(pending) >= batch_size:
                    flush()
        except ImageError as err:
            failed.append({"path": rel, "error": err.problem})
        except Exception as err:
            failed.append({"path": rel, "error": f"{type(err).__name__}: {err}"})
        if progress is not None:
            progress(1)
    flush()
    has = y_pred >= 0
    cm = confusion_matrix(y_true[has], y_pred[has], len(present))
    missing = np.bincount(y_true[~has], minlength=len(present))
    recall = per_class_recall(cm, missing)
    ece = expected_calibration_error(probs[has], y_true[has]) if has.any() else None
    return EvalReport(
        n=len(dataset),
        accuracy=accuracy(y_true, y_pred),
        macro_f1=macro_f1(cm, missing),
        per_class_recall={
            n: (None if np.isnan(r) else float(r)) for n, r in zip(present, recall, strict=True)
        },
        confusion={"labels": present, "matrix": cm.tolist(), "no_prediction": missing.tolist()},
        ece=ece,
        labels=present,
        mode="detect" if detect else "crop",
        no_face=no_face,
        failed=failed,
    )


__all__ = ["EvalReport", "evaluate"]
