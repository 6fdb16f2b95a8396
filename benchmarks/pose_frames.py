"""Does a face's head pitch depend on the frame it sits in? Old and current focal length.

Usage: python benchmarks/pose_frames.py [--shared ../shared] [--limit N]

Each photo of the Taiwanese set (256 px frontal posed portraits) is pasted, unscaled, in the
centre of grey frames of 400×400, 1280×720 and 1920×1080 px, detected (largest face), and its
FaceMesh landmarks are turned into a head pose twice: with the focal length mien uses
(:data:`~mien.quality.pose.FOCAL_PER_EYE_SPAN` × the face's eye span) and with the frame's
longer side (mien's earlier choice, the usual one for an unknown camera). Both add
:data:`~mien.quality.pose.PITCH_OFFSET_DEG`. A frontal face should measure the same in every
frame; the table gives how many fail ``|pitch| ≤ 20°`` (a ``quality_ok`` limit), over all
photos and over the 78 neutral ones, and the median pitch.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from mien.detection import MediaPipeFaceDetector
from mien.evaluation.datasets import read_labels_csv
from mien.io import read_image
from mien.logs import quiet_native_stderr
from mien.quality.measures import QualityThresholds
from mien.quality.pose import (
    FOCAL_PER_EYE_SPAN,
    MESH_INDICES,
    PITCH_OFFSET_DEG,
    FaceMeshPose,
    head_pose,
)

ROOT = Path(__file__).resolve().parents[1]
FRAMES = ((400, 400), (1280, 720), (1920, 1080))
MAX_ABS_PITCH_DEG = QualityThresholds().max_abs_pitch


def pitches(
    photo: np.ndarray, frame_wh: tuple[int, int], detector, mesh
) -> tuple[float, float] | None:
    """``(current, old)`` pitch in degrees of the largest face of ``photo`` centred in a grey
    frame of ``frame_wh``; ``None`` when no face or no landmarks are found."""
    w, h = frame_wh
    scene = np.full((h, w, 3), 128, np.uint8)
    ph, pw = photo.shape[:2]
    y0, x0 = (h - ph) // 2, (w - pw) // 2
    scene[y0 : y0 + ph, x0 : x0 + pw] = photo
    faces = detector.detect(scene)
    if len(faces) == 0:
        return None
    box = faces.xyxy[int(np.argmax(faces.area))][None]
    pts = mesh.landmarks(scene, box, MESH_INDICES)[0]
    if np.isnan(pts).any():
        return None
    xy = pts[:, :2].astype(np.float64)
    span = float(np.linalg.norm(xy[3] - xy[2]))
    current = head_pose(xy, (w, h), focal_px=FOCAL_PER_EYE_SPAN * max(span, 1.0))[1]
    old = head_pose(xy, (w, h), focal_px=float(max(w, h)))[1]
    return float(current) + PITCH_OFFSET_DEG, float(old) + PITCH_OFFSET_DEG


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    ap.add_argument("--limit", type=int, default=None, help="at most N photos (a quick check)")
    args = ap.parse_args()
    ds = read_labels_csv(args.shared / "data" / "taiwanese")
    n = len(ds.paths) if args.limit is None else min(args.limit, len(ds.paths))
    neutral = np.asarray(ds.labels[:n]) == "neutral"
    results = {}
    with quiet_native_stderr(), FaceMeshPose() as mesh:
        detector = MediaPipeFaceDetector()
        for wh in FRAMES:
            got = [pitches(read_image(ds.root / p), wh, detector, mesh) for p in ds.paths[:n]]
            results[wh] = np.array([g if g else (np.nan, np.nan) for g in got], np.float64)
    table = Table(
        title=f"Taiwanese portraits centred in grey frames: |pitch| > {MAX_ABS_PITCH_DEG:g}°"
    )
    for col in ("frame", "focal length", "all photos", "neutral photos", "median pitch",
                "no landmarks"):  # fmt: skip
        table.add_column(col, justify="right")
    for wh, values in results.items():
        for j, name in ((0, "eye span × 2.374 (now)"), (1, "frame's longer side (before)")):
            p = values[:, j]
            found = ~np.isnan(p)
            bad = found & (np.abs(np.nan_to_num(p)) > MAX_ABS_PITCH_DEG)
            table.add_row(
                f"{wh[0]}×{wh[1]}",
                name,
                f"{bad.sum()} of {found.sum()} ({bad.sum() / max(found.sum(), 1):.1%})",
                f"{(bad & neutral).sum()} of {(found & neutral).sum()}",
                f"{np.nanmedian(p):+.1f}°",
                str(int((~found).sum())),
            )
    Console(width=140).print(table)


if __name__ == "__main__":
    main()
