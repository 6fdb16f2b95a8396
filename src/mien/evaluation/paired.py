"""Paired comparisons of two models scored on the same images (pure numpy).

Used by ``benchmarks/compare_models.py`` (two models on the protocol's sets) and
``benchmarks/performer_folds.py`` (two recipes cross-validated by performer). Each function takes
``(n,)`` bool arrays saying whether model A and model B got each image right.
"""

from __future__ import annotations

import math

import numpy as np

from mien.evaluation.bootstrap import macro_f1_rows, t_975


def mcnemar_exact(only_a: int, only_b: int) -> float:
    """Two-sided exact McNemar p-value: binomial test of ``only_b`` out of the discordant pairs
    (McNemar, *Psychometrika* 12, 1947).

    Args:
        only_a: images only model A got right (>= 0).
        only_b: images only model B got right (>= 0).

    Returns:
        p in ``[0, 1]``; 1.0 when no image is discordant.
    """
    n = only_a + only_b
    if n == 0:
        return 1.0
    k = min(only_a, only_b)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2**n
    return min(1.0, 2 * tail)


def paired_interval(
    right_a: np.ndarray, right_b: np.ndarray, *, n_boot: int = 2000, seed: int = 0
) -> tuple[float, float]:
    """95 % percentile interval of ``mean(right_b) − mean(right_a)`` over image resamples.

    Args:
        right_a, right_b: ``(n,)`` bool, each model right on each image (same images, n >= 1).
        n_boot: resamples. seed: for the resampling.

    Returns:
        ``(low, high)`` in ``[-1, 1]``.

    Raises:
        ValueError: empty arrays.
    """
    if len(right_a) == 0:
        raise ValueError("paired_interval: no images")
    rng = np.random.default_rng(seed)
    diff = right_b.astype(np.float64) - right_a.astype(np.float64)
    idx = rng.integers(0, len(diff), (n_boot, len(diff)))
    means = diff[idx].mean(1)
    return float(np.quantile(means, 0.025)), float(np.quantile(means, 0.975))


def by_person(
    right_a: np.ndarray, right_b: np.ndarray, groups: np.ndarray, *, n_draws: int = 20000
) -> dict[str, object]:
    """The accuracy difference B − A person by person, and a sign-flip test of it.

    Photos of one person are not independent, so with few people the person is the unit: the
    test flips the sign of each person's difference in every possible way (exact up to 16
    people; above, ``n_draws`` seeded random flips plus the observed one, p = (k + 1) /
    (n_draws + 1)) and gives the two-sided share of flips whose mean is at least as far from 0
    as the observed one (Fisher's randomisation test). With 5 people the smallest possible p
    is 2/32 = 0.0625, doubled for each person whose difference is 0.

    Returns:
        ``{"people": G, "mean_diff": mean of the per-person differences, "ci": its 95 %
        Student t interval over the G people (``(nan, nan)`` below 2), "p_sign_flip": p,
        "diffs": {person: difference}}``.
    """
    names, g = np.unique(groups, return_inverse=True)
    if len(names) == 0:
        nan = float("nan")
        return {"people": 0, "mean_diff": nan, "ci": (nan, nan), "p_sign_flip": nan, "diffs": {}}
    diff = right_b.astype(np.float64) - right_a.astype(np.float64)
    per = np.bincount(g, weights=diff) / np.bincount(g)
    n = len(per)
    if n <= 16:
        signs = 1 - 2 * ((np.arange(2**n)[:, None] >> np.arange(n)) & 1)
        p = float((np.abs((signs * per).mean(1)) >= abs(per.mean()) - 1e-12).mean())
    else:
        signs = np.random.default_rng(0).choice([-1, 1], size=(n_draws, n))
        k = int((np.abs((signs * per).mean(1)) >= abs(per.mean()) - 1e-12).sum())
        p = (k + 1) / (n_draws + 1)
    ci = (float("nan"), float("nan"))
    if n >= 2:
        t = t_975(n - 1)
        half = t * float(per.std(ddof=1)) / math.sqrt(n)
        ci = (float(per.mean()) - half, float(per.mean()) + half)
    return {
        "people": n,
        "mean_diff": float(per.mean()),
        "ci": ci,
        "p_sign_flip": p,
        "diffs": {str(k): float(v) for k, v in zip(names, per, strict=True)},
    }


def paired_f1_interval(
    y_true: np.ndarray,
    pred_a: np.ndarray,
    pred_b: np.ndarray,
    *,
    n_boot: int = 2000,
    seed: int = 0,
) -> tuple[float, float, float]:
    """Macro-F1 difference B − A and its 95 % paired bootstrap interval.

    Args:
        y_true: ``(n,)`` int class indices; pred_a, pred_b: ``(n,)`` int predictions, ``-1``
            for none (counted wrong). K is one more than the largest index in any of them.

    Returns:
        ``(difference, low, high)``.

    Raises:
        ValueError: empty arrays.
    """
    if len(y_true) == 0:
        raise ValueError("paired_f1_interval: no images")
    k = int(y_true.max()) + 1
    if max(int(pred_a.max()), int(pred_b.max())) >= k:
        k = max(int(pred_a.max()), int(pred_b.max())) + 1  # a label predicted but never true
    point = macro_f1_rows(y_true[None], pred_b[None], k) - macro_f1_rows(
        y_true[None], pred_a[None], k
    )
    idx = np.random.default_rng(seed).integers(0, len(y_true), (n_boot, len(y_true)))
    diffs = macro_f1_rows(y_true[idx], pred_b[idx], k) - macro_f1_rows(y_true[idx], pred_a[idx], k)
    return float(point[0]), float(np.quantile(diffs, 0.025)), float(np.quantile(diffs, 0.975))
