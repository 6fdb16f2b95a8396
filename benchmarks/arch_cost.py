"""What each architecture of the training configs would cost per face on this machine.

Usage: python benchmarks/arch_cost.py [CONFIG ...]   (default: v1's recipe and the GPU teacher)

For each config it builds the network (random weights: cost does not depend on them), exports
it to float32 ONNX and times onnxruntime on batches of 32 crops of the config's ``input_size``
(48 unless set; ``:key=value;key=value`` after a config overrides it, e.g.
``'configs/fer_resnet.yaml:input_size=64'``), with and without the
flip average mien runs. It prints parameters, multiply-accumulates per crop (convolutions and
the classifier, counted from the layer shapes) and milliseconds per face, plus each config's
time as a ratio to the first one's (the ratio, measured in one run, is what transfers to
another machine; the configs are timed interleaved). Needs the ``mien[train]`` extra (torch,
onnx).
"""

from __future__ import annotations

import argparse
import re
import tempfile
import time
from pathlib import Path

import numpy as np
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


def ms_per_face(
    paths: list[Path], sizes: list[int], *, rounds: int = 30
) -> list[tuple[float, float]]:
    """``(plain, with flip)`` medians over ``rounds`` batches of 32, ms per face, per model.

    The models take turns batch by batch (interleaved, each round starting with the next one),
    so the machine's other load falls on all of them alike.
    """
    import onnxruntime as ort  # after mien's imports: mien turns off its usage-event log

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 2
    runs = []
    for path, size in zip(paths, sizes, strict=True):
        sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        x = np.random.default_rng(0).uniform(0, 255, (32, 1, size, size)).astype(np.float32)
        name = sess.get_inputs()[0].name
        for batch in (x, np.concatenate([x, x[..., ::-1]])):
            runs.append((sess, name, batch))
            for _ in range(3):  # warm-up
                sess.run(None, {name: batch})
    times: list[list[float]] = [[] for _ in runs]
    for r in range(rounds):
        for j in range(len(runs)):
            i = (r + j) % len(runs)
            sess, name, batch = runs[i]
            t = time.perf_counter()
            sess.run(None, {name: batch})
            times[i].append(time.perf_counter() - t)
    ms = [1000 * float(np.median(t)) / 32 for t in times]
    return [(ms[k], ms[k + 1]) for k in range(0, len(ms), 2)]


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
    parsed = []
    for arg in args.configs:  # every argument is checked before anything is timed
        try:
            parsed.append(parse_config(arg))
        except (ValueError, TypeError, FileNotFoundError, yaml.YAMLError) as e:
            ap.error(f"{arg}: {e}")
    table = Table(title="architecture cost per face (float32 onnxruntime, 2 threads, batch 32)")
    for col in ("config", "px", "params (M)", "MMACs / crop", "ms / face", "with flip", "ratio"):
        table.add_column(col, justify="left" if col == "config" else "right")
    with tempfile.TemporaryDirectory() as tmp:
        nets, paths = [], []
        for i, (_, cfg) in enumerate(parsed):
            net = build_from_config(cfg, len(EXPRESSIONS)).eval()
            paths.append(Path(tmp) / f"{i}.onnx")
            write_onnx(net, paths[-1], cfg.input_size)
            nets.append(net)
        timed = ms_per_face(paths, [cfg.input_size for _, cfg in parsed])
    base = timed[0][1]
    for (label, cfg), net, (plain, flipped) in zip(parsed, nets, timed, strict=True):
        table.add_row(
            label,
            str(cfg.input_size),
            f"{sum(p.numel() for p in net.parameters()) / 1e6:.2f}",
            f"{macs_per_crop(net, cfg.input_size) / 1e6:.0f}",
            f"{plain:.2f}",
            f"{flipped:.2f}",
            f"{flipped / base:.1f}×",
        )
    Console(width=120).print(table)


if __name__ == "__main__":
    main()
