"""Where a recipe falls short of people on new performers: the Taiwanese photos by performance
type and label, model against observers, from ``performer_folds.py --json`` results.

Usage: python benchmarks/performance_types.py RESULT.json [RESULT.json ...] [--shared DIR]

The Taiwanese performers posed each expression three ways (``performance_type`` in the set's
``labels.csv``): ``ekman_facs`` (the facial actions of Ekman's descriptions), ``theatric``
(acted, as on a stage) and ``personal_event`` (recalling an event of their own), plus neutral
poses. For each result (one cross-validated model per fold, so every performer is new to the
model that scores them) this prints, per type: the photos, the model's accuracy against the
intended labels, the observers' (their plurality choice against the same labels; they had no
neutral option), and model − observers by performer (Student t interval, sign-flip p); then
the permutation test of the gap between the three non-neutral types (each performer's photos
shuffled among that performer's types: :mod:`mien.evaluation.gap_test`); then per label
within each type, the model's recall against the observers'; and, for results that record
the model's answers (``performer_folds.py`` since 2026-12-01), how each label is read.
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from mien.evaluation.bootstrap import group_accuracy_interval
from mien.evaluation.gap_test import gap_permutation_test
from mien.evaluation.paired import by_person

ROOT = Path(__file__).resolve().parents[1]
POSED = ("ekman_facs", "theatric", "personal_event")


def photo_table(result: dict[str, Any], rows: dict[str, dict[str, str]]) -> dict[str, np.ndarray]:
    """Per-photo arrays of one result joined with ``labels.csv`` rows by path.

    Returns:
        ``{"correct", "observers_right", "subject", "label", "type", "observed"[,
        "predicted"]}``, each ``(n,)`` (``predicted`` where the result records it).

    Raises:
        ValueError: a photo of the result is not in ``labels.csv``, or the result is not a
            ``performer_folds.py --json`` one.
    """
    try:
        photos = result["photos"]["intended"]
        paths, correct = photos["path"], photos["correct"]
    except (KeyError, TypeError) as e:
        raise ValueError(f"not a performer_folds.py --json result ({e})") from e
    missing = [p for p in paths if p not in rows]
    if missing:
        raise ValueError(f"{len(missing)} photo(s) not in labels.csv, e.g. {missing[0]}")
    picked = [rows[p] for p in paths]
    return {
        "correct": np.asarray(correct, bool),
        "observers_right": np.asarray([r["observer_label"] == r["label"] for r in picked]),
        "subject": np.asarray([r["subject"] for r in picked]),
        "label": np.asarray([r["label"] for r in picked]),
        "type": np.asarray([r["performance_type"] for r in picked]),
        "observed": np.asarray([r["observer_label"] for r in picked]),
        **({"predicted": np.asarray(photos["predicted"])} if "predicted" in photos else {}),
    }


def type_rows(t: dict[str, np.ndarray]) -> list[dict[str, Any]]:
    """Per performance type: photos, model and observers by performer, their paired gap."""
    out = []
    for kind in sorted(set(t["type"].tolist())):
        sel = t["type"] == kind
        model = group_accuracy_interval(t["correct"][sel], t["subject"][sel])
        people = group_accuracy_interval(t["observers_right"][sel], t["subject"][sel])
        gap = by_person(t["observers_right"][sel], t["correct"][sel], t["subject"][sel])
        out.append({"type": kind, "n": int(sel.sum()), "model": model, "observers": people,
                    "gap": gap})  # fmt: skip
    return out


def type_test(t: dict[str, np.ndarray], n_perm: int = 2000) -> dict[str, Any]:
    """The permutation test of the model's gap between the non-neutral types, within
    performers (each performer posed every type)."""
    sel = np.isin(t["type"], POSED)
    index = np.unique(t["type"][sel], return_inverse=True)[1]
    label_index = np.unique(t["label"][sel], return_inverse=True)[1]
    correct = t["correct"][sel]
    recall = np.bincount(label_index, weights=correct) / np.bincount(label_index)
    return gap_permutation_test(
        index, correct, label_index, recall, units=t["subject"][sel], n_perm=n_perm
    )


def read_as(t: dict[str, np.ndarray], label: str, kind: str, top: int = 3) -> tuple[str, str]:
    """How the model and the observers read the photos of one intended ``label`` and ``kind``:
    their ``top`` answers with shares, as text (``("", "")`` without predictions)."""
    sel = (t["type"] == kind) & (t["label"] == label)
    if "predicted" not in t or not sel.any():
        return "", ""

    def shares(answers: np.ndarray) -> str:
        names, counts = np.unique(answers, return_counts=True)
        order = np.argsort(-counts, kind="stable")[:top]
        return ", ".join(f"{names[i] or 'no face'} {counts[i] / len(answers):.2f}" for i in order)

    return shares(t["predicted"][sel]), shares(t["observed"][sel])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("results", nargs="+", type=Path, help="performer_folds.py --json outputs")
    ap.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    args = ap.parse_args()
    console = Console(width=112)
    labels_csv = args.shared / "data" / "taiwanese" / "labels.csv"
    try:
        with labels_csv.open(newline="", encoding="utf-8") as f:
            rows = {r["path"]: r for r in csv.DictReader(f)}
    except OSError as e:
        raise SystemExit(f"{labels_csv}: cannot read ({e.strerror})") from e
    for path in args.results:
        try:
            t = photo_table(json.loads(path.read_text()), rows)
        except (OSError, json.JSONDecodeError, ValueError) as e:
            raise SystemExit(f"{path}: {e}") from e
        table = Table(title=f"{path.name}: intended labels by performance type, by performer")
        for col in ("type", "photos", "model [95 % CI]", "observers", "model − observers [95 % CI]",
                    "sign-flip p"):  # fmt: skip
            table.add_column(col)
        for r in type_rows(t):
            m, o, g = r["model"], r["observers"], r["gap"]
            table.add_row(
                r["type"],
                str(r["n"]),
                f"{m['mean']:.3f} [{m['ci'][0]:.3f}, {m['ci'][1]:.3f}]",
                f"{o['mean']:.3f}" if r["type"] in POSED else "–",
                f"{g['mean_diff']:+.3f} [{g['ci'][0]:+.3f}, {g['ci'][1]:+.3f}]"
                if r["type"] in POSED
                else "–",
                f"{g['p_sign_flip']:.3g}" if r["type"] in POSED else "–",
            )
        console.print(table)
        test = type_test(t)
        console.print(
            f"the model's gap between {', '.join(POSED)} (photos, accuracy): permutation p "
            f"{test['p_gap']:.3g}; beyond their label mix {test['p_beyond_label_mix']:.3g} "
            f"({test['n_perm']} shuffles of {test['unit']})"
        )
        recall = Table(title=f"{path.name}: recall per label, model / observers (photos)")
        recall.add_column("label")
        for kind in POSED:
            recall.add_column(kind)
        for label in sorted(set(t["label"].tolist()) - {"neutral"}):
            cells = []
            for kind in POSED:
                sel = (t["type"] == kind) & (t["label"] == label)
                cells.append(
                    f"{t['correct'][sel].mean():.2f} / {t['observers_right'][sel].mean():.2f} "
                    f"({int(sel.sum())})"
                    if sel.any()
                    else "–"
                )
            recall.add_row(label, *cells)
        console.print(recall)
        if "predicted" in t:
            answers = Table(title=f"{path.name}: how the photos are read (model | observers)")
            for col in ("type", "label", "model's top answers", "observers' top answers"):
                answers.add_column(col)
            for kind in POSED:
                for label in sorted(set(t["label"].tolist()) - {"neutral"}):
                    model, people = read_as(t, label, kind)
                    answers.add_row(kind, label, model, people)
            console.print(answers)


if __name__ == "__main__":
    main()
