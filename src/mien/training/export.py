"""Export a trained checkpoint to ONNX, fit its temperature on ``val``, write the spec + metrics.

Steps (``scripts/export_onnx.py``):

1. rebuild the network from the checkpoint's config and load its EMA weights;
2. export to ONNX (opset 17, dynamic batch), input ``(n, 1, S, S)`` float32 grey in
   ``[0, 255]`` (``S`` = the config's ``input_size``, 48 by default), output logits ``(n, 8)``;
3. quantize it to int8 (onnxruntime static QDQ quantization, per-channel int8 weights, uint8
   activations calibrated on 512 seeded FER2013 *train* crops; convolutions, residual adds and
   the classifier only, the input standardisation stays float);
4. run the *shipped* file with onnxruntime on FER+ ``val``; choose the flip average and a
   post-hoc logit adjustment for rare labels, ``bias = −τ·log(prior)`` (Menon et al.,
   "Long-tail learning via logit adjustment", ICLR 2021), with τ the value on a grid that
   maximises ``val`` macro-F1 while costing at most 0.2 accuracy points; then fit temperature
   scaling (Guo et al., ICML 2017); measure accuracy, macro-F1 and 15-bin ECE before and after;
5. write ``<name>.onnx`` and ``<name>.json`` (a :class:`mien.weights.WeightSpec`) to the
   package's weight folder, and ``metrics.json`` to the run folder.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mien.evaluation.metrics import (
    confusion_matrix,
    expected_calibration_error,
    fit_temperature,
    macro_f1,
    nll,
    per_class_recall,
    softmax,
)
from mien.training.config import TrainConfig
from mien.training.data import load_fer, load_fer_clean_mask
from mien.training.nets import load_network
from mien.types import EXPRESSIONS
from mien.weights import DEFAULT_MODEL, WeightSpec, sha256_of

log = logging.getLogger(__name__)

ABSTAIN_THRESHOLD = 0.5
"""A face is abstained when no label reaches even odds (top calibrated probability < 0.5)."""


class MeanLogits(torch.nn.Module):
    """An ensemble as one network: the mean of its members' logits (one ONNX graph)."""

    def __init__(self, members: list[torch.nn.Module]) -> None:
        super().__init__()
        self.members = torch.nn.ModuleList(members)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([m(x) for m in self.members]).mean(0)


def export_onnx(checkpoint: str | Path | list[str | Path], onnx_path: str | Path) -> TrainConfig:
    """Write the checkpoint's EMA network as ONNX; returns the training config.

    Several checkpoints (same input size) become one graph averaging their logits
    (:class:`MeanLogits`); the first one's config is returned.
    """
    checkpoints = checkpoint if isinstance(checkpoint, list) else [checkpoint]
    loaded = [load_network(c) for c in checkpoints]
    cfg = loaded[0][1]
    if any(c.input_size != cfg.input_size for _, c in loaded):
        raise ValueError("ensemble members must share one input size")
    net = loaded[0][0] if len(loaded) == 1 else MeanLogits([n for n, _ in loaded]).eval()
    write_onnx(net, onnx_path, cfg.input_size)
    return cfg


def write_onnx(net: torch.nn.Module, onnx_path: str | Path, input_size: int = 48) -> None:
    """Export ``net`` (eval mode) as ONNX opset 17: input ``crops`` ``(n, 1, input_size,
    input_size)`` float32, output ``logits`` ``(n, K)``, dynamic batch."""
    torch.onnx.export(
        net,
        (torch.zeros(1, 1, input_size, input_size),),
        str(onnx_path),
        input_names=["crops"],
        output_names=["logits"],
        dynamic_axes={"crops": {0: "n"}, "logits": {0: "n"}},
        opset_version=17,
        dynamo=False,
    )


QUANTIZED_OPS = ("Conv", "Gemm", "Add", "Relu", "GlobalAveragePool")


def quantize_onnx(src: str | Path, dst: str | Path, calibration: np.ndarray) -> None:
    """Static int8 QDQ quantization of ``src`` into ``dst``.

    Args:
        calibration: ``(n, S, S)`` uint8 crops whose activation ranges set the scales.
    """
    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.i = 0

        def get_next(self) -> dict[str, np.ndarray] | None:
            if self.i >= len(calibration):
                return None
            batch = calibration[self.i : self.i + 32, None].astype(np.float32)
            self.i += 32
            return {"crops": batch}

    pre = Path(dst).with_suffix(".pre.onnx")
    quant_pre_process(str(src), str(pre))
    graph = onnx.load(str(pre)).graph
    keep_float = [n.name for n in graph.node if n.op_type not in QUANTIZED_OPS]
    quantize_static(
        str(pre),
        str(dst),
        Reader(),
        quant_format=QuantFormat.QDQ,
        per_channel=True,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
        nodes_to_exclude=keep_float,
    )
    pre.unlink()


def onnx_logits(
    onnx_path: str | Path, images: np.ndarray, *, flip: bool = False, batch: int = 512
) -> np.ndarray:
    """``(n, K)`` logits of ``(n, S, S)`` uint8 crops from the exported file (onnxruntime)."""
    import onnxruntime as ort

    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    out = []
    for i in range(0, len(images), batch):
        x = images[i : i + batch, None].astype(np.float32)
        y = sess.run(None, {"crops": x})[0]
        if flip:
            y = (y + sess.run(None, {"crops": np.ascontiguousarray(x[..., ::-1])})[0]) / 2
        out.append(y)
    return np.concatenate(out)


def evaluate_logits(logits: np.ndarray, labels: np.ndarray, temperature: float) -> dict[str, Any]:
    """Accuracy, macro-F1, per-class recall, NLL and 15-bin ECE before/after temperature."""
    k = logits.shape[1]
    cm = confusion_matrix(labels, logits.argmax(1), k)
    probs = softmax(logits, temperature)
    conf = probs.max(1)
    kept = conf >= ABSTAIN_THRESHOLD
    return {
        "accuracy": round(float((logits.argmax(1) == labels).mean()), 4),
        "macro_f1": round(macro_f1(cm), 4),
        "per_class_recall": {
            n: round(float(r), 4) for n, r in zip(EXPRESSIONS, per_class_recall(cm), strict=True)
        },
        "nll_uncalibrated": round(nll(logits, labels), 4),
        "nll_calibrated": round(nll(logits, labels, temperature), 4),
        "ece_uncalibrated": round(expected_calibration_error(softmax(logits), labels), 4),
        "ece_calibrated": round(expected_calibration_error(probs, labels), 4),
        "abstain_rate": round(float(1 - kept.mean()), 4),
        "accuracy_when_not_abstained": round(float((probs.argmax(1) == labels)[kept].mean()), 4)
        if kept.any()
        else None,
        "confusion": cm.tolist(),
    }


def choose_logit_bias(
    logits: np.ndarray, labels: np.ndarray, train_labels: np.ndarray, *, max_cost: float = 0.002
) -> tuple[np.ndarray, float, list[dict[str, float]]]:
    """Post-hoc logit adjustment: ``bias = −τ·log(prior)`` (centred), τ on a grid.

    Returns the bias, the chosen τ, and the grid with each τ's val accuracy and macro-F1.
    """
    k = logits.shape[1]
    prior = np.bincount(train_labels, minlength=k).astype(np.float64) + 1.0
    log_prior = np.log(prior / prior.sum())
    grid = []
    for tau in np.round(np.arange(0.0, 0.55, 0.05), 2):
        pred = (logits - tau * log_prior).argmax(1)
        grid.append(
            {
                "tau": float(tau),
                "accuracy": round(float((pred == labels).mean()), 4),
                "macro_f1": round(macro_f1(confusion_matrix(labels, pred, k)), 4),
            }
        )
    base = grid[0]["accuracy"]
    best = max((g for g in grid if g["accuracy"] >= base - max_cost), key=lambda g: g["macro_f1"])
    bias = -best["tau"] * log_prior
    return bias - bias.mean(), best["tau"], grid


def training_wall_s(checkpoints: list[Path]) -> dict[str, float] | None:
    """Seconds of training behind these checkpoints per device (``{"cpu": s, "cuda": s}``),
    from each run's ``timing.json`` and ``config.yaml``.

    Counts every run that made the weights once: ensemble members, the ingredients of a
    weight average (``soup_of``), the checkpoints they were fine-tuned from (``init_from``)
    and the teachers they were distilled from (``teachers``, whose checkpoints need not be
    present: only their run folders' ``timing.json``). ``None`` when a run's
    ``timing.json`` is missing.
    """
    runs: set[Path] = set()
    seen: set[Path] = set()
    todo = list(checkpoints)
    while todo:
        ckpt = Path(todo.pop())
        if ckpt.resolve() in seen:  # a checkpoint that lists itself must not loop forever
            continue
        seen.add(ckpt.resolve())
        state = torch.load(ckpt, map_location="cpu", weights_only=False)
        parts = [Path(i["checkpoint"]) for i in state.get("soup_of", [])]
        if parts:
            todo += parts
            continue
        runs.add(ckpt.parent.resolve())
        runs.update(Path(t).parent.resolve() for t in state["config"].get("teachers") or [])
        if state["config"].get("init_from"):
            todo.append(Path(state["config"]["init_from"]))
    if not all((r / "timing.json").exists() for r in runs):
        return None
    import yaml

    by_device: dict[str, float] = {}
    for r in sorted(runs):
        config = r / "config.yaml"
        device = (
            (yaml.safe_load(config.read_text()) or {}).get("device", "cpu")
            if config.exists()
            else "cpu"
        )
        wall = json.loads((r / "timing.json").read_text())["train_wall_s"]
        by_device[device] = round(by_device.get(device, 0.0) + wall, 1)
    return by_device


def _teacher(checkpoint: str) -> dict[str, Any]:
    """A distillation teacher as the card reports it: its run's config and best ``val``
    accuracy (read from the run folder, so the large checkpoint itself need not be here)."""
    import yaml

    run = Path(checkpoint).parent
    out: dict[str, Any] = {"checkpoint": checkpoint}
    if (run / "config.yaml").exists():
        out |= yaml.safe_load((run / "config.yaml").read_text()) or {}
    if (run / "timing.json").exists():
        out |= json.loads((run / "timing.json").read_text())
    return out


def _member(checkpoint: Path) -> dict[str, Any]:
    """An ensemble member's config, as the card reports it."""
    state = torch.load(checkpoint, map_location="cpu", weights_only=False)
    return {"checkpoint": str(checkpoint), **state["config"]}


def export_model(
    checkpoint: str | Path | list[str | Path],
    weights_dir: str | Path,
    *,
    name: str = DEFAULT_MODEL,
    flip_tta: bool | None = None,
    int8: bool = True,
    logit_adjust: bool = True,
    seed: int = 0,
) -> dict[str, Any]:
    """Export, quantize, calibrate and write ``<weights_dir>/<name>.onnx`` + ``.json``.

    Args:
        flip_tta: average each crop with its mirror image. ``None`` decides on ``val``: on when
            it gains at least 0.3 accuracy points.
        int8: ship the int8-quantized graph (else the float32 one).
        seed: picks the calibration crops.

    Returns:
        The metrics written to ``<run>/metrics.json``.
    """
    weights_dir = Path(weights_dir)
    weights_dir.mkdir(parents=True, exist_ok=True)
    members = [Path(c) for c in (checkpoint if isinstance(checkpoint, list) else [checkpoint])]
    # a single run's files go beside its checkpoint; an ensemble gets runs/<name>/
    ckpt_dir = members[0].parent if len(members) == 1 else members[0].parent.parent / name
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    fp32_path = ckpt_dir / f"{name}.fp32.onnx"
    onnx_path = weights_dir / f"{name}.onnx"
    cfg = export_onnx(checkpoint, fp32_path)
    val = load_fer(cfg.fer_dir, "val", size=cfg.input_size)
    clean = load_fer_clean_mask(cfg.fer_dir, "val")
    fp32_acc = float((onnx_logits(fp32_path, val.images).argmax(1) == val.labels).mean())
    train = load_fer(cfg.fer_dir, "train", size=cfg.input_size) if int8 or logit_adjust else None
    if train is not None and int8:
        pick = np.random.default_rng(seed).choice(len(train), 512, replace=False)
        quantize_onnx(fp32_path, onnx_path, train.images[pick])
    else:
        onnx_path.write_bytes(fp32_path.read_bytes())
    plain = onnx_logits(onnx_path, val.images)
    flipped = onnx_logits(onnx_path, val.images, flip=True)
    gain = float((flipped.argmax(1) == val.labels).mean() - (plain.argmax(1) == val.labels).mean())
    if flip_tta is None:
        flip_tta = gain >= 0.003
    logits = flipped if flip_tta else plain
    bias, tau, adjust_table = np.zeros(len(EXPRESSIONS)), 0.0, []
    if train is not None and logit_adjust:
        bias, tau, adjust_table = choose_logit_bias(logits, val.labels, train.labels)
    logits = logits + bias
    temperature = fit_temperature(logits, val.labels)
    metrics = {
        "val": evaluate_logits(logits, val.labels, temperature),
        "val_clean": evaluate_logits(logits[clean], val.labels[clean], temperature),
        "n_val": len(val),
        "n_val_clean": int(clean.sum()),
        "temperature": round(temperature, 4),
        "flip_tta": flip_tta,
        "flip_tta_gain": round(gain, 4),
        "logit_adjust_tau": tau,
        "logit_adjust_grid": adjust_table,
        "precision": "int8" if int8 else "float32",
        "val_accuracy_float32_no_tta": round(fp32_acc, 4),
        "val_accuracy_shipped_no_tta": round(float((plain.argmax(1) == val.labels).mean()), 4),
        "onnx_bytes": onnx_path.stat().st_size,
    }
    states = [torch.load(m, map_location="cpu", weights_only=False) for m in members]
    soup_of = [ingredient for state in states for ingredient in state.get("soup_of", [])]
    wall = training_wall_s(members)
    if wall is not None:
        metrics["train_wall_s"] = round(sum(wall.values()), 1)
        metrics["train_wall_s_by_device"] = wall
    init_config = _member(Path(cfg.init_from)) if cfg.init_from else None
    behind = (
        [state["config"] for state in states] + soup_of + ([init_config] if init_config else [])
    )
    teachers = sorted({t for c in behind for t in c.get("teachers") or []})
    spec = WeightSpec(
        name=name,
        file=onnx_path.name,
        sha256=sha256_of(onnx_path),
        input_size=cfg.input_size,
        grey=True,
        input_range=(0.0, 255.0),
        alignment="fer",
        names=EXPRESSIONS,
        temperature=round(temperature, 4),
        abstain_threshold=ABSTAIN_THRESHOLD,
        flip_tta=flip_tta,
        logit_bias=tuple(round(float(b), 5) for b in bias) if tau else (),
        license="MIT",
        metrics={
            "val_accuracy": metrics["val"]["accuracy"],
            "val_macro_f1": metrics["val"]["macro_f1"],
            "val_ece_uncalibrated": metrics["val"]["ece_uncalibrated"],
            "val_ece_calibrated": metrics["val"]["ece_calibrated"],
            "val_clean_accuracy": metrics["val_clean"]["accuracy"],
            "precision": metrics["precision"],
            "train_wall_s": metrics.get("train_wall_s"),
            "train_wall_s_by_device": metrics.get("train_wall_s_by_device"),
            "logit_adjust_tau": tau,
        },
        train_config=cfg.to_dict()
        | (
            {
                "ensemble_members": [
                    {"checkpoint": str(m), **state["config"]}
                    for m, state in zip(members, states, strict=True)
                ]
            }
            if len(members) > 1
            else {}
        )
        | ({"soup_of": soup_of} if soup_of else {})
        | ({"teachers_of": [_teacher(t) for t in teachers]} if teachers else {})
        | ({"init_config": init_config} if init_config else {}),
    )
    spec.to_json(weights_dir / f"{name}.json")
    (ckpt_dir / "metrics.json").write_text(json.dumps(metrics, indent=2))
    log.info(
        "exported %s: val acc %.4f, T=%.3f", onnx_path, metrics["val"]["accuracy"], temperature
    )
    return metrics
