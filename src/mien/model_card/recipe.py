"""The card's "Data" and "Recipe" sections, read from the training config saved in the spec."""

from __future__ import annotations

import json
from typing import Any

from mien.weights import WeightSpec


def member_differences(
    members: list[dict[str, Any]],
    intro: str = "The recipe above is the first member's; the members",
) -> list[str]:
    """Markdown lines: the config keys in which an ensemble's members (or the runs averaged
    into one set of weights) differ (no lines for an empty list)."""
    if not members:
        return []
    skip = {"checkpoint", "out"}
    keys = sorted(
        k
        for k in set().union(*members)
        if k not in skip and len({json.dumps(m.get(k), sort_keys=True) for m in members}) > 1
    )
    lines = [
        f"{intro} differ only in:",
        "",
        "| setting | " + " | ".join(f"`{m.get('out')}`" for m in members) + " |",
        "|---|" + "---|" * len(members),
    ]
    lines += [f"| `{k}` | " + " | ".join(str(m.get(k)) for m in members) + " |" for k in keys]
    return [*lines, ""]


def _all_configs(cfg: dict[str, Any]) -> list[dict[str, Any]]:
    """The config of every run whose weights went into the model (itself if none)."""
    parts = (cfg.get("soup_of") or []) + (cfg.get("ensemble_members") or [])
    return parts or [cfg]


def data_lines(cfg: dict[str, Any]) -> list[str]:
    """The card's "Data" section."""
    runs = _all_configs(cfg)
    balance = sorted({float(c.get("class_balance") or 0) for c in runs})
    smiles = any(c.get("smiles_dir") for c in runs)
    lines = [
        "## Data",
        "",
        "- **FER2013 with FER+ labels**: 48×48 grey web faces (Goodfellow et al., ICONIP 2013); "
        "labels from 10 annotators each (Barsoum et al., ICMI 2016). Trained on the `train` rows "
        f"with a FER+ majority; target = {cfg.get('vote_weight')} × vote distribution + "
        f"{1 - float(cfg.get('vote_weight', 1)):.1f} × one-hot majority.",
        "- **Taiwanese Facial Expression Image Database** (Chen, Cho & Tseng, 2013; research "
        f"use): posed photos of the performers not in `{cfg.get('taiwanese_val_subjects')}`, "
        "passed through mien's own detector and aligner (plus the whole photo, shrunk), repeated "
        f"{cfg.get('taiwanese_repeat', 1)}× per epoch; target = {cfg.get('taiwanese_observer_weight')} × "
        "observer rating shares + the rest on the intended label.",
    ]
    if smiles:
        lines.append(
            "- **SMILEsmileD** (Arnaud 2013; crops from Labeled Faces in the Wild; research "
            "use), in some of the averaged runs: detected and aligned by mien; smiles are "
            "happiness targets, non-smiles only say *not happiness* (loss −log(1 − p_happiness)), "
            "since a non-smile is not neutral."
        )
    if any(balance):
        lines.append(
            "- **Class-balanced sampling**: each row drawn with probability ∝ n_label^−β, "
            f"β ∈ {balance} across the runs (β = 0: plain shuffling). The counts n_label are "
            "over all training rows, the Taiwanese copies included (each posed photo appears "
            f"2 × {cfg.get('taiwanese_repeat', 1)} times per epoch), so disgust and fear are far "
            "less rare there than in FER+ alone (119 and 532 images) and contempt (119 rows, "
            "FER+ only) is the label that gains most weight."
        )
    lines += [
        "- Checkpoints, flip averaging, the logit bias and the temperature were chosen on "
        "FER+ `val` only. The held-out performers and the media photos were never trained "
        "or tuned on, but they were looked at when choosing which of a handful of candidate "
        "models to ship (see Ablations), so the shipped model's figures on them are slightly "
        "optimistic.",
        "- The data has no demographic columns, so no per-group audit was possible here.",
        "",
    ]
    return lines


def _optimiser(c: dict[str, Any]) -> str:
    return (
        f"SGD with Nesterov momentum {c.get('momentum')}, batch {c.get('batch_size')}, peak LR "
        f"{c.get('lr')}, {c.get('warmup_epochs')}-epoch warm-up then cosine over "
        f"{c.get('epochs')} epochs, weight decay {c.get('weight_decay')}, EMA "
        f"{c.get('ema_decay')}, bf16 autocast on the "
        f"{'GPU' if c.get('device') == 'cuda' else 'CPU'}, seed {c.get('seed')}. Augmentation: "
        f"rotation ±{c.get('rotate_deg')}°, scale {c.get('scale_range')}, shift "
        f"±{c.get('translate')}, flip, brightness ±{c.get('brightness')}, contrast "
        f"±{c.get('contrast')}, gamma ±{c.get('gamma') or 0:g}, blur p={c.get('blur_p') or 0:g}, JPEG "
        f"p={c.get('jpeg_p') or 0:g}, low resolution p={c.get('lowres_p')}, erasing "
        f"p={c.get('erase_p')}."
    )


def wall_time_row(m: dict[str, Any], cfg: dict[str, Any]) -> str:
    """The card's training-time row: minutes per device, summed over every run behind the
    weights (teachers, the run fine-tuned from, the averaged fine-tunes)."""
    by_device = m.get("train_wall_s_by_device") or (
        {"cpu": m["train_wall_s"]} if m.get("train_wall_s") else {}
    )
    if not by_device:
        return "| training wall time | – |"
    names = {"cpu": "on 2 CPU cores", "cuda": "on one GPU"}
    parts = " + ".join(
        f"{sec / 60:.1f} min {names.get(dev, 'on ' + dev)}"
        for dev, sec in sorted(by_device.items())
    )
    several = bool(cfg.get("soup_of") or cfg.get("init_config") or cfg.get("teachers_of"))
    return f"| training wall time | {parts}" + (
        ", summed over every run behind the weights (runs shared a device two or three at a "
        "time, so the sums exceed the elapsed time) |"
        if several
        else " |"
    )


def _teacher_lines(teachers: list[dict[str, Any]]) -> list[str]:
    """The card's line on the distillation teachers (none when there are none)."""
    if not teachers:
        return []
    t = teachers[0]
    accs = ", ".join(f"{x.get('best_val_acc', float('nan')):.3f}" for x in teachers)
    runs = ", ".join(f"`{x.get('out')}`" for x in teachers)
    where = "a GPU" if t.get("device") == "cuda" else "the CPU"
    return [
        f"0. **Teachers** ({runs}, `scripts/gpu_distill.sh`): wider networks, widths "
        f"{t.get('widths')}, depths {t.get('depths')}, stem {t.get('stem')}, the crop upsampled to "
        f"{t.get('upsample_to') or t.get('input_size', 48)} px inside (`python benchmarks/arch_cost.py` times such a "
        "network against v1's; too slow to ship), trained from random weights on "
        f"{where} with seeds {[x.get('seed') for x in teachers]}: {_optimiser(t)} FER+ `val` "
        f"accuracy of their EMA weights {accs} (float32, no flip). Nothing of theirs ships: "
        "the student learns from their outputs.",
    ]


def _distilled(c: dict[str, Any]) -> str:
    """How a run used the teachers: online, offline, or not at all."""
    if c.get("teachers"):
        return (
            f" Each target = {1 - float(c.get('distill_alpha')):g} × its label target + "
            f"{c.get('distill_alpha')} × the teachers' mean probability on the *same augmented "
            "view* (distillation: "
            'Hinton et al., 2015; consistent views: Beyer et al., "A good teacher is patient '
            'and consistent", CVPR 2022).'
        )
    if c.get("teacher_probs"):
        return (
            f" Each target = {1 - float(c.get('distill_alpha')):g} × its label target + "
            f"{c.get('distill_alpha')} × the teachers' stored probabilities "
            f"(`{c.get('teacher_probs')}`: their flip-averaged output on each un-augmented "
            "training crop; offline distillation, since the teachers are too slow to run on the "
            "CPU)."
        )
    return ""


def recipe_lines(cfg: dict[str, Any], spec: WeightSpec) -> list[str]:
    """The card's "Recipe" section: the teachers, each training stage, the weight averaging,
    the export."""
    lines = _teacher_lines(cfg.get("teachers_of") or [])
    parent = cfg.get("init_config")
    balance = (
        f" Class-balanced sampling β = {cfg.get('class_balance')}."
        if cfg.get("class_balance")
        else ""
    )
    if parent:
        lines += [
            f"1. **From random weights** (`{parent.get('out')}`): {_optimiser(parent)}"
            + _distilled(parent),
            f"2. **Fine-tuned** from that run's EMA weights (`init_from: "
            f"{cfg.get('init_from')}`): {_optimiser(cfg)}{balance}{_distilled(cfg)}",
        ]
    else:
        lines.append(
            f"`python scripts/train.py --config configs/...`: {_optimiser(cfg)}{balance}"
            + _distilled(cfg)
        )
    soup = cfg.get("soup_of") or []
    if soup:
        names = ", ".join(f"`{c.get('out')}`" for c in soup)
        lines.append(
            f"{'3. ' if parent else ''}**Weight average** of {len(soup)} such fine-tuned runs "
            f"({names}), one "
            'network at one network\'s cost (`scripts/soup.py`; Wortsman et al., "Model soups", '
            "ICML 2022)."
        )
    bias = (
        f" A logit bias −τ·log(train prior) with τ = {spec.metrics.get('logit_adjust_tau')} "
        "(post-hoc logit adjustment, Menon et al., ICLR 2021; τ the largest macro-F1 on `val` "
        "within 0.2 accuracy points) is added before the temperature."
        if spec.logit_bias
        else ""
    )
    lines += [
        "",
        "Then `scripts/export_onnx.py`: ONNX export, int8 quantization, flip-TTA decision and "
        f"temperature fit on `val`.{bias} The resolved config is in the spec JSON beside the "
        "weights.",
        "",
    ]
    return lines
