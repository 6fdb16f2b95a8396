"""Plots of results: each track's perceived-expression probabilities over time (matplotlib)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

from mien.errors import DatasetError


def read_rows(path: str | Path) -> pd.DataFrame:
    """Rows written by ``mien analyze`` / ``mien watch`` (CSV, JSON Lines, JSON or Parquet), or
    a folder of Parquet files (``mien batch``'s ``parts/``).

    Raises:
        DatasetError: the file is missing, of an unknown kind, or not in mien's row schema; the
            folder holds no ``.parquet`` file.
    """
    import pandas as pd

    path = Path(path)
    if path.is_dir():
        parts = sorted(path.glob("*.parquet"))
        if not parts:
            raise DatasetError(f"{path}: a folder without .parquet files (give a results file)")
    elif not path.is_file():
        raise DatasetError(f"{path}: no such file")
    suffix = path.suffix.lower()
    try:
        if path.is_dir():
            df = pd.concat([pd.read_parquet(p) for p in parts], ignore_index=True)
        elif suffix == ".csv":
            df = pd.read_csv(path)
        elif suffix == ".jsonl":
            df = pd.read_json(path, lines=True)
        elif suffix == ".json":
            df = pd.read_json(path)
        elif suffix == ".parquet":
            df = pd.read_parquet(path)
        else:
            raise DatasetError(
                f"{path}: unknown results format (use .csv, .jsonl, .json, .parquet)"
            )
    except (ValueError, OSError) as err:
        raise DatasetError(f"{path}: cannot read results ({err})") from err
    missing = {"source", "status", "timestamp_s", "track_id"} - set(df.columns)
    if missing:
        raise DatasetError(f"{path}: not mien results (missing columns {sorted(missing)})")
    return df


def frame_step(timestamps_s: np.ndarray) -> float:
    """The median step in seconds between a source's sampled frames (``inf`` with fewer than
    two distinct timestamps)."""
    t = np.unique(np.asarray(timestamps_s, np.float64))
    return float(np.median(np.diff(t))) if len(t) > 1 else float("inf")


def with_gaps(
    t: np.ndarray, step_s: float, *, tolerance: float = 1.5
) -> tuple[np.ndarray, Callable[[np.ndarray], np.ndarray]]:
    """Times of one track with a break wherever it skips more than ``tolerance`` steps.

    Args:
        t: ``(n,)`` sorted timestamps in seconds.
        step_s: the source's frame step (:func:`frame_step`).

    Returns:
        ``(times, cut)``: times with one midpoint added inside each gap, and a function that
        puts NaN at those points of an ``(n,)`` series (matplotlib breaks a line at NaN).
    """
    t = np.asarray(t, np.float64)
    at = np.flatnonzero(np.diff(t) > tolerance * step_s) + 1
    times = np.insert(t, at, (t[at - 1] + t[at]) / 2)
    return times, lambda values: np.insert(np.asarray(values, np.float64), at, np.nan)


def plot_tracks(df: pd.DataFrame, *, max_tracks: int = 12, title: str | None = None) -> Figure:
    """One panel per track: each label's probability (y, 0–1) against time in seconds (x).

    Smoothed probabilities (``ps_*``) are drawn solid and the raw per-frame ones (``p_*``)
    faint. Tracks are taken per source (and per model, when rows of several models were
    joined), longest first, at most ``max_tracks``; each panel names its model. A line breaks
    where its track was not seen for more than 1.5 sampled frames (the source's median step
    between frames), so a gap is never drawn as if the face had been there.

    Raises:
        DatasetError: the rows hold no tracked faces (e.g. still images only).
    """
    from matplotlib.figure import Figure

    faces = df[(df["status"] == "ok") & df["track_id"].notna()]
    if faces.empty:
        raise DatasetError("no tracked faces in these results (still images have no tracks)")
    labels = [c[2:] for c in df.columns if c.startswith("p_")]
    faces = faces.assign(model=faces["model"].fillna("") if "model" in faces else "")
    by = ["source", "model", "track_id"]
    groups = sorted(faces.groupby(by), key=lambda g: -len(g[1]))[:max_tracks]
    fig = Figure(figsize=(10, 2.2 * len(groups) + 0.6), layout="constrained")
    axes = fig.subplots(len(groups), 1, squeeze=False, sharex=False)[:, 0]
    colours = [f"C{i}" for i in range(len(labels))]
    for ax, ((source, model, track), rows) in zip(axes, groups, strict=True):
        rows = rows.sort_values("timestamp_s")
        sampled = df.loc[df["source"] == source, "timestamp_s"].dropna().unique()
        t, cut = with_gaps(rows["timestamp_s"].to_numpy(), frame_step(sampled))
        for label, colour in zip(labels, colours, strict=True):
            raw = cut(rows[f"p_{label}"])
            if f"ps_{label}" in rows and rows[f"ps_{label}"].notna().any():
                ax.plot(t, raw, color=colour, alpha=0.25, linewidth=0.8)
                ax.plot(t, cut(rows[f"ps_{label}"]), color=colour, linewidth=1.6, label=label)
            else:
                ax.plot(t, raw, color=colour, linewidth=1.2, label=label)
        ax.set_ylim(-0.03, 1.03)  # lines at exactly 0 or 1 stay visible
        ax.set_ylabel("probability")
        ax.set_title(
            f"{Path(str(source)).name} · track {int(track)} · {len(rows)} frames"
            + (f" · {model}" if model else ""),
            fontsize=9,
        )
        ax.grid(alpha=0.3)
    axes[-1].set_xlabel("time (s)")
    handles, names = axes[0].get_legend_handles_labels()  # one legend, below every panel
    fig.legend(handles, names, ncol=len(labels), fontsize=7, loc="outside lower center")
    fig.suptitle(
        title or "perceived expression per track (solid: smoothed, faint: per frame)", fontsize=10
    )
    return fig
