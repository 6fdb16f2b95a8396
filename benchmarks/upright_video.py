"""The upright check on small faces moving through compressed video.

Usage: ``python benchmarks/upright_video.py [--photos 12] [--sizes 60,80,120,160]
[--weights other.onnx]``

Each of ``--photos`` portraits of ``media/faces`` (the 350 px ones, chosen with seed 1; never
used to train or choose the check), shrunk to each size, crosses a 640×360 grey frame in 4 s
(60 frames at 15 fps, H.264 at x264's ``ultrafast``, CRF 23), upright and turned 90°, 180° and
270° clockwise. Each clip runs through ``Analyzer.run`` as a video; the table gives the median
face box, the frames with a face, and the share of those frames whose ``upright`` (in videos,
each track's average: see ``UprightSmoother``) is below 0.5: false alarms for the upright
clips, faces caught for the turned ones. ``--weights`` swaps in another ONNX export of the check
(as ``scripts/train_orientation.py export`` writes it) to compare. Reads
``../shared/media/faces`` (``--shared`` for another place).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import cv2
import numpy as np

SHARED = Path(__file__).resolve().parents[2] / "shared"
TURNS = {0: None, 90: cv2.ROTATE_90_CLOCKWISE, 180: cv2.ROTATE_180,
         270: cv2.ROTATE_90_COUNTERCLOCKWISE}  # fmt: skip
FPS, N, W, H = 15, 60, 640, 360


def crossing(patch: np.ndarray, path: Path) -> Path:
    """``patch`` crossing a grey ``W``×``H`` frame left to right, bobbing, as H.264 MP4."""
    import av

    side = patch.shape[0]
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": "23"}
        for i in range(N):
            scene = np.full((H, W, 3), 90, np.uint8)
            x = int(20 + (W - side - 40) * i / (N - 1))
            y = (H - side) // 2 + int(10 * np.sin(i / 6))
            scene[y : y + side, x : x + side] = patch
            for packet in stream.encode(av.VideoFrame.from_ndarray(scene, format="bgr24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--photos", type=int, default=12)
    ap.add_argument("--sizes", default="60,80,120,160", help="photo sides, pixels")
    ap.add_argument("--weights", type=Path, help="another ONNX export of the upright check")
    ap.add_argument("--shared", type=Path, default=SHARED)
    args = ap.parse_args()
    import mien
    from mien.quality import orientation

    if args.weights is not None:  # the spec beside it, as export writes it
        spec = __import__("json").loads(args.weights.with_suffix(".json").read_text())
        orientation.bundled_weights = lambda: (args.weights, spec)  # type: ignore[assignment]
    photos = [
        p
        for p in sorted((args.shared / "media" / "faces").glob("*.jpg"))
        if cv2.imread(str(p)).shape[:2] == (350, 350)
    ]
    if not photos:
        ap.error(f"no 350 px photos in {args.shared / 'media' / 'faces'}: give --shared")
    picks = np.random.default_rng(1).choice(len(photos), args.photos, replace=False)
    sizes = [int(s) for s in args.sizes.split(",")]
    print(f"upright check: {args.weights or orientation.ORIENTATION_MODEL}")
    print("| photo side | face box (median) | turn | frames with a face | called turned |")
    print("|---|---|---|---|---|")
    with mien.Analyzer(pose=False) as analyzer, tempfile.TemporaryDirectory() as tmp:
        for side in sizes:
            for turn, code in TURNS.items():
                flagged = frames = 0
                boxes = []
                for k in picks:
                    patch = cv2.resize(cv2.imread(str(photos[k])), (side, side),
                                       interpolation=cv2.INTER_AREA)  # fmt: skip
                    patch = patch if code is None else cv2.rotate(patch, code)
                    clip = crossing(patch, Path(tmp) / f"{side}_{turn}_{k}.mp4")
                    for result in analyzer.run(mien.iter_frames(clip)):
                        faces = result.faces
                        if len(faces):
                            frames += 1
                            flagged += bool(faces.data["upright"][0] < 0.5)
                            boxes.append(float(faces.xyxy[0, 2] - faces.xyxy[0, 0]))
                box = f"{np.median(boxes):.0f} px" if boxes else "-"
                share = f"{flagged / frames:.1%}" if frames else "-"
                print(f"| {side} | {box} | {turn}° | {frames} | {share} |")


if __name__ == "__main__":
    main()
