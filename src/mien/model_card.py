"""Generate a model's ``MODEL_CARD.md`` from its spec and fresh evaluation results.

``mien model-card`` runs the cross-dataset protocol (:mod:`mien.evaluation.protocol`) with
bootstrap intervals, measures calibration before and after temperature scaling on FER+
``val``, measures the accuracy drop behind each quality flag, and writes the card. An ablation
table is included when ``<weights>/<name>.ablation.json`` exists. The card is therefore
regenerable by one command whenever the data beside the repository is present.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from mien.evaluation.bootstrap import bootstrap_metrics
from mien.evaluation.metrics import expected_calibration_error, softmax
from mien.evaluation.runner import EvalReport
from mien.weights import WeightSpec

CAVEAT = (
    "Facial movements are not reliable read-outs of inner emotion: the same feeling shows in "
    "many ways and the same movement has many causes, depending on the person, the culture and "
    'the situation (Barrett, Adolphs, Marsella, Martinez & Pollak, "Emotional Expressions '
    'Reconsidered", *Psychological Science in the Public Interest* 20(1), 2019). This model '
    "reports how a face is likely to be *perceived* by annotators, with its uncertainty. It "
    "does not measure what anyone feels, intends or is."
)

USES = """## Intended uses

- Research and engineering in affective computing, psychology, HCI and media analysis, on
  images and videos the user has consent to analyse: describing how faces are likely to be
  perceived, with per-face uncertainty, abstention and quality flags.
- Aggregate descriptions over many faces or frames, reported with their intervals.

## Out of scope and refused uses

- Inferring inner emotion, intent, honesty, guilt, mental state, personality or
  "dangerousness".
- Decisions about individuals: hiring, education, insurance, credit, policing, border
  control, access to services. In particular: no use in workplaces or schools to infer what
  people feel.
- Identity recognition, face matching, watch lists, or tracking people across unrelated
  footage; any demographic inference (race, ethnicity, skin colour, gender, age). The model
  has no such outputs; mien keeps nothing about a face beyond the file or stream it is in.
  A dataset's own demographic columns may be used only to audit accuracy per group
  (`mien evaluate --by COLUMN`).
"""


SEED_PAIRS = (
    ("d_ft", "d_ft_s2"),
    ("e_ft_bal", "h_ft_bal_seed2"),
    ("g_soup_de", "g2_soup"),
    ("g_soup_de", "g3_soup"),
    ("g2_soup", "g3_soup"),
    ("q_ft64", "q_ft64_s2"),
    ("s_soup64", "s2_soup64"),
)
"""Ablation runs that repeat one training recipe with another seed (``scripts/seed_repeat.sh``);
their exports' flip-average and τ choices, made on FER+ ``val``, may differ with the seed."""

ABLATION_SETS = ("fer_val", "taiwanese_heldout", "taiwanese_heldout_perceived", "media_faces")


def seed_spread(
    ablation: list[dict[str, Any]], pairs: tuple[tuple[str, str], ...] = SEED_PAIRS
) -> tuple[list[tuple[str, str]], dict[str, float]]:
    """The largest accuracy difference, per set, between two seeds of one recipe.

    Args:
        ablation: rows of ``<model>.ablation.json`` (``run`` and one accuracy per set).
        pairs: run names whose training differs only in its seed.

    Returns:
        The pairs found in ``ablation`` and ``{set: max |difference|}`` over them (empty when
        none is found).
    """
    by_run = {a["run"]: a for a in ablation}
    found = [(a, b) for a, b in pairs if a in by_run and b in by_run]
    spread = {
        name: max(abs(by_run[a][name] - by_run[b][name]) for a, b in found)
        for name in ABLATION_SETS
        if found and all(by_run[r].get(name) is not None for pair in found for r in pair)
    }
    return found, spread


def _ci(values: list[float] | tuple[float, float] | None, digits: int = 3) -> str:
    """`` [lo, hi]`` with as many decimals as the point estimate beside it (or nothing)."""
    return "" if not values else f" [{values[0]:.{digits}f}, {values[1]:.{digits}f}]"


def calibration_table(model: Any, fer_dir: Path, *, n_boot: int = 1000) -> dict[str, Any]:
    """ECE with intervals on FER+ ``val`` crops at T = 1 and at the shipped temperature."""
    import cv2

    from mien.alignment import crop_whole_image
    from mien.evaluation.datasets import read_labels_csv

    ds = read_labels_csv(fer_dir, split="val")
    size = model.spec.input_size  # 48 px images, resized as the pipeline resizes them
    crops = np.stack(
        [
            crop_whole_image(
                np.asarray(cv2.imread(str(fer_dir / p), cv2.IMREAD_GRAYSCALE)), size=size
            )
            for p in ds.paths
        ]
    )
    logits = np.concatenate(
        [model.adjusted(model.logits(crops[i : i + 512])) for i in range(0, len(crops), 512)]
    )
    y = np.asarray([model.names.index(label) for label in ds.labels])
    out = {}
    for name, t in (
        ("uncalibrated (T = 1)", 1.0),
        (f"calibrated (T = {model.spec.temperature})", model.spec.temperature),
    ):
        probs = softmax(logits, t)
        b = bootstrap_metrics(y, probs.argmax(1), probs, len(model.names), n_boot=n_boot)
        out[name] = {"ece": expected_calibration_error(probs, y), "ci": b.ece}
    return out


def quality_table(
    reports: dict[str, EvalReport], thresholds: Any
) -> list[tuple[str, str, dict[str, str]]]:
    """Per quality flag and set: ``n flagged, accuracy flagged (accuracy of the others)``."""
    flags = [
        (
            f"face < {thresholds.min_face_px:g} px",
            lambda it: it["face_size_px"] < thresholds.min_face_px,
        ),
        (
            f"sharpness < {thresholds.min_sharpness:g}",
            lambda it: it["sharpness"] < thresholds.min_sharpness,
        ),
        (
            f"abs(yaw) > {thresholds.max_abs_yaw:g}°",
            lambda it: np.abs(it["yaw"]) > thresholds.max_abs_yaw,
        ),
        (
            f"abs(pitch) > {thresholds.max_abs_pitch:g}°",
            lambda it: np.abs(it["pitch"]) > thresholds.max_abs_pitch,
        ),
        ("FaceMesh found no face", lambda it: np.isnan(it["yaw"])),
        ("quality_ok false", lambda it: it["quality_ok"] < 0.5),
    ]
    rows = []
    for label, rule in flags:
        cells = {}
        for name, r in reports.items():
            it = r.items
            measured = ~np.isnan(it["face_size_px"])
            with np.errstate(invalid="ignore"):
                flagged = rule(it) & measured
            ok = it["y_pred"] == it["y_true"]
            rest = measured & ~flagged
            cells[name] = (
                f"{int(flagged.sum())}, {ok[flagged].mean():.2f} ({ok[rest].mean():.2f})"
                if flagged.any()
                else f"0 ({ok[rest].mean():.2f})"
            )
        rows.append((label, label, cells))
    return rows


def _member_differences(
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


def _read_as(counts: dict[str, int], label: str) -> str:
    """ "7 of 34 photos (surprise 13, happiness 6, …)": how observers read one posed label."""
    n = sum(counts.values())
    others = ", ".join(f"{k} {v}" for k, v in counts.items() if k != label)
    return f"{counts.get(label, 0)} of {n} photos (the others: {others})"


def performer_intervals(
    reports: dict[str, EvalReport], subjects: dict[str, tuple[str, ...]]
) -> dict[str, Any] | None:
    """Accuracy with the performer as the unit (``subjects``: set name → performer per image):
    per set, the mean of the performers' accuracies with a Student t interval
    (:func:`~mien.evaluation.bootstrap.group_accuracy_interval`), and the range of
    per-performer accuracy on the first set; ``None`` if no set has performers."""
    from mien.evaluation.bootstrap import group_accuracy_interval

    per_set, accs = {}, []
    for name, groups in subjects.items():
        r = reports.get(name)
        if r is None or not r.items:
            continue
        out = group_accuracy_interval(r.items["y_pred"] == r.items["y_true"], groups)
        per_set[name] = out
        if not accs:  # the spread of per-performer accuracy, on the first such set
            accs = list(out["per_group"].values())
    if not per_set:
        return None
    n_groups = len({k for groups in subjects.values() for k in groups})
    return {"sets": per_set, "min": min(accs), "max": max(accs), "n_groups": n_groups}


def folds_lines(folds: dict[str, Any]) -> list[str]:
    """The card's section on cross-validation by performer, from ``<name>.folds.json``
    (``scripts/folds_table.py``): one row per recipe, then the observers' reference."""

    def by_performer(s: dict[str, Any]) -> str:
        lo, hi = s["by_performer_ci"]
        return f"{s['by_performer']:.3f} [{lo:.3f}, {hi:.3f}]"

    def per_fold(s: dict[str, Any]) -> str:
        return ", ".join(f"{v:.3f}" for v in s["per_fold"].values())

    folds_obs = folds["observers"]
    n_perf, n_folds = folds_obs["performers"], len(folds_obs["per_fold"])
    n_fixed = len(folds["arms"][0]["folds"][0]) if folds["arms"] else 0
    lines = [
        "## Cross-validation by performer (recipes, not these weights)",
        "",
        f"The held-out rows above rest on {n_fixed} performers. To score a recipe on all "
        f"{n_perf}, "
        f"`bash scripts/performer_folds.sh` trains one model per fold ({n_folds} folds, "
        "`src/mien/evaluation/subsets/taiwanese_folds.json`; fold 0 is the held-out set), each "
        "from a parent "
        "trained on FER+ alone and fine-tuned without its fold's performers, so no model is "
        "scored on a performer it saw; `benchmarks/performer_folds.py` scores each on its fold "
        "through the whole pipeline. The recipes are simpler than this model's (one run each, "
        "no weight average, most also shorter; the rows say how), so the figures describe the "
        "family of recipes, "
        f"not these weights. Accuracy is the mean of the {n_perf} performers' accuracies with a "
        "Student t interval; then the accuracy of each fold in order. Each fold's performers "
        "share one trained model, so the interval holds no training noise.",
        "",
        "| recipe | change | intended labels | per fold | perceived labels (non-neutral) | "
        "per fold |",
        "|---|---|---|---|---|---|",
    ]
    for a in folds["arms"]:
        lines.append(
            f"| {a['run']} | {a['change']} | {by_performer(a['intended'])} | "
            f"{per_fold(a['intended'])} | {by_performer(a['perceived'])} | {per_fold(a['perceived'])} |"
        )
    lines.append(
        "| observers' plurality | the human reference: the label most raters chose, against "
        f"the intended one (neutral photos count as misses) | {by_performer(folds_obs)} | "
        f"{per_fold(folds_obs)} | – | – |"
    )
    return lines


def _data_lines(cfg: dict[str, Any]) -> list[str]:
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


def _wall_time_row(m: dict[str, Any], cfg: dict[str, Any]) -> str:
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


def _recipe_lines(cfg: dict[str, Any], spec: WeightSpec) -> list[str]:
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


def render(
    spec: WeightSpec,
    reports: dict[str, EvalReport],
    calibration: dict[str, Any],
    quality: list[tuple[str, str, dict[str, str]]],
    ablation: list[dict[str, Any]] | None,
    thresholds: Any,
    weights_path: Path,
    limit: int | None = None,
    reference: Any = None,
    performer_ci: dict[str, Any] | None = None,
    folds: dict[str, Any] | None = None,
) -> str:
    """The card's Markdown (with a warning banner when ``limit`` cut the sets short)."""
    from mien.evaluation.protocol import describe_observers_split  # lazily, as elsewhere here

    cfg = spec.train_config
    members = cfg.get("ensemble_members") or []
    member_runs = ", ".join(f"`{member.get('out')}`" for member in members)
    m = spec.metrics
    size = weights_path.stat().st_size
    lines = [
        f"# Model card: `{spec.name}`",
        "",
        "A perceived-facial-expression classifier trained by mien's own code. Given an aligned "
        f"grey {spec.input_size}×{spec.input_size} face crop it gives calibrated probabilities "
        f"for {len(spec.names)} labels: `{', '.join(spec.names)}`.",
        "",
        f"> {CAVEAT}",
        "",
        "*Generated by `mien model-card` from the spec and a fresh evaluation; edit the generator "
        "(`src/mien/model_card.py`), not this file.*",
        "",
        *(
            [f"> **Quick check only: at most {limit} images per set. Not the model's card.**", ""]
            if limit
            else []
        ),
        "| | |",
        "|---|---|",
        f"| file | `{spec.file}`, {size / 1e6:.1f} MB, sha256 `{spec.sha256[:12]}…` (checked on load) |",
        f"| architecture | `{cfg.get('arch')}`: widths {cfg.get('widths')}, depths {cfg.get('depths')}, stem {cfg.get('stem')}, dropout {cfg.get('dropout')} |"
        if not members
        else f"| architecture | one graph averaging the logits of {len(members)} `{cfg.get('arch')}` networks (widths {cfg.get('widths')}, depths {cfg.get('depths')}), trained by the runs {member_runs} |",
        f"| precision | {m.get('precision', 'float32')} (onnxruntime) |",
        f"| input | `(n, 1, {spec.input_size}, {spec.input_size})` float32 grey in [0, 255], aligned with the `{spec.alignment}` template |",
        f"| output | logits; mien averages crop and mirror ({'on' if spec.flip_tta else 'off'}), divides by T = {spec.temperature} and applies softmax |",
        f"| abstention | top probability < {spec.abstain_threshold}, or `quality_ok` false |",
        _wall_time_row(m, cfg),
        f"| licence | {spec.license} (weights and code); training images are research-use only |",
        "",
        *_data_lines(cfg),
        "## Recipe",
        "",
        *_recipe_lines(cfg, spec),
        *_member_differences(members),
        *_member_differences(
            cfg.get("soup_of") or [], "The recipe above is the first run's; the averaged runs"
        ),
        "## Measured (95 % bootstrap intervals over images)",
        "",
        "| set | mode | n | accuracy | macro-F1 | ECE (15 bins) |",
        "|---|---|---|---|---|---|",
    ]
    for name, r in reports.items():
        lines.append(
            f"| {name} | {r.mode} | {r.n} | {r.accuracy:.3f}{_ci(r.ci.get('accuracy'))} | "
            f"{r.macro_f1:.3f}{_ci(r.ci.get('macro_f1'))} | "
            f"{(r.ece or float('nan')):.3f}{_ci(r.ci.get('ece'))} |"
        )
    lines += [
        "",
        *(
            [
                "**Human reference (not a ceiling).** On `taiwanese_heldout` the observers' "
                "own plurality choice equals the performer's intended label for "
                f"{reference.accuracy_all:.3f} of the {reference.n_all} photos "
                f"({reference.accuracy_expressive:.3f} of the {reference.n_expressive} "
                "non-neutral ones; raters had no neutral option, so neutral photos count as "
                "their misses by construction). Per intended label: "
                + ", ".join(
                    f"{k} {r:.2f} ({n})" for k, (r, n) in reference.per_class_recall.items()
                )
                + ". Posed fear is read as fear in "
                + _read_as(reference.read_as.get("fear", {}), "fear")
                + ". "
                + describe_observers_split(reports.get("taiwanese_heldout"))
                + "`taiwanese_heldout_perceived` scores the model against what the observers "
                "saw (their plurality label, under half the votes for some photos), which is "
                "what mien claims to measure.",
                "",
            ]
            if reference is not None
            else []
        ),
        "FER+ `val` also picked the checkpoint, the flip averaging and the temperature, "
        "so its numbers are slightly optimistic; the other sets were never trained on nor "
        "used for those choices, but they were used to compare candidate models (see Data). "
        "`media_faces` labels come from single annotators (about half agree with a second "
        "one): read it as agreement, not accuracy. Each set is scored over the labels it "
        "contains ("
        + ", ".join(f"{name} {len(r.labels)}" for name, r in reports.items())
        + "), so the accuracies are not on one scale.",
        "",
        *(
            [
                "Intervals above resample images. The held-out photos come from only "
                f"{performer_ci['n_groups']} performers, whose accuracies on the first set "
                "range from "
                f"{performer_ci['min']:.3f} to {performer_ci['max']:.3f}. With the performer "
                "as the unit (the mean of their accuracies, a Student t interval over "
                f"{performer_ci['n_groups']} performers): "
                + ", ".join(
                    f"{name} {o['mean']:.3f} [{o['ci'][0]:.3f}, {o['ci'][1]:.3f}]"
                    for name, o in performer_ci["sets"].items()
                )
                + ".",
                "",
            ]
            if performer_ci
            else []
        ),
    ]
    lines += [
        "### Recall per label (n)",
        "",
        *(
            ["Intervals: 95 % Wilson score (recall is a proportion of that label's n images).", ""]
            if any(r.ci for r in reports.values())
            else []
        ),
        "| label | " + " | ".join(reports) + " |",
        "|---|" + "---|" * len(reports),
    ]
    for label in spec.names:
        cells = []
        for r in reports.values():
            if label not in r.per_class_recall:
                cells.append("–")
                continue
            j = r.labels.index(label)
            n = int(np.asarray(r.confusion["matrix"])[j].sum() + r.confusion["no_prediction"][j])
            rec = r.per_class_recall[label]
            cells.append(
                "–"
                if rec is None
                else f"{rec:.2f}{_ci((r.ci.get('per_class_recall') or {}).get(label), 2)} ({n})"
            )
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines += ["", "### Calibration on FER+ `val`", "", "| | ECE (15 bins) |", "|---|---|"]
    for name, c in calibration.items():
        lines.append(f"| {name} | {c['ece']:.3f}{_ci(c['ci'])} |")
    lines += [
        "",
        "### Quality flags",
        "",
        f"Thresholds (`mien.quality.QualityThresholds`): face ≥ {thresholds.min_face_px:g} px, "
        f"sharpness ≥ {thresholds.min_sharpness:g}, abs(yaw) ≤ {thresholds.max_abs_yaw:g}°, "
        f"abs(pitch) ≤ {thresholds.max_abs_pitch:g}°, FaceMesh must find the face. Each cell: "
        "faces flagged, their accuracy (accuracy of the others).",
        "",
        "| flag | " + " | ".join(reports) + " |",
        "|---|" + "---|" * len(reports),
    ]
    for label, _, cells in quality:
        lines.append(f"| {label} | " + " | ".join(cells.get(n, "–") for n in reports) + " |")
    if ablation:
        lines += [
            "",
            "## Ablations (each change measured on the protocol)",
            "",
            "Accuracy on each set; the last column is FER+ `val` recall of the rare labels "
            "(n 62, 24, 13).",
            "",
        ]
        pairs, spread = seed_spread(ablation)
        if spread:
            lines += [
                f"**Seed noise.** {len(pairs)} pairs of rows repeat one training recipe with "
                "another seed ("
                + ", ".join(f"{a} and {b}" for a, b in pairs)
                + "; each export's flip average and τ, chosen on FER+ `val`, follow the seed). "
                "They differ by up to "
                + ", ".join(f"{v:.3f} on {k}" for k, v in spread.items())
                + ". The intervals of `benchmarks/compare_models.py` do not hold this training "
                "noise: a difference between two rows smaller than this spread is no evidence "
                "that one recipe beats the other.",
                "",
            ]
        lines += [
            "| run | change | FER+ val | held-out performers (intended) | held-out (perceived) "
            "| media agreement | FER+ val recall fear / disgust / contempt |",
            "|---|---|---|---|---|---|---|",
        ]

        def cell(value: Any) -> str:
            return "–" if value is None else f"{value:.3f}"

        for a in ablation:
            rare = a.get("fer_val_recall") or {}
            lines.append(
                f"| {a['run']} | {a['change']} | {cell(a.get('fer_val'))} | "
                f"{cell(a.get('taiwanese_heldout'))} | "
                f"{cell(a.get('taiwanese_heldout_perceived'))} | {cell(a.get('media_faces'))} | "
                + " / ".join(cell(rare.get(k)) for k in ("fear", "disgust", "contempt"))
                + " |"
            )
    if folds:
        lines += ["", *folds_lines(folds)]
    lines += [
        "",
        "## Limits",
        "",
        "- Trained on grey web photos and posed portraits; profile views, heavy occlusion, "
        "very low light, infants and non-photographic faces are outside what was checked.",
        "- Rare labels (contempt, disgust, fear) have few training images; their recall "
        "above has wide intervals. Treat them as unreliable.",
        "- Calibration was fitted on FER+ `val`; on other footage check it with "
        "`mien evaluate` on a labelled sample of your own.",
        "- Upside-down faces get unreliable detector keypoints and confident but wrong "
        "labels. In the two checks made (the bundled samples turned 180°) FaceMesh's pitch "
        "fell outside the limits, so `quality_ok` was false and the faces abstained; this is "
        "not guaranteed.",
        "",
        USES,
    ]
    return "\n".join(lines) + "\n"


def write_model_card(
    analyzer: Any,
    shared: str | Path,
    out: str | Path,
    *,
    n_boot: int = 1000,
    limit: int | None = None,
    weights_dir: Path | None = None,
) -> tuple[Path, dict[str, EvalReport]]:
    """Evaluate ``analyzer`` on the protocol and write its card to ``out``."""
    from mien.evaluation.protocol import limited, observer_reference, protocol_sets
    from mien.evaluation.runner import evaluate

    shared = Path(shared)
    spec = analyzer.expression.spec
    sets = protocol_sets(shared)
    data = {s.name: limited(s.dataset, limit) for s in sets}
    reports = {
        s.name: evaluate(
            analyzer,
            data[s.name],
            detect=s.detect,
            n_boot=n_boot,
            by=s.by,
            labels=sorted(set(s.dataset.labels)),  # the whole set's, also for a --limit subset
        )
        for s in sets
    }
    calibration = calibration_table(analyzer.expression, shared / "data" / "fer", n_boot=n_boot)
    weights_dir = weights_dir or analyzer.expression.path.parent  # beside the weights used
    ablation_file = weights_dir / f"{spec.name}.ablation.json"
    ablation = json.loads(ablation_file.read_text()) if ablation_file.is_file() else None
    folds_file = weights_dir / f"{spec.name}.folds.json"
    folds = json.loads(folds_file.read_text()) if folds_file.is_file() else None
    text = render(
        spec,
        reports,
        calibration,
        quality_table(reports, analyzer.thresholds),
        ablation,
        analyzer.thresholds,
        analyzer.expression.path,
        limit,
        observer_reference(shared) if "taiwanese_heldout" in reports else None,
        performer_intervals(
            reports,
            {name: d.columns["subject"] for name, d in data.items() if "subject" in d.columns},
        ),
        folds,
    )
    out = Path(out)
    out.write_text(text)
    return out, reports
