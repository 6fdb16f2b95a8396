"""Percentile-bootstrap confidence intervals for the evaluation metrics.

Method: resample the scored images with replacement ``n_boot`` times (seeded), recompute each
metric on every resample, and take the 2.5th and 97.5th percentiles (Efron & Tibshirani, "An
Introduction to the Bootstrap", 1993, ch. 13). Images without a prediction stay in the
resamples as misses. All resamples are computed at once with numpy.

Per-class recall is the exception: with the class's images fixed it is a binomial proportion
(hits / n), so it gets a Wilson score interval (:func:`wilson_interval`), which stays honest
for the rare labels' small n (contempt 13 in FER+ ``val``) where a percentile bootstrap
collapses to ``[0, 0]`` or ``[1, 1]``. Accuracy over a few people (performers) takes the person
as the unit with a Student t interval (:func:`group_accuracy_interval`).
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True)
class BootstrapCI:
    """95 % (by default) intervals, each ``(low, high)``; ``None`` where undefined."""

    accuracy: tuple[float, float]
    macro_f1: tuple[float, float]
    ece: tuple[float, float] | None
    per_class_recall: list[tuple[float, float] | None]


def _interval(values: np.ndarray, level: float) -> tuple[float, float]:
    lo, hi = np.nanpercentile(values, [100 * (1 - level) / 2, 100 * (1 + level) / 2])
    return (float(lo), float(hi))


def _confusions(t: np.ndarray, p: np.ndarray, k: int) -> np.ndarray:
    """``(b, K, K + 1)`` confusion matrix of each row of ``(b, n)`` label arrays; the extra
    last column counts "no prediction" (``p == -1``)."""
    b = t.shape[0]
    col = np.where(p < 0, k, p)
    flat = (np.arange(b)[:, None] * k * (k + 1) + t * (k + 1) + col).ravel()
    return np.bincount(flat, minlength=b * k * (k + 1)).reshape(b, k, k + 1)


def _macro_f1(cm: np.ndarray) -> np.ndarray:
    """``(b,)`` macro-F1 of ``(b, K, K + 1)`` confusions, over the classes present in each."""
    k = cm.shape[1]
    tp = cm[:, np.arange(k), np.arange(k)].astype(np.float64)
    support = cm.sum(axis=2)
    predicted = cm[:, :, :k].sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.where(support > 0, 2 * tp / (support + predicted), np.nan)
        return np.nanmean(f1, axis=1)


def macro_f1_rows(
    y_true: npt.NDArray[np.integer], y_pred: npt.NDArray[np.integer], num_classes: int
) -> npt.NDArray[np.float64]:
    """Macro-F1 of each row of ``(b, n)`` label arrays, all rows at once (e.g. resamples).

    As :func:`mien.evaluation.metrics.macro_f1`: the mean F1 over the classes present in that
    row's ``y_true``; ``y_pred == -1`` (no prediction) counts as a miss.

    Returns:
        ``(b,)`` float64 in ``[0, 1]``.
    """
    return _macro_f1(_confusions(np.asarray(y_true), np.asarray(y_pred), num_classes))


def bootstrap_metrics(
    y_true: npt.NDArray[np.integer],
    y_pred: npt.NDArray[np.integer],
    probs: npt.NDArray[np.floating],
    num_classes: int,
    *,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
    n_bins: int = 15,
) -> BootstrapCI:
    """Bootstrap intervals of accuracy, macro-F1 and ECE; Wilson intervals of per-class recall.

    Args:
        y_true: ``(n,)`` true class indices.
        y_pred: ``(n,)`` predicted indices, ``-1`` where there is no prediction (a miss).
        probs: ``(n, K)`` probabilities (rows of missing predictions are ignored for ECE).
        num_classes: ``K``.
        n_boot: resamples.
        level: interval coverage, e.g. 0.95.
        seed: seeds the resampling.
        n_bins: ECE bins.

    Raises:
        ValueError: ``n_boot`` < 1 (no resample, no interval: leave the call out instead).
    """
    if n_boot < 1:
        raise ValueError(f"n_boot must be at least 1 to give intervals; got {n_boot}")
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    n, k = len(y_true), num_classes
    if n == 0:
        nan = (float("nan"), float("nan"))
        return BootstrapCI(nan, nan, None, [None] * k)
    idx = np.random.default_rng(seed).integers(0, n, size=(n_boot, n))
    t, p = y_true[idx], y_pred[idx]
    acc = (t == p).mean(axis=1)
    cm = _confusions(t, p, k)
    macro = _macro_f1(cm)
    ece_ci = None
    has = y_pred >= 0
    if has.any():
        conf = np.where(has, np.nan_to_num(np.asarray(probs, np.float64)).max(axis=1), 0.0)
        correct = (y_pred == y_true) & has
        b = np.clip(np.ceil(conf * n_bins).astype(int) - 1, 0, n_bins - 1)
        hb, cb, bb, ob = has[idx], conf[idx], b[idx], correct[idx]
        flat_b = (np.arange(n_boot)[:, None] * n_bins + bb).ravel()
        w = hb.ravel().astype(np.float64)
        count = np.bincount(flat_b, weights=w, minlength=n_boot * n_bins).reshape(n_boot, n_bins)
        sum_conf = np.bincount(
            flat_b, weights=(cb * hb).ravel(), minlength=n_boot * n_bins
        ).reshape(n_boot, n_bins)
        sum_ok = np.bincount(flat_b, weights=(ob * hb).ravel(), minlength=n_boot * n_bins).reshape(
            n_boot, n_bins
        )
        total = count.sum(axis=1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            gap = np.where(count > 0, np.abs(sum_ok - sum_conf) / np.maximum(count, 1), 0.0)
            ece = (count / np.maximum(total, 1) * gap).sum(axis=1)
        ece_ci = _interval(ece, level)
    z = NormalDist().inv_cdf((1 + level) / 2)
    per_class: list[tuple[float, float] | None] = []
    for j in range(k):
        of_j = y_true == j
        n_j = int(of_j.sum())
        per_class.append(wilson_interval(int((y_pred[of_j] == j).sum()), n_j, z=z) if n_j else None)
    return BootstrapCI(_interval(acc, level), _interval(macro, level), ece_ci, per_class)


def bootstrap_accuracy(
    correct: npt.NDArray[np.bool_], *, n_boot: int = 1000, level: float = 0.95, seed: int = 0
) -> tuple[float, float]:
    """Bootstrap interval of the mean of a ``(n,)`` bool array (accuracy of a slice)."""
    correct = np.asarray(correct, bool)
    if len(correct) == 0:
        return (float("nan"), float("nan"))
    idx = np.random.default_rng(seed).integers(0, len(correct), size=(n_boot, len(correct)))
    return _interval(correct[idx].mean(axis=1), level)


T_975: tuple[float, ...] = (
    12.706205, 4.302653, 3.182446, 2.776445, 2.570582, 2.446912, 2.364624, 2.306004,
    2.262157, 2.228139, 2.200985, 2.178813, 2.160369, 2.144787, 2.131450, 2.119905,
    2.109816, 2.100922, 2.093024, 2.085963, 2.079614, 2.073873, 2.068658, 2.063899,
    2.059539, 2.055529, 2.051831, 2.048407, 2.045230, 2.042272,
)  # fmt: skip
"""97.5th percentiles of Student's t with 1–30 degrees of freedom (6 decimals)."""


def t_975(df: int) -> float:
    """The 97.5th percentile of Student's t with ``df`` ≥ 1 degrees of freedom: from
    :data:`T_975` up to 30, else the Cornish–Fisher expansion of the normal quantile to the
    fourth order in ``1/df`` (error below 3e-8 from 30 on; Abramowitz & Stegun 26.7.5). It
    was 1.96 above 30, which made the intervals of 70 persons 1.8 % too narrow.

    Raises:
        ValueError: ``df`` < 1.
    """
    if df < 1:
        raise ValueError(f"Student t needs df >= 1; got {df}")
    if df <= len(T_975):
        return T_975[df - 1]
    z = 1.959963984540054
    g1 = (z**3 + z) / 4
    g2 = (5 * z**5 + 16 * z**3 + 3 * z) / 96
    g3 = (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / 384
    g4 = (79 * z**9 + 776 * z**7 + 1482 * z**5 - 1920 * z**3 - 945 * z) / 92160
    return z + g1 / df + g2 / df**2 + g3 / df**3 + g4 / df**4


def group_accuracy_interval(
    correct: npt.NDArray[np.bool_], groups: npt.ArrayLike
) -> dict[str, Any]:
    """Accuracy with the group (a person) as the unit: each group's accuracy, their mean and a
    95 % Student t interval over the groups (Student, *Biometrika* 6, 1908).

    When images come from a few people, images of one person are not independent, and a
    bootstrap over 5 people understates the spread (its resamples can only recombine those
    5); the t interval over per-person accuracies, with ``G − 1`` degrees of freedom, is the
    honest, wide one.

    Args:
        correct: ``(n,)`` bool, one per image.
        groups: ``(n,)`` group key per image.

    Returns:
        ``{"n_groups": G, "mean": mean of the group accuracies, "ci": (low, high)`` clipped to
        ``[0, 1]`` (``(nan, nan)`` below 2 groups), ``"per_group": {group: accuracy}}``.
    """
    correct = np.asarray(correct, bool)
    keys, g = np.unique(np.asarray(groups), return_inverse=True)
    if len(correct) == 0:
        return {"n_groups": 0, "mean": float("nan"), "ci": (float("nan"),) * 2, "per_group": {}}
    acc = np.bincount(g, weights=correct.astype(np.float64)) / np.bincount(g)
    n, mean = len(acc), float(acc.mean())
    ci = (float("nan"), float("nan"))
    if n >= 2:
        t = t_975(n - 1)
        half = t * float(acc.std(ddof=1)) / np.sqrt(n)
        ci = (max(0.0, mean - half), min(1.0, mean + half))
    return {
        "n_groups": n,
        "mean": mean,
        "ci": ci,
        "per_group": {str(k): float(v) for k, v in zip(keys, acc, strict=True)},
    }


def wilson_interval(successes: int, n: int, *, z: float = 1.959964) -> tuple[float, float]:
    """Wilson score interval of a proportion ``successes / n`` (95 % for the default ``z``).

    Used for per-class recall and the accuracy of slices: unlike the percentile bootstrap it
    does not collapse to ``[1, 1]`` or ``[0, 0]`` when a small slice is all right or all wrong.
    Source: E. B. Wilson, "Probable inference, the law of succession, and statistical
    inference", *JASA* 22 (1927).

    Returns:
        ``(low, high)`` in ``[0, 1]`` with ``low <= successes / n <= high`` (exactly 1 when all
        succeed, exactly 0 when none do: rounding would otherwise leave 0.9999999999999999);
        ``(nan, nan)`` when ``n == 0``.
    """
    if n <= 0:
        return (float("nan"), float("nan"))
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z / denom * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    low, high = max(0.0, centre - half), min(1.0, centre + half)
    return (float(min(low, p)), float(max(high, p)))  # p itself at the ends, not 1 - 1e-16
