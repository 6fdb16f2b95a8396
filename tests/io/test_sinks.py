"""Row sinks: each format round-trips, closing twice is harmless, appending after close fails."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from mien.export import open_sink

TYPES = {"source": "string", "frame_index": "int", "p": "float", "ok": "bool"}
ROWS = [
    {"source": "a.mp4", "frame_index": 0, "p": 0.25, "ok": True},
    {"source": "a.mp4", "frame_index": 1, "p": float("nan"), "ok": False},
]


def _read(path, fmt):
    if fmt == "parquet":
        return pd.read_parquet(path)
    if fmt == "csv":
        return pd.read_csv(path)
    if fmt == "jsonl":
        return pd.read_json(path, lines=True)
    return pd.DataFrame(json.loads(path.read_text()))


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "json", "parquet"])
def test_rows_round_trip_and_close_is_idempotent(tmp_path, fmt):
    path = tmp_path / f"rows.{fmt}"
    sink = open_sink(path, list(TYPES), fmt, types=TYPES)
    for row in ROWS:
        sink.append(row)
    sink.close()
    sink.close()  # harmless
    with pytest.raises(ValueError, match="append to a closed sink"):
        sink.append(ROWS[0])
    df = _read(path, fmt)
    assert df["frame_index"].tolist() == [0, 1] and df["p"].iloc[0] == 0.25
    assert pd.isna(df["p"].iloc[1])  # NaN is written as an empty value / null


@pytest.mark.parametrize("fmt", ["csv", "json", "parquet"])
def test_a_row_with_other_columns_is_refused(tmp_path, fmt):
    with open_sink(tmp_path / f"rows.{fmt}", list(TYPES), fmt, types=TYPES) as sink:
        with pytest.raises(ValueError, match="do not match"):
            sink.append({"source": "a.mp4"})


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_a_missing_number_is_an_empty_cell_or_null(tmp_path, fmt):
    """CSV wrote the text `nan` (R then reads the whole column as text); JSON wrote null."""
    path = tmp_path / f"rows.{fmt}"
    with open_sink(path, list(TYPES), fmt, types=TYPES) as sink:
        for row in ROWS:
            sink.append(row)
    last = path.read_text().splitlines()[-1]
    assert last == (
        "a.mp4,1,,False"
        if fmt == "csv"
        else '{"source": "a.mp4", "frame_index": 1, "p": null, "ok": false}'
    )
