"""Paired comparison of two expression models on the cross-dataset protocol.

Usage: python benchmarks/compare_models.py A.onnx B.onnx [--limit N] [--json OUT]

Both models see the same images (their spec ``.json`` must lie beside each ``.onnx``; the name
``bundled`` means the bundled default). For each set it prints both accuracies, the difference
B − A with a 95 % paired bootstrap interval (2,000 resamples of images), and McNemar's exact
two-sided p-value on the images where exactly one model is right (McNemar, Psychometrika 12,
1947). A difference whose interval holds 0 is within noise.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from mien import Analyzer
from mien.evaluation.protocol import protocol_sets, run_protocol

ROOT = Path(__file__).resolve().parents[1]


def mcnemar_exact(only_a: int, only_b: int) -> float:
    """Two-sided exact McNemar p-value: binomial test of ``only_b`` out of the discordant pairs."""
    n = only_a + only_b
    if n == 0:
        return 1.0
    k = min(only_a, only_b)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2**n
    return min(1.0, 2 * tail)


def paired_interval(
    right_a: np.ndarray, right_b: np.ndarray, *, n_boot: int = 2000, seed: int = 0
) -> tuple[float, float]:
    """95 % percentile interval of ``mean(right_b) − mean(right_a)`` over image resamples."""
    rng = np.random.default_rng(seed)
    diff = right_b.astype(np.float64) - right_a.astype(np.float64)
    idx = rng.integers(0, len(diff), (n_boot, len(diff)))
    means = diff[idx].mean(1)
    return float(np.quantile(means, 0.025)), float(np.quantile(means, 0.975))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    sets = protocol_sets(args.shared)
    right = {}
    for key in ("a", "b"):
        weights = getattr(args, key)
        analyzer = Analyzer(weights=None if weights == "bundled" else Path(weights))
        reports = run_protocol(analyzer, sets, limit=args.limit)
        right[key] = {n: r.items["y_pred"] == r.items["y_true"] for n, r in reports.items()}
    table = Table(title=f"A = {args.a}, B = {args.b}")
    for col in ("set", "n", "A", "B", "B − A", "95 % CI", "only A right", "only B right", "p"):
        table.add_column(col, justify="left" if col == "set" else "right")
    out = {}
    for name in right["a"]:
        ra, rb = right["a"][name], right["b"][name]
        lo, hi = paired_interval(ra, rb)
        only_a, only_b = int((ra & ~rb).sum()), int((rb & ~ra).sum())
        p = mcnemar_exact(only_a, only_b)
        out[name] = {
            "n": len(ra),
            "a": float(ra.mean()),
            "b": float(rb.mean()),
            "diff": float(rb.mean() - ra.mean()),
            "ci": [lo, hi],
            "only_a": only_a,
            "only_b": only_b,
            "p_mcnemar": p,
        }
        table.add_row(
            name,
            str(len(ra)),
            f"{ra.mean():.4f}",
            f"{rb.mean():.4f}",
            f"{rb.mean() - ra.mean():+.4f}",
            f"[{lo:+.4f}, {hi:+.4f}]",
            str(only_a),
            str(only_b),
            f"{p:.3f}",
        )
    Console(width=160).print(table)
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
