"""Inference-time label-shift correction and recipe ensembles on the performer folds (an
ablation for issue 7; nothing here ships).

Usage: python benchmarks/label_shift.py FOLD0.onnx .. FOLD3.onnx [more arms, 4 models each]
[--source fer_val|training] [--limit N] [--no-harm]

Each arm is 4 models in fold order (``bash scripts/performer_folds.sh``). For every arm, and for
the mean of the arms' probabilities when more than one is given (an ensemble of recipes), the
fold models' calibrated probabilities on their own folds are scored as they are and after a
label-shift correction (Saerens, Latinne & Decaestecker, "Adjusting the outputs of a classifier
to new a priori probabilities", Neural Computation 14(1), 2002):

- ``U``: the target prior taken as uniform over the 7 posed labels;
- ``EM fold``: the target prior estimated by their EM from each fold's unlabelled photos;
- ``EM performer``: the same from each performer's photos alone (one person's session);
- ``true mix``: the fold's real label mix (uses the test labels: a diagnostic ceiling for a
  known prior, never a method);
- ``centred per performer``: each photo's log-probabilities minus the mean over that
  performer's photos (a per-person baseline; it assumes a person's photos span the
  expressions, which this posed set guarantees by design and real footage does not);
- ``neutral baseline ½``: each expressive photo's log-probabilities minus half the difference
  between the mean over that performer's own neutral photos and the mean over every
  performer's neutral photos (a baseline recording, as in many lab protocols; the photos'
  intended ``neutral`` label picks the baseline, neutral photos stay as they are). The weight
  ½ was chosen after looking at ½ and 1 on these folds: exploratory.

The source prior (what the posteriors assume) is, with ``--source fer_val`` (the plan's choice),
FER+ `val`'s label mix, the set each export's temperature was fitted on; with ``--source
training``, each fold model's own training mix (:func:`training_prior`: its run's data cache,
repeats and class balance, then the export's logit bias and temperature), which needs the run
folder and its cache beside the export. Unless ``--no-harm``, fold 0's model of each arm is also
scored on FER+ `val` (in-sample: it fitted the temperature) and the media photos before and
after EM over the whole set (source prior: FER+ `val`'s mix over the model's labels, +1 each).
Performer = unit, Student t interval over 29 (``mien.evaluation.folds``).
"""

from __future__ import annotations

import argparse
from collections import Counter
from collections.abc import Callable
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
from mien.evaluation.metrics import softmax
from mien.evaluation.paired import mcnemar_exact
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


def per_group(
    probs: np.ndarray, groups: np.ndarray, fn: Callable[[np.ndarray], np.ndarray]
) -> np.ndarray:
    """``fn`` applied to each group's rows alone, ``(m, k) -> (m, k)``; rows of NaN (no face)
    are left as they are and never enter ``fn``."""
    out = np.array(probs, np.float64)
    has = ~np.isnan(out).any(axis=1)
    for g in np.unique(groups):
        m = (groups == g) & has
        if m.any():
            out[m] = fn(out[m])
    return out


def by_group(probs: np.ndarray, groups: np.ndarray, source: np.ndarray) -> np.ndarray:
    """:func:`em_prior` run separately on each group's rows (rows of NaN are left as they are)."""
    return per_group(probs, groups, lambda p: em_prior(p, source)[0])


def true_mix(labels: tuple[str, ...]) -> np.ndarray:
    """``(7,)`` the share of each of :data:`INTENDED_LABELS` among ``labels`` (+1e-3 each)."""
    counts = Counter(labels)
    mix = np.array([counts[n] for n in INTENDED_LABELS], np.float64) + 1e-3
    return mix / mix.sum()


def variants(parts: list[FoldProbabilities], sources: list[np.ndarray]) -> dict[str, list]:
    """The plain probabilities and the corrections, as per-fold parts (``sources``: each
    fold's ``(7,)`` source prior)."""
    uniform = np.ones(len(INTENDED_LABELS))

    def per_fold(fn):
        return [
            FoldProbabilities(p.k, p.performers, p.dataset, fn(p, s), p.no_face)
            for p, s in zip(parts, sources, strict=True)
        ]

    return {
        "": parts,
        " + U": per_fold(lambda p, s: reweight(p.probs, s, uniform)),
        " + EM fold": per_fold(lambda p, s: by_group(p.probs, np.zeros(len(p.probs)), s)),
        " + EM performer": per_fold(
            lambda p, s: by_group(p.probs, np.asarray(p.dataset.columns["subject"]), s)
        ),
        " + true mix": per_fold(lambda p, s: reweight(p.probs, s, true_mix(p.dataset.labels))),
        " + centred per performer": per_fold(
            lambda p, s: centre_by_group(p.probs, np.asarray(p.dataset.columns["subject"]))
        ),
        " + neutral baseline ½": neutral_baseline(parts),
    }


def neutral_baseline(parts: list[FoldProbabilities], weight: float = 0.5) -> list:
    """Each fold's probabilities with a per-performer neutral baseline taken out:
    ``softmax(log p − weight × (b_performer − b_all))`` on the photos whose intended label is
    not neutral, where ``b`` is the mean log-probability over neutral photos (the performer's
    own, and every performer's of all ``parts``); neutral photos and rows of NaN are unchanged,
    as is a performer without a neutral photo with a face.

    Returns:
        per-fold :class:`FoldProbabilities`, ``(n, 7)`` rows summing to 1.
    """

    def logs(p: FoldProbabilities) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        logp = np.log(np.clip(np.asarray(p.probs, np.float64), 1e-6, 1.0))
        has = ~np.isnan(logp).any(axis=1)
        neutral = (np.asarray(p.dataset.labels) == "neutral") & has
        return logp, has, neutral, np.asarray(p.dataset.columns["subject"])

    every = [logs(p) for p in parts]
    b_all = np.concatenate([lp[n] for lp, _, n, _ in every]).mean(axis=0)
    out = []
    for p, (logp, has, neutral, subject) in zip(parts, every, strict=True):
        probs = np.array(p.probs, np.float64)
        for s in np.unique(subject[neutral]):
            m = (subject == s) & has & ~neutral
            b = logp[(subject == s) & neutral].mean(axis=0)
            probs[m] = softmax(logp[m] - weight * (b - b_all))
        out.append(FoldProbabilities(p.k, p.performers, p.dataset, probs, p.no_face))
    return out


def centre_by_group(probs: npt.NDArray[np.floating], groups: np.ndarray) -> np.ndarray:
    """``softmax(log p − mean of log p over the row's group)``: a per-person baseline taken out
    (rows of NaN, no face, stay NaN and do not enter the mean).

    Args:
        probs: ``(n, k)`` probabilities.
        groups: ``(n,)`` the group (performer) of each row.

    Returns:
        ``(n, k)`` float64 rows summing to 1.
    """

    def centre(p: np.ndarray) -> np.ndarray:
        logp = np.log(np.clip(p, 1e-6, 1.0))
        return softmax(logp - logp.mean(axis=0))

    return per_group(probs, groups, centre)


def training_prior(weights: str | Path) -> np.ndarray:
    """``(7,)`` the class prior an exported fold model's probabilities assume on its training
    distribution, over :data:`INTENDED_LABELS`.

    The mean training target (FER+ ``train`` plus the Taiwanese rows ``taiwanese_repeat``
    times, weighted as the run sampled them under ``class_balance``), times ``exp(bias)`` for
    the export's logit bias, to the power ``1 / temperature`` (the export's probabilities are
    ``softmax((logits + bias) / T)``).

    Raises:
        FileNotFoundError: no ``config.yaml`` in the export's run folder (``EXPORT/../..``), or
            its data cache is missing.
    """
    from mien.training.config import TrainConfig
    from mien.training.data import balanced_weights, load_training_data
    from mien.types import EXPRESSIONS
    from mien.weights import WeightSpec

    onnx = Path(weights)
    run = onnx.parent.parent
    if not (run / "config.yaml").is_file():
        raise FileNotFoundError(f"{onnx}: no run config at {run / 'config.yaml'}")
    cfg = TrainConfig.load(run / "config.yaml")
    rows = load_training_data(cfg).train_rows(cfg.taiwanese_repeat)
    if cfg.class_balance > 0:
        w = balanced_weights(rows.labels, cfg.class_balance)
    else:
        w = np.full(len(rows.labels), 1.0 / len(rows.labels))
    mix = dict(zip(EXPRESSIONS, (rows.targets * w[:, None]).sum(axis=0), strict=True))
    spec = WeightSpec.from_json(onnx.with_suffix(".json"))
    bias = dict(zip(spec.names, spec.logit_bias or np.zeros(len(spec.names)), strict=True))
    prior = np.array(
        [(mix[n] * np.exp(bias[n])) ** (1.0 / spec.temperature) for n in INTENDED_LABELS]
    )
    return prior / prior.sum()


def ensemble(arms: list[list[FoldProbabilities]]) -> list[FoldProbabilities]:
    """Per fold, the mean of the arms' probabilities.

    Raises:
        ValueError: the arms did not score the same photos of a fold, or found faces in
            different photos (their rows would not pair).
    """
    out = []
    for ps in zip(*arms, strict=True):
        first = ps[0]
        for p in ps[1:]:
            if p.dataset.paths != first.dataset.paths or sorted(p.no_face) != sorted(first.no_face):
                raise ValueError(f"fold {first.k}: the arms scored different photos or faces")
        mean = np.mean([p.probs for p in ps], axis=0)
        out.append(FoldProbabilities(first.k, first.performers, first.dataset, mean, first.no_face))
    return out


def _fmt(g: dict) -> str:
    return f"{g['mean']:.3f} [{g['ci'][0]:.3f}, {g['ci'][1]:.3f}]"


def _diff(c: dict) -> str:
    g = c["by_performer"]
    folds = ", ".join(f"{v:+.3f}" for v in c["per_fold"].values())
    ci = f"[{g['ci'][0]:+.3f}, {g['ci'][1]:+.3f}]"
    return f"{g['mean_diff']:+.3f} {ci} p {g['p_sign_flip']:.3f} ({folds})"


def harm(
    weights: str, sets: list[tuple[str, LabeledDataset, bool, list[str]]], val_counts: Counter
) -> list:
    """Accuracy of one model on each set: plain, after EM over the whole set, and after U; the
    photos EM gains and loses, McNemar's p, and EM's prior."""
    rows = []
    with protocol_analyzer(weights) as analyzer:
        for name, ds, detect, labels in sets:
            r = evaluate(analyzer, ds, detect=detect, quality_slices=False, n_boot=0, labels=labels)
            y = np.array([r.labels.index(s) for s in ds.labels])
            probs = np.asarray(r.items["probs"], np.float64)
            has = ~np.isnan(probs).any(axis=1)
            source = np.array([val_counts.get(n, 0) + 1.0 for n in r.labels])
            em = probs.copy()
            em[has] = em_prior(probs[has], source)[0]
            u = reweight(probs, source, np.ones(len(r.labels)))
            right = [np.where(has, q.argmax(axis=1) == y, False) for q in (probs, em, u)]
            gained = int((right[1] & ~right[0]).sum())
            lost = int((right[0] & ~right[1]).sum())
            q = em_prior(probs[has], source)[1]
            prior = {n: round(float(v), 3) for n, v in zip(r.labels, q, strict=True)}
            rows.append(
                (name, len(y), *(float(c.mean()) for c in right), gained, lost,
                 mcnemar_exact(lost, gained), prior)
            )  # fmt: skip
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("weights", nargs="+", help="4 models per arm, in fold order")
    ap.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    ap.add_argument("--limit", type=int, default=None, help="at most N photos per fold or set")
    ap.add_argument("--no-harm", action="store_true", help="skip FER+ val and the media photos")
    ap.add_argument(
        "--source",
        choices=("fer_val", "training"),
        default="fer_val",
        help="the source prior: FER+ val's label mix, or each model's training mix",
    )
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
            others = [
                (n, limited(ds, args.limit), d, sorted(set(ds.labels))) for n, ds, d in others
            ]
            harms = [] if args.no_harm else [(a[0], harm(a[0], others, val_counts)) for a in arms]
    except (MienError, OSError, ValueError) as e:  # reported once stderr is back
        ap.error(str(e))
    fer_val = np.array([val_counts[n] for n in INTENDED_LABELS], np.float64)
    try:
        sources = [
            [training_prior(w) if args.source == "training" else fer_val for w in a] for a in arms
        ]
        named = {f"arm {i + 1}": p for i, p in enumerate(parts)}
        if len(parts) > 1:
            named["ensemble"] = ensemble(parts)
            sources.append([np.mean(s, axis=0) for s in zip(*sources, strict=True)])
    except (OSError, ValueError) as e:
        ap.error(str(e))
    for i, a in enumerate(arms):
        console.print(f"arm {i + 1}: {', '.join(a)}")
    table = Table(title="Taiwanese performers, fold k's model on fold k (whole pipeline)")
    for col in ("", "intended, by performer", "per fold", "perceived, by performer"):
        table.add_column(col, justify="left" if not col else "right")
    scored = {}
    fixes: list[str] = []  # each correction's suffix, in order
    for (name, ps), src in zip(named.items(), sources, strict=True):
        for suffix, vs in variants(ps, src).items():
            if suffix and suffix not in fixes:
                fixes.append(suffix)
            r = score_folds([""] * len(vs), vs)
            scored[name + suffix] = r
            pi, pp = pool_folds(r.intended), pool_folds(r.perceived)
            per_fold = ", ".join(f"{v['accuracy']:.3f}" for v in pi["per_fold"].values())
            table.add_row(
                name + suffix, _fmt(pi["by_performer"]), per_fold, _fmt(pp["by_performer"])
            )
    console.print(table)
    console.print("Paired, B − A by performer: mean [t interval] sign-flip p (per fold)")
    pairs = [(n, n + s) for n in named for s in fixes]
    pairs += [(a, "ensemble") for a in named if a != "ensemble" and "ensemble" in named]
    for a, b in pairs:
        for what in ("intended", "perceived"):
            c = compare_folds(getattr(scored[a], what), getattr(scored[b], what))
            console.print(f"  {b} − {a}, {what}: {_diff(c)}")
    for w, rows in harms:
        console.print(f"fold 0's model {w}:")
        for name, n, plain, em, u, gained, lost, p, prior in rows:
            console.print(
                f"  {name} (n {n}): plain {plain:.4f}, EM {em:.4f} (gains {gained}, loses "
                f"{lost}, McNemar p {p:.3f}), U {u:.4f}; EM prior {prior}"
            )


if __name__ == "__main__":
    main()
