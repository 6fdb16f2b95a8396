"""Cross-validation by performer on the Taiwanese set: one model per fold, each scored on the
performers it never saw, pooled over all 29 performers (see :mod:`mien.evaluation.folds`).

Usage: python benchmarks/performer_folds.py FOLD0.onnx FOLD1.onnx FOLD2.onnx FOLD3.onnx
[--limit N] [--json OUT]
       python benchmarks/performer_folds.py --folds 0,1 FOLD0.onnx FOLD1.onnx   (a pilot on
       some folds: pooled figures then cover only their performers)
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
from typing import Any

from rich.console import Console
from rich.table import Table

from mien.errors import MienError
from mien.evaluation.folds import Scored, compare_folds, run_folds
from mien.evaluation.protocol import taiwanese_folds
from mien.logs import quiet_native_stderr

ROOT = Path(__file__).resolve().parents[1]


def _ci(lo_hi: tuple[float, float]) -> str:
    if lo_hi[0] != lo_hi[0]:  # nan: too few photos or performers
        return "–"
    return f"[{lo_hi[0]:.3f}, {lo_hi[1]:.3f}]"


def _photos(path: Path, what: str) -> Scored:
    """One ``--json`` result's per-photo outcomes (``what``: intended or perceived).

    Raises:
        ValueError: the file is unreadable or not a result of this script, naming the file.
    """
    try:
        data = json.loads(Path(path).read_text())
        return Scored.from_dict(data["photos"][what])
    except OSError as e:
        raise ValueError(f"{path}: cannot read ({e.strerror})") from e
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not JSON ({e})") from e
    except (KeyError, TypeError, ValueError) as e:
        raise ValueError(
            f"{path}: not a performer_folds.py --json result (photos.{what}: {e})"
        ) from e


def _p(p: float) -> str:
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def compare(path_a: Path, path_b: Path) -> None:
    """Print the paired difference B − A of two ``--json`` results.

    Raises:
        ValueError: a file is not such a result, or the two hold other photos.
    """
    table = Table(title=f"B − A, paired photo by photo (A {path_a}, B {path_b})")
    for col in ("labels", "photos", "A", "B", "B − A by performer", "sign-flip p", "over photos",
                "McNemar p", "B − A per fold"):  # fmt: skip
        table.add_column(col, justify="left" if col == "labels" else "right")
    for what in ("intended", "perceived"):
        try:
            c = compare_folds(_photos(path_a, what), _photos(path_b, what))
        except ValueError as e:
            raise ValueError(f"{what} labels: {e}") from e
        g = c["by_performer"]
        table.add_row(
            what,
            str(c["n"]),
            f"{c['accuracy_a']:.3f}",
            f"{c['accuracy_b']:.3f}",
            f"{g['mean_diff']:+.3f} [{g['ci'][0]:+.3f}, {g['ci'][1]:+.3f}] ({g['people']})",
            _p(g["p_sign_flip"]),
            f"{c['diff']:+.3f} [{c['diff_ci_images'][0]:+.3f}, {c['diff_ci_images'][1]:+.3f}]",
            _p(c["mcnemar_p"]),
            ", ".join(f"{v:+.3f}" for v in c["per_fold"].values()),
        )
    console = Console(width=180)
    console.print(table)
    console.print(
        "Each fold's performers share one trained model per recipe, so these intervals hold "
        "no training noise: weigh a difference against the seed spread too."
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("weights", nargs="*", help="one model per fold, in fold order")
    ap.add_argument("--compare", nargs=2, type=Path, metavar=("A.json", "B.json"), default=None)
    ap.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    ap.add_argument("--limit", type=int, default=None, help="at most N photos per fold")
    ap.add_argument(
        "--folds",
        default=None,
        metavar="K,K",
        help="score only these folds, e.g. 0,1 (one model each, in this order); default all",
    )
    ap.add_argument(
        "--json", type=Path, default=None, help="also write the figures and per-photo outcomes"
    )
    args = ap.parse_args()
    if args.limit is not None and args.limit < 1:
        ap.error("--limit must be at least 1")
    if args.compare:
        if args.weights:
            ap.error("--compare takes two --json results, not models")
        try:
            compare(*args.compare)
        except ValueError as e:
            ap.error(f"--compare: {e}")
        return
    every = taiwanese_folds()
    try:
        ids = [int(k) for k in args.folds.split(",")] if args.folds else list(range(len(every)))
    except ValueError:
        ids = []
    if not ids or len(set(ids)) != len(ids) or not all(0 <= k < len(every) for k in ids):
        ap.error(f"--folds: fold numbers joined by commas, each of 0..{len(every) - 1} once")
    folds = [every[k] for k in ids]
    if len(args.weights) != len(folds):
        ap.error(f"give {len(folds)} models, one per fold, in the order of the folds")
    console = Console(width=160)
    try:
        with quiet_native_stderr():  # MediaPipe's start-up lines, once per fold's model
            result = run_folds(
                args.weights,
                args.shared,
                folds=folds,
                fold_ids=ids,
                limit=args.limit,
                progress=console.print,
            )
    except (MienError, OSError) as e:
        ap.error(str(e))
    pooled = result.to_dict()  # the pooled figures, and the per-photo outcomes for --json
    reused = any(w == "bundled" for w in args.weights) or len(set(args.weights)) < len(folds)
    title = (
        "Taiwanese performers, fold k scored by model k (a model given for several folds, or "
        "the bundled one, may have trained on some of them: check before reading this as "
        "held-out)"
        if reused
        else "Taiwanese performers, each fold scored by the model trained without it"
    )
    table = Table(title=title)
    for col in ("fold", "performers", "intended (n)", "perceived (n)",
                "observers vs intended (n)"):  # fmt: skip
        table.add_column(col, justify="left" if col == "fold" else "right")

    def cell(d: dict[str, Any] | None) -> str:
        return "–" if d is None else f"{d['accuracy']:.3f} ({d['n']})"

    for k, performers in zip(ids, folds, strict=True):
        cells = [pooled[s]["per_fold"].get(k) for s in ("intended", "perceived", "observers")]
        table.add_row(str(k), str(len(performers)), *(cell(c) for c in cells))
    table.add_section()
    for what, key in (
        ("pooled, by photo", "accuracy"),
        ("pooled, by performer", "by_performer"),
    ):
        row = []
        for s in ("intended", "perceived", "observers"):
            p = pooled[s]
            if key == "accuracy":
                row.append(f"{p['accuracy']:.3f} {_ci(p['accuracy_ci'])} ({p['n']})")
            else:
                g = p["by_performer"]
                row.append(f"{g['mean']:.3f} {_ci(g['ci'])} ({g['n_groups']})")
        table.add_row(what, str(sum(len(f) for f in folds)), *row)
    console.print(table)
    console.print(
        "n: photos, or performers on the 'by performer' row. By photo: Wilson interval, photos "
        "taken as independent (they are not). By performer: the mean of the performers' "
        "accuracies, Student t interval. Perceived: non-neutral photos against the observers' "
        "plurality. Observers vs intended: the human reference; neutral photos count as "
        "misses (raters had no neutral option)."
    )
    if args.limit is not None:
        console.print(f"--limit {args.limit}: a few photos per fold, for checks only")
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
        args.json.write_text(json.dumps(pooled, indent=2))


if __name__ == "__main__":
    main()
