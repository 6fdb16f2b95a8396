"""Streaming row sinks. Each row is written (and flushed) as it arrives, so a crash or a bad
file later in a batch never loses finished results."""

from __future__ import annotations

import csv
import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any, Literal

Format = Literal["json", "jsonl", "csv"]
FORMATS: tuple[str, ...] = ("json", "jsonl", "csv")


def _clean(value: Any) -> Any:
    return None if isinstance(value, float) and math.isnan(value) else value


class RowSink:
    """Write rows with fixed columns to a file or stdout as CSV, JSON Lines or a JSON array.

    Args:
        stream: a text stream opened for writing.
        columns: the column names (every row must have exactly these keys).
        fmt: ``"csv"``, ``"jsonl"`` or ``"json"`` (an array, closed by :meth:`close`).
        owns_stream: close the stream on :meth:`close`.

    Raises:
        ValueError: unknown ``fmt``, or a row whose keys differ from ``columns``.
    """

    def __init__(
        self, stream: IO[str], columns: Sequence[str], fmt: Format, *, owns_stream: bool = False
    ) -> None:
        if fmt not in FORMATS:
            raise ValueError(f"format must be one of {list(FORMATS)}; got {fmt!r}")
        self.stream, self.columns, self.fmt, self.owns_stream = (
            stream,
            list(columns),
            fmt,
            owns_stream,
        )
        self.count = 0
        self._csv = csv.DictWriter(stream, fieldnames=self.columns) if fmt == "csv" else None
        if self._csv is not None:
            self._csv.writeheader()
        elif fmt == "json":
            stream.write("[")

    def append(self, row: dict[str, Any]) -> None:
        if list(row) != self.columns:
            raise ValueError(f"row columns {list(row)} do not match the sink's {self.columns}")
        if self._csv is not None:
            self._csv.writerow(row)
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
        if self.fmt == "json":
            self.stream.write("\n]\n" if self.count else "]\n")
        self.stream.flush()
        if self.owns_stream:
            self.stream.close()

    def __enter__(self) -> RowSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_sink(path: str | Path | None, columns: Sequence[str], fmt: Format) -> RowSink:
    """A sink writing to ``path`` (parents created), or to stdout when ``path`` is ``None``."""
    if path is None:
        return RowSink(sys.stdout, columns, fmt)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # backslashreplace: a file name that is not valid UTF-8 is written escaped, never fatal
    stream = open(path, "w", newline="", encoding="utf-8", errors="backslashreplace")
    return RowSink(stream, columns, fmt, owns_stream=True)
