"""Video pipeline: processed frames per second, memory over video length, rows vs frames (VFR).

Usage: python benchmarks/video_speed.py [--seconds 60] [--long-minutes 10] [--skip-memory]

1. Makes 640×480, 30 fps clips of ``--seconds`` from photos in ``../shared/media/faces``: one
   face, and four faces (2×2), drifting slowly. Times the whole path — decoding in a prefetch
   thread, detection on every frame, alignment, classification, tracking, smoothing, rows to a
   CSV file — and prints frames/s and faces found per frame, for the ``auto`` detector with head
   pose (FaceMesh) per track every 0.2 s (the default), on every frame, and off, and for the
   ``multi`` detector.
2. Runs ``mien analyze`` on a 1-minute and a ``--long-minutes`` clip in subprocesses and prints
   each peak RSS (memory must not grow with video length).
3. Writes a variable-frame-rate clip and checks rows == decoded frames and timestamps == PTS.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
W, H = 640, 480


def photos(n: int, size: int) -> list[np.ndarray]:
    paths = sorted((ROOT.parent / "shared/media/faces").glob("*.jpg"))[::37][:n]
    return [
        cv2.resize(cv2.imread(str(p)), (size, size), interpolation=cv2.INTER_AREA) for p in paths
    ]


def make_clip(path: Path, faces: int, seconds: float, fps: int = 30) -> Path:
    """Faces drift a few pixels per second over a grey background; H.264, exact PTS."""
    size = 300 if faces == 1 else 220
    pics = photos(faces, size)
    cells = (
        [((W - size) // 2, (H - size) // 2)]
        if faces == 1
        else [(20, 10), (W - size - 20, 10), (20, H - size - 10), (W - size - 20, H - size - 10)]
    )
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": "23"}
        for i in range(int(seconds * fps)):
            scene = np.full((H, W, 3), 90, np.uint8)
            dx = int(10 * np.sin(i / 45))
            for pic, (x, y) in zip(pics, cells, strict=False):
                x0 = min(max(x + dx, 0), W - size)
                scene[y : y + size, x0 : x0 + size] = pic
            frame = av.VideoFrame.from_ndarray(scene, format="bgr24")
            frame.pts = i
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def time_pipeline(
    clip: Path, detector: str, out: Path, pose: float | None = 0.2
) -> tuple[float, float, int]:
    """(frames/s, faces per frame, frames) for the whole path on ``clip``; ``pose`` is the
    per-track head-pose interval in seconds (``0``: every frame, ``None``: no head pose)."""
    from mien import Analyzer
    from mien.export import open_sink, result_rows, row_columns
    from mien.io import iter_frames, prefetch

    with Analyzer(  # type: ignore[arg-type]
        detector=detector, pose=pose is not None, pose_interval_s=pose or 0.0
    ) as analyzer:
        names = analyzer.expression_names
        t = time.perf_counter()
        frames = faces = 0
        with open_sink(out, row_columns(names), "csv") as sink:
            for result in analyzer.run(prefetch(iter_frames(clip), 16)):
                for row in result_rows(result):
                    sink.append(row)
                frames += 1
                faces += len(result.faces)
        elapsed = time.perf_counter() - t
    return frames / elapsed, faces / frames, frames


def peak_rss_mb(clip: Path, out: Path) -> float:
    """Peak RSS (MiB) of ``mien analyze clip --out out`` in a fresh process."""
    code = (
        "import resource, sys\n"
        "from mien.cli.main import app\n"
        "try:\n    app(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, "analyze", str(clip), "-o", str(out), "-q"],
        capture_output=True,
        text=True,
        check=True,
    )
    return float(done.stdout.strip().splitlines()[-1])


def vfr_check(folder: Path) -> tuple[int, int, float]:
    """(rows' distinct frames, decoded frames, max |timestamp − PTS|) on a VFR clip."""
    import pandas as pd

    rng = np.random.default_rng(0)
    t_ms = np.cumsum(rng.choice([17, 33, 50, 100, 250], size=300))
    clip = folder / "vfr.mp4"
    pic = photos(1, 300)[0]
    with av.open(str(clip), "w") as container:
        stream = container.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        stream.time_base = Fraction(1, 1000)
        stream.codec_context.time_base = Fraction(1, 1000)
        for t in t_ms:
            scene = np.full((H, W, 3), 90, np.uint8)
            scene[90:390, 170:470] = pic
            frame = av.VideoFrame.from_ndarray(scene, format="bgr24")
            frame.pts, frame.time_base = int(t), Fraction(1, 1000)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    with av.open(str(clip)) as c:
        pts = [float(f.time) for f in c.decode(video=0)]
    out = folder / "vfr.csv"
    subprocess.run(
        [sys.executable, "-m", "mien.cli", "analyze", str(clip), "-o", str(out), "-q"], check=True
    )
    rows = pd.read_csv(out).drop_duplicates("frame_index").sort_values("frame_index")
    err = (
        float(np.max(np.abs(rows["timestamp_s"].to_numpy() - np.array(pts))))
        if len(rows) == len(pts)
        else float("nan")
    )
    return len(rows), len(pts), err


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--long-minutes", type=float, default=10.0)
    ap.add_argument("--skip-memory", action="store_true")
    args = ap.parse_args()
    console = Console(width=120)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        table = Table(title=f"{W}×{H}, 30 fps, {args.seconds:.0f} s, detection on every frame")
        for col in ("clip", "detector", "head pose", "frames", "frames/s", "faces per frame"):
            table.add_column(col, justify="right")
        for faces in (1, 4):
            clip = make_clip(folder / f"{faces}.mp4", faces, args.seconds)
            for detector, pose in (
                ("auto", 0.2),
                ("auto", 0.0),
                ("auto", None),
                ("multi", 0.2),
            ):
                fps, per_frame, n = time_pipeline(clip, detector, folder / "rows.csv", pose)
                table.add_row(
                    f"{faces} face(s)",
                    detector,
                    "off" if pose is None else "every frame" if pose == 0 else f"every {pose} s",
                    str(n),
                    f"{fps:.1f}",
                    f"{per_frame:.2f}",
                )
        console.print(table)
        if not args.skip_memory:
            short = make_clip(folder / "short.mp4", 1, 60)
            long = make_clip(folder / "long.mp4", 1, args.long_minutes * 60)
            a = peak_rss_mb(short, folder / "a.csv")
            b = peak_rss_mb(long, folder / "b.csv")
            console.print(
                f"peak RSS: 1 min {a:.0f} MiB, {args.long_minutes:.0f} min {b:.0f} MiB "
                f"({100 * (b - a) / a:+.1f} %)"
            )
        rows, decoded, err = vfr_check(folder)
        console.print(
            f"VFR clip: {rows} frames in the rows, {decoded} decoded, "
            f"max |timestamp − PTS| = {err * 1000:.3f} ms"
        )


if __name__ == "__main__":
    main()
