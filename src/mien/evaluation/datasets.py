"""Labelled image folders in the ``labels.csv`` layout (``path,label,split`` + extra columns)."""

from __future__ import annotations

import csv
import io
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from mien.errors import DatasetError

log = logging.getLogger(__name__)

_KNOWN = ("path", "label", "split")


def _header_names(line: str, delimiter: str) -> set[str]:
    """The lower-cased, stripped names of a header line split at ``delimiter``."""
    return {c.strip().lower() for c in next(csv.reader([line], delimiter=delimiter), [])}


@dataclass(frozen=True)
class LabeledDataset:
    """Image paths with one expression label each.

    Attributes:
        root: the dataset folder; ``paths`` are relative to it.
        paths: image paths relative to ``root``.
        labels: expression label per image (``len(labels) == len(paths)``).
        columns: the other ``labels.csv`` columns, each a tuple parallel to ``paths`` (used to
            slice an audit, e.g. ``subject`` or a dataset's own demographic column).
        source: the labels CSV the set was read from (``None`` for a set built in code).
        n_unlabelled: rows of that CSV skipped because their label was empty.
    """

    root: Path
    paths: tuple[str, ...]
    labels: tuple[str, ...]
    columns: dict[str, tuple[str, ...]] = field(default_factory=dict)
    source: Path | None = None
    n_unlabelled: int = 0

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def name(self) -> str:
        """How errors name the set: its labels CSV, else its folder."""
        return str(self.source if self.source is not None else self.root)


def _portable(path: str, root: Path) -> str:
    """A Windows-style relative path (``imgs\\a.jpg``, a list saved on Windows) with ``/``
    where the path as written is not there but that one is, on systems whose separator is
    ``/``; any other path as written."""
    if "\\" not in path or os.sep == "\\" or (root / path).exists():
        return path
    posix = path.replace("\\", "/")
    return posix if (root / posix).exists() else path


def _looks_binary(path: Path) -> bool:
    """Whether a file that failed to decode is binary data (a NUL byte in its first 4 KiB, as
    images, videos and archives have) rather than text in another encoding (UTF-16 text,
    which has NUL bytes too, starts with its byte-order mark)."""
    try:
        with path.open("rb") as f:
            head = f.read(4096)
    except OSError:
        return False
    return b"\x00" in head and not head.startswith((b"\xff\xfe", b"\xfe\xff"))


def _rows(reader: csv.DictReader, csv_path: Path, n_fields: int) -> list[dict[str, str]]:
    """Every row of ``reader``, refusing one with more or fewer fields than the header
    (``DictReader`` would drop the extra ones or leave the missing ones blank, which moves
    an image into another slice without a word) or with an empty path."""
    rows = []
    for row in reader:
        line = reader.line_num
        if all(not (v or "").strip() for k, v in row.items() if k is not None) and not row.get(
            None
        ):
            continue  # a row of empty fields, as spreadsheets leave below a table
        if None in row or None in row.values():
            n = n_fields + len(row.get(None) or ()) - sum(v is None for v in row.values())
            hint = (
                ' (a delimiter inside a value? quote the value, as in "Black, African")'
                if n > n_fields
                else " (write an empty value as an empty field, with its delimiter)"
            )
            raise DatasetError(
                f"{csv_path}: line {line} has {n} field(s) but the header has {n_fields}{hint}"
            )
        if not (row["path"] or "").strip():
            raise DatasetError(f"{csv_path}: line {line} has an empty path")
        rows.append(row)
    return rows


def read_labels_csv(root: str | Path, *, split: str | None = None) -> LabeledDataset:
    """Read ``root/labels.csv``, or a labels CSV named directly.

    Args:
        root: dataset folder (its ``labels.csv`` is read), or a ``.csv`` file whose ``path``
            column is relative to the file's folder (e.g. another label set for the same
            images, such as ``fer/labels_fer2013.csv``).
        split: keep only rows whose ``split`` column equals this, ignoring case and spaces
            around it (``None`` keeps all rows).

    Comma-, semicolon- or tab-separated (as spreadsheets write in some locales): the first of
    these whose split of the header line holds ``path`` and ``label``, else a comma. The
    ``path``, ``label`` and ``split`` headers match in any case; labels are lower-cased and,
    like paths, stripped of spaces around them.

    Raises:
        DatasetError: no ``labels.csv`` (or it is a folder), not UTF-8 text, missing
            ``path``/``label`` columns, a column named twice, a row with more or fewer
            fields than the header or with an empty path (the error names its line), a
            ``split`` that matches no row, or an empty file.
            Rows with an empty label are skipped (their count is logged).
    """
    root = Path(root)
    if root.is_file():
        csv_path, root = root, root.parent
    else:
        csv_path = root / "labels.csv"
    if csv_path.is_dir():
        raise DatasetError(f"{csv_path}: is a folder, not a labels.csv file")
    if not csv_path.is_file():
        raise DatasetError(
            f"{csv_path}: not found (expected a labels.csv with path,label,split columns)"
        )
    try:
        # -sig: Excel's byte-order mark; anything that is not UTF-8 is refused, not guessed.
        text = csv_path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as e:
        if csv_path.suffix.lower() not in (".csv", ".tsv", ".txt") or _looks_binary(csv_path):
            raise DatasetError(
                f"{csv_path}: not a labels CSV (binary data); give a CSV with path,label "
                "columns, or a folder holding labels.csv"
            ) from None
        raise DatasetError(
            f"{csv_path}: not UTF-8 text (byte {e.start}: {e.reason}); save it as UTF-8"
        ) from None
    except OSError as e:
        raise DatasetError(f"{csv_path}: cannot be read ({e.strerror or e})") from None
    if not text.strip():
        raise DatasetError(f"{csv_path}: is empty (expected a header line path,label,split)")
    header = text.splitlines()[0]
    delimiter = next(  # the one whose header has path and label; else a comma
        (d for d in (",", ";", "\t") if {"path", "label"} <= _header_names(header, d)), ","
    )
    with io.StringIO(text, newline="") as f:
        reader = csv.DictReader(f, delimiter=delimiter)
        fields = list(reader.fieldnames or [])
        # the three columns mien reads match in any case; other columns keep their names
        fields = [c.strip().lower() if c.strip().lower() in _KNOWN else c for c in fields]
        twice = sorted({c for c in fields if c in _KNOWN and fields.count(c) > 1})
        if twice:
            raise DatasetError(
                f"{csv_path}: more than one column reads as {twice} (headers match in any "
                "case); keep one"
            )
        dup = sorted({c for c in fields if fields.count(c) > 1})
        if dup:
            raise DatasetError(
                f"{csv_path}: the header names column(s) {dup} more than once; only one "
                "column's values would be kept: rename or drop the others"
            )
        reader.fieldnames = fields
        missing = [c for c in ("path", "label") if c not in fields]
        if missing:
            raise DatasetError(f"{csv_path}: missing column(s) {missing}; has {fields}")
        if split is not None and "split" not in fields:
            raise DatasetError(
                f"{csv_path}: --split {split!r} given but the file has no split column"
            )
        want = None if split is None else split.strip().lower()
        every = _rows(reader, csv_path, len(fields))
        rows = [r for r in every if want is None or (r["split"] or "").strip().lower() == want]
        splits = sorted({(r.get("split") or "").strip().lower() for r in every} - {""})
    unlabelled = sum(not (r["label"] or "").strip() for r in rows)
    if unlabelled:
        log.warning("%s: %d row(s) with an empty label skipped", csv_path, unlabelled)
        rows = [r for r in rows if (r["label"] or "").strip()]
    if not rows:
        where = ""
        if split is not None and unlabelled:
            where = f" with split {split!r} ({unlabelled} row(s) with it have an empty label)"
        elif split is not None:
            where = f" with split {split!r} (its splits: {', '.join(splits) or 'none given'})"
        raise DatasetError(f"{csv_path}: no labelled rows{where}")
    extra = [c for c in fields if c not in ("path", "label")]
    return LabeledDataset(
        root,
        tuple(_portable((r["path"] or "").strip(), root) for r in rows),
        tuple(r["label"].strip().lower() for r in rows),
        {c: tuple((r.get(c) or "").strip() for r in rows) for c in extra},
        csv_path,
        unlabelled,
    )
