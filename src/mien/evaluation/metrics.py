"""Classification and calibration metrics: pure numpy functions of labels and probabilities.

Labels are ``(n,)`` int class indices in ``[0, K)``; probabilities are ``(n, K)`` float rows
summing to 1.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.integer]
FloatArray = npt.NDArray[np.floating]


def confusion_matrix(y_true: IntArray, y_pred: IntArray, num_classes: int) -> npt.NDArray[np.int64]:
    """``(K, K)`` int64 counts; row = true class, column = predicted class."""
    cm = np.zeros((num_classes, num_classes), np.int64)
    np.add.at(cm, (np.asarray(y_true), np.asarray(y_pred)), 1)
    return cm


def accuracy(y_true: IntArray, y_pred: IntArray) -> float:
    """Share of exact matches in ``[0, 1]``; ``nan`` for empty input."""
    y_true = np.asarray(y_true)
    return float(np.mean(y_true == np.asarray(y_pred))) if len(y_true) else float("nan")


def per_class_recall(cm: npt.NDArray[np.int64], missing: IntArray | None = None) -> FloatArray:
    """``(K,)`` recall per true class (``nan`` where the class has no examples).

    ``missing[k]`` counts examples of class ``k`` that got no prediction at all (e.g. no face
    found); they count as misses.
    """
    support = cm.sum(axis=1) + (0 if missing is None else np.asarray(missing))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(support > 0, np.diag(cm) / support, np.nan)


def per_class_f1(cm: npt.NDArray[np.int64], missing: IntArray | None = None) -> FloatArray:
    """``(K,)`` F1 per class, ``nan`` where a class never occurs nor is predicted.

    ``missing`` as in :func:`per_class_recall` (extra false negatives).
    """
    tp = np.diag(cm).astype(np.float64)
    denom = cm.sum(axis=0) + cm.sum(axis=1) + (0 if missing is None else np.asarray(missing))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denom > 0, 2 * tp / denom, np.nan)


def macro_f1(cm: npt.NDArray[np.int64], missing: IntArray | None = None) -> float:
    """Unweighted mean F1 over the classes that occur in the true labels.

    ``missing`` as in :func:`per_class_recall`.
    """
    support = cm.sum(axis=1) + (0 if missing is None else np.asarray(missing))
    present = support > 0
    return float(np.mean(per_class_f1(cm, missing)[present])) if present.any() else float("nan")


def expected_calibration_error(probs: FloatArray, y_true: IntArray, *, n_bins: int = 15) -> float:
    """Expected calibration error of the top-class confidence, equal-width bins over ``[0, 1]``.

    ECE = Σ_b (|B_b| / n) · |accuracy(B_b) − mean confidence(B_b)|, as in Guo et al., "On
    Calibration of Modern Neural Networks" (ICML 2017), with 15 bins by default.
    """
    probs = np.asarray(probs, np.float64)
    y_true = np.asarray(y_true)
    if len(y_true) == 0:
        return float("nan")
    conf = probs.max(axis=1)
    correct = probs.argmax(axis=1) == y_true
    bins = np.clip(np.ceil(conf * n_bins).astype(int) - 1, 0, n_bins - 1)
    ece = 0.0
    for b in range(n_bins):
        sel = bins == b
        if sel.any():
            ece += sel.mean() * abs(correct[sel].mean() - conf[sel].mean())
    return float(ece)


def softmax(logits: FloatArray, temperature: float = 1.0) -> npt.NDArray[np.float32]:
    """Row-wise softmax of ``logits / temperature``, computed stably; float32 ``(n, K)``."""
    z = np.asarray(logits, np.float64) / temperature
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)


def nll(logits: FloatArray, y_true: IntArray, temperature: float = 1.0) -> float:
    """Mean negative log-likelihood of the true class under ``softmax(logits / T)``."""
    z = np.asarray(logits, np.float64) / temperature
    z -= z.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return float(-logp[np.arange(len(z)), np.asarray(y_true)].mean())


def fit_temperature(
    logits: FloatArray, y_true: IntArray, *, lo: float = 0.05, hi: float = 20.0
) -> float:
    """Temperature scaling (Guo et al., ICML 2017): the ``T > 0`` minimising validation NLL.

    Golden-section search on ``log T`` over ``[lo, hi]`` (NLL is unimodal in ``T``).
    """
    a, b = np.log(lo), np.log(hi)
    g = (np.sqrt(5) - 1) / 2
    c, d = b - g * (b - a), a + g * (b - a)
    fc, fd = nll(logits, y_true, np.exp(c)), nll(logits, y_true, np.exp(d))
    for _ in range(80):
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - g * (b - a)
            fc = nll(logits, y_true, np.exp(c))
        else:
            a, c, fc = c, d, fd
            d = a + g * (b - a)
            fd = nll(logits, y_true, np.exp(d))
    return float(np.exp((a + b) / 2))
