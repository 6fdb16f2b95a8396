"""How many faces each detector mode finds in composed group scenes, and at what time.

Usage: python benchmarks/group_scenes.py [--scenes 30] [--shared DIR]

Each scene is 1280×720 (odd seeds) or 1920×1080 (even) mid-grey with four Taiwanese-set
portraits (256 px photos, the face about half of each) pasted side by side at four of the
sizes 70, 90, 120, 160, 220 and 300 px, at seeded heights. A face counts as found when a box's
centre lies inside its portrait; any other box is counted as extra. Times are per scene on this
machine (compare modes within one run). Also: how many of the 400 close-ups of
``shared/media/faces`` get another number of faces than with ``multi``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import cv2
import numpy as np
from rich.console import Console
from rich.table import Table

from mien.detection import MediaPipeFaceDetector
from mien.io import read_image

ROOT = Path(__file__).resolve().parents[1]
MODES = ("auto", "multi", "tiled")
SIZES = (300, 220, 160, 120, 90, 70)


def scene(photos: list[Path], seed: int) -> tuple[np.ndarray, list[tuple[int, int, int, int]]]:
    """A composed scene and its portraits' boxes (``xyxy``, pixels)."""
    rng = np.random.default_rng(seed)
    w, h = (1280, 720) if seed % 2 else (1920, 1080)
    canvas = np.full((h, w, 3), 90, np.uint8)
    boxes, x = [], 10
    for size in rng.choice(SIZES, 4, replace=False).tolist():
        photo = read_image(photos[int(rng.integers(0, len(photos)))])
        y = int(rng.integers(0, h - size))
        canvas[y : y + size, x : x + size] = cv2.resize(
            photo, (size, size), interpolation=cv2.INTER_AREA
        )
        boxes.append((x, y, x + size, y + size))
        x += size + 15
    return canvas, boxes


def count(xyxy: np.ndarray, boxes: list[tuple[int, int, int, int]]) -> tuple[int, int]:
    """(portraits with a box centre inside, boxes inside no portrait)."""
    centres = (xyxy[:, :2] + xyxy[:, 2:]) / 2
    inside = np.zeros(len(xyxy), bool)
    found = 0
    for x0, y0, x1, y1 in boxes:
        hit = (centres >= (x0, y0)).all(axis=1) & (centres <= (x1, y1)).all(axis=1)
        found += bool(hit.any())
        inside |= hit
    return found, int((~inside).sum())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--scenes", type=int, default=30)
    ap.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    args = ap.parse_args()
    photos = sorted((args.shared / "data" / "taiwanese" / "images").rglob("*.jpg"))
    if not photos:
        raise SystemExit(f"{args.shared}/data/taiwanese/images: no photos")
    detectors = {m: MediaPipeFaceDetector(m) for m in MODES}
    found = dict.fromkeys(MODES, 0)
    extra = dict.fromkeys(MODES, 0)
    seconds = dict.fromkeys(MODES, 0.0)
    total = 0
    for seed in range(10, 10 + args.scenes):
        image, boxes = scene(photos, seed)
        total += len(boxes)
        for mode, det in detectors.items():
            t0 = time.perf_counter()
            faces = det.detect(image)
            seconds[mode] += time.perf_counter() - t0
            f, e = count(faces.xyxy, boxes)
            found[mode] += f
            extra[mode] += e
    closeups = sorted((args.shared / "media" / "faces").glob("*.jpg"))
    differ = dict.fromkeys(MODES, 0)
    for path in closeups:
        image = read_image(path)
        n_multi = len(detectors["multi"].detect(image))
        for mode in ("auto", "tiled"):
            differ[mode] += len(detectors[mode].detect(image)) != n_multi
    table = Table(title=f"{args.scenes} composed group scenes, {total} faces")
    for col in ("detector", "faces found", "extra boxes", "ms per scene",
                f"close-ups (of {len(closeups)}) with another count than multi"):  # fmt: skip
        table.add_column(col)
    for mode in MODES:
        table.add_row(
            mode,
            f"{found[mode]} / {total}",
            str(extra[mode]),
            f"{1000 * seconds[mode] / args.scenes:.0f}",
            "–" if mode == "multi" else str(differ[mode]),
        )
    Console().print(table)


if __name__ == "__main__":
    main()
