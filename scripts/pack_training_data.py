"""Prepare a run's training rows once and save them as one ``.npz`` (``data_cache``).

``python scripts/pack_training_data.py --config configs/fer_resnet_ft.yaml --out runs/cache/tw.npz``

Runs mien's detector and aligner over the Taiwanese (and SMILEsmileD, if the config names
it) photos, exactly as :func:`mien.training.loop.train` would, so another machine — a GPU box
without the raw data, MediaPipe or PyAV — can train with ``data_cache=<the file>``.
"""

from __future__ import annotations

import argparse
import logging
import time

import numpy as np
import yaml

from mien.training.config import TrainConfig
from mien.training.data import PARTS, load_training_data


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--config", default=None)
    ap.add_argument("--out", required=True, help="the .npz to write")
    ap.add_argument(
        "--max-rows", type=int, default=None, help="keep the first N rows of every part (dry runs)"
    )
    ap.add_argument("overrides", nargs="*", help="key=value pairs")
    args = ap.parse_args()
    if any("=" not in o for o in args.overrides):
        ap.error("overrides must be key=value")
    overrides = {k: yaml.safe_load(v) for k, v in (o.split("=", 1) for o in args.overrides)}
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if args.max_rows is not None and args.max_rows < 1:
        ap.error("--max-rows must be at least 1")
    t0 = time.time()
    try:
        cfg = TrainConfig.load(args.config, overrides)
        data = load_training_data(cfg)
    except (ValueError, TypeError, FileNotFoundError) as e:
        raise SystemExit(f"error: {e}") from e
    if args.max_rows is not None:
        keep = np.arange(args.max_rows)
        for name in PARTS:
            part = getattr(data, name)
            if part is not None:
                setattr(data, name, part.subset(keep[: len(part)]))
        data.val_clean = data.val_clean[: args.max_rows]
    data.save(args.out)
    for name in PARTS:
        part = getattr(data, name)
        print(f"{name:16s} {0 if part is None else len(part):6d} rows")
    print(f"wrote {args.out} in {time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
