"""plot_tracks on synthetic rows: panels per source, model and track."""

from __future__ import annotations

import pandas as pd

from mien.plots import plot_tracks
from mien.types import EXPRESSIONS


def rows(model: str, n: int) -> pd.DataFrame:
    p = {f"p_{e}": [1.0 if e == "happiness" else 0.0] * n for e in EXPRESSIONS}
    return pd.DataFrame(
        {"source": "a.mp4", "status": "ok", "model": model, "track_id": 1.0,
         "timestamp_s": [i / 10 for i in range(n)], **p}
    )  # fmt: skip


def test_rows_of_two_models_are_never_one_track():
    fig = plot_tracks(pd.concat([rows("fer_resnet_v3", 5), rows("mine", 3)]))
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == [
        "a.mp4 · track 1 · 5 frames · fer_resnet_v3",
        "a.mp4 · track 1 · 3 frames · mine",
    ]


def test_rows_without_a_model_column_still_plot():
    fig = plot_tracks(rows("x", 4).drop(columns="model"))
    assert [ax.get_title() for ax in fig.axes] == ["a.mp4 · track 1 · 4 frames"]
    (legend,) = fig.legends  # one figure legend (below the panels, clear of every title)
    assert [t.get_text() for t in legend.get_texts()] == list(EXPRESSIONS)
