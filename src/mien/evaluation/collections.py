"""A ``labels.csv`` for a public expression collection, from the layout it is distributed in.

``mien evaluate`` reads one layout (``path,label[,split,...]``); each function here reads one
collection as its owners distribute it and returns rows in that layout, with mien's label in
``label`` (through :data:`~mien.evaluation.label_maps.PRESETS`) and the collection's own code
in ``code``, so no ``--label-map`` is needed. A file that does not follow the collection's
naming is left out and counted, never guessed; a photo met twice (a second copy of the
collection under the same folder, also in another case or format) is taken once, the first in
name order. Folder links are followed, broken links left out. Columns a
collection ships about its people (KDEF's sex code) are kept only to audit accuracy per group
(``--by``); nothing is inferred.

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
  ``Image/aligned/`` (``train_00001_aligned.jpg``, 100 px crops). The compound set is not read.
- ``affectnet``: Mollahosseini, Hasani & Mahoor, AffectNet (IEEE TAC 2019):
  ``training.csv`` and ``validation.csv`` (anywhere under the root, with or without their
  header line) with ``subDirectory_filePath`` and ``expression`` (0-7; 8 None, 9 Uncertain,
  10 Non-Face left out), images in a ``Manually_Annotated_Images/`` folder.
"""

from __future__ import annotations

import csv
import os
import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from mien.errors import DatasetError
from mien.evaluation.label_maps import PRESETS

_IMAGE = r"\.(?:JPE?G|PNG|TIFF?|BMP)"
_KDEF = re.compile(r"([AB])([FM])(\d{2})(AF|AN|DI|HA|NE|SA|SU)(S|HL|HR|FL|FR)" + _IMAGE, re.I)
_JAFFE = re.compile(r"([A-Z]{2})\.(AN|DI|FE|HA|NE|SA|SU)(\d+)\.(\d+)" + _IMAGE, re.I)
_ANY_IMAGE = re.compile(r".+" + _IMAGE, re.I)
_CKPLUS_FILES = (".png", "_emotion.txt")
KDEF_ANGLES = ("S", "HL", "HR", "FL", "FR")
"""KDEF's camera angles: straight, half left/right, full (profile) left/right."""


@dataclass
class CollectionRows:
    """Rows for a ``labels.csv`` and what was left out.

    Attributes:
        rows: one dict per image: ``path`` (absolute), ``label`` (mien's), ``code`` (the
            collection's own), then collection columns (``subject``, ``split``, ...).
        skipped: ``{reason: count}`` of files or entries left out.
        examples: ``{reason: up to 3 names}`` of what was left out, to find it.
        sources: the collection's own files that were read (labels, lists), never written.
    """

    rows: list[dict[str, str]] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=dict)
    sources: list[Path] = field(default_factory=list)

    def skip(self, reason: str, name: str | Path) -> None:
        self.skipped[reason] += 1
        shown = self.examples.setdefault(reason, [])
        if len(shown) < 3 and str(name) not in shown:
            shown.append(str(name))

    def add(self, path: Path, code: str, preset: str, **columns: str) -> bool:
        """Add a row for ``path`` with the label ``code`` means in ``preset``; ``False`` (and
        the file counted as left out) where the code is unknown or not an expression."""
        label = PRESETS[preset].get(code.lower())
        if label is None:
            self.skip(f"a code the {preset} table does not have", f"{code!r}: {path}")
        elif not label:
            self.skip(f"code {code} (not an expression)", path)
        else:
            self.rows.append({"path": str(path), "label": label, "code": code, **columns})
            return True
        return False


def _walk(root: Path, out: CollectionRows) -> Iterator[Path]:
    """Files under ``root`` in name order, following folder links (each real folder once),
    skipping hidden names and counting names that are not UTF-8 (a labels file cannot hold
    them)."""
    seen: set[str] = set()
    for folder, dirs, names in os.walk(root, followlinks=True):
        real = os.path.realpath(folder)
        if real in seen:
            dirs[:] = []
            continue
        seen.add(real)
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(names):
            if name.startswith("."):
                continue
            path = os.path.join(folder, name)
            try:
                path.encode("utf-8")
            except UnicodeEncodeError:  # the name or a folder's
                out.skip("file name not UTF-8", os.fsencode(path).decode("utf-8", "replace"))
                continue
            if not os.path.isfile(path):  # a link to nothing
                out.skip("not a file (a broken link?)", path)
                continue
            yield Path(path)


def _by_name(paths: Iterator[Path], out: CollectionRows) -> dict[str, Path]:
    """``{file name: path}``, the first of a name met twice kept (another copy of the
    collection under the root) and the others counted."""
    named: dict[str, Path] = {}
    for path in paths:
        if path.name in named:
            out.skip("another copy of a file name already taken", path)
        else:
            named[path.name] = path
    return named


def _named(root: Path, pattern: re.Pattern[str], what: str) -> tuple[CollectionRows, list]:
    """The rows object and ``(path, match)`` of the files named by ``pattern``, each photo
    once (the same name in another case or format is another copy of it); other images are
    counted as named outside ``what``'s pattern."""
    out = CollectionRows()
    found, seen = [], set()
    for path in _walk(root, out):
        if m := pattern.fullmatch(path.name):
            key = tuple(g.upper() for g in m.groups())
            if key in seen:
                out.skip("another copy of a photo already taken", path)
            else:
                seen.add(key)
                found.append((path, m))
        elif _ANY_IMAGE.fullmatch(path.name):
            out.skip(f"image named outside {what}'s pattern", path)
    return out, found


def kdef_rows(root: Path, *, angles: tuple[str, ...] = ("S",)) -> CollectionRows:
    """KDEF's photos under ``root``: ``subject`` (sex code and number, e.g. ``F01``, one person
    over both sessions), ``session``, ``sex`` (KDEF's own F/M coding, for a per-group audit
    only), ``angle``. Only the ``angles`` asked for (default the straight ``S`` photos; the
    full profiles ``FL``/``FR`` show too little of the face for most detectors).

    Raises:
        DatasetError: no angle, or one that is not KDEF's.
    """
    wanted = {a.upper() for a in angles}
    if not wanted or not wanted <= set(KDEF_ANGLES):
        raise DatasetError(f"KDEF angles are {', '.join(KDEF_ANGLES)}; got {list(angles)}")
    out, found = _named(root, _KDEF, "KDEF")
    for path, m in found:
        session, sex, number, code, angle = (g.upper() for g in m.groups())
        if angle not in wanted:
            out.skip(f"angle {angle} (not asked for)", path)
            continue
        out.add(path, code, "kdef", subject=sex + number, session=session, sex=sex, angle=angle)
    return out


def jaffe_rows(root: Path) -> CollectionRows:
    """JAFFE's images under ``root``: ``subject`` (the poser's initials)."""
    out, found = _named(root, _JAFFE, "JAFFE")
    for path, m in found:
        out.add(path, m.group(2).upper(), "jaffe", subject=m.group(1).upper())
    return out


def ckplus_rows(root: Path, *, first_frame_neutral: bool = False) -> CollectionRows:
    """CK+'s labelled peak frames under ``root`` (which holds ``Emotion/`` and
    ``cohn-kanade-images/``, in any folders): ``subject``, ``sequence``. With
    ``first_frame_neutral`` the first frame of each labelled sequence is added as neutral, a
    common convention (the collection itself labels only the peak)."""
    out = CollectionRows()
    files = _by_name((p for p in _walk(root, out) if p.name.endswith(_CKPLUS_FILES)), out)
    for name, label_file in files.items():
        if not name.endswith("_emotion.txt"):
            continue
        out.sources.append(label_file)
        stem = name.removesuffix("_emotion.txt")
        image = files.get(stem + ".png")
        if image is None:
            out.skip("label file without its image", label_file)
            continue
        text = label_file.read_text(errors="replace").strip()
        try:
            value = float(text)
        except ValueError:
            value = float("nan")
        if not text:
            out.skip("empty label file", label_file)
            continue
        if not value.is_integer():
            out.skip("label file not holding a whole number", label_file)
            continue
        subject, number = [*stem.split("_"), "", ""][:2]
        sequence = f"{subject}_{number}"  # sequence numbers repeat across people
        added = out.add(image, str(int(value)), "ckplus", subject=subject, sequence=sequence)
        if first_frame_neutral and added:  # not beside a peak whose label was refused
            first = files.get(f"{subject}_{number}_{1:08d}.png")
            if first is not None and first != image:
                out.add(first, "0", "ckplus", subject=subject, sequence=sequence)
    return out


def rafdb_rows(root: Path, *, aligned: bool = False) -> CollectionRows:
    """RAF-DB basic under ``root`` (which holds ``EmoLabel/list_patition_label.txt`` and
    ``Image/``): ``split`` (``train``/``test``, from the name). The whole photos
    (``Image/original``, for ``--detect``) unless ``aligned`` (the 100 px crops); each image
    is looked for beside its own list, never by name elsewhere.

    Raises:
        DatasetError: no list, several (give one set's folder), the compound set, or a code
            outside the basic set's 1-7.
    """
    out = CollectionRows()
    lists = [p for p in _walk(root, out) if p.name == "list_patition_label.txt"]
    if not lists:
        raise DatasetError(f"{root}: no EmoLabel/list_patition_label.txt under it (RAF-DB basic)")
    if len(lists) > 1:
        raise DatasetError(
            f"{root}: {len(lists)} list_patition_label.txt files under it "
            f"({', '.join(str(p) for p in lists[:3])}); give the folder of the basic set"
        )
    listed = lists[0]
    # the root's own name and below (a folder above it may be named anything)
    if any("compound" in part.lower() for part in listed.relative_to(root.parent).parts):
        raise DatasetError(f"{listed}: RAF-DB's compound set; only the basic set is read")
    out.sources.append(listed)
    base = listed.parent.parent / "Image" / ("aligned" if aligned else "original")
    other = listed.parent.parent / "Image" / ("original" if aligned else "aligned")
    for line in listed.read_text(encoding="utf-8-sig", errors="replace").splitlines():
        parts = line.split()
        if len(parts) != 2:
            if line.strip():
                out.skip("line not 'name code'", line.strip())
            continue
        name, code = parts
        if code not in PRESETS["rafdb"]:
            raise DatasetError(
                f"{listed}: code {code!r} for {name}; the basic set has 1-7 (the compound set "
                "is not read)"
            )
        image = base / (f"{Path(name).stem}_aligned.jpg" if aligned else name)
        if not image.is_file():
            flag = "without --aligned" if aligned else "--aligned"
            hint = f"; {other.name}/ is there ({flag})" if other.is_dir() else ""
            out.skip(f"listed image not in Image/{base.name}{hint}", image)
            continue
        out.add(image, code, "rafdb", split=name.split("_")[0].lower())
    return out


_AFFECTNET_COLUMNS = ("subDirectory_filePath", "expression")
_AFFECTNET_ORDER = 0, 6  # their places in the released files, whose header may be missing


def affectnet_rows(root: Path) -> CollectionRows:
    """AffectNet's manually annotated images under ``root``: ``split`` (``train``/``val``).

    Two layouts are read. The original release: ``training.csv`` and ``validation.csv`` (the
    first of each name found under ``root``; a file without its header line read by the
    released column order) and a ``Manually_Annotated_Images`` folder. The 224 px face-crop
    release: ``train_set/`` and ``val_set/``, each with ``images/N.jpg`` and
    ``annotations/N_exp.npy`` (the expression code), read when there is no table.

    Raises:
        DatasetError: neither layout, no image folder, or a table of another layout.
    """
    out = CollectionRows()
    tables: dict[str, Path] = {}
    images: Path | None = None
    crops: list[Path] = []  # N_exp.npy files of the face-crop release
    for path in _walk(root, out):
        if path.name in ("training.csv", "validation.csv"):
            tables.setdefault(path.name, path)
        elif path.name.endswith("_exp.npy") and path.parent.name == "annotations":
            crops.append(path)
        if images is None:
            images = next((d for d in path.parents if d.name == "Manually_Annotated_Images"), None)
    if not tables and crops:
        return _affectnet_crop_rows(crops, out)
    if not tables:
        raise DatasetError(
            f"{root}: no AffectNet layout under it: neither training.csv nor validation.csv "
            "(with Manually_Annotated_Images/), nor annotations/N_exp.npy files (with images/)"
        )
    if images is None:
        raise DatasetError(
            f"{root}: no images in a Manually_Annotated_Images folder under it (AffectNet)"
        )
    taken: set[Path] = set()
    for name, split in (("training.csv", "train"), ("validation.csv", "val")):
        if name not in tables:
            continue
        table = tables[name]
        out.sources.append(table)
        with table.open(newline="", encoding="utf-8-sig", errors="replace") as f:
            reader = csv.reader(f)
            first = next(reader, [])
            if set(_AFFECTNET_COLUMNS) <= set(first):
                at = tuple(first.index(c) for c in _AFFECTNET_COLUMNS)
                rows: Iterator[list[str]] = reader
            elif len(first) > max(_AFFECTNET_ORDER) and first[6].strip().isdigit():
                at, rows = _AFFECTNET_ORDER, iter([first, *reader])
            else:
                raise DatasetError(
                    f"{table}: neither the columns subDirectory_filePath and expression nor "
                    "AffectNet's released column order (path first, expression seventh)"
                )
            width = len(first)
            for r in rows:
                if len(r) != width:
                    out.skip("row with another number of fields (unquoted commas?)", table)
                    continue
                image = images / r[at[0]].strip()
                if not image.is_file():
                    out.skip("listed image not in Manually_Annotated_Images", image)
                    continue
                if image in taken:
                    out.skip("image listed twice", image)
                    continue
                taken.add(image)
                out.add(image, r[at[1]].strip(), "affectnet", split=split)
    return out


def _affectnet_crop_rows(labels: list[Path], out: CollectionRows) -> CollectionRows:
    """Rows of AffectNet's face-crop release from its ``annotations/N_exp.npy`` files: the
    image ``../images/N.jpg`` (or ``.png``), ``split`` from the folder above (``train_set``
    → ``train``, ``val_set`` → ``val``, another name as it is)."""
    import numpy as np

    for label_file in labels:
        out.sources.append(label_file)
        number = label_file.name.removesuffix("_exp.npy")
        folder = label_file.parent.parent
        image = next(
            (
                p
                for ext in (".jpg", ".png", ".jpeg")
                if (p := folder / "images" / f"{number}{ext}").is_file()
            ),
            None,
        )
        if image is None:
            out.skip("label file without its image in images/", label_file)
            continue
        try:
            code = str(np.load(label_file, allow_pickle=False).item()).strip()
        except (OSError, ValueError) as e:  # not a .npy of one value
            out.skip(f"label file not one saved value ({type(e).__name__})", label_file)
            continue
        if code.replace(".", "", 1).isdigit() and float(code).is_integer():
            code = str(int(float(code)))
        split = {"train_set": "train", "val_set": "val"}.get(folder.name, folder.name)
        out.add(image, code, "affectnet", split=split)
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
    (so the folder can move with its images; worked out on the real folders, so a folder link
    in ``out`` leads to the same files, but with each file's own name: a file that is a link,
    as in git-annex, DataLad or DVC stores, keeps the collection's name). Written whole or not
    at all (a temporary file renamed into place).

    Raises:
        DatasetError: no rows, ``out`` is one of the collection's own files, or it cannot be
            written.
    """
    if not result.rows:
        found = ", ".join(f"{n} × {r}" for r, n in result.skipped.items()) or "nothing"
        raise DatasetError(f"no images found (left out: {found}); {out} not written")
    real_out = Path(os.path.realpath(out))
    if out.suffix.lower() != ".csv":
        raise DatasetError(f"{out}: give a .csv file")
    read = [*result.sources, *(Path(r["path"]) for r in result.rows)]
    if any(real_out == Path(os.path.realpath(s)) for s in read):
        raise DatasetError(f"{out} is one of the collection's own files; give another --out")
    columns = list(dict.fromkeys(k for row in result.rows for k in row))
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        with tmp.open("w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, columns)
            writer.writeheader()
            for row in result.rows:
                folder, name = os.path.split(row["path"])
                rel = os.path.relpath(os.path.join(os.path.realpath(folder), name), real_out.parent)
                writer.writerow(row | {"path": rel.replace(os.sep, "/")})
        os.replace(tmp, out)
    except OSError as e:
        raise DatasetError(f"{out}: cannot be written ({e.strerror or e})") from None
    finally:
        tmp.unlink(missing_ok=True)  # gone already when the rename happened
    return out
