"""Inference-time label-shift correction and recipe ensembles on the performer folds (an
ablation for issue 7; nothing here ships).

Usage: python benchmarks/label_shift.py FOLD0.onnx .. FOLD3.onnx [more arms, 4 models each]
[--limit N] [--no-harm]

Each arm is 4 models in fold order (``bash scripts/performer_folds.sh``). For every arm, and for
the mean of the arms' probabilities when more than one is given (an ensemble of recipes), the
fold models' calibrated probabilities on their own folds are scored as they are and after a
label-shift correction (Saerens, Latinne & Decaestecker, "Adjusting the outputs of a classifier
to new a priori probabilities", Neural Computation 14(1), 2002):

- ``U``: the target prior taken as uniform over the 7 posed labels (the set is near-balanced by
  design: an upper bound on what knowing the target's label mix buys);
- ``EM fold``: the target prior estimated by their EM from each fold's unlabelled photos;
- ``EM performer``: the same from each performer's photos alone (one person's session).

The source prior is FER+ `val`'s label mix, the set each export's temperature was fitted on.
Unless ``--no-harm``, fold 0's model of each arm is also scored on FER+ `val` and the media
photos before and after EM over the whole set, the check that the correction could be offered
on other data. Performer = unit, Student t interval over 29 (``mien.evaluation.folds``).
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

import numpy as np
import numpy.typing as npt
from rich.console import Console
from rich.table import Table

from mien.errors import MienError
from mien.evaluation.datasets import LabeledDataset, read_labels_csv
from mien.evaluation.folds import (
    INTENDED_LABELS,
    FoldProbabilities,
    compare_folds,
    fold_probabilities,
    pool_folds,
    score_folds,
)
from mien.evaluation.protocol import limited, protocol_analyzer
from mien.evaluation.runner import evaluate
from mien.logs import quiet_native_stderr

ROOT = Path(__file__).resolve().parents[1]


def reweight(
    probs: npt.NDArray[np.floating], source: npt.NDArray[np.floating], target: np.ndarray
) -> np.ndarray:
    """Posteriors under a new class prior: ``p'(y|x) ∝ p(y|x) · target(y) / source(y)``.

    Args:
        probs: ``(n, k)`` probabilities under the ``source`` prior (rows of NaN stay NaN).
        source, target: ``(k,)`` positive class priors (need not be normalised).

    Returns:
        ``(n, k)`` float64 rows summing to 1.
    """
    w = np.asarray(target, np.float64) / np.asarray(source, np.float64)
    out = np.asarray(probs, np.float64) * w
    return out / out.sum(axis=1, keepdims=True)


def em_prior(
    probs: npt.NDArray[np.floating],
    source: npt.NDArray[np.floating],
    *,
    max_iter: int = 200,
    tol: float = 1e-8,
) -> tuple[np.ndarray, np.ndarray]:
    """The EM estimate of a new set's class prior from unlabelled posteriors (Saerens et al.
    2002, section 2.2): alternate ``p'(y|x) = reweight(p, source, q)`` and ``q = mean p'``.

    Args:
        probs: ``(n, k)`` probabilities under ``source``, no NaN, ``n ≥ 1``.
        source: ``(k,)`` the class prior the posteriors assume (normalised here).
        max_iter, tol: stop after ``max_iter`` rounds or when no prior entry moves by ``tol``.

    Returns:
        ``(adapted (n, k) float64, prior (k,) float64)``.

    Raises:
        ValueError: an empty set, NaN rows, or shapes that do not match.
    """
    p = np.asarray(probs, np.float64)
    s = np.asarray(source, np.float64) / np.sum(source)
    if p.ndim != 2 or p.shape[0] == 0 or p.shape[1] != s.shape[0] or np.isnan(p).any():
        raise ValueError(f"em_prior needs (n ≥ 1, {s.shape[0]}) probabilities without NaN")
    q = s
    for _ in range(max_iter):
        q_new = reweight(p, s, q).mean(axis=0)
        done = np.abs(q_new - q).max() < tol
        q = q_new
        if done:
            break
    return reweight(p, s, q), q


def by_group(probs: np.ndarray, groups: np.ndarray, source: np.ndarray) -> np.ndarray:
    """:func:`em_prior` run separately on each group's rows (rows of NaN are left as they are)."""
    out = np.array(probs, np.float64)
    has = ~np.isnan(out).any(axis=1)
    for g in np.unique(groups):
        m = (groups == g) & has
        if m.any():
            out[m] = em_prior(out[m], source)[0]
    return out


def variants(parts: list[FoldProbabilities], source: np.ndarray) -> dict[str, list]:
    """The plain probabilities and the three corrections, as per-fold parts."""
    uniform = np.ones(len(INTENDED_LABELS))

    def per_fold(fn):
        return [FoldProbabilities(p.k, p.performers, p.dataset, fn(p), p.no_face) for p in parts]

    return {
        "": parts,
        " + U": per_fold(lambda p: reweight(p.probs, source, uniform)),
        " + EM fold": per_fold(lambda p: by_group(p.probs, np.zeros(len(p.probs)), source)),
        " + EM performer": per_fold(
            lambda p: by_group(p.probs, np.asarray(p.dataset.columns["subject"]), source)
        ),
    }


def _fmt(g: dict) -> str:
    return f"{g['mean']:.3f} [{g['ci'][0]:.3f}, {g['ci'][1]:.3f}]"


def _diff(c: dict) -> str:
    g = c["by_performer"]
    folds = ", ".join(f"{v:+.3f}" for v in c["per_fold"].values())
    ci = f"[{g['ci'][0]:+.3f}, {g['ci'][1]:+.3f}]"
    return f"{g['mean_diff']:+.3f} {ci} p {g['p_sign_flip']:.3f} ({folds})"


def harm(weights: str, sets: list[tuple[str, LabeledDataset, bool]], val_counts: Counter) -> list:
    """Accuracy of one model on each set: plain, after EM over the whole set, and after U."""
    rows = []
    with protocol_analyzer(weights) as analyzer:
        for name, ds, detect in sets:
            r = evaluate(analyzer, ds, detect=detect, quality_slices=False, n_boot=0)
            y = np.array([r.labels.index(s) for s in ds.labels])
            probs = np.asarray(r.items["probs"], np.float64)
            has = ~np.isnan(probs).any(axis=1)
            source = np.array([val_counts.get(n, 0) + 1.0 for n in r.labels])
            em = probs.copy()
            em[has] = em_prior(probs[has], source)[0]
            u = reweight(probs, source, np.ones(len(r.labels)))
            accs = [
                float(np.where(has, q.argmax(axis=1) == y, False).mean()) for q in (probs, em, u)
            ]
            rows.append((name, len(y), *accs))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("weights", nargs="+", help="4 models per arm, in fold order")
    ap.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    ap.add_argument("--limit", type=int, default=None, help="at most N photos per fold or set")
    ap.add_argument("--no-harm", action="store_true", help="skip FER+ val and the media photos")
    args = ap.parse_args()
    if len(args.weights) % 4:
        ap.error(f"give 4 models per arm (one per fold), got {len(args.weights)}")
    if args.limit is not None and args.limit < 1:
        ap.error("--limit must be at least 1")
    arms = [args.weights[i : i + 4] for i in range(0, len(args.weights), 4)]
    console = Console(width=170, markup=False)
    try:
        val_counts = Counter(read_labels_csv(args.shared / "data" / "fer", split="val").labels)
        with quiet_native_stderr():
            parts = [fold_probabilities(a, args.shared, limit=args.limit) for a in arms]
            others = [
                ("FER+ val", read_labels_csv(args.shared / "data" / "fer", split="val"), False),
                ("media", read_labels_csv(args.shared / "media" / "faces"), True),
            ]
            others = [(n, limited(ds, args.limit), d) for n, ds, d in others]
            harms = [] if args.no_harm else [(a[0], harm(a[0], others, val_counts)) for a in arms]
    except (MienError, OSError, ValueError) as e:  # reported once stderr is back
        ap.error(str(e))
    source = np.array([val_counts[n] for n in INTENDED_LABELS], np.float64)
    named = {f"arm {i + 1}": p for i, p in enumerate(parts)}
    if len(parts) > 1:
        named["ensemble"] = [
            FoldProbabilities(
                ps[0].k, ps[0].performers, ps[0].dataset, np.mean([p.probs for p in ps], 0),
                ps[0].no_face,
            )
            for ps in zip(*parts, strict=True)
        ]  # fmt: skip
    for i, a in enumerate(arms):
        console.print(f"arm {i + 1}: {', '.join(a)}")
    table = Table(title="Taiwanese performers, fold k's model on fold k (whole pipeline)")
    for col in ("", "intended, by performer", "per fold", "perceived, by performer"):
        table.add_column(col, justify="left" if not col else "right")
    scored = {}
    for name, ps in named.items():
        for suffix, vs in variants(ps, source).items():
            r = score_folds([""] * len(vs), vs)
            scored[name + suffix] = r
            pi, pp = pool_folds(r.intended), pool_folds(r.perceived)
            per_fold = ", ".join(f"{v['accuracy']:.3f}" for v in pi["per_fold"].values())
            table.add_row(
                name + suffix, _fmt(pi["by_performer"]), per_fold, _fmt(pp["by_performer"])
            )
    console.print(table)
    console.print("Paired, B − A by performer: mean [t interval] sign-flip p (per fold)")
    pairs = [(n, n + s) for n in named for s in (" + U", " + EM fold", " + EM performer")]
    pairs += [(a, "ensemble") for a in named if a != "ensemble" and "ensemble" in named]
    for a, b in pairs:
        for what in ("intended", "perceived"):
            c = compare_folds(getattr(scored[a], what), getattr(scored[b], what))
            console.print(f"  {b} − {a}, {what}: {_diff(c)}")
    for w, rows in harms:
        console.print(f"fold 0's model {w}:")
        for name, n, plain, em, u in rows:
            console.print(f"  {name} (n {n}): plain {plain:.4f}, EM {em:.4f}, U {u:.4f}")


if __name__ == "__main__":
    main()
