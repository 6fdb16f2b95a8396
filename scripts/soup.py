"""Average the weights of fine-tuned runs that share one initialisation (a "model soup").

Usage: ``python scripts/soup.py OUT_RUN RUN [RUN ...]`` writes ``OUT_RUN/best.pt`` holding the
uniform mean of the runs' EMA weights (batch-norm statistics included), ready for
``scripts/export_onnx.py OUT_RUN``. Method: Wortsman et al., "Model soups: averaging weights of
multiple fine-tuned models improves accuracy without increasing inference time" (ICML 2022).
The runs must have the same architecture and, for the average to make sense, start from the
same checkpoint (``init_from``). Needs ``pip install -e .[train]``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("out", type=Path)
    ap.add_argument("runs", type=Path, nargs="+")
    args = ap.parse_args()
    states = [torch.load(r / "best.pt", weights_only=False) for r in args.runs]
    inits = {s["config"].get("init_from") for s in states}
    if len(inits) != 1 or None in inits:
        raise SystemExit(
            f"the runs must share one init_from checkpoint; got {sorted(map(str, inits))}"
        )
    soup = {}
    for key, first in states[0]["ema"].items():
        if first.dtype.is_floating_point:
            soup[key] = sum(s["ema"][key] for s in states) / len(states)
        else:
            soup[key] = first.clone()
    config = dict(states[0]["config"])
    config["out"] = str(args.out)
    args.out.mkdir(parents=True, exist_ok=True)
    torch.save(
        {
            "ema": soup,
            "epoch": None,
            "val_acc": None,
            "config": config,
            "soup_of": [
                {"checkpoint": str(r / "best.pt"), **s["config"]}
                for r, s in zip(args.runs, states, strict=True)
            ],
        },
        args.out / "best.pt",
    )
    print(f"{args.out / 'best.pt'}: mean of {len(states)} runs' EMA weights")


if __name__ == "__main__":
    main()
