"""Measurements the card needs beyond the protocol's reports: calibration before and after
temperature scaling, the accuracy behind each quality flag, and accuracy with the performer as
the unit."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from mien.evaluation.bootstrap import bootstrap_metrics
from mien.evaluation.metrics import expected_calibration_error, softmax
from mien.evaluation.runner import EvalReport


def calibration_table(
    model: Any, fer_dir: Path, *, n_boot: int = 1000, limit: int | None = None
) -> dict[str, Any]:
    """ECE with intervals on FER+ ``val`` crops at T = 1 and at the shipped temperature
    (on a spread-out ``limit`` of them for a quick check, as the other sets)."""
    import cv2

    from mien.alignment import crop_whole_image
    from mien.evaluation.datasets import read_labels_csv
    from mien.evaluation.protocol import limited

    ds = limited(read_labels_csv(fer_dir, split="val"), limit)
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
        ci = (
            bootstrap_metrics(y, probs.argmax(1), probs, len(model.names), n_boot=n_boot).ece
            if n_boot > 0
            else None
        )
        out[name] = {"ece": expected_calibration_error(probs, y), "ci": ci}
    return out


def quality_table(
    reports: dict[str, EvalReport], thresholds: Any
) -> list[tuple[str, str, dict[str, str]]]:
    """Per quality flag and set: ``n flagged, accuracy flagged (accuracy of the others)``;
    ``not measured (accuracy)`` for the upright check where no crop was checked (crop mode)."""
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
        (
            f"upright < {thresholds.min_upright:g}",
            lambda it: it["upright"] < thresholds.min_upright,
        ),
        ("quality_ok false", lambda it: it["quality_ok"] < 0.5),
    ]
    rows = []
    for label, rule in flags:
        cells = {}
        for name, r in reports.items():
            it = r.items
            measured = ~np.isnan(it["face_size_px"])
            ok = it["y_pred"] == it["y_true"]
            if label.startswith("upright") and np.isnan(it["upright"][measured]).all():
                # crop mode reads no aligned crop: "0 flagged" would claim it was checked
                cells[name] = f"not measured ({ok[measured].mean():.2f})"
                continue
            with np.errstate(invalid="ignore"):
                flagged = rule(it) & measured
            rest = measured & ~flagged
            cells[name] = (
                f"{int(flagged.sum())}, {ok[flagged].mean():.2f} ({ok[rest].mean():.2f})"
                if flagged.any()
                else f"0 ({ok[rest].mean():.2f})"
            )
        rows.append((label, label, cells))
    return rows


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
