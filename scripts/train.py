"""Train mien's expression model: ``python scripts/train.py --config configs/fer_resnet.yaml``.

Thin entry point over :func:`mien.training.loop.train`; needs ``pip install -e .[train]``.
Extra ``key=value`` arguments override the config (values parsed as YAML).
"""

from __future__ import annotations

import argparse
import logging

import yaml

from mien.training.config import TrainConfig
from mien.training.loop import train


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--config", default=None)
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--overwrite", action="store_true", help="train over an existing run folder")
    ap.add_argument("overrides", nargs="*", help="key=value pairs")
    args = ap.parse_args()
    overrides = {k: yaml.safe_load(v) for k, v in (o.split("=", 1) for o in args.overrides)}
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    try:
        train(
            TrainConfig.load(args.config, overrides), resume=args.resume, overwrite=args.overwrite
        )
    except (FileExistsError, ValueError, FileNotFoundError) as e:
        raise SystemExit(f"error: {e}") from e


if __name__ == "__main__":
    main()
