"""Streaming row sinks. CSV and JSON Lines rows are written and flushed as they arrive, so a
crash or a bad file later in a batch never loses finished results; Parquet rows are buffered
into row groups (``row_group_size`` rows) and written group by group, so memory stays flat
however long the video.

A Parquet file is readable only once :meth:`ParquetSink.close` has written its footer (and a
JSON array once :meth:`RowSink.close` has closed it); use CSV or JSON Lines when a run may be
killed. Closing twice is harmless; appending to a closed sink raises ``ValueError``."""

from __future__ import annotations

import csv
import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any, Literal

_ARROW = {"string": "string", "int": "int64", "float": "float64", "bool": "bool_"}
Format = Literal["json", "jsonl", "csv", "parquet"]
FORMATS: tuple[str, ...] = ("json", "jsonl", "csv", "parquet")


def _is_nan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


def _clean(value: Any) -> Any:
    """NaN -> None; a string holding undecodable file-name bytes (surrogates) -> escaped text,
    as the text formats write it (Arrow strings must be valid UTF-8)."""
    if _is_nan(value):
        return None
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return value.encode("utf-8", "backslashreplace").decode("utf-8")
    return value


class RowSink:
    """Write rows with fixed columns to a file or stdout as CSV, JSON Lines or a JSON array.

    A missing number (``None`` or NaN) is an empty CSV cell and ``null`` in JSON.

    Args:
        stream: a text stream opened for writing.
        columns: the column names (every row must have exactly these keys).
        fmt: ``"csv"``, ``"jsonl"`` or ``"json"`` (an array, closed by :meth:`close`).
        owns_stream: close the stream on :meth:`close`.

    Raises:
        ValueError: unknown ``fmt``; a row whose keys differ from ``columns``, or any row
            after :meth:`close`.
    """

    def __init__(
        self, stream: IO[str], columns: Sequence[str], fmt: Format, *, owns_stream: bool = False
    ) -> None:
        if fmt not in ("json", "jsonl", "csv"):
            raise ValueError(f"format must be one of {list(FORMATS)}; got {fmt!r}")
        self.stream, self.columns, self.fmt, self.owns_stream = (
            stream,
            list(columns),
            fmt,
            owns_stream,
        )
        self.count = 0
        self.closed = False
        self._csv = csv.DictWriter(stream, fieldnames=self.columns) if fmt == "csv" else None
        if self._csv is not None:
            self._csv.writeheader()
        elif fmt == "json":
            stream.write("[")

    def append(self, row: dict[str, Any]) -> None:
        """Write one row (keys exactly the sink's columns, in order)."""
        if self.closed:
            raise ValueError("append to a closed sink")
        if list(row) != self.columns:
            raise ValueError(f"row columns {list(row)} do not match the sink's {self.columns}")
        if self._csv is not None:  # a missing number is an empty cell, as R and pandas read it
            self._csv.writerow({k: None if _is_nan(v) else v for k, v in row.items()})
        else:
            text = json.dumps({k: _clean(v) for k, v in row.items()}, ensure_ascii=False)
            if self.fmt == "json":
                text = ("\n  " if self.count == 0 else ",\n  ") + text
            else:
                text += "\n"
            self.stream.write(text)
        self.count += 1
        self.stream.flush()

    def close(self) -> None:
        """Finish the file (a JSON array's closing bracket); a second call does nothing."""
        if self.closed:
            return
        self.closed = True
        if self.fmt == "json":
            self.stream.write("\n]\n" if self.count else "]\n")
        self.stream.flush()
        if self.owns_stream:
            self.stream.close()

    def __enter__(self) -> RowSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ParquetSink:
    """Write rows to a Parquet file in row groups (pyarrow), with a typed schema.

    Args:
        path: the output file.
        types: column -> ``"string" | "int" | "float" | "bool"``, in column order.
        row_group_size: rows buffered before a row group is written.

    Raises:
        ValueError: a row whose keys differ from the columns, or any row after :meth:`close`.
    """

    def __init__(
        self, path: str | Path, types: dict[str, str], *, row_group_size: int = 2048
    ) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        self.columns = list(types)
        self.schema = pa.schema([(c, getattr(pa, _ARROW[t])()) for c, t in types.items()])
        # page checksums: a part damaged after it was written is found when read back
        self._writer = pq.ParquetWriter(str(path), self.schema, write_page_checksum=True)
        self._buffer: list[dict[str, Any]] = []
        self.row_group_size = row_group_size
        self.count = 0
        self.closed = False

    def append(self, row: dict[str, Any]) -> None:
        """Buffer one row (keys exactly the sink's columns, in order)."""
        if self.closed:
            raise ValueError("append to a closed sink")
        if list(row) != self.columns:
            raise ValueError(f"row columns {list(row)} do not match the sink's {self.columns}")
        self._buffer.append({k: _clean(v) for k, v in row.items()})
        self.count += 1
        if len(self._buffer) >= self.row_group_size:
            self.flush()

    def flush(self) -> None:
        """Write the buffered rows as one row group."""
        if self._buffer:
            import pyarrow as pa

            self._writer.write_table(pa.Table.from_pylist(self._buffer, schema=self.schema))
            self._buffer.clear()

    def close(self) -> None:
        """Write the last row group and the footer; a second call does nothing."""
        if self.closed:
            return
        self.closed = True
        try:
            self.flush()
        finally:
            self._writer.close()

    def __enter__(self) -> ParquetSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_parquet_whole(path: str | Path) -> Any:
    """``path`` read as a ``pyarrow.Table`` with every check a reader may trip on: page
    checksums (where written: mien's parts since 0.2.18), the Parquet schema in the footer
    (a damaged byte in a column name there read fine as a table, then failed in
    ``pyarrow.parquet.read_schema`` and pandas with a Unicode error that named no file), and
    pandas metadata, where there is any.

    Raises:
        OSError: missing or unreadable.
        ValueError: not Parquet, cut short, a page checksum wrong, or its metadata damaged.
    """
    import pyarrow.parquet as pq

    table = pq.read_table(path, page_checksum_verification=True)
    pq.read_schema(path)
    table.schema.pandas_metadata  # noqa: B018 - decodes its JSON: a damaged byte raises
    return table


def open_sink(
    path: str | Path | None,
    columns: Sequence[str],
    fmt: Format,
    *,
    types: dict[str, str] | None = None,
) -> RowSink | ParquetSink:
    """A sink writing to ``path`` (parents created), or to stdout when ``path`` is ``None``.

    Raises:
        ValueError: unknown ``fmt``; Parquet without a path or without ``types``.
    """
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {list(FORMATS)}; got {fmt!r}")
    if fmt == "parquet":
        if path is None or types is None:
            raise ValueError("parquet output needs a file path (--out) and column types")
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        return ParquetSink(path, types)
    if path is None:
        return RowSink(sys.stdout, columns, fmt)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # backslashreplace: a file name that is not valid UTF-8 is written escaped, never fatal
    stream = open(path, "w", newline="", encoding="utf-8", errors="backslashreplace")
    return RowSink(stream, columns, fmt, owns_stream=True)
