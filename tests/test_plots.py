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


def test_a_track_that_goes_unseen_is_drawn_with_a_break():
    import numpy as np

    from mien.plots import frame_step, with_gaps

    t = np.array([0.0, 0.1, 0.2, 0.7, 0.8])  # unseen from 0.3 to 0.6 s
    times, cut = with_gaps(t, frame_step(np.arange(10) / 10))
    np.testing.assert_allclose(times, [0.0, 0.1, 0.2, 0.45, 0.7, 0.8])
    np.testing.assert_array_equal(np.isnan(cut([1, 2, 3, 4, 5])), [0, 0, 0, 1, 0, 0])
    assert frame_step(np.array([2.0])) == float("inf")  # one frame: nothing to break
    seen = rows("m", 10)
    seen = seen[(seen["timestamp_s"] < 0.25) | (seen["timestamp_s"] > 0.65)]
    unseen = rows("m", 10).iloc[3:7].assign(status="no_face", track_id=float("nan"))
    fig = plot_tracks(pd.concat([seen, unseen]))
    ys = fig.axes[0].lines[0].get_ydata()
    assert len(ys) == 7 and np.isnan(ys[3]) and not np.isnan(np.delete(ys, 3)).any()


def test_read_rows_takes_a_folder_of_parquet_parts(tmp_path):
    import pytest

    from mien.errors import DatasetError
    from mien.plots import read_rows

    a, b = rows("m", 3), rows("m", 2).assign(source="b.mp4")
    (tmp_path / "parts").mkdir()
    a.to_parquet(tmp_path / "parts" / "a.parquet")
    b.to_parquet(tmp_path / "parts" / "b.parquet")
    got = read_rows(tmp_path / "parts")
    assert got["source"].tolist() == ["a.mp4"] * 3 + ["b.mp4"] * 2
    with pytest.raises(DatasetError, match=r"a folder without \.parquet files"):
        read_rows(tmp_path)
    with pytest.raises(DatasetError, match="no such file"):
        read_rows(tmp_path / "nope.csv")
