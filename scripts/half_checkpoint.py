"""Copy a ``best.pt`` with its EMA weights in float16, for a device whose file limit is tight.

``python scripts/half_checkpoint.py runs/fer_resnet_v1/best.pt gpu_carry/v1_ema_fp16.pt``
(7.3 MB instead of 14.6 MB; ``init_from`` loads it back into float32 weights). The config
travels with it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("src", type=Path)
    ap.add_argument("dst", type=Path)
    args = ap.parse_args()
    state = torch.load(args.src, map_location="cpu", weights_only=False)
    if not isinstance(state, dict) or "ema" not in state:
        raise SystemExit(f"{args.src}: not a best.pt from scripts/train.py (no 'ema')")
    state["ema"] = {k: v.half() if v.is_floating_point() else v for k, v in state["ema"].items()}
    state["note"] = f"{args.src}'s EMA weights in float16"
    args.dst.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, args.dst)
    print(f"wrote {args.dst} ({args.dst.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
