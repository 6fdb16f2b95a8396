"""Average the weights of fine-tuned runs that share one initialisation (a "model soup").

Usage: ``python scripts/soup.py OUT_RUN RUN [RUN ...]`` writes ``OUT_RUN/best.pt`` holding the
uniform mean of the runs' EMA weights (batch-norm statistics included), ready for
``scripts/export_onnx.py OUT_RUN``. Method: Wortsman et al., "Model soups: averaging weights of
multiple fine-tuned models improves accuracy without increasing inference time" (ICML 2022).
The runs must have the same architecture and, for the average to make sense, start from the
same checkpoint (``init_from``). That checkpoint's own run may join the average: weight
interpolation between a model and its fine-tunes is WiSE-FT (Wortsman et al., "Robust
fine-tuning of zero-shot models", CVPR 2022), which helps under distribution shift. The first
run's config becomes the soup's (list a fine-tuned run first). Needs ``pip install -e .[train]``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch


def load(run: Path) -> dict:
    """``run/best.pt`` with its EMA weights and config, or exit with one line naming it."""
    path = run / "best.pt"
    if not path.is_file():
        raise SystemExit(f"{run}: no best.pt (is it a training run folder?)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:  # a truncated or foreign file
        raise SystemExit(f"{path}: not a readable checkpoint ({e})") from e
    if not isinstance(state, dict) or "ema" not in state or "config" not in state:
        raise SystemExit(f"{path}: not a best.pt from scripts/train.py (no 'ema' or 'config')")
    return state


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("out", type=Path)
    ap.add_argument("runs", type=Path, nargs="+")
    args = ap.parse_args()
    runs = [r.resolve() for r in args.runs]
    if len(set(runs)) != len(runs) or len(runs) < 2:
        ap.error("give at least two different runs")
    if args.out.resolve() in runs or (args.out / "best.pt").exists():
        ap.error(f"{args.out}: is one of the runs or already holds a best.pt; pick a new folder")
    states = [load(r) for r in args.runs]
    inits = {
        None if s["config"].get("init_from") is None else Path(s["config"]["init_from"]).resolve()
        for s in states
    }
    parents = {(r / "best.pt").resolve() for r in runs} & inits
    inits = {
        None if s["config"].get("init_from") is None else Path(s["config"]["init_from"]).resolve()
        for r, s in zip(runs, states, strict=True)
        if (r / "best.pt").resolve() not in parents  # the shared init's own run may join
    }
    if None in inits:
        raise SystemExit(
            "some runs have no init_from (trained from random weights): only fine-tunes of one "
            "checkpoint (and that checkpoint's own run) can be averaged"
        )
    if len(inits) != 1:
        got = sorted(map(str, inits))
        raise SystemExit(f"the runs must share one init_from checkpoint; got {got}")
    if states[0]["config"].get("init_from") is None:
        order = [r for r, s in zip(args.runs, states, strict=True) if s["config"].get("init_from")]
        raise SystemExit(
            f"list a fine-tuned run first (its config becomes the soup's), e.g. {order[0]}"
        )
    sizes = {r: s["config"].get("input_size", 48) for r, s in zip(args.runs, states, strict=True)}
    if len(set(sizes.values())) > 1:
        got = ", ".join(f"{r}: {px} px" for r, px in sizes.items())
        raise SystemExit(f"the runs were trained on crops of different sizes ({got})")
    first = states[0]["ema"]
    for run, state in zip(args.runs[1:], states[1:], strict=True):
        ema = state["ema"]
        if ema.keys() != first.keys() or any(ema[k].shape != first[k].shape for k in first):
            raise SystemExit(f"{run}: its network differs from {args.runs[0]}'s (keys or shapes)")
    soup = {}
    for key, value in first.items():
        if value.dtype.is_floating_point:
            soup[key] = sum(s["ema"][key] for s in states) / len(states)
        else:
            soup[key] = value.clone()
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
