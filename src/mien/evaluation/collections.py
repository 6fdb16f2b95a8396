"""A ``labels.csv`` for a public expression collection, from the layout it is distributed in.

``mien evaluate`` reads one layout (``path,label[,split,...]``); each function here reads one
collection as its owners distribute it and returns rows in that layout, with mien's label in
``label`` (through :data:`~mien.evaluation.label_maps.PRESETS`) and the collection's own code
in ``code``, so no ``--label-map`` is needed. A file that does not follow the collection's
naming is left out and counted, never guessed. Columns a collection ships about its people
(KDEF's sex code) are kept only to audit accuracy per group (``--by``); nothing is inferred.

Layouts (as distributed; check your copy):

- ``kdef``: Lundqvist, Flykt & Öhman, KDEF (1998): ``AF01/AF01ANS.JPG``: session (A/B), sex
  (F/M), person (01-35), expression (AF AN DI HA NE SA SU), angle (S straight, HL/HR half, FL/FR
  full profile).
- ``jaffe``: Lyons, Kamachi & Gyoba, JAFFE (1998): ``KA.AN1.39.tiff``: poser, expression
  (AN DI FE HA NE SA SU) with a repeat number, image number.
- ``ckplus``: Lucey et al., CK+ (CVPR Workshops 2010): ``Emotion/S005/001/
  S005_001_00000011_emotion.txt`` holds the code (0-7, written ``3.0000000e+00``) of the
  sequence's last (peak) frame ``cohn-kanade-images/S005/001/S005_001_00000011.png``.
- ``rafdb``: Li, Deng & Du, RAF-DB basic (CVPR 2017): ``EmoLabel/list_patition_label.txt``
  lines ``train_00001.jpg 5`` (codes 1-7), images in ``Image/original/`` (whole photos) or
  ``Image/aligned/`` (``train_00001_aligned.jpg``, 100 px crops).
- ``affectnet``: Mollahosseini, Hasani & Mahoor, AffectNet (IEEE TAC 2019): ``training.csv``
  and ``validation.csv`` with ``subDirectory_filePath`` and ``expression`` (0-7; 8 None,
  9 Uncertain, 10 Non-Face left out), images in ``Manually_Annotated_Images/``.
"""

from __future__ import annotations

import csv
import os
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from mien.errors import DatasetError
from mien.evaluation.label_maps import PRESETS

_KDEF = re.compile(r"([AB])([FM])(\d{2})(AF|AN|DI|HA|NE|SA|SU)(S|HL|HR|FL|FR)\.JPE?G", re.I)
_IMAGE_ENDINGS = (".jpg", ".jpeg", ".tif", ".tiff")
_JAFFE = re.compile(r"([A-Z]{2})\.(AN|DI|FE|HA|NE|SA|SU)(\d+)\.(\d+)\.TIFF?", re.I)


@dataclass
class CollectionRows:
    """Rows for a ``labels.csv`` and what was left out.

    Attributes:
        rows: one dict per image: ``path`` (absolute), ``label`` (mien's), ``code`` (the
            collection's own), then collection columns (``subject``, ``split``, ...).
        skipped: ``{reason: count}`` of files or entries left out.
    """

    rows: list[dict[str, str]] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)

    def add(self, path: Path, code: str, preset: str, **columns: str) -> None:
        label = PRESETS[preset].get(code.lower())
        if label is None:
            self.skipped[f"unknown code {code!r}"] += 1
        elif not label:
            self.skipped[f"code {code} (not an expression)"] += 1
        else:
            self.rows.append({"path": str(path), "label": label, "code": code, **columns})


def _files(root: Path, pattern: re.Pattern[str]) -> tuple[list[tuple[Path, re.Match]], int]:
    """Files under ``root`` whose name matches ``pattern``, and how many image files do not."""
    found, other = [], 0
    for folder, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(names):
            if m := pattern.fullmatch(name):
                found.append((Path(folder, name), m))
            elif not name.startswith(".") and name.lower().endswith(_IMAGE_ENDINGS):
                other += 1
    return found, other


def kdef_rows(root: Path, *, angles: tuple[str, ...] = ("S",)) -> CollectionRows:
    """KDEF's photos under ``root``: ``subject`` (sex code and number, e.g. ``F01``, one person
    over both sessions), ``session``, ``sex`` (KDEF's own F/M coding, for a per-group audit
    only), ``angle``. Only the ``angles`` asked for (default the straight ``S`` photos; the
    full profiles ``FL``/``FR`` show too little of the face for most detectors)."""
    out = CollectionRows()
    wanted = {a.upper() for a in angles}
    found, other = _files(root, _KDEF)
    for path, m in found:
        session, sex, number, code, angle = (g.upper() for g in m.groups())
        if angle not in wanted:
            out.skipped[f"angle {angle} (not asked for)"] += 1
            continue
        out.add(path, code, "kdef", subject=sex + number, session=session, sex=sex, angle=angle)
    if other:
        out.skipped["image named outside KDEF's pattern"] += other
    return out


def jaffe_rows(root: Path) -> CollectionRows:
    """JAFFE's images under ``root``: ``subject`` (the poser's initials)."""
    out = CollectionRows()
    found, other = _files(root, _JAFFE)
    for path, m in found:
        out.add(path, m.group(2).upper(), "jaffe", subject=m.group(1).upper())
    if other:
        out.skipped["image named outside JAFFE's pattern"] += other
    return out


def ckplus_rows(root: Path, *, first_frame_neutral: bool = False) -> CollectionRows:
    """CK+'s labelled peak frames under ``root`` (which holds ``Emotion/`` and
    ``cohn-kanade-images/``, in any folders): ``subject``, ``sequence``. With
    ``first_frame_neutral`` the first frame of each labelled sequence is added as neutral, a
    common convention (the collection itself labels only the peak)."""
    out = CollectionRows()
    images = {p.name: p for p in root.rglob("*.png")}
    for label_file in sorted(root.rglob("*_emotion.txt")):
        stem = label_file.name.removesuffix("_emotion.txt")
        image = images.get(stem + ".png")
        if image is None:
            out.skipped["label file without its image"] += 1
            continue
        text = label_file.read_text(errors="replace").strip()
        try:
            value = float(text)
        except ValueError:
            out.skipped["label file not holding a number"] += 1
            continue
        if not value.is_integer():
            out.skipped["label file not holding a whole number"] += 1
            continue
        subject, sequence = [*stem.split("_"), "", ""][:2]
        out.add(image, str(int(value)), "ckplus", subject=subject, sequence=sequence)
        if first_frame_neutral:
            first = images.get(f"{subject}_{sequence}_{1:08d}.png")
            if first is not None and first != image:
                out.add(first, "0", "ckplus", subject=subject, sequence=sequence)
    return out


def rafdb_rows(root: Path, *, aligned: bool = False) -> CollectionRows:
    """RAF-DB basic under ``root`` (which holds ``EmoLabel/list_patition_label.txt`` and
    ``Image/``): ``split`` (``train``/``test``, from the name). The whole photos
    (``Image/original``, for ``--detect``) unless ``aligned`` (the 100 px crops)."""
    lists = sorted(root.rglob("list_patition_label.txt"))
    if not lists:
        raise DatasetError(f"{root}: no EmoLabel/list_patition_label.txt under it (RAF-DB basic)")
    out = CollectionRows()
    images = {p.name: p for p in root.rglob("*.jpg")}
    for line in lists[0].read_text(errors="replace").splitlines():
        parts = line.split()
        if len(parts) != 2:
            if line.strip():
                out.skipped["line not 'name code'"] += 1
            continue
        name, code = parts
        wanted = f"{Path(name).stem}_aligned.jpg" if aligned else name
        image = images.get(wanted)
        if image is None:
            out.skipped["listed image not found"] += 1
            continue
        out.add(image, code, "rafdb", split=name.split("_")[0].lower())
    return out


def affectnet_rows(root: Path) -> CollectionRows:
    """AffectNet's manually annotated images under ``root`` (``training.csv``,
    ``validation.csv`` and ``Manually_Annotated_Images/``): ``split`` (``train``/``val``)."""
    tables = [(root / n, s) for n, s in (("training.csv", "train"), ("validation.csv", "val"))]
    tables = [(p, s) for p, s in tables if p.is_file()]
    if not tables:
        raise DatasetError(f"{root}: neither training.csv nor validation.csv (AffectNet)")
    folder = root / "Manually_Annotated_Images"
    out = CollectionRows()
    for table, split in tables:
        with table.open(newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            if not {"subDirectory_filePath", "expression"} <= set(reader.fieldnames or []):
                raise DatasetError(
                    f"{table}: no subDirectory_filePath and expression columns (AffectNet)"
                )
            for r in reader:
                image = folder / r["subDirectory_filePath"].strip()
                if not image.is_file():
                    out.skipped["listed image not in Manually_Annotated_Images"] += 1
                    continue
                out.add(image, r["expression"].strip(), "affectnet", split=split)
    return out


COLLECTIONS: dict[str, Callable[..., CollectionRows]] = {
    "kdef": kdef_rows,
    "jaffe": jaffe_rows,
    "ckplus": ckplus_rows,
    "rafdb": rafdb_rows,
    "affectnet": affectnet_rows,
}
"""Collection name → reader of its distributed layout."""


def write_labels_csv(result: CollectionRows, out: Path) -> Path:
    """Write ``result.rows`` as a ``labels.csv`` at ``out``, each path relative to its folder
    (so the folder can move with its images).

    Raises:
        DatasetError: no rows to write.
    """
    if not result.rows:
        raise DatasetError(f"no images found for {out} (left out: {dict(result.skipped)})")
    columns = list(dict.fromkeys(k for row in result.rows for k in row))
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, columns)
        writer.writeheader()
        for row in result.rows:
            rel = os.path.relpath(row["path"], out.parent).replace(os.sep, "/")
            writer.writerow(row | {"path": rel})
    return out
