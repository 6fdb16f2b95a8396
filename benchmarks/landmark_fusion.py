"""Does face geometry add to the expression CNN? An ablation of issue 7 (not adopted).

The CNN sees a 48 px grey crop. The pipeline already runs MediaPipe FaceMesh (468 landmarks, at
256 px) for head pose, so a head on those landmarks would cost little at run time. Here a linear
head on the landmarks (similarity-aligned to a mean shape: generalised Procrustes; Gower,
"Generalized Procrustes analysis", Psychometrika 40, 1975) is fused with the CNN as a product of
experts: log p = log p_cnn + log p_head, argmax.

1. Cross-validation by performer, as ``benchmarks/performer_folds.py``: fold k's CNN (trained
   without fold k's performers) and a head trained on the other three folds' photos (intended
   labels), scored on fold k; pooled over all 29 performers with the performer as the unit, and
   fused − CNN paired photo by photo (:func:`mien.evaluation.folds.compare_folds`).
2. Out of the set: the head trained on folds 1-3 with fold 0's CNN (neither saw these photos) on
   FER+ ``val`` (crop mode; the landmarks of the whole crop) and ``media_faces`` (whole
   pipeline), each scored over the labels it contains.

Usage: python benchmarks/landmark_fusion.py FOLD0.onnx FOLD1.onnx FOLD2.onnx FOLD3.onnx
       [--with-fer] [--limit N]

``--with-fer`` also trains every head on FER+ ``train`` (majority labels; landmarks of the whole
crop), the Taiwanese rows weighted 5× as the CNN's fine-tune repeats them. The head: the
aligned (x, y) coordinates, standardised and whitened to their first 64 principal components,
multinomial logistic regression with an L2 penalty of 1e-3 (gradient descent, 500 steps). These
settings were chosen after an exploratory sweep (features, penalty, fusion weight) scored on
these same folds, and not tuned after this script's first full run. Photos where FaceMesh finds
no face keep the CNN's prediction.

Measured 2026-11-30 (the README gives the figures): the head trained on Taiwanese photos alone
moves new Taiwanese performers' accuracy by an amount whose interval holds 0, and takes FER+
``val`` and the media photos down by about 0.4; trained with FER+ too, it neither helps nor
hurts much. Not adopted.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from rich.console import Console
from rich.table import Table

from mien.errors import ImageError, MienError
from mien.evaluation.datasets import LabeledDataset, read_labels_csv
from mien.evaluation.folds import INTENDED_LABELS, Scored, compare_folds, fold_scores, pool_folds
from mien.evaluation.protocol import limited, protocol_analyzer, taiwanese_folds
from mien.evaluation.protocol import taiwanese_performers as performers
from mien.io import read_image
from mien.logs import quiet_native_stderr
from mien.quality.pose import MESH_POINTS, FaceMeshPose

ROOT = Path(__file__).resolve().parents[1]
TAIWANESE_WEIGHT = 5.0
"""Weight of a Taiwanese row against a FER+ row with ``--with-fer`` (the fine-tune's 5×)."""


@dataclass(frozen=True)
class Looked:
    """One model's view of a set, photo by photo.

    Attributes:
        probs: ``(n, K)`` float32 calibrated CNN probabilities over ``names``; NaN rows where
            no face was found or the photo could not be read.
        points: ``(n, 468, 2)`` float32 FaceMesh (x, y) in pixels; NaN where FaceMesh found
            no face.
        names: the model's labels.
    """

    probs: npt.NDArray[np.float32]
    points: npt.NDArray[np.float32]
    names: tuple[str, ...]


def look(weights: str | None, ds: LabeledDataset, *, detect: bool, cnn: bool = True) -> Looked:
    """Run the CNN (whole pipeline when ``detect``, largest face; else the whole image as the
    crop, as ``mien evaluate``) and FaceMesh on the same face of every photo of ``ds``
    (``cnn=False``, crop mode only: FaceMesh alone, ``probs`` stays NaN).

    Raises:
        ValueError: ``cnn=False`` with ``detect`` (the pipeline pass runs the CNN anyway).
    """
    if detect and not cnn:
        raise ValueError("cnn=False is for crop mode; with detect the pipeline runs the CNN")
    # no head pose in the pipeline pass: FaceMesh runs once per face, below
    with protocol_analyzer(weights, pose=False) as analyzer, FaceMeshPose() as mesh:
        names = tuple(analyzer.expression_names)
        probs = np.full((len(ds), len(names)), np.nan, np.float32)
        points = np.full((len(ds), MESH_POINTS, 2), np.nan, np.float32)
        for i, rel in enumerate(ds.paths):
            try:
                img = read_image(ds.root / rel, max_pixels=analyzer.max_pixels)
            except ImageError:
                continue
            if detect:
                faces = analyzer.analyze(img, source=rel).faces
                if len(faces) == 0:
                    continue
                k = int(np.argmax(faces.area))
                probs[i], box = faces.expression[k], faces.xyxy[k : k + 1]
            else:
                if cnn:
                    probs[i] = analyzer.classify_crop(img)
                box = np.array([[0, 0, img.shape[1], img.shape[0]]], np.float32)
            points[i] = mesh.landmarks(img, box)[0, :, :2]
    return Looked(probs, points, names)


def align(points: npt.NDArray[np.floating], ref: npt.NDArray[np.floating]) -> np.ndarray:
    """Similarity-align shapes to a reference (ordinary Procrustes: translation, scale, rotation;
    no reflection).

    Args:
        points: ``(n, P, 2)`` shapes (no NaN).
        ref: ``(P, 2)`` reference, centred, unit Frobenius norm.

    Returns:
        ``(n, P, 2)`` float64: each shape centred, scaled to unit norm and rotated onto ``ref``.
    """
    q = np.asarray(points, np.float64)
    q = q - q.mean(axis=1, keepdims=True)
    q = q / np.maximum(np.linalg.norm(q, axis=(1, 2), keepdims=True), 1e-12)
    u, _, vt = np.linalg.svd(np.einsum("npi,pj->nij", q, ref))
    flip = np.sign(np.linalg.det(u @ vt))  # keep a rotation, never a mirror image
    u[:, :, -1] *= flip[:, None]
    return np.einsum("npi,nij->npj", q, u @ vt)


def mean_shape(points: npt.NDArray[np.floating], iterations: int = 3) -> np.ndarray:
    """``(P, 2)`` generalised-Procrustes mean of ``(n, P, 2)`` shapes (centred, unit norm)."""
    ref = np.asarray(points[0], np.float64) - np.mean(points[0], axis=0)
    ref /= np.linalg.norm(ref)
    for _ in range(iterations):
        ref = align(points, ref).mean(axis=0)
        ref /= np.linalg.norm(ref)
    return ref


class LandmarkHead:
    """Multinomial logistic regression on aligned landmark coordinates, PCA-whitened.

    Args:
        n_classes: K.
        components: principal components kept.
        l2: penalty on the weights (mean loss + ``l2`` · ‖W‖²).
        steps: gradient-descent steps (step size 1 on whitened inputs).
    """

    def __init__(
        self, n_classes: int, *, components: int = 64, l2: float = 1e-3, steps: int = 500
    ) -> None:
        self.n_classes, self.components, self.l2, self.steps = n_classes, components, l2, steps

    def _features(self, points: np.ndarray) -> np.ndarray:
        x = align(points, self.ref).reshape(len(points), -1)
        return ((x - self.mean) @ self.basis) / self.scale

    def fit(
        self, points: np.ndarray, y: npt.NDArray[np.int64], weights: np.ndarray | None = None
    ) -> LandmarkHead:
        """Fit on ``(n, P, 2)`` shapes (rows with NaN are dropped) with labels ``y`` in
        ``[0, K)`` and optional per-row ``weights``. Components beyond the data's rank (fewer
        rows than ``components``) are dropped rather than blown up by whitening.

        Raises:
            ValueError: fewer than 2 rows with landmarks.
        """
        ok = ~np.isnan(points).any(axis=(1, 2))
        if ok.sum() < 2:
            raise ValueError(f"a landmark head needs 2 or more faces with landmarks: {ok.sum()}")
        points, y = points[ok], np.asarray(y)[ok]
        w = np.ones(len(y)) if weights is None else np.asarray(weights, np.float64)[ok]
        w = w / w.sum()
        self.ref = mean_shape(points)
        x = align(points, self.ref).reshape(len(points), -1)
        self.mean = x.mean(axis=0)
        _, s, vt = np.linalg.svd(x - self.mean, full_matrices=False)
        k = min(self.components, int((s > 1e-8 * s[0]).sum()))
        self.basis = vt[:k].T
        self.scale = s[:k] / np.sqrt(len(x))
        z = ((x - self.mean) @ self.basis) / self.scale
        onehot = np.eye(self.n_classes)[y]
        self.w = np.zeros((z.shape[1], self.n_classes))
        self.b = np.zeros(self.n_classes)
        for _ in range(self.steps):
            p = _softmax(z @ self.w + self.b)
            g = (p - onehot) * w[:, None]
            self.w -= z.T @ g + 2 * self.l2 * self.w
            self.b -= g.sum(axis=0)
        return self

    def log_probs(self, points: np.ndarray) -> np.ndarray:
        """``(n, K)`` log-probabilities; rows of 0 (no opinion) where ``points`` has NaN."""
        ok = ~np.isnan(points).any(axis=(1, 2))
        out = np.zeros((len(points), self.n_classes))
        if ok.any():
            logits = self._features(points[ok]) @ self.w + self.b
            out[ok] = logits - _logsumexp(logits)
        return out


def _logsumexp(a: np.ndarray) -> np.ndarray:
    m = a.max(axis=1, keepdims=True)
    return m + np.log(np.exp(a - m).sum(axis=1, keepdims=True))


def _softmax(a: np.ndarray) -> np.ndarray:
    return np.exp(a - _logsumexp(a))


def head_without(
    k: int,
    points: list[np.ndarray],
    labels: list[npt.NDArray[np.int64]],
    n_classes: int,
    *,
    extra: tuple[np.ndarray, npt.NDArray[np.int64]] | None = None,
) -> LandmarkHead:
    """The head for fold ``k``: trained on every other fold's photos (never fold ``k``'s
    performers) and on ``extra`` (other faces' points and labels; the folds' rows then weigh
    :data:`TAIWANESE_WEIGHT` each).

    Args:
        k: the fold left out.
        points: per fold, ``(n_j, 468, 2)`` landmarks.
        labels: per fold, ``(n_j,)`` label indices.
        n_classes: K, the model's labels.
        extra: ``(points, labels)`` of faces outside the folds, or None.
    """
    train = [j for j in range(len(points)) if j != k]
    pts = np.concatenate([points[j] for j in train])
    y = np.concatenate([labels[j] for j in train])
    w = np.full(len(y), TAIWANESE_WEIGHT if extra is not None else 1.0)
    if extra is not None:
        pts = np.concatenate([pts, extra[0]])
        y = np.concatenate([y, extra[1]])
        w = np.concatenate([w, np.ones(len(extra[1]))])
    return LandmarkHead(n_classes).fit(pts, y, w)


def fuse(probs: np.ndarray, head_log_probs: np.ndarray) -> np.ndarray:
    """Product of experts: ``(n, K)`` log p_cnn + log p_head (NaN rows stay NaN)."""
    return np.log(np.clip(probs, 1e-12, 1.0)) + head_log_probs


def _labels(names: tuple[str, ...], labels: tuple[str, ...]) -> np.ndarray:
    return np.array([names.index(label) for label in labels], np.int64)


def _set_accuracy(scores: np.ndarray, names: tuple[str, ...], labels: tuple[str, ...]) -> float:
    """Accuracy over the labels the set contains (argmax over those columns; NaN rows wrong)."""
    present = [n for n in names if n in set(labels)]
    cols = [names.index(n) for n in present]
    has = ~np.isnan(scores).any(axis=1)
    pred = np.nan_to_num(scores[:, cols], nan=-np.inf).argmax(axis=1)
    y = np.array([present.index(label) for label in labels])
    return float(((pred == y) & has).mean())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("weights", nargs=4, help="one model per fold, in fold order")
    ap.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    ap.add_argument("--with-fer", action="store_true", help="also train heads on FER+ train")
    ap.add_argument("--limit", type=int, default=None, help="at most N photos per set or fold")
    args = ap.parse_args()
    if args.limit is not None and args.limit < 1:
        ap.error("--limit must be at least 1")
    console = Console(width=160)
    folds = taiwanese_folds()
    try:
        with quiet_native_stderr():
            sets = [limited(performers(args.shared, f), args.limit) for f in folds]
            looks = [look(w, ds, detect=True) for w, ds in zip(args.weights, sets, strict=True)]
            names = looks[0].names
            missing = sorted(set(INTENDED_LABELS) - set(names))
            if missing:
                raise ValueError(f"{args.weights[0]}: the model lacks the label(s) {missing}")
            fer = None
            if args.with_fer:
                fer_ds = read_labels_csv(args.shared / "data" / "fer", split="train")
                fer_ds = limited(fer_ds, args.limit)
                fer_points = look(args.weights[0], fer_ds, detect=False, cnn=False).points
                fer = (fer_points, _labels(names, fer_ds.labels))
            others = [
                ("fer_val", read_labels_csv(args.shared / "data" / "fer", split="val"), False),
                ("media_faces", read_labels_csv(args.shared / "media" / "faces"), True),
            ]
            outside = [(n, limited(ds, args.limit), d) for n, ds, d in others]
            outside_looks = [look(args.weights[0], ds, detect=d) for _, ds, d in outside]
    except (MienError, OSError, ValueError) as e:  # reported once stderr is back
        ap.error(str(e))

    fold_labels = [_labels(names, ds.labels) for ds in sets]
    intended_cols = _labels(names, INTENDED_LABELS)
    scored: dict[str, list[tuple[Scored, Scored]]] = {"CNN": [], "head": [], "fused": []}
    heads = []
    for k, (ds, lk) in enumerate(zip(sets, looks, strict=True)):
        head = head_without(k, [lk.points for lk in looks], fold_labels, len(names), extra=fer)
        heads.append(head)
        lp = head.log_probs(lk.points)
        mesh_only = np.where(np.isnan(lk.points).any(axis=(1, 2))[:, None], np.nan, lp)
        for arm, s in (("CNN", lk.probs), ("head", mesh_only), ("fused", fuse(lk.probs, lp))):
            scored[arm].append(fold_scores(ds, s[:, intended_cols], k))
    pooled = {
        arm: [Scored.concat([p[i] for p in parts]) for i in (0, 1)] for arm, parts in scored.items()
    }
    title = "Taiwanese performers, fold k: its CNN and a landmark head trained without fold k"
    table = Table(title=title + (" (heads also trained on FER+ train)" if fer else ""))
    for col in ("", "intended, by performer", "per fold", "perceived, by performer", "per fold"):
        table.add_column(col, justify="left" if not col else "right")
    for arm, (intended, perceived) in pooled.items():
        cells = []
        for s in (intended, perceived):
            p = pool_folds(s)
            g = p["by_performer"]
            cells += [
                f"{g['mean']:.3f} [{g['ci'][0]:.3f}, {g['ci'][1]:.3f}]",
                ", ".join(f"{v['accuracy']:.3f}" for v in p["per_fold"].values()),
            ]
        table.add_row(arm, *cells)
    console.print(table)
    for i, what in enumerate(("intended", "perceived")):
        c = compare_folds(pooled["CNN"][i], pooled["fused"][i])
        g = c["by_performer"]
        console.print(
            f"fused − CNN, {what}: {g['mean_diff']:+.3f} [{g['ci'][0]:+.3f}, {g['ci'][1]:+.3f}] "
            f"by performer (sign-flip p {g['p_sign_flip']:.3f}); per fold "
            + ", ".join(f"{d:+.3f}" for d in c["per_fold"].values())
        )
    table = Table(title="Head of folds 1-3 + fold 0's CNN, on photos neither saw")
    for col in ("set", "n", "CNN", "fused"):
        table.add_column(col, justify="left" if col == "set" else "right")
    lp0 = heads[0].log_probs(looks[0].points)
    rows = [("taiwanese fold 0", sets[0].labels, looks[0].probs, lp0)]
    for (name, ds, _), lk in zip(outside, outside_looks, strict=True):
        rows.append((name, ds.labels, lk.probs, heads[0].log_probs(lk.points)))
    for name, labels, probs, lp in rows:
        table.add_row(
            name,
            str(len(labels)),
            f"{_set_accuracy(np.log(np.clip(probs, 1e-12, 1)), names, tuple(labels)):.3f}",
            f"{_set_accuracy(fuse(probs, lp), names, tuple(labels)):.3f}",
        )
    console.print(table)
    console.print(
        "Accuracy over the labels each set contains; photos without a face count wrong; where "
        "FaceMesh finds no face the fused prediction is the CNN's."
    )
    if args.limit is not None:
        console.print(f"--limit {args.limit}: a few photos per set, for checks only")


if __name__ == "__main__":
    main()
