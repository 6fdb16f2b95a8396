"""What each architecture of the training configs would cost per face on this machine.

Usage: python benchmarks/arch_cost.py [CONFIG ...]   (default: v1's recipe and the GPU teacher)

For each config it builds the network (random weights: cost does not depend on them), exports
it to float32 ONNX and times onnxruntime on batches of 32 crops of 48×48, with and without the
flip average mien runs. It prints parameters, multiply-accumulates per crop (convolutions and
the classifier, counted from the layer shapes) and milliseconds per face, plus each config's
time as a ratio to the first one's (the ratio, measured in one run, is what transfers to
another machine). Needs the ``mien[train]`` extra (torch, onnx).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
from rich.console import Console
from rich.table import Table

from mien.training.config import TrainConfig
from mien.training.export import write_onnx
from mien.training.nets import build_from_config
from mien.types import EXPRESSIONS

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = [ROOT / "configs/fer_resnet.yaml", ROOT / "configs/gpu/teacher.yaml"]


def macs_per_crop(net: torch.nn.Module) -> int:
    """Multiply-accumulates of the convolutions and linear layers for one 48×48 crop."""
    total = 0

    def hook(module: torch.nn.Module, _inp: tuple, out: torch.Tensor) -> None:
        nonlocal total
        if isinstance(module, torch.nn.Conv2d):
            k = module.kernel_size[0] * module.kernel_size[1] * module.in_channels
            total += k // module.groups * out.numel()
        elif isinstance(module, torch.nn.Linear):
            total += module.in_features * module.out_features

    handles = [m.register_forward_hook(hook) for m in net.modules()]
    with torch.no_grad():
        net(torch.zeros(1, 1, 48, 48))
    for h in handles:
        h.remove()
    return total


def ms_per_face(path: Path, *, flip: bool, repeats: int = 30) -> float:
    """Median over ``repeats`` batches of 32, in milliseconds per face."""
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 2
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    x = np.random.default_rng(0).uniform(0, 255, (32, 1, 48, 48)).astype(np.float32)
    batch = np.concatenate([x, x[..., ::-1]]) if flip else x
    for _ in range(3):
        sess.run(None, {name: batch})
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        sess.run(None, {name: batch})
        times.append(time.perf_counter() - t)
    return 1000 * float(np.median(times)) / len(x)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("configs", nargs="*", type=Path, default=DEFAULT)
    args = ap.parse_args()
    table = Table(title="architecture cost per face (float32 onnxruntime, 2 threads, batch 32)")
    for col in ("config", "params (M)", "MMACs / crop", "ms / face", "with flip", "ratio"):
        table.add_column(col, justify="left" if col == "config" else "right", no_wrap=True)
    base = None
    with tempfile.TemporaryDirectory() as tmp:
        for path in args.configs:
            cfg = TrainConfig.load(path)
            net = build_from_config(cfg, len(EXPRESSIONS)).eval()
            onnx_path = Path(tmp) / f"{path.stem}.onnx"
            write_onnx(net, onnx_path)
            plain, flipped = ms_per_face(onnx_path, flip=False), ms_per_face(onnx_path, flip=True)
            base = base or flipped
            params = sum(p.numel() for p in net.parameters()) / 1e6
            table.add_row(
                str(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path),
                f"{params:.2f}",
                f"{macs_per_crop(net) / 1e6:.0f}",
                f"{plain:.2f}",
                f"{flipped:.2f}",
                f"{flipped / base:.1f}×",
            )
    Console(width=120).print(table)


if __name__ == "__main__":
    main()
