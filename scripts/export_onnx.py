"""Export a run's best checkpoint into the package.

Usage: ``python scripts/export_onnx.py runs/fer_resnet_v2 [--name fer_resnet_v2]``, or several
run folders with ``--name`` for one graph that averages their logits (an ensemble).

Writes ``src/mien/expression/weights/<name>.onnx`` + ``<name>.json`` and ``<run>/metrics.json``
(see :mod:`mien.training.export`). Needs ``pip install -e .[train]``.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from mien.training.export import export_model

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument(
        "run", type=Path, nargs="+", help="run folder holding best.pt; several: an ensemble"
    )
    ap.add_argument("--name", default=None, help="model name (default: the run folder's name)")
    ap.add_argument("--weights-dir", type=Path, default=ROOT / "src/mien/expression/weights")
    ap.add_argument("--flip-tta", choices=["auto", "on", "off"], default="auto")
    ap.add_argument("--float32", action="store_true", help="ship float32 instead of int8")
    args = ap.parse_args()
    if len(args.run) > 1 and not args.name:
        ap.error("an ensemble needs --name")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    flip = {"auto": None, "on": True, "off": False}[args.flip_tta]
    metrics = export_model(
        [r / "best.pt" for r in args.run] if len(args.run) > 1 else args.run[0] / "best.pt",
        args.weights_dir,
        name=args.name or args.run[0].name,
        flip_tta=flip,
        int8=not args.float32,
    )
    print(
        json.dumps(
            {k: v for k, v in metrics.items() if k not in ("val", "val_clean")}
            | {
                "val_accuracy": metrics["val"]["accuracy"],
                "val_ece": metrics["val"]["ece_calibrated"],
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
