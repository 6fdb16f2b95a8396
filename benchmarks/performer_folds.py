"""Cross-validation by performer on the Taiwanese set: one model per fold, each scored on the
performers it never saw, pooled over all 29 performers (see :mod:`mien.evaluation.folds`).

Usage: python benchmarks/performer_folds.py FOLD0.onnx FOLD1.onnx FOLD2.onnx FOLD3.onnx
[--limit N] [--json OUT]
       python benchmarks/performer_folds.py --compare A.json B.json   (two --json outputs)

Models come in fold order (``src/mien/evaluation/subsets/taiwanese_folds.json``); train them
with ``bash scripts/performer_folds.sh``. ``bundled`` scores the bundled model, which trained on
folds 1-3: a check of the tool, not a held-out figure. Prints, per fold and pooled, accuracy
against the intended labels, against the observers' plurality (non-neutral photos), and the
observers' own agreement with the intended labels (the human reference), with the performer as
the unit (mean of the performers' accuracies, Student t interval). ``--compare`` pairs two
recipes' results photo by photo: the difference B − A by performer (t interval, sign-flip p)
and over images (bootstrap interval, McNemar's p).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rich.console import Console
from rich.table import Table

from mien.errors import MienError
from mien.evaluation.folds import Scored, compare_folds, pool_folds, run_folds
from mien.evaluation.protocol import taiwanese_folds
from mien.logs import quiet_native_stderr

ROOT = Path(__file__).resolve().parents[1]


def _ci(lo_hi: tuple[float, float]) -> str:
    return f"[{lo_hi[0]:.3f}, {lo_hi[1]:.3f}]"


def compare(path_a: Path, path_b: Path) -> None:
    """Print the paired difference B − A of two ``--json`` results."""
    a, b = (json.loads(Path(p).read_text())["photos"] for p in (path_a, path_b))
    table = Table(title=f"B − A, paired photo by photo (A {path_a}, B {path_b})")
    for col in ("labels", "photos", "A", "B", "B − A by performer", "sign-flip p", "over photos",
                "McNemar p"):  # fmt: skip
        table.add_column(col, justify="left" if col == "labels" else "right")
    for what in ("intended", "perceived"):
        c = compare_folds(Scored.from_dict(a[what]), Scored.from_dict(b[what]))
        g = c["by_performer"]
        table.add_row(
            what,
            str(c["n"]),
            f"{c['accuracy_a']:.3f}",
            f"{c['accuracy_b']:.3f}",
            f"{g['mean_diff']:+.3f} [{g['ci'][0]:+.3f}, {g['ci'][1]:+.3f}] ({g['people']})",
            f"{g['p_sign_flip']:.3f}",
            f"{c['diff']:+.3f} [{c['diff_ci_images'][0]:+.3f}, {c['diff_ci_images'][1]:+.3f}]",
            f"{c['mcnemar_p']:.3f}",
        )
    Console(width=160).print(table)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("weights", nargs="*", help="one model per fold, in fold order")
    ap.add_argument("--compare", nargs=2, type=Path, metavar=("A.json", "B.json"), default=None)
    ap.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    ap.add_argument("--limit", type=int, default=None, help="at most N photos per fold")
    ap.add_argument("--json", type=Path, default=None, help="also write the summary here")
    args = ap.parse_args()
    if args.limit is not None and args.limit < 1:
        ap.error("--limit must be at least 1")
    if args.compare:
        if args.weights:
            ap.error("--compare takes two --json results, not models")
        try:
            compare(*args.compare)
        except (OSError, KeyError, ValueError) as e:
            ap.error(f"--compare: {e}")
        return
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
