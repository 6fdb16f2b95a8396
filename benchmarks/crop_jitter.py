"""Crop-jitter averaging at inference (issue 7): does averaging the logits of a few slightly
rescaled and shifted crops of each face score better than the one aligned crop?

Each face is cut 7 ways from its alignment: as is; the template scaled by 0.94 and 1.06 about
the crop centre; shifted 2 px left, right, up and down (in a 48 px crop). The logits (each
already the model's crop-and-mirror mean where its spec says so) are averaged before the
temperature. ``K=3`` averages the first three (as is and the two scales), ``K=7`` all seven.
The plan and its reading rule are in ``docs/performer_folds_plan.md``.

Usage: python benchmarks/crop_jitter.py [--parent PARENT.onnx] [--limit N]

* the bundled model on fold 0 (the performers it never saw) and on FER+ ``val`` (crop mode:
  the 48×48 image is warped the same way);
* with ``--parent``, a model that never saw a Taiwanese photo (``runs/folds/parent/export/
  parent.onnx`` from ``scripts/performer_folds.sh``) on all 29 performers, paired by performer.

Prints a table per model: accuracy per setting and the paired difference against "as is" (by
performer: Student t interval, sign-flip p; FER+ ``val``: bootstrap interval over images).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import cv2
import numpy as np
from rich.console import Console
from rich.table import Table

from mien.alignment import align_faces
from mien.alignment.templates import AlignTemplate
from mien.evaluation.folds import INTENDED_LABELS, Scored, compare_folds, fold_scores
from mien.evaluation.metrics import expected_calibration_error, softmax
from mien.evaluation.paired import paired_interval
from mien.evaluation.protocol import (
    limited,
    protocol_analyzer,
    taiwanese_folds,
    taiwanese_performers,
)
from mien.expression.model import ExpressionModel
from mien.io.image import read_image
from mien.logs import quiet_native_stderr
from mien.types import EXPRESSIONS

ROOT = Path(__file__).resolve().parents[1]

JITTERS: tuple[tuple[str, float, float, float], ...] = (
    ("as is", 1.0, 0.0, 0.0),
    ("scale 0.94", 0.94, 0.0, 0.0),
    ("scale 1.06", 1.06, 0.0, 0.0),
    ("left 2 px", 1.0, -2.0, 0.0),
    ("right 2 px", 1.0, 2.0, 0.0),
    ("up 2 px", 1.0, 0.0, -2.0),
    ("down 2 px", 1.0, 0.0, 2.0),
)
"""(name, scale about the crop centre, shift x, shift y in pixels of a 48 px crop)."""

SETTINGS = {"as is": 1, "K=3": 3, "K=7": 7}
"""How many of :data:`JITTERS`, from the first, each setting averages."""


def jittered(
    template: AlignTemplate, scale: float, dx: float, dy: float, size: int
) -> AlignTemplate:
    """``template`` scaled by ``scale`` about the crop centre, then moved ``(dx, dy)`` px of a
    48 px crop (the same fraction of a ``size`` px one)."""
    cx, cy = template.eye_center
    return AlignTemplate(
        eye_center=(0.5 + (cx - 0.5) * scale + dx / 48, 0.5 + (cy - 0.5) * scale + dy / 48),
        eye_distance=template.eye_distance * scale,
        eye_to_mouth=template.eye_to_mouth * scale,
    )


def warp_crop(crop: np.ndarray, scale: float, dx: float, dy: float) -> np.ndarray:
    """A whole ``(S, S)`` crop scaled about its centre and shifted, as :func:`jittered` moves
    an aligned one (edges replicated)."""
    s = crop.shape[0]
    c = s / 2
    m = np.float32(
        [[scale, 0, (1 - scale) * c + dx * s / 48], [0, scale, (1 - scale) * c + dy * s / 48]]
    )
    return cv2.warpAffine(crop, m, (s, s), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def photo_crops(
    analyzer, paths: list[Path], template: AlignTemplate
) -> tuple[np.ndarray, np.ndarray]:
    """``(n, J, S, S)`` uint8 crops of each photo's largest face, one per jitter, and ``(n,)``
    bool, a face was found (rows without one are scored wrong)."""
    spec = analyzer.expression.spec
    size = spec.input_size
    out = np.zeros((len(paths), len(JITTERS), size, size), np.uint8)
    found = np.zeros(len(paths), bool)
    for i, path in enumerate(paths):
        img = read_image(path)
        faces = analyzer.detector.detect(img)
        if len(faces) == 0:
            continue
        k = int(np.argmax(faces.area))
        one = faces[[k]]
        for j, (_, scale, dx, dy) in enumerate(JITTERS):
            crops, _ = align_faces(
                img,
                one,
                size=size,
                grey=spec.grey,
                template=jittered(template, scale, dx, dy, size),
            )
            out[i, j] = crops[0]
        found[i] = True
    return out, found


def logits_per_jitter(model: ExpressionModel, crops: np.ndarray) -> np.ndarray:
    """``(n, J, K)`` float32 logits (the spec's flip mean included) of ``(n, J, S, S)`` crops."""
    n, j = crops.shape[:2]
    flat = crops.reshape(n * j, *crops.shape[2:])
    out = np.concatenate([model.logits(flat[i : i + 512]) for i in range(0, len(flat), 512)])
    return out.reshape(n, j, -1)


def probabilities(model: ExpressionModel, logits: np.ndarray, k: int) -> np.ndarray:
    """Calibrated ``(n, K)`` probabilities from the mean of the first ``k`` jitters' logits."""
    mean = logits[:, :k].mean(axis=1)
    return softmax(model.adjusted(mean), model.spec.temperature)


def intended_probs(model: ExpressionModel, probs: np.ndarray, found: np.ndarray) -> np.ndarray:
    """Probabilities over :data:`INTENDED_LABELS` (renormalised, as ``mien evaluate`` scores a
    set over its own labels); NaN rows where no face was found."""
    cols = [model.names.index(n) for n in INTENDED_LABELS]
    q = probs[:, cols] / probs[:, cols].sum(axis=1, keepdims=True)
    q[~found] = np.nan
    return q


def taiwanese_table(title: str, model, crops, found, datasets) -> Table:
    logits = logits_per_jitter(model, crops)
    scored: dict[str, tuple[Scored, Scored]] = {}
    for name, k in SETTINGS.items():
        q = intended_probs(model, probabilities(model, logits, k), found)
        parts, start = [], 0
        for fold, ds in datasets:
            parts.append(fold_scores(ds, q[start : start + len(ds)], fold))
            start += len(ds)
        scored[name] = (
            Scored.concat([p[0] for p in parts]),
            Scored.concat([p[1] for p in parts]),
        )
    table = Table(title=title)
    for col in ("setting", "intended", "− as is, by performer", "p", "perceived",
                "− as is, by performer ", "p "):  # fmt: skip
        table.add_column(col, justify="left" if col == "setting" else "right")
    for name in SETTINGS:
        cells = [name]
        for w in (0, 1):
            s = scored[name][w]
            cells.append(f"{s.correct.mean():.3f} ({len(s.correct)})")
            if name == "as is":
                cells += ["", ""]
                continue
            g = compare_folds(scored["as is"][w], s)["by_performer"]
            cells += [
                f"{g['mean_diff']:+.3f} [{g['ci'][0]:+.3f}, {g['ci'][1]:+.3f}] ({g['people']})",
                f"{g['p_sign_flip']:.3f}",
            ]
        table.add_row(*cells)
    return table


def fer_table(model: ExpressionModel, shared: Path, limit: int | None) -> Table:
    from mien.training.data import load_fer

    val = load_fer(shared / "data" / "fer", "val", size=model.spec.input_size)
    images, labels = val.images, val.labels
    if limit is not None:
        keep = np.linspace(0, len(labels) - 1, min(limit, len(labels))).round().astype(int)
        images, labels = images[keep], labels[keep]  # spread out, as --limit elsewhere
    crops = np.stack(
        [np.stack([warp_crop(im, s, dx, dy) for _, s, dx, dy in JITTERS]) for im in images]
    )
    logits = logits_per_jitter(model, crops)
    y = np.array([model.names.index(EXPRESSIONS[i]) for i in labels])
    table = Table(title=f"FER+ val, {model.spec.name} (crop mode, {len(y)} images)")
    for col in ("setting", "accuracy", "− as is (bootstrap over images)", "ECE"):
        table.add_column(col, justify="left" if col == "setting" else "right")
    base = None
    for name, k in SETTINGS.items():
        p = probabilities(model, logits, k)
        correct = p.argmax(axis=1) == y
        if base is None:
            base, diff = correct, ""
        else:
            lo, hi = paired_interval(base, correct)
            d = correct.mean() - base.mean()
            diff = f"{d:+.4f} [{lo:+.4f}, {hi:+.4f}]"
        table.add_row(
            name, f"{correct.mean():.4f}", diff, f"{expected_calibration_error(p, y):.4f}"
        )
    return table


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument(
        "--parent", type=Path, default=None, help="a model that never saw a Taiwanese photo"
    )
    ap.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    ap.add_argument("--limit", type=int, default=None, help="at most N photos per fold / images")
    args = ap.parse_args()
    console = Console(width=170)
    folds = taiwanese_folds()
    runs = [("bundled", None, [0])]
    if args.parent is not None:
        runs.append((str(args.parent), args.parent, list(range(len(folds)))))
    t0 = time.perf_counter()
    with quiet_native_stderr():
        bundled = protocol_analyzer(None, pose=False)
        cache: dict[int, tuple] = {}
        for k in range(len(folds) if args.parent is not None else 1):
            ds = limited(taiwanese_performers(args.shared, folds[k]), args.limit)
            crops, found = photo_crops(bundled, [ds.root / p for p in ds.paths], bundled.template)
            cache[k] = (ds, crops, found)
        for title, weights, ks in runs:
            analyzer = bundled if weights is None else protocol_analyzer(weights, pose=False)
            a, b = analyzer.expression.spec, bundled.expression.spec
            if (a.input_size, a.grey, a.alignment) != (b.input_size, b.grey, b.alignment):
                ap.error(
                    f"{weights}: the crops are cut for {b.input_size} px "
                    f"{'grey' if b.grey else 'colour'} {b.alignment}-aligned models; this one "
                    f"takes {a.input_size} px {'grey' if a.grey else 'colour'} {a.alignment}"
                )
            crops = np.concatenate([cache[k][1] for k in ks])
            found = np.concatenate([cache[k][2] for k in ks])
            datasets = [(k, cache[k][0]) for k in ks]
            console.print(
                taiwanese_table(
                    f"Taiwanese folds {ks}, {title} ({analyzer.expression.spec.name})",
                    analyzer.expression,
                    crops,
                    found,
                    datasets,
                )
            )
        console.print(fer_table(bundled.expression, args.shared, args.limit))
    console.print(
        "Differences are paired: by performer, the mean of per-performer differences with a "
        "Student t interval and a sign-flip p; FER+ val, a bootstrap over images. "
        f"({time.perf_counter() - t0:.0f} s)"
    )


if __name__ == "__main__":
    sys.exit(main())
