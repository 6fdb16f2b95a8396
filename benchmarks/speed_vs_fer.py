"""mien's whole image pipeline against the `fer` package's, on the same photos, in one run.

Usage: python benchmarks/speed_vs_fer.py [--photos ../shared/media/faces] [--repeat 2]

Both pipelines start from the file path (decode included), after one warm-up pass. mien is
timed three ways: ``Analyzer.analyze_batch`` over the list (what ``mien analyze`` does: the next
files are decoded in a background thread), one ``Analyzer.analyze`` call per path, both with the
default quality flags (FaceMesh head pose, about 5–7 ms per face), and ``analyze_batch`` without
head pose (``--no-pose``). Prints images/s, images with a face, faces found, and the classifier
alone in ms per face. Needs
``pip install -e .[bench] && pip install --no-deps fer``. The machine's other load changes
absolute numbers: read the ratio, which comes from one interleaved run.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Iterable
from pathlib import Path

import cv2
import numpy as np
from fer_peer import FerPeer
from rich.console import Console
from rich.table import Table

from mien import Analyzer, FrameResult
from mien.alignment import align_faces
from mien.io import read_image

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--photos", type=Path, default=ROOT.parent / "shared/media/faces")
    ap.add_argument("--repeat", type=int, default=2, help="timed passes over the photos")
    ap.add_argument("--threads", type=int, default=0, help="onnxruntime threads (0 = default)")
    args = ap.parse_args()
    paths = sorted(p for p in args.photos.iterdir() if p.suffix.lower() in (".jpg", ".png"))
    analyzer = Analyzer(threads=args.threads)
    no_pose = Analyzer(threads=args.threads, pose=False)
    peer = FerPeer()

    def count(results: Iterable[FrameResult]) -> tuple[int, int]:
        sizes = [len(r.faces) for r in results]
        return sum(n > 0 for n in sizes), sum(sizes)

    def run_mien() -> tuple[int, int]:
        return count(item.result for item in analyzer.analyze_batch(paths))

    def run_mien_single() -> tuple[int, int]:
        return count(analyzer.analyze(p) for p in paths)

    def run_mien_no_pose() -> tuple[int, int]:
        return count(item.result for item in no_pose.analyze_batch(paths))

    def run_peer() -> tuple[int, int]:
        found = faces = 0
        for p in paths:
            boxes, _ = peer.detect(cv2.imread(str(p)))
            found += len(boxes) > 0
            faces += len(boxes)
        return found, faces

    runs = (
        ("mien", run_mien),
        ("mien_single", run_mien_single),
        ("mien_no_pose", run_mien_no_pose),
        ("fer", run_peer),
    )
    counts = {name: fn() for name, fn in runs}  # warm-up, and the face counts
    seconds = dict.fromkeys(counts, 0.0)
    for _ in range(args.repeat):  # interleave so all see the same machine load
        for name, fn in runs:
            t = time.perf_counter()
            fn()
            seconds[name] += time.perf_counter() - t

    # classifier alone, one face per call (the common case: one face per photo)
    crops = []
    for p in paths[:100]:
        img = read_image(p)
        f = analyzer.detector.detect(img)
        if len(f):
            crops.append(align_faces(img, f[:1], size=analyzer.expression.spec.input_size)[0][0])
    crops = np.stack(crops)
    crops64 = np.stack([cv2.resize(c, (64, 64)) for c in crops])
    for c in crops[:10]:
        analyzer.expression.predict(c[None])
    t = time.perf_counter()
    for _ in range(3):
        for c in crops:
            analyzer.expression.predict(c[None])
    mien_ms = (time.perf_counter() - t) / (3 * len(crops)) * 1e3
    t = time.perf_counter()
    for _ in range(3):
        peer.classify(crops64)
    peer_ms = (time.perf_counter() - t) / (3 * len(crops)) * 1e3
    t = time.perf_counter()
    analyzer.expression.predict(crops)
    mien_batch_ms = (time.perf_counter() - t) / len(crops) * 1e3

    n = len(paths) * args.repeat
    table = Table(
        title=f"{len(paths)} photos from {args.photos} × {args.repeat} passes, "
        f"{os.cpu_count()} CPUs"
    )
    for col in ("pipeline", "images/s", "× fer", "images with a face", "faces found", "ms/face"):
        table.add_column(col, justify="right")
    ips = {k: n / v for k, v in seconds.items()}
    rows = (
        ("mien: Analyzer.analyze_batch (as `mien analyze`)", "mien", f"{mien_ms:.3f}"),
        ("mien: one Analyzer.analyze per path", "mien_single", f"batched {mien_batch_ms:.3f}"),
        ("mien: analyze_batch, no head pose (--no-pose)", "mien_no_pose", ""),
        ("fer: Haar + mini-Xception TFLite int8", "fer", f"{peer_ms:.3f}"),
    )
    for label, key, ms in rows:
        table.add_row(
            label,
            f"{ips[key]:.1f}",
            f"{ips[key] / ips['fer']:.2f}",
            f"{counts[key][0]}/{len(paths)}",
            str(counts[key][1]),
            ms,
        )
    Console(width=140).print(table)
    print(
        "ms/face = the classifier alone, one face per call (mien: int8 ONNX with its flip "
        "average, as shipped; fer: its TFLite model)."
    )


if __name__ == "__main__":
    main()
