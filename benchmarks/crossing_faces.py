"""Two faces crossing, one hiding the other: ids per person and swaps, with and without the
tracker's recovery along a lost track's course (``FaceTracker(recover=...)``).

Usage: python benchmarks/crossing_faces.py [--pairs 4] [--speeds 100 130 160 190 250 400]
[--fps 15]

Each clip is 640×300 at ``--fps`` frames/s: two photos of ``shared/media/faces`` (160 px
squares) start at either side and move towards each other at ``speed`` px/s each, the one
moving right in front, the other ``dy`` px lower (0, 20 or 60); the clip ends before the
faces leave. The whole pipeline (``Analyzer.run``) finds and tracks them; each track is given
to the person whose true box centre its boxes lie nearest in most of its frames. Counted per
set-up: whether the hidden face got more than one id ("split"), and whether the longest time
between two of its boxes (whatever their ids) was under the 1 s age limit (at or over it a new
id is the rule; under it the promise is its old id back); a track whose boxes lie nearer the
other person in more than 10 % of its frames is a swap. Splits of the face in front are not
counted. Needs ``../shared/media/faces``.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np
from rich.console import Console
from rich.table import Table

import mien
from mien.tracking import FaceTracker

ROOT = Path(__file__).resolve().parents[1]
SIZE = 160


def truth(speed: float, dy: int, t: float) -> tuple[np.ndarray, np.ndarray]:
    """The two faces' true box centres (pixels) at ``t`` seconds: the one moving right, then
    the one moving left."""
    xa, xb = 20 + speed * t, 640 - 20 - SIZE - speed * t
    return np.array([xa + SIZE / 2, 60 + SIZE / 2]), np.array([xb + SIZE / 2, 60 + dy + SIZE / 2])


def make_clip(
    folder: Path, a: np.ndarray, b: np.ndarray, speed: float, dy: int, fps: float
) -> Path:
    sys.path.insert(0, str(ROOT))
    from tests.helpers import compose, write_clip

    seconds = min(6.0, (640 - 40 - SIZE) / speed)
    frames = []
    for k in range(int(seconds * fps)):
        t = k / fps
        (ca, cb) = truth(speed, dy, t)
        corner = [(int(c[0] - SIZE / 2), int(c[1] - SIZE / 2)) for c in (ca, cb)]
        frames.append((compose((640, 300), [(b, *corner[1]), (a, *corner[0])]), t))
    return write_clip(folder / f"cross_{speed}_{dy}.mp4", frames)


def score(results: list, speed: float, dy: int) -> tuple[bool, float, int]:
    """(the hidden face split, its longest time unseen between its ids, swaps)."""
    tracks: dict[int, list[tuple[float, np.ndarray]]] = {}
    for r in results:
        for tid, box in zip(r.faces.track_id.tolist(), r.faces.xyxy, strict=True):
            tracks.setdefault(tid, []).append((r.timestamp_s, (box[:2] + box[2:]) / 2))
    owner: dict[int, int] = {}
    swaps = 0
    for tid, seen in tracks.items():
        near = [int(np.argmin([np.hypot(*(c - p)) for p in truth(speed, dy, t)])) for t, c in seen]
        owner[tid] = int(np.round(np.mean(near)))
        swaps += np.mean(np.array(near) != owner[tid]) > 0.1
    hidden = sorted(tid for tid, who in owner.items() if who == 1)
    times = sorted(t for tid in hidden for t, _ in tracks[tid])
    gap = max(np.diff(times), default=0.0)
    return len(hidden) > 1, float(gap), int(swaps)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--pairs", type=int, default=4)
    ap.add_argument("--speeds", type=float, nargs="+", default=[100, 130, 160, 190, 250, 400])
    ap.add_argument("--fps", type=float, default=15.0)
    args = ap.parse_args()
    photos = sorted((ROOT.parent / "shared/media/faces").glob("*.jpg"))
    if not photos:
        raise SystemExit(f"no photos in {ROOT.parent / 'shared/media/faces'}")
    pairs = [(k * 37 % len(photos), (k * 37 + 150) % len(photos)) for k in range(args.pairs)]
    counts = {arm: {"setups": 0, "split": 0, "split_under": 0, "swaps": 0} for arm in (0, 1)}
    with tempfile.TemporaryDirectory() as tmp, mien.Analyzer(pose=False) as analyzer:
        for (ia, ib), speed, dy in itertools.product(pairs, args.speeds, (0, 20, 60)):
            a, b = (cv2.resize(cv2.imread(str(photos[i])), (SIZE, SIZE)) for i in (ia, ib))
            clip = make_clip(Path(tmp), a, b, speed, dy, args.fps)
            for arm in (0, 1):
                tracker = FaceTracker(recover=bool(arm))
                results = list(analyzer.run(mien.iter_frames(clip), tracker=tracker))
                split, gap, swaps = score(results, speed, dy)
                c = counts[arm]
                c["setups"] += 1
                c["split"] += split
                c["split_under"] += split and gap < 1.0
                c["swaps"] += swaps
    table = Table(
        title=f"Two faces crossing ({args.fps:g} fps, 160 px faces): the hidden face's ids"
    )
    for col in ("tracker", "set-ups", "hidden face split", "split, unseen < 1 s", "swaps"):
        table.add_column(col, justify="right")
    for arm, name in ((0, "overlap only (recover=False)"), (1, "with recovery (default)")):
        c = counts[arm]
        table.add_row(
            name, str(c["setups"]), str(c["split"]), str(c["split_under"]), str(c["swaps"])
        )
    Console(width=110).print(table)


if __name__ == "__main__":
    main()
