"""Helpers for the card's tables: intervals, the ablation's seed noise, the cross-validation
section and how observers read a posed label."""

from __future__ import annotations

from typing import Any

SEED_PAIRS = (
    ("d_ft", "d_ft_s2"),
    ("e_ft_bal", "h_ft_bal_seed2"),
    ("g_soup_de", "g2_soup"),
    ("g_soup_de", "g3_soup"),
    ("g2_soup", "g3_soup"),
    ("q_ft64", "q_ft64_s2"),
    ("s_soup64", "s2_soup64"),
)
"""Ablation runs that repeat one training recipe with another seed (``scripts/seed_repeat.sh``);
their exports' flip-average and τ choices, made on FER+ ``val``, may differ with the seed."""

ABLATION_SETS = ("fer_val", "taiwanese_heldout", "taiwanese_heldout_perceived", "media_faces")


def seed_spread(
    ablation: list[dict[str, Any]], pairs: tuple[tuple[str, str], ...] = SEED_PAIRS
) -> tuple[list[tuple[str, str]], dict[str, float]]:
    """The largest accuracy difference, per set, between two seeds of one recipe.

    Args:
        ablation: rows of ``<model>.ablation.json`` (``run`` and one accuracy per set).
        pairs: run names whose training differs only in its seed.

    Returns:
        The pairs found in ``ablation`` and ``{set: max |difference|}`` over them (empty when
        none is found).
    """
    by_run = {a["run"]: a for a in ablation}
    found = [(a, b) for a, b in pairs if a in by_run and b in by_run]
    spread = {
        name: max(abs(by_run[a][name] - by_run[b][name]) for a, b in found)
        for name in ABLATION_SETS
        if found and all(by_run[r].get(name) is not None for pair in found for r in pair)
    }
    return found, spread


def ci(values: list[float] | tuple[float, float] | None, digits: int = 3) -> str:
    """`` [lo, hi]`` with as many decimals as the point estimate beside it (or nothing)."""
    return "" if not values else f" [{values[0]:.{digits}f}, {values[1]:.{digits}f}]"


def read_as(counts: dict[str, int], label: str) -> str:
    """ "7 of 34 photos (surprise 13, happiness 6, …)": how observers read one posed label."""
    n = sum(counts.values())
    others = ", ".join(f"{k} {v}" for k, v in counts.items() if k != label)
    return f"{counts.get(label, 0)} of {n} photos (the others: {others})"


def folds_lines(folds: dict[str, Any]) -> list[str]:
    """The card's section on cross-validation by performer, from ``<name>.folds.json``
    (``scripts/folds_table.py``): one row per recipe, then the observers' reference."""

    def by_performer(s: dict[str, Any]) -> str:
        lo, hi = s["by_performer_ci"]
        return f"{s['by_performer']:.3f} [{lo:.3f}, {hi:.3f}]"

    def per_fold(s: dict[str, Any]) -> str:
        return ", ".join(f"{v:.3f}" for v in s["per_fold"].values())

    folds_obs = folds["observers"]
    n_perf, n_folds = folds_obs["performers"], len(folds_obs["per_fold"])
    n_fixed = len(folds["arms"][0]["folds"][0]) if folds["arms"] else 0
    lines = [
        "## Cross-validation by performer (recipes, not these weights)",
        "",
        f"The held-out rows above rest on {n_fixed} performers. To score a recipe on all "
        f"{n_perf}, "
        f"`bash scripts/performer_folds.sh` trains one model per fold ({n_folds} folds, "
        "`src/mien/evaluation/subsets/taiwanese_folds.json`; fold 0 is the held-out set), each "
        "from a parent "
        "trained on FER+ alone and fine-tuned without its fold's performers, so no model is "
        "scored on a performer it saw; `benchmarks/performer_folds.py` scores each on its fold "
        "through the whole pipeline. The recipes are simpler than this model's (one run each, "
        "no weight average, most also shorter; the rows say how), so the figures describe the "
        "family of recipes, "
        f"not these weights. Accuracy is the mean of the {n_perf} performers' accuracies with a "
        "Student t interval; then the accuracy of each fold in order. Each fold's performers "
        "share one trained model, so the interval holds no training noise.",
        "",
        "| recipe | change | intended labels | per fold | perceived labels (non-neutral) | "
        "per fold |",
        "|---|---|---|---|---|---|",
    ]
    for a in folds["arms"]:
        lines.append(
            f"| {a['run']} | {a['change']} | {by_performer(a['intended'])} | "
            f"{per_fold(a['intended'])} | {by_performer(a['perceived'])} | {per_fold(a['perceived'])} |"
        )
    lines.append(
        "| observers' plurality | the human reference: the label most raters chose, against "
        f"the intended one (neutral photos count as misses) | {by_performer(folds_obs)} | "
        f"{per_fold(folds_obs)} | – | – |"
    )
    return lines
