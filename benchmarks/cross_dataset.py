"""Cross-dataset validation protocol: FER+ val, held-out Taiwanese performers, media agreement.

Usage: python benchmarks/cross_dataset.py [--weights MODEL.onnx] [--limit N] [--sets NAME ...]
[--json OUT]

``--weights`` scores another ONNX export (its spec ``.json`` must lie beside it); the default is
the bundled model. Prints accuracy, macro-F1, ECE and per-class recall (with n) for each set.
See :mod:`mien.evaluation.protocol` for what each set is.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rich.console import Console
from rich.table import Table

from mien.errors import MienError
from mien.evaluation.protocol import (
    describe_observers_split,
    observer_reference,
    protocol_analyzer,
    run_protocol,
    select_sets,
)

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--weights", type=Path, default=None)
    ap.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    ap.add_argument("--limit", type=int, default=None, help="at most N images per set")
    ap.add_argument("--sets", nargs="+", default=None, help="only these sets (default: all)")
    ap.add_argument("--json", type=Path, default=None, help="also write the reports here")
    args = ap.parse_args()
    if args.limit is not None and args.limit < 1:
        ap.error("--limit must be at least 1")
    try:
        sets = select_sets(args.shared, args.sets)
        analyzer = protocol_analyzer(args.weights)
    except MienError as e:
        ap.error(str(e))
    reports = run_protocol(analyzer, sets, limit=args.limit)
    console = Console(width=160)
    table = Table(title=f"cross-dataset protocol: {args.weights or analyzer.expression.spec.name}")
    for col in ("set", "n", "accuracy", "macro-F1", "ECE", "recall (n) per class"):
        table.add_column(
            col, justify="right" if col not in ("set", "recall (n) per class") else "left"
        )
    for name, r in reports.items():
        support = [
            sum(row) + miss
            for row, miss in zip(r.confusion["matrix"], r.confusion["no_prediction"], strict=True)
        ]
        recall = ", ".join(
            f"{label} {'-' if rec is None else f'{rec:.2f}'} ({n})"
            for (label, rec), n in zip(r.per_class_recall.items(), support, strict=True)
        )
        table.add_row(
            name,
            str(r.n),
            f"{r.accuracy:.4f}",
            f"{r.macro_f1:.4f}",
            "-" if r.ece is None else f"{r.ece:.4f}",
            recall,
        )
    console.print(table)
    out = {k: v.to_dict() for k, v in reports.items()}
    if "taiwanese_heldout" in reports:
        ref = observer_reference(args.shared)
        recall = ", ".join(f"{k} {r:.2f} ({n})" for k, (r, n) in ref.per_class_recall.items())
        console.print(
            "human reference on taiwanese_heldout, all photos whatever --limit (observers' "
            "plurality vs intended label): "
            f"{ref.accuracy_all:.4f} of {ref.n_all} photos, {ref.accuracy_expressive:.4f} of the "
            f"{ref.n_expressive} non-neutral ones; recall {recall}"
        )
        out["observer_reference"] = ref.__dict__
        split = describe_observers_split(reports["taiwanese_heldout"])
        if split:
            console.print("taiwanese_heldout by the observers' reading: " + split)
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
