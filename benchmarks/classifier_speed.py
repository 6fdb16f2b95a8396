"""The expression classifier alone, per face, for shipped or exported models, in one run.

Usage: python benchmarks/classifier_speed.py [MODEL ...] [--rounds 40] [--batch 32]

Each MODEL is ``bundled`` (the default model) or an exported ``.onnx`` with its spec ``.json``
beside it (``scripts/export_onnx.py`` writes both). Every model runs as mien runs it:
onnxruntime on 2 threads, crops of the spec's ``input_size``, with the spec's flip average
(``flip_tta``). The models take turns batch by batch (interleaved, each round starting with
the next model), so the machine's other load
falls on all of them alike: read the ratio to the first model, which transfers to another
machine, rather than the milliseconds. Cost does not depend on the pixels, so the crops are
seeded noise.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from rich.console import Console
from rich.table import Table

from mien.errors import WeightsError
from mien.expression.model import ExpressionModel
from mien.registry import get_spec
from mien.weights import DEFAULT_MODEL, WeightSpec, check_export, verified_path


def load(model: str) -> ExpressionModel:
    """``bundled`` or an exported ``.onnx`` (spec beside it) as a 2-thread model.

    Raises:
        WeightsError: not an .onnx, or the file or its spec is missing.
    """
    if model == "bundled":
        spec = get_spec(DEFAULT_MODEL)
        return ExpressionModel(spec, verified_path(spec), threads=2)
    path = check_export(model)
    return ExpressionModel(WeightSpec.from_json(path.with_suffix(".json")), path, threads=2)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("models", nargs="*", default=["bundled"])
    ap.add_argument("--rounds", type=int, default=40, help="timed batches per model")
    ap.add_argument("--batch", type=int, default=32, help="faces per batch")
    args = ap.parse_args()
    if args.rounds < 1 or args.batch < 1:
        ap.error("--rounds and --batch must be at least 1")
    try:
        models = [load(m) for m in args.models]
    except (FileNotFoundError, WeightsError) as e:
        ap.error(str(e))
    rng = np.random.default_rng(0)
    crops = [
        rng.integers(0, 256, (args.batch, m.spec.input_size, m.spec.input_size), dtype=np.uint8)
        for m in models
    ]
    for m, x in zip(models, crops, strict=True):  # warm-up
        for _ in range(3):
            m.logits(x)
    times: list[list[float]] = [[] for _ in models]
    for r in range(args.rounds):
        for j in range(len(models)):  # each round starts with the next model: no order bias
            i = (r + j) % len(models)
            t = time.perf_counter()
            models[i].logits(crops[i])
            times[i].append((time.perf_counter() - t) / args.batch)
    ms = [1000 * float(np.median(t)) for t in times]
    table = Table(
        title=f"classifier alone, ms per face (median of {args.rounds} batches of "
        f"{args.batch}, 2 threads, interleaved)"
    )
    for col in ("model", "px", "flip", "ms / face", "ratio"):
        table.add_column(col, justify="left" if col == "model" else "right", no_wrap=True)
    for name, m, v in zip(args.models, models, ms, strict=True):
        table.add_row(
            name,
            str(m.spec.input_size),
            "yes" if m.spec.flip_tta else "no",
            f"{v:.2f}",
            f"{v / ms[0]:.2f}×",
        )
    Console(width=120).print(table)


if __name__ == "__main__":
    main()
