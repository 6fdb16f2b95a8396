"""Paired comparison of two expression models on the cross-dataset protocol.

Usage: python benchmarks/compare_models.py A.onnx B.onnx [--limit N] [--json OUT]

Both models see the same images (their spec ``.json`` must lie beside each ``.onnx``; the name
``bundled`` means the bundled default). For each set it prints both accuracies, the difference
B − A with a 95 % paired bootstrap interval (2,000 resamples of images), and McNemar's exact
two-sided p-value on the images where exactly one model is right (McNemar, Psychometrika 12,
1947). It does the same bootstrap for macro-F1 (the rare labels weigh as much as the common
ones). A difference whose interval holds 0 is within noise. For sets of few people (the
Taiwanese performers, column ``subject``) it also takes the person as the unit: the number of
people, the mean of their per-person differences and a sign-flip p-value (exact up to 16
people; photos of one person are not independent; with 5 people no p can fall below 0.0625).

Every interval and p here treats the two models as fixed: it says whether *these two weight
files* differ on these images, not whether their *recipes* do. Training noise is not in it. Two
seeds of one recipe (``scripts/seed_repeat.sh``; the README and the model card give the figures)
differ on taiwanese_heldout by -0.043 [-0.076, -0.010], McNemar p = 0.022. To compare recipes,
repeat each with several seeds.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from mien.errors import MienError
from mien.evaluation.paired import by_person, mcnemar_exact, paired_f1_interval, paired_interval
from mien.evaluation.protocol import limited, protocol_analyzer, run_protocol, select_sets

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    if args.limit is not None and args.limit < 1:
        ap.error("--limit must be at least 1")
    try:  # check both models and the data before the long part
        sets = select_sets(args.shared)
        analyzers = {"a": protocol_analyzer(args.a), "b": protocol_analyzer(args.b)}
    except MienError as e:
        ap.error(str(e))
    right: dict[str, dict[str, np.ndarray]] = {}
    preds: dict[str, dict[str, np.ndarray]] = {}
    truth: dict[str, np.ndarray] = {}
    for key in ("a", "b"):
        reports = run_protocol(analyzers[key], sets, limit=args.limit)
        right[key] = {n: r.items["y_pred"] == r.items["y_true"] for n, r in reports.items()}
        preds[key] = {n: r.items["y_pred"] for n, r in reports.items()}
        truth = {n: r.items["y_true"] for n, r in reports.items()}
    subjects = {
        s.name: np.asarray(limited(s.dataset, args.limit).columns["subject"])
        for s in sets
        if "subject" in s.dataset.columns
    }
    table = Table(title=f"A = {args.a}, B = {args.b}")
    columns = ("set", "n", "A", "B", "B − A", "95 % CI", "by person: n, mean, p", "only A right")
    for col in (*columns, "only B right", "p", "macro-F1 B − A", "95 % CI "):
        table.add_column(col, justify="left" if col == "set" else "right")
    out = {}
    for name in right["a"]:
        ra, rb = right["a"][name], right["b"][name]
        lo, hi = paired_interval(ra, rb)
        only_a, only_b = int((ra & ~rb).sum()), int((rb & ~ra).sum())
        p = mcnemar_exact(only_a, only_b)
        f1_diff, f1_lo, f1_hi = paired_f1_interval(truth[name], preds["a"][name], preds["b"][name])
        people = by_person(ra, rb, subjects[name]) if name in subjects else None
        out[name] = {
            "n": len(ra),
            "a": float(ra.mean()),
            "b": float(rb.mean()),
            "diff": float(rb.mean() - ra.mean()),
            "ci": [lo, hi],
            "by_subject": people,
            "only_a": only_a,
            "only_b": only_b,
            "p_mcnemar": p,
            "macro_f1_diff": f1_diff,
            "macro_f1_ci": [f1_lo, f1_hi],
        }
        table.add_row(
            name,
            str(len(ra)),
            f"{ra.mean():.4f}",
            f"{rb.mean():.4f}",
            f"{rb.mean() - ra.mean():+.4f}",
            f"[{lo:+.4f}, {hi:+.4f}]",
            ""
            if people is None
            else f"{people['people']}, {people['mean_diff']:+.4f}, {people['p_sign_flip']:.3f}",
            str(only_a),
            str(only_b),
            f"{p:.3f}",
            f"{f1_diff:+.4f}",
            f"[{f1_lo:+.4f}, {f1_hi:+.4f}]",
        )
    Console(width=200).print(table)
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
