"""What each architecture of the training configs would cost per face on this machine.

Usage: python benchmarks/arch_cost.py [CONFIG ...]   (default: v1's recipe and the GPU teacher)

For each config it builds the network (random weights: cost does not depend on them), exports
it to float32 ONNX and times onnxruntime on batches of 32 crops of the config's ``input_size``
(48 unless set; ``:key=value;key=value`` after a config overrides it, e.g.
``'configs/fer_resnet.yaml:input_size=64'``), with and without the
flip average mien runs. It prints parameters, multiply-accumulates per crop (convolutions and
the classifier, counted from the layer shapes) and milliseconds per face, plus each config's
time as a ratio to the first one's (the ratio, measured in one run, is what transfers to
another machine). Needs the ``mien[train]`` extra (torch, onnx).
"""

from __future__ import annotations

import argparse
import re
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
import yaml
from rich.console import Console
from rich.table import Table

from mien.training.config import TrainConfig
from mien.training.export import write_onnx
from mien.training.nets import build_from_config
from mien.types import EXPRESSIONS

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = [ROOT / "configs/fer_resnet.yaml", ROOT / "configs/gpu/teacher.yaml"]


def macs_per_crop(net: torch.nn.Module, size: int = 48) -> int:
    """Multiply-accumulates of the convolutions and linear layers for one ``size`` px crop."""
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
        net(torch.zeros(1, 1, size, size))
    for h in handles:
        h.remove()
    return total


def ms_per_face(path: Path, *, flip: bool, size: int = 48, repeats: int = 30) -> float:
    """Median over ``repeats`` batches of 32, in milliseconds per face."""
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 2
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    x = np.random.default_rng(0).uniform(0, 255, (32, 1, size, size)).astype(np.float32)
    batch = np.concatenate([x, x[..., ::-1]]) if flip else x
    for _ in range(3):
        sess.run(None, {name: batch})
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        sess.run(None, {name: batch})
        times.append(time.perf_counter() - t)
    return 1000 * float(np.median(times)) / len(x)


def parse_config(arg: str) -> tuple[str, TrainConfig]:
    """``PATH.yaml`` or ``PATH.yaml:key=value;key=value`` → (a label for the table, the config).

    Values are YAML (``widths=[32, 64]``). Raises:
        ValueError: not a ``.yaml`` path, a pair without ``=``, or an unknown key.
    """
    m = re.fullmatch(r"(.+?\.ya?ml)(?::(.*))?", arg)
    if m is None:
        raise ValueError(f"{arg!r}: expected PATH.yaml or PATH.yaml:key=value;key=value")
    path, rest = m.group(1), m.group(2) or ""
    pairs = [kv for kv in rest.split(";") if kv.strip()]
    if any("=" not in kv for kv in pairs):
        raise ValueError(f"{arg!r}: overrides must be key=value pairs separated by ';'")
    overrides = {k.strip(): yaml.safe_load(v) for k, v in (kv.split("=", 1) for kv in pairs)}
    p = Path(path).resolve()
    label = str(p.relative_to(ROOT) if p.is_relative_to(ROOT) else p) + (f" {rest}" if rest else "")
    return label, TrainConfig.load(p, overrides)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("configs", nargs="*", default=[str(p) for p in DEFAULT])
    args = ap.parse_args()
    table = Table(title="architecture cost per face (float32 onnxruntime, 2 threads, batch 32)")
    for col in ("config", "px", "params (M)", "MMACs / crop", "ms / face", "with flip", "ratio"):
        table.add_column(col, justify="left" if col == "config" else "right", no_wrap=True)
    base = None
    with tempfile.TemporaryDirectory() as tmp:
        for i, arg in enumerate(args.configs):
            try:
                label, cfg = parse_config(arg)
            except (ValueError, FileNotFoundError) as e:
                ap.error(str(e))
            size = cfg.input_size
            net = build_from_config(cfg, len(EXPRESSIONS)).eval()
            onnx_path = Path(tmp) / f"{i}.onnx"
            write_onnx(net, onnx_path, size)
            plain = ms_per_face(onnx_path, flip=False, size=size)
            flipped = ms_per_face(onnx_path, flip=True, size=size)
            base = base or flipped
            params = sum(p.numel() for p in net.parameters()) / 1e6
            table.add_row(
                label,
                str(size),
                f"{params:.2f}",
                f"{macs_per_crop(net, size) / 1e6:.0f}",
                f"{plain:.2f}",
                f"{flipped:.2f}",
                f"{flipped / base:.1f}×",
            )
    Console(width=120).print(table)


if __name__ == "__main__":
    main()
