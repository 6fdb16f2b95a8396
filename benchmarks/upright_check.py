"""The upright check on photos it never saw: the 400 ``media/faces`` photos turned 0, 90, 180
and 270 degrees clockwise, through the whole pipeline.

Usage: ``python benchmarks/upright_check.py [--limit N]``

For each turn it prints the faces found, the share the check calls upright (``upright`` ≥ the
threshold), and the faces given a committed label (not abstained) with the check and without it
(``QualityThresholds(min_upright=0)``), with how many of those differ from the label of the
same photo upright. Then the check's time per face against the expression model's, both on
the same crops in the same run. Reads ``../shared/media/faces`` (``--shared`` for another place).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import cv2
import numpy as np

from mien import Analyzer
from mien.alignment import align_faces
from mien.quality import QualityThresholds
from mien.quality.orientation import UprightCheck

SHARED = Path(__file__).resolve().parents[2] / "shared"
TURNS = {
    0: None,
    90: cv2.ROTATE_90_CLOCKWISE,
    180: cv2.ROTATE_180,
    270: cv2.ROTATE_90_COUNTERCLOCKWISE,
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--limit", type=int, default=0, help="first N photos only (0 = all)")
    ap.add_argument(
        "--shared", type=Path, default=SHARED, help="the folder holding media/faces (../shared)"
    )
    args = ap.parse_args()
    media = args.shared / "media" / "faces"
    paths = sorted(media.glob("*.jpg"))
    if not paths:
        ap.error(f"no .jpg photos in {media}: give --shared")
    if args.limit:
        paths = paths[: args.limit]
    with_check = Analyzer()
    without = Analyzer(thresholds=QualityThresholds(min_upright=0.0))
    rows = {
        t: {"photos": 0, "found": 0, "upright": 0, "committed": [0, 0], "differs": [0, 0]}
        for t in TURNS
    }
    crops = []
    for path in paths:
        image = cv2.imread(str(path))
        upright_label = None
        for turn, code in TURNS.items():
            img = image if code is None else cv2.rotate(image, code)
            r = rows[turn]
            r["photos"] += 1
            results = [with_check.analyze(img), without.analyze(img)]
            faces = results[0].faces
            if not len(faces):
                continue
            r["found"] += 1
            r["upright"] += bool(faces.data["upright"][0] >= with_check.thresholds.min_upright)
            if turn == 0:
                upright_label = int(np.argmax(faces.expression[0]))
                crops.append(align_faces(img, faces[:1], size=48)[0][0])
            for k, res in enumerate(results):
                f = res.faces
                if not f.abstained[0]:
                    r["committed"][k] += 1
                    r["differs"][k] += (
                        upright_label is not None  # a face only when turned: nothing to compare
                        and int(np.argmax(f.expression[0])) != upright_label
                    )
    threshold = with_check.thresholds.min_upright
    print(f"{len(paths)} photos of {media}; first face of each; threshold {threshold}")
    print(
        "| turn | photos | face found | called upright | committed, with check "
        "(differs from upright) | committed, without check (differs) |"
    )
    print("|---|---|---|---|---|---|")
    for turn, r in rows.items():
        share = r["upright"] / max(r["found"], 1)
        print(
            f"| {turn}° | {r['photos']} | {r['found']} | {r['upright']} ({share:.1%}) | "
            f"{r['committed'][0]} ({r['differs'][0]}) | {r['committed'][1]} ({r['differs'][1]}) |"
        )
    # time per face: the check against the expression model, same crops, interleaved
    batch = np.stack(crops)
    check, model = UprightCheck(), with_check.expression
    times: dict[str, list[float]] = {"upright check": [], "expression model": []}
    for _ in range(5):
        for name, fn in (("upright check", check.upright), ("expression model", model.predict)):
            for crop in batch[:200]:
                t = time.perf_counter()
                fn(crop[None])
                times[name].append(time.perf_counter() - t)
    print("\n| one face at a time | median ms | ratio to the expression model |")
    print("|---|---|---|")
    base = float(np.median(times["expression model"]))
    for name, ts in times.items():
        print(f"| {name} | {np.median(ts) * 1e3:.3f} | {np.median(ts) / base:.2f} |")


if __name__ == "__main__":
    main()
