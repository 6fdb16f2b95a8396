"""Accuracy of mien's classifier and the `fer` package's on the same pre-cropped faces.

Usage: python benchmarks/accuracy_vs_fer.py [--data ../shared/data/fer] [--split val]

Both models see each 48×48 FER2013 crop as one face (no detector; the peer's crop is resized to
its 64×64 input as fer does). Scored on the labels both models have (the 7 without contempt):
mien's probabilities are restricted to those labels, as ``mien evaluate`` does. Two label sets:
FER+ majority votes (``labels.csv``) and the original FER2013 labels
(``labels_fer2013.csv``, noisy, the labels the peer was trained on).
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import cv2
import numpy as np
from fer_peer import FER_LABELS, FerPeer
from rich.console import Console
from rich.table import Table

from mien.alignment import crop_whole_image
from mien.evaluation.metrics import confusion_matrix, macro_f1
from mien.registry import create_model

ROOT = Path(__file__).resolve().parents[1]


def load(data: Path, csv_name: str, split: str) -> tuple[list[str], np.ndarray]:
    rows = [
        r
        for r in csv.DictReader(open(data / csv_name))
        if r["split"] == split and r["label"] in FER_LABELS
    ]
    return [r["path"] for r in rows], np.asarray([FER_LABELS.index(r["label"]) for r in rows])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared/data/fer")
    ap.add_argument("--split", default="val")
    args = ap.parse_args()
    model, peer = create_model(), FerPeer()
    cols = [model.names.index(n) for n in FER_LABELS]
    table = Table(title=f"FER2013 {args.split} crops, 7 shared labels")
    for c in ("labels", "n", "mien accuracy", "mien macro-F1", "fer accuracy", "fer macro-F1"):
        table.add_column(c, justify="right")
    for name, csv_name in (
        ("FER+ majority", "labels.csv"),
        ("FER2013 original", "labels_fer2013.csv"),
    ):
        paths, y = load(args.data, csv_name, args.split)
        crops = np.stack([cv2.imread(str(args.data / p), cv2.IMREAD_GRAYSCALE) for p in paths])
        size = model.spec.input_size  # 48 px images, resized as the pipeline resizes them
        ours = np.stack([crop_whole_image(c, size=size) for c in crops])
        pm = model.predict(ours)[:, cols].argmax(1)
        pf = peer.classify(np.stack([cv2.resize(c, (64, 64)) for c in crops])).argmax(1)
        row = [name, str(len(y))]
        for pred in (pm, pf):
            cm = confusion_matrix(y, pred, 7)
            row += [f"{(pred == y).mean():.4f}", f"{macro_f1(cm):.4f}"]
        table.add_row(*row)
    Console(width=120).print(table)


if __name__ == "__main__":
    main()
