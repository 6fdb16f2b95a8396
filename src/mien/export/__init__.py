"""Results as flat rows (one per face) and streaming sinks: CSV, JSON Lines, JSON."""

from mien.export.rows import SCHEMA_VERSION, error_row, result_rows, row_columns
from mien.export.sinks import FORMATS, RowSink, open_sink

__all__ = [
    "FORMATS",
    "SCHEMA_VERSION",
    "RowSink",
    "error_row",
    "open_sink",
    "result_rows",
    "row_columns",
]
