"""How many faces each detector mode finds in composed group scenes, how many boxes it puts
on face-free images, and at what time.

Usage: python benchmarks/group_scenes.py [--scenes 30] [--shared DIR]

Each scene is 1280×720 (odd seeds) or 1920×1080 (even) mid-grey with four Taiwanese-set
portraits (256 px photos, the face about half of each) pasted side by side at four of the
sizes 70, 90, 120, 160, 220 and 300 px, at seeded heights; then 10 panoramas, 4000×500, with
six portraits of one size from 150 to 400 px; then 12 scenes of 1280×720 with six small
portraits of 48-128 px (faces of about 24-64 px). A face counts as found when a box's centre
lies inside its portrait; any other box (a second box in one portrait too) counts as extra. The
face-free images are 1920×1080 smooth colour blobs, scattered dots and lines of text. Times are
per image on this machine (compare modes within one run). Also: how many of the 400 close-ups
of ``shared/media/faces`` get another number of faces than with ``multi``.
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


def small_scene(
    photos: list[Path], seed: int
) -> tuple[np.ndarray, list[tuple[int, int, int, int]]]:
    """A 1280×720 scene with six portraits of 48-128 px (faces of about 24-64 px) at seeded
    places, one per 160 px column."""
    rng = np.random.default_rng(1000 + seed)
    canvas = np.full((720, 1280, 3), 110, np.uint8)
    boxes = []
    for x in rng.permutation(np.arange(40, 1080, 160))[:6].tolist():
        side = 2 * int(rng.choice([24, 28, 32, 40, 48, 64]))
        photo = read_image(photos[int(rng.integers(0, len(photos)))])
        y = int(rng.integers(10, 720 - side - 10))
        canvas[y : y + side, x : x + side] = cv2.resize(
            photo, (side, side), interpolation=cv2.INTER_AREA
        )
        boxes.append((x, y, x + side, y + side))
    return canvas, boxes


def panorama(photos: list[Path], size: int) -> tuple[np.ndarray, list[tuple[int, int, int, int]]]:
    """A 4000×500 strip with six portraits of ``size`` px, centred in height."""
    canvas = np.full((500, 4000, 3), 90, np.uint8)
    boxes = []
    y = (500 - size) // 2
    for i, x in enumerate(range(50, 4000 - size, 4000 // 6)):
        photo = read_image(photos[(i * 100) % len(photos)])
        canvas[y : y + size, x : x + size] = cv2.resize(photo, (size, size))
        boxes.append((x, y, x + size, y + size))
    return canvas, boxes


def face_free(kind: str, seed: int) -> np.ndarray:
    """A 1920×1080 image with no face: ``blobs``, ``dots`` or ``text``."""
    rng = np.random.default_rng(seed)
    w, h = 1920, 1080
    if kind == "blobs":
        scale = (8, 16, 32)[seed % 3]
        small = rng.integers(0, 255, (h // scale + 1, w // scale + 1, 3), dtype=np.uint8)
        big = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
        return cv2.GaussianBlur(big, (0, 0), scale / 3)
    image = np.full((h, w, 3), 200 if kind == "dots" else 235, np.uint8)
    if kind == "dots":
        for _ in range(600):
            centre = (int(rng.integers(w)), int(rng.integers(h)))
            colour = tuple(int(v) for v in rng.integers(0, 120, 3))
            cv2.circle(image, centre, int(rng.integers(4, 30)), colour, -1)
        return image
    words = "the quick brown fox jumps over a lazy dog 0123456789 OO oo @@ 88".split()
    for y in range(30, h, int(rng.integers(25, 60))):
        x = 5
        while x < w:
            word, scale = words[rng.integers(len(words))], float(rng.uniform(0.6, 1.6))
            cv2.putText(image, word, (x, y), cv2.FONT_HERSHEY_SIMPLEX, scale, (20, 20, 20), 2)
            x += int(len(word) * 22 * scale) + 15
    return image


def count(xyxy: np.ndarray, boxes: list[tuple[int, int, int, int]]) -> tuple[int, int]:
    """(portraits with a box centre inside, other boxes: outside every portrait, or a second
    one inside a portrait)."""
    centres = (xyxy[:, :2] + xyxy[:, 2:]) / 2
    inside = np.zeros(len(xyxy), bool)
    found = extra = 0
    for x0, y0, x1, y1 in boxes:
        hit = (centres >= (x0, y0)).all(axis=1) & (centres <= (x1, y1)).all(axis=1)
        found += bool(hit.any())
        extra += max(0, int(hit.sum()) - 1)
        inside |= hit
    return found, extra + int((~inside).sum())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--scenes", type=int, default=30)
    ap.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    args = ap.parse_args()
    photos = sorted((args.shared / "data" / "taiwanese" / "images").rglob("*.jpg"))
    if not photos:
        raise SystemExit(f"{args.shared}/data/taiwanese/images: no photos")
    detectors = {m: MediaPipeFaceDetector(m) for m in MODES}
    scenes = [scene(photos, seed) for seed in range(10, 10 + args.scenes)]
    strips = [panorama(photos, size) for size in (150, 200, 250, 300, 400) for _ in range(2)]
    small = [small_scene(photos, seed) for seed in range(12)]
    free = [face_free(kind, seed) for kind in ("blobs", "dots", "text") for seed in range(3)]
    table = Table(title="faces found, other boxes, ms per image")
    table.add_column("detector")
    sets = (("group scenes", scenes), ("panoramas", strips), ("small faces, 720p", small))
    for name, images in sets:
        n = sum(len(b) for _, b in images)
        table.add_column(f"{name}: {len(images)} images, {n} faces")
    table.add_column(f"face-free: {len(free)} images, boxes")
    table.add_column("close-ups with another count than multi")
    closeups = sorted((args.shared / "media" / "faces").glob("*.jpg"))
    multi_counts = [len(detectors["multi"].detect(read_image(p))) for p in closeups]
    for mode, det in detectors.items():
        cells = []
        for _, images in sets:
            found = extra = 0
            t0 = time.perf_counter()
            for image, boxes in images:
                f, e = count(det.detect(image).xyxy, boxes)
                found += f
                extra += e
            ms = 1000 * (time.perf_counter() - t0) / len(images)
            total = sum(len(b) for _, b in images)
            cells.append(f"{found} / {total}, {extra} other, {ms:.0f} ms")
        t0 = time.perf_counter()
        boxes = sum(len(det.detect(image)) for image in free)
        cells.append(f"{boxes}, {1000 * (time.perf_counter() - t0) / len(free):.0f} ms")
        differ = sum(
            len(det.detect(read_image(p))) != n for p, n in zip(closeups, multi_counts, strict=True)
        )
        cells.append("–" if mode == "multi" else f"{differ} of {len(closeups)}")
        table.add_row(mode, *cells)
    Console(width=140).print(table)


if __name__ == "__main__":
    main()
