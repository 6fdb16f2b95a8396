"""Other collections' label names and codes, mapped onto mien's expression labels.

Labelled sets name the same expressions in many ways: word forms (``happy``, ``angry``), or
numeric codes whose meaning changes from one collection to the next (``3`` is happiness in
FER2013, surprise in AffectNet, disgust in CK+). :func:`relabel` rewrites a
:class:`~mien.evaluation.datasets.LabeledDataset`'s labels before it is scored:

* **Word forms** (:data:`WORD_FORMS`) are always mapped: they name one expression each.
* **Codes** are mapped only when asked, by a preset named after its collection
  (:data:`PRESETS`) or a map of the user's own (:func:`parse_label_map`).
* A label mapped to ``""`` drops its rows (e.g. AffectNet's "None" and "Uncertain").

Each preset follows the collection's own documentation; check it against your copy's README
before trusting an audit, since re-packaged copies sometimes renumber.
"""

from __future__ import annotations

import csv
import difflib
import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from mien.errors import DatasetError
from mien.evaluation.datasets import LabeledDataset
from mien.types import EXPRESSIONS

WORD_FORMS: dict[str, str] = {
    "angry": "anger",
    "disgusted": "disgust",
    "afraid": "fear",
    "fearful": "fear",
    "scared": "fear",
    "happy": "happiness",
    "sad": "sadness",
    "surprised": "surprise",
    "contemptuous": "contempt",
}
"""Other word forms of mien's labels (lower case), mapped without being asked."""

PRESETS: dict[str, dict[str, str]] = {
    # Goodfellow et al., "Challenges in representation learning", ICONIP 2013 (fer2013.csv).
    "fer2013": {
        "0": "anger",
        "1": "disgust",
        "2": "fear",
        "3": "happiness",
        "4": "sadness",
        "5": "surprise",
        "6": "neutral",
    },
    # Mollahosseini, Hasani & Mahoor, "AffectNet", IEEE TAC 10(1), 2019: 8 None, 9 Uncertain,
    # 10 Non-Face are not expressions and are dropped.
    "affectnet": {
        "0": "neutral",
        "1": "happiness",
        "2": "sadness",
        "3": "surprise",
        "4": "fear",
        "5": "disgust",
        "6": "anger",
        "7": "contempt",
        "8": "",
        "9": "",
        "10": "",
    },
    # Li, Deng & Du, "Reliable crowdsourcing ... (RAF-DB)", CVPR 2017; basic-emotion set.
    "rafdb": {
        "1": "surprise",
        "2": "fear",
        "3": "disgust",
        "4": "happiness",
        "5": "sadness",
        "6": "anger",
        "7": "neutral",
    },
    # Lucey et al., "The Extended Cohn-Kanade Dataset (CK+)", CVPR Workshops 2010.
    "ckplus": {
        "0": "neutral",
        "1": "anger",
        "2": "contempt",
        "3": "disgust",
        "4": "fear",
        "5": "happiness",
        "6": "sadness",
        "7": "surprise",
    },
    # Lundqvist, Flykt & Öhman, Karolinska Directed Emotional Faces (KDEF), 1998: file codes.
    "kdef": {
        "af": "fear",
        "an": "anger",
        "di": "disgust",
        "ha": "happiness",
        "ne": "neutral",
        "sa": "sadness",
        "su": "surprise",
    },
    # Lyons, Kamachi & Gyoba, Japanese Female Facial Expression (JAFFE), 1998: file codes.
    "jaffe": {
        "an": "anger",
        "di": "disgust",
        "fe": "fear",
        "ha": "happiness",
        "ne": "neutral",
        "sa": "sadness",
        "su": "surprise",
    },
}
"""Collections' label codes (lower case) → mien labels (``""``: drop the row)."""


@dataclass(frozen=True)
class Relabelling:
    """What :func:`relabel` did to one set.

    Attributes:
        renamed: ``{original label: mien label}`` for each label it changed.
        counts: rows per original label it changed or dropped.
        dropped: ``{original label: rows}`` removed because their label maps to ``""``.
        unused: the map's labels that no row has (sorted, numbers by value). A few are
            expected for part of a collection; most of a preset unused suggests the wrong
            preset.
        matched: how many of the map's labels some row has (0 without a map).
    """

    renamed: dict[str, str] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    dropped: dict[str, int] = field(default_factory=dict)
    unused: list[str] = field(default_factory=list)
    matched: int = 0

    def __bool__(self) -> bool:
        return bool(self.renamed or self.dropped)

    def to_dict(self) -> dict:
        """JSON-ready: ``{"renamed": {label: {"to", "n"}}, "dropped": {label: n},
        "unused": [label, ...]}``."""
        return {
            "renamed": {k: {"to": v, "n": self.counts[k]} for k, v in self.renamed.items()},
            "dropped": dict(self.dropped),
            "unused": list(self.unused),
        }

    def describe(self) -> str:
        """One line for people, e.g. ``happy → happiness (12); dropped 8 (30)``."""
        parts = [f"{k} → {v} ({self.counts[k]})" for k, v in self.renamed.items()]
        parts += [f"dropped {k} ({n})" for k, n in self.dropped.items()]
        return "; ".join(parts)


def _entry(key: object, value: object, where: str) -> tuple[str, str]:
    k = str(key).strip().lower()
    v = "" if value is None else str(value).strip().lower()
    v = WORD_FORMS.get(v, v)  # 1=happy as 1=happiness
    if not k:
        raise DatasetError(f"{where}: an empty label to map from")
    if v and v not in EXPRESSIONS:
        raise DatasetError(
            f"{where}: {key!r} maps to {value!r}, which is not one of mien's labels "
            f"{list(EXPRESSIONS)} (or empty, to drop its rows)"
        )
    return k, v


def _collect(pairs: Iterable[tuple[str, str]], where: str) -> dict[str, str]:
    """Pairs as a map; one label mapped two ways in one map is refused (labels are compared
    in lower case, so ``AF`` and ``af`` are the same label)."""
    out: dict[str, str] = {}
    for k, v in pairs:
        if k in out and out[k] != v:
            raise DatasetError(
                f"{where}: {k!r} is mapped twice, to {out[k] or 'nothing'!r} and {v or 'nothing'!r}"
            )
        out[k] = v
    return out


def _is_header(row: list[str]) -> bool:
    """Whether a label map's first CSV line is a header (``code,expression``): its second
    field is not a label, nor a near miss of one (``surprize`` is a typo on a data line, to be
    reported), and its first field is not a number (``1,surprize`` is a data line)."""
    if len(row) != 2:
        return False
    first, second = row[0].strip(), row[1].strip().lower()
    if not second or second in EXPRESSIONS or second in WORD_FORMS:
        return False
    if difflib.get_close_matches(second, [*EXPRESSIONS, *WORD_FORMS], n=1, cutoff=0.75):
        return False
    try:
        float(first)
    except ValueError:
        return True
    return False


def _read_map_file(path: Path) -> dict[str, str]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise DatasetError(f"{path}: not UTF-8 text; a label map is JSON or CSV") from None
    except OSError as e:
        raise DatasetError(f"{path}: cannot read the label map ({e.strerror})") from None
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text, object_pairs_hook=list)
        except json.JSONDecodeError as e:
            raise DatasetError(f"{path}: not valid JSON ({e.msg}, line {e.lineno})") from None
        if not isinstance(data, list) or not data or not isinstance(data[0], tuple):
            raise DatasetError(f'{path}: give a JSON object, e.g. {{"1": "surprise"}}')
        return _collect((_entry(k, v, str(path)) for k, v in data), str(path))
    lines = [(i, line) for i, line in enumerate(text.splitlines(), start=1) if line.strip()]
    first = lines[0][1] if lines else ""
    delimiter = next((d for d in (",", ";", "\t") if d in first), ",")
    rows = [(i, next(csv.reader([line], delimiter=delimiter))) for i, line in lines]
    head = rows[0][1] if rows else []
    if _is_header(head):
        rows = rows[1:]  # a header line: its second field names a column, not a label
    pairs = []
    for i, row in rows:
        if len(row) != 2:
            raise DatasetError(
                f"{path}, line {i}: give two columns (label,expression; an empty expression "
                "drops the label's rows)"
            )
        pairs.append(_entry(row[0], row[1], f"{path}, line {i}"))
    if not pairs:
        raise DatasetError(f"{path}: no mapping in it (lines of label,expression)")
    return _collect(pairs, str(path))


def parse_label_map(spec: str) -> dict[str, str]:
    """One ``--label-map`` value as ``{label: mien label}`` (lower case; ``""``: drop).

    Args:
        spec: a preset name (a key of :data:`PRESETS`, e.g. ``"rafdb"``); a ``.json`` file
            holding an object ``{"label": "expression", ...}``; a ``.csv`` file with
            ``label,expression`` per line (comma, semicolon or tab; a first line whose second
            field is neither a label nor empty is a header); or pairs inline,
            ``"1=surprise,2=fear,8="``.

    Raises:
        DatasetError: an unknown preset or unreadable file, a malformed pair, or a target that
            is not one of mien's labels (:data:`mien.types.EXPRESSIONS`) nor empty.
    """
    spec = spec.strip()
    if spec.lower() in PRESETS:
        return dict(PRESETS[spec.lower()])
    if spec.lower().endswith((".json", ".csv")):
        path = Path(spec)
        if not path.is_file():
            raise DatasetError(f"{spec}: label map file not found")
        return _read_map_file(path)
    if "=" not in spec:
        raise DatasetError(
            f"--label-map {spec!r}: give a preset ({', '.join(PRESETS)}), a .json or .csv "
            "file, or pairs like 1=surprise,2=fear"
        )
    pairs = []
    for pair in spec.split(","):
        if not pair.strip():
            continue
        if "=" not in pair:
            raise DatasetError(f"--label-map {spec!r}: {pair.strip()!r} is not label=expression")
        k, v = pair.split("=", 1)
        pairs.append(_entry(k, v, f"--label-map {spec!r}"))
    return _collect(pairs, f"--label-map {spec!r}")


def combine_label_maps(specs: Iterable[str]) -> tuple[dict[str, str], list[str]]:
    """Several ``--label-map`` values merged in order: a later one wins on the same label
    (e.g. a preset, then one code changed).

    Returns:
        The merged map, and one note per label a later map changed (``"7: contempt → neutral
        (from '7=neutral')"``), for the user to see.

    Raises:
        DatasetError: as :func:`parse_label_map`.
    """
    out: dict[str, str] = {}
    notes = []
    for spec in specs:
        for k, v in parse_label_map(spec).items():
            if k in out and out[k] != v:
                notes.append(f"{k}: {out[k] or 'dropped'} → {v or 'dropped'} (from {spec!r})")
            out[k] = v
    return out, notes


def _key(table: Mapping[str, str], label: str) -> str:
    """The map's key for ``label``: itself, or for a code written as a float that is a whole
    number (a spreadsheet's ``3.0``, CK+'s ``3.0000000e+00``) that number (``3``) where only
    it is mapped."""
    if label in table:
        return label
    try:
        value = float(label)
    except ValueError:
        return label
    if not value.is_integer() or value < 0 or not re.fullmatch(r"[0-9.e+\-]+", label):
        return label
    whole = str(int(value))
    return whole if whole in table else label


def _natural(key: str) -> tuple[int, float, str]:
    """Sort key: numeric codes by value, before words."""
    try:
        return (0, float(key), key)
    except ValueError:
        return (1, 0.0, key)


def relabel(
    dataset: LabeledDataset, mapping: Mapping[str, str] | None = None
) -> tuple[LabeledDataset, Relabelling]:
    """``dataset`` with :data:`WORD_FORMS` and then ``mapping`` applied to its labels.

    Labels neither maps are kept as they are (so a label the model lacks still fails where the
    set is scored). When any label changes, the original labels are kept as the column
    ``original_label`` (unless the set has one already), for ``--by`` and the predictions CSV.

    Args:
        dataset: the set as read (labels lower case, as
            :func:`~mien.evaluation.datasets.read_labels_csv` gives them).
        mapping: ``{label: mien label}`` (:func:`parse_label_map`; keys and values are
            compared in lower case); it wins over :data:`WORD_FORMS`; ``""`` drops the
            label's rows.

    Returns:
        The relabelled set (the same object when nothing changed) and what was done.

    Raises:
        DatasetError: every row was dropped, or ``mapping`` maps one label two ways (``AF``
            and ``af``) or onto a label mien lacks.
    """
    given = _collect((_entry(k, v, "label map") for k, v in (mapping or {}).items()), "label map")
    table = WORD_FORMS | given
    keys = [_key(table, label) for label in dataset.labels]
    new = [table.get(k, label) for k, label in zip(keys, dataset.labels, strict=True)]
    changed = Counter(old for old, n in zip(dataset.labels, new, strict=True) if old != n)
    unused = sorted(set(given) - set(keys), key=_natural)  # codes 3, 4, 10; not 10, 3, 4
    matched = len(given) - len(unused)
    if not changed:
        return dataset, Relabelling(unused=unused, matched=matched)
    keep = [i for i, label in enumerate(new) if label]
    if not keep:
        raise DatasetError(f"{dataset.name}: the label map drops every row")
    target = dict(zip(dataset.labels, new, strict=True))
    done = Relabelling(
        renamed={k: target[k] for k in changed if target[k]},
        counts=dict(changed),
        dropped={k: n for k, n in changed.items() if not target[k]},
        unused=unused,
        matched=matched,
    )
    columns = {c: tuple(v[i] for i in keep) for c, v in dataset.columns.items()}
    columns.setdefault("original_label", tuple(dataset.labels[i] for i in keep))
    out = replace(
        dataset,
        paths=tuple(dataset.paths[i] for i in keep),
        labels=tuple(new[i] for i in keep),
        columns=columns,
    )
    return out, done
