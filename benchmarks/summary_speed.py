"""Summary speed: ``window_summary`` per window against ``track_summary`` of the same rows.

Usage: python benchmarks/summary_speed.py [--minutes 10] [--tracks 2]

Builds the rows of a ``--minutes`` 30 fps clip with ``--tracks`` faces in every frame (labels
changing every second), then times ``track_summary`` (the baseline, one pass over the rows)
and ``window_summary`` over 100, 1,000 and 10,000 two-second windows (a transcript's
utterances), and prints seconds, milliseconds per window and the ratio to the baseline.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table

from mien.summary import track_summary, window_summary


def clip_rows(minutes: float, tracks: int) -> pd.DataFrame:
    """Rows as ``mien analyze`` writes them for a 30 fps clip, ``tracks`` faces per frame."""
    n = int(minutes * 60 * 30)
    frame = np.arange(n)
    per_track = []
    for k in range(tracks):
        per_track.append(pd.DataFrame(
            {"source": "clip.mp4", "status": "ok", "frame_index": frame, "timestamp_s": frame / 30,
             "track_id": k + 1, "label": np.where(frame // 30 % 2, "happiness", "neutral"),
             "p_happiness": 0.6, "p_neutral": 0.4, "abstained": frame % 7 == 0,
             "x1": 10.0 * k, "y1": 0.0, "x2": 10.0 * k + 8, "y2": 8.0}
        ))  # fmt: skip
    return pd.concat(per_track).sort_values(["frame_index", "track_id"], kind="stable")


def seconds(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--tracks", type=int, default=2)
    args = parser.parse_args()
    rows = clip_rows(args.minutes, args.tracks)
    rng = np.random.default_rng(0)
    base = seconds(lambda: track_summary(rows))
    table = Table(title=f"{len(rows)} rows, {args.minutes:g} min at 30 fps, {args.tracks} tracks")
    for column in ("call", "seconds", "ms / window", "× track_summary"):
        table.add_column(column, justify="right")
    table.add_row("track_summary", f"{base:.2f}", "", "1.0")
    for n in (100, 1_000, 10_000):
        starts = np.sort(rng.uniform(0, args.minutes * 60 - 2, n))
        windows = pd.DataFrame({"start_s": starts, "end_s": starts + 2.0})
        took = seconds(lambda w=windows: window_summary(rows, w))
        table.add_row(f"window_summary, {n:,} windows", f"{took:.2f}", f"{took / n * 1e3:.2f}",
                      f"{took / base:.1f}")  # fmt: skip
    Console().print(table)


if __name__ == "__main__":
    main()
