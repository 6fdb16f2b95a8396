"""Results as flat rows (one per face) and streaming sinks: CSV, JSON Lines, JSON."""

from mien.export.rows import SCHEMA_VERSION, column_types, error_row, result_rows, row_columns
from mien.export.sinks import FORMATS, ParquetSink, RowSink, open_sink

__all__ = [
    "FORMATS",
    "SCHEMA_VERSION",
    "ParquetSink",
    "RowSink",
    "column_types",
    "error_row",
    "open_sink",
    "result_rows",
    "row_columns",
]
