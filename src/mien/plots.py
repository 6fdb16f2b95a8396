"""Plots of results: each track's perceived-expression probabilities over time (matplotlib)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

from mien.errors import DatasetError


def read_rows(path: str | Path) -> pd.DataFrame:
    """Rows written by ``mien analyze`` / ``mien watch`` (CSV, JSON Lines, JSON or Parquet).

    Raises:
        DatasetError: the file is missing, of an unknown kind, or not in mien's row schema.
    """
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: no such file")
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
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


def plot_tracks(df: pd.DataFrame, *, max_tracks: int = 12, title: str | None = None) -> Figure:
    """One panel per track: each label's probability (y, 0–1) against time in seconds (x).

    Smoothed probabilities (``ps_*``) are drawn solid and the raw per-frame ones (``p_*``)
    faint. Tracks are taken per source (and per model, when rows of several models were
    joined), longest first, at most ``max_tracks``; each panel names its model.

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
        t = rows["timestamp_s"].to_numpy()
        for label, colour in zip(labels, colours, strict=True):
            if f"ps_{label}" in rows and rows[f"ps_{label}"].notna().any():
                ax.plot(t, rows[f"p_{label}"], color=colour, alpha=0.25, linewidth=0.8)
                ax.plot(t, rows[f"ps_{label}"], color=colour, linewidth=1.6, label=label)
            else:
                ax.plot(t, rows[f"p_{label}"], color=colour, linewidth=1.2, label=label)
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
