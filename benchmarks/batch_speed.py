"""Batch throughput: 1 vs 2 workers, local and Ray engines, on generated short videos.

Usage: python benchmarks/batch_speed.py [--videos 20] [--seconds 4]

Writes ``--videos`` 320×240, 15 fps clips with a face, then times ``run_batch`` into a fresh
folder for each (engine, workers) pair and prints frames/s and the Ray overhead against the
local pool with the same number of workers.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import cv2
from rich.console import Console
from rich.table import Table

from mien.batch import BatchOptions, run_batch

ROOT = Path(__file__).resolve().parents[1]


def make_videos(folder: Path, n: int, seconds: float) -> list[Path]:
    import sys

    sys.path.insert(0, str(ROOT))
    from tests.helpers import compose, write_clip

    photos = sorted((ROOT.parent / "shared/media/faces").glob("*.jpg"))
    paths = []
    for k in range(n):
        face = cv2.resize(cv2.imread(str(photos[k * 7 % len(photos)])), (150, 150))
        frames = [
            (compose((320, 240), [(face, 40 + (i % 30) * 2, 40)]), i / 15)
            for i in range(int(seconds * 15))
        ]
        paths.append(write_clip(folder / f"v{k:02d}.mp4", frames))
    return paths


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--videos", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=4.0)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        videos = make_videos(folder, args.videos, args.seconds)
        frames = args.videos * int(args.seconds * 15)
        table = Table(
            title=f"{args.videos} videos × {args.seconds:.0f} s at 15 fps ({frames} frames), 2 CPUs"
        )
        for c in ("engine", "workers", "seconds", "frames/s"):
            table.add_column(c, justify="right")
        timing: dict[tuple[str, int], float] = {}
        for engine in ("local", "ray"):
            for workers in (1, 2):
                out = folder / f"out-{engine}-{workers}"
                t = time.perf_counter()
                counts = run_batch(videos, out, BatchOptions(), workers=workers, engine=engine)
                timing[(engine, workers)] = time.perf_counter() - t
                assert counts.get("done") == args.videos, counts
                table.add_row(
                    engine,
                    str(workers),
                    f"{timing[(engine, workers)]:.1f}",
                    f"{frames / timing[(engine, workers)]:.1f}",
                )
        Console(width=100).print(table)
        for w in (1, 2):
            ray_s, local_s = timing[("ray", w)], timing[("local", w)]
            print(
                f"Ray overhead with {w} worker(s): {ray_s - local_s:+.1f} s "
                f"({100 * (ray_s / local_s - 1):+.0f} %)"
            )


if __name__ == "__main__":
    main()
