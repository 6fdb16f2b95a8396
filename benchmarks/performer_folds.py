"""Cross-validation by performer on the Taiwanese set: one model per fold, each scored on the
performers it never saw, pooled over all 29 performers (see :mod:`mien.evaluation.folds`).

Usage: python benchmarks/performer_folds.py FOLD0.onnx FOLD1.onnx FOLD2.onnx FOLD3.onnx
[--limit N] [--json OUT]

Models come in fold order (``src/mien/evaluation/subsets/taiwanese_folds.json``); train them
with ``bash scripts/performer_folds.sh``. ``bundled`` scores the bundled model, which trained on
folds 1-3: a check of the tool, not a held-out figure. Prints, per fold and pooled, accuracy
against the intended labels, against the observers' plurality (non-neutral photos), and the
observers' own agreement with the intended labels (the human reference), with the performer as
the unit (mean of the performers' accuracies, Student t interval).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rich.console import Console
from rich.table import Table

from mien.errors import MienError
from mien.evaluation.folds import pool_folds, run_folds
from mien.evaluation.protocol import taiwanese_folds
from mien.logs import quiet_native_stderr

ROOT = Path(__file__).resolve().parents[1]


def _ci(lo_hi: tuple[float, float]) -> str:
    return f"[{lo_hi[0]:.3f}, {lo_hi[1]:.3f}]"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("weights", nargs="+", help="one model per fold, in fold order")
    ap.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    ap.add_argument("--limit", type=int, default=None, help="at most N photos per fold")
    ap.add_argument("--json", type=Path, default=None, help="also write the summary here")
    args = ap.parse_args()
    if args.limit is not None and args.limit < 1:
        ap.error("--limit must be at least 1")
    folds = taiwanese_folds()
    if len(args.weights) != len(folds):
        ap.error(f"give {len(folds)} models, one per fold, in fold order")
    console = Console(width=160)
    try:
        with quiet_native_stderr():  # MediaPipe's start-up lines, once per fold's model
            result = run_folds(args.weights, args.shared, limit=args.limit, progress=console.print)
    except MienError as e:
        ap.error(str(e))
    pooled = {
        "intended": pool_folds(result.intended),
        "perceived": pool_folds(result.perceived),
        "observers": pool_folds(result.observers),
    }
    table = Table(title="Taiwanese performers, each fold scored by the model that never saw it")
    for col in ("fold", "performers", "photos", "intended", "perceived", "observers vs intended"):
        table.add_column(col, justify="left" if col == "fold" else "right")
    for k in range(len(folds)):
        cells = [pooled[s]["per_fold"][k] for s in ("intended", "perceived", "observers")]
        table.add_row(
            str(k),
            str(cells[0]["performers"]),
            str(cells[0]["n"]),
            *(f"{c['accuracy']:.3f}" for c in cells),
        )
    table.add_section()
    for what, key in (("all, over photos", "accuracy"), ("all, by performer", "by_performer")):
        row = []
        for s in ("intended", "perceived", "observers"):
            p = pooled[s]
            if key == "accuracy":
                row.append(f"{p['accuracy']:.3f} {_ci(p['accuracy_ci'])}")
            else:
                g = p["by_performer"]
                row.append(f"{g['mean']:.3f} {_ci(g['ci'])}")
        n_perf = pooled["intended"]["by_performer"]["n_groups"]
        table.add_row(what, str(n_perf), str(pooled["intended"]["n"]), *row)
    console.print(table)
    for s, title in (
        ("intended", "recall per intended label (n)"),
        ("perceived", "recall per observed label (n)"),
        ("observers", "observers' recall per intended label (n)"),
    ):
        recall = pooled[s]["per_class_recall"]
        cells = ", ".join(f"{k} {r:.2f} ({n})" for k, (r, n) in recall.items())
        console.print(f"{title}: {cells}")
    per = pooled["intended"]["by_performer"]["per_group"]
    console.print(
        "intended accuracy per performer: "
        + ", ".join(f"{k} {v:.2f}" for k, v in sorted(per.items()))
    )
    missed = sum(len(v) for v in result.no_face.values())
    console.print(f"photos without a detected face (counted wrong): {missed}")
    if args.json:
        args.json.write_text(json.dumps(result.to_dict(), indent=2))


if __name__ == "__main__":
    main()
