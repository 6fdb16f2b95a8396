"""Probabilities of a checkpoint ensemble (mean over members, flip-averaged) on every part of a
training-data cache, with its accuracy on FER+ ``val`` and the held-out Taiwanese rows.

``python scripts/predict_ensemble.py CKPT [CKPT ...] --data-cache runs/cache/fer_tw.npz
--out preds.npz``

The ``.npz`` holds ``<part>.probs`` ``(n, K)`` float16 for each part the cache has
(:data:`mien.training.data.PARTS`) and ``<part>.fingerprint`` (the rows they belong to): a
teacher's soft labels for offline distillation (``teacher_probs``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from mien.training.data import PARTS, TrainingData
from mien.training.loop import load_teacher, predict_logits


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("checkpoints", nargs="+", help="best.pt files or run folders")
    ap.add_argument("--data-cache", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = ap.parse_args()
    device = torch.device(args.device)
    paths = [Path(c) / "best.pt" if Path(c).is_dir() else Path(c) for c in args.checkpoints]
    for path in [*paths, Path(args.data_cache)]:
        if not path.is_file():
            raise SystemExit(f"{path}: no such file")
    data = TrainingData.load(args.data_cache)
    try:
        members = [load_teacher(c, device, data.side) for c in paths]
    except ValueError as e:
        raise SystemExit(f"error: {e}") from e
    out: dict[str, np.ndarray] = {}
    for name in PARTS:
        part = getattr(data, name)
        if part is None:
            continue
        logits = [torch.from_numpy(predict_logits(m, part.images, flip=True)) for m in members]
        probs = np.mean([torch.softmax(x, 1).numpy() for x in logits], axis=0)
        out[f"{name}.probs"] = probs.astype(np.float16)
        out[f"{name}.fingerprint"] = np.str_(part.fingerprint())
        if name in ("val", "taiwanese_val"):
            acc = float((probs.argmax(1) == part.labels).mean())
            print(f"{name:14s} n={len(part):5d} ensemble of {len(members)} accuracy {acc:.4f}")
            if name == "val":
                clean = data.val_clean
                acc_c = float((probs[clean].argmax(1) == part.labels[clean]).mean())
                print(f"{'val (clean)':14s} n={int(clean.sum()):5d} accuracy {acc_c:.4f}")
    np.savez(args.out, **out)


if __name__ == "__main__":
    main()
