"""onnxruntime's idle threads spinning (its default) against sleeping (mien's), in one run.

Usage: python benchmarks/ort_spinning.py [--photos 200] [--rounds 3] [--threads 0]

Two analyzers, identical but for ``mien.weights.SPIN`` when their sessions were made, take
turns over the same photos from ``../shared/media/faces`` (whole pipeline: detection,
alignment, head pose, expression, upright check), round after round, so the machine's other
load falls on both alike. It prints wall time and CPU time (this process, all threads) per
photo: spinning shows as CPU spent beyond the wall time's worth of work. Read the ratios.
Then the classifier alone, a batch of 32 seeded-noise crops at a time.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

import mien.weights
from mien.io import read_image
from mien.pipeline import Analyzer

SHARED = Path(__file__).resolve().parents[2] / "shared"


def make(spin: bool, threads: int) -> Analyzer:
    mien.weights.SPIN = spin
    try:
        analyzer = Analyzer(threads=threads)
        analyzer.warm_up()
        return analyzer
    finally:
        mien.weights.SPIN = False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="0: mien's default")
    parser.add_argument(
        "--shared", type=Path, default=SHARED, help="the folder holding media/faces (../shared)"
    )
    args = parser.parse_args()
    photos = sorted((args.shared / "media" / "faces").glob("*.jpg"))[: args.photos]
    if not photos:
        parser.error(f"no .jpg photos in {args.shared / 'media' / 'faces'}: give --shared")
    images = [read_image(p) for p in photos]
    arms = {"spinning (onnxruntime's default)": True, "sleeping (mien)": False}
    analyzers = {name: make(spin, args.threads) for name, spin in arms.items()}
    wall = {name: 0.0 for name in arms}
    cpu = {name: 0.0 for name in arms}
    crops = np.random.default_rng(0).integers(0, 256, (32, 48, 48), np.uint8)
    crop_wall = {name: 0.0 for name in arms}
    crop_cpu = {name: 0.0 for name in arms}
    for r in range(args.rounds):
        order = list(arms) if r % 2 == 0 else list(arms)[::-1]
        for name in order:
            a = analyzers[name]
            t, c = time.perf_counter(), time.process_time()
            for img in images:
                a.analyze(img)
            wall[name] += time.perf_counter() - t
            cpu[name] += time.process_time() - c
            t, c = time.perf_counter(), time.process_time()
            for _ in range(20):
                a.expression.predict(crops)
            crop_wall[name] += time.perf_counter() - t
            crop_cpu[name] += time.process_time() - c
    n = len(images) * args.rounds
    m = 32 * 20 * args.rounds
    table = Table(
        "onnxruntime threads",
        "photo wall ms",
        "photo CPU ms",
        "crop wall ms",
        "crop CPU ms",
        title=f"{len(images)} photos x {args.rounds} rounds, whole pipeline; 32-crop batches",
    )
    base = next(iter(arms))
    for name in arms:
        table.add_row(
            name,
            f"{1e3 * wall[name] / n:.1f} ({wall[name] / wall[base]:.2f}x)",
            f"{1e3 * cpu[name] / n:.1f} ({cpu[name] / cpu[base]:.2f}x)",
            f"{1e3 * crop_wall[name] / m:.3f} ({crop_wall[name] / crop_wall[base]:.2f}x)",
            f"{1e3 * crop_cpu[name] / m:.3f} ({crop_cpu[name] / crop_cpu[base]:.2f}x)",
        )
    Console().print(table)
    for a in analyzers.values():
        a.close()


if __name__ == "__main__":
    main()
