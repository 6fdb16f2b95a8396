"""Measure where BlazeFace keypoints sit in FER2013 training crops (-> FER_TEMPLATE).

Usage: python scripts/derive_template.py [--data ../shared/data/fer] [--n 3000]

Each 48×48 crop is upscaled ×4 and padded by 25% (BlazeFace short-range misses faces that touch
the border); keypoints are mapped back to crop fractions and the medians printed, mirrored so
the template is left-right symmetric.
"""

from __future__ import annotations

import argparse
import csv
import random
from pathlib import Path

import cv2
import numpy as np

from mien.detection import MediaPipeFaceDetector
from mien.types import KP


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", type=Path, default=Path(__file__).parents[1] / "../shared/data/fer")
    ap.add_argument("--n", type=int, default=3000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    rows = [r for r in csv.DictReader(open(args.data / "labels.csv")) if r["split"] == "train"]
    rows = random.Random(args.seed).sample(rows, min(args.n, len(rows)))
    up, pad = 4, 48
    points = []
    with MediaPipeFaceDetector("short") as det:
        for r in rows:
            img = cv2.imread(str(args.data / r["path"]))
            big = cv2.resize(img, None, fx=up, fy=up, interpolation=cv2.INTER_CUBIC)
            big = cv2.copyMakeBorder(big, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
            faces = det.detect(big)
            if len(faces):
                points.append((faces.keypoints[0] - pad) / (48 * up))
    kp = np.asarray(points)
    re, le, mo = kp[:, KP["right_eye"]], kp[:, KP["left_eye"]], kp[:, KP["mouth_center"]]
    mid = (re + le) / 2
    eye_dist = np.median(np.hypot(*(le - re).T))
    eye_mouth = np.median(np.hypot(*(mo - mid).T))
    print(f"faces found: {len(kp)} of {len(rows)}")
    print(f"eye_center=(0.5, {np.median(mid[:, 1]):.3f})  (median x {np.median(mid[:, 0]):.3f})")
    print(f"eye_distance={eye_dist:.3f}  eye_to_mouth={eye_mouth:.3f}")


if __name__ == "__main__":
    main()
