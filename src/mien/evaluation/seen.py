"""Which images a bundled model has already seen: its training, tuning and selection images.

Scoring a model on images it was trained on measures memory, not accuracy, and nothing in a
set's ``labels.csv`` says so (the Taiwanese set ships every performer with ``split=all``,
though the bundled model trained on 24 of the 29). Each bundled model ships the fingerprints
of the images it saw (``<name>.seen.npz`` beside its weights, made by
``scripts/seen_fingerprints.py`` from the run's own configuration), and
:func:`~mien.evaluation.runner.evaluate` counts the scored images among them.

A fingerprint is a 64-bit BLAKE2b digest of the decoded pixels (:func:`fingerprint`), so a
copy of the file, a lossless re-encoding (PNG, TIFF, BMP) and a grey image stored as three
equal channels all match; a resized, cropped or lossily re-encoded copy does not.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection
from dataclasses import dataclass, replace
from importlib import resources

import numpy as np

from mien.evaluation.datasets import LabeledDataset

SEEN_KINDS: dict[int, str] = {
    1: "trained",
    2: "tuned",
    3: "compared",
}
"""What a model did with an image it saw:

* ``trained``: a training image (its scores measure memory, not accuracy);
* ``tuned``: chose the checkpoint, the flip averaging, the logit bias or the temperature
  (slightly optimistic scores, e.g. FER+ ``val``);
* ``compared``: scored when choosing among a few candidate models to ship (slightly
  optimistic, less so), e.g. the Taiwanese held-out performers.
"""


def fingerprint(image: np.ndarray) -> int:
    """A 64-bit digest of an image's pixels.

    Args:
        image: ``(H, W, 3)`` uint8 BGR as :func:`mien.io.read_image` gives, or ``(H, W)``
            uint8 grey. Three equal channels count as grey, so a grey image matches itself
            whether it was stored with one channel or three.

    Returns:
        An int in ``[0, 2**64)``: BLAKE2b (digest size 8) of the height, width, channel count
        and the C-ordered pixel bytes.

    Raises:
        ValueError: not a 2-D or 3-channel uint8 array.
    """
    arr = np.asarray(image)
    if arr.dtype != np.uint8 or not (arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] == 3)):
        raise ValueError(
            f"fingerprint needs an (H, W) or (H, W, 3) uint8 image; got {arr.dtype} {arr.shape}"
        )
    if arr.ndim == 3 and (arr[..., 0] == arr[..., 1]).all() and (arr[..., 0] == arr[..., 2]).all():
        arr = arr[..., 0]
    channels = 1 if arr.ndim == 2 else 3
    h = hashlib.blake2b(digest_size=8)
    h.update(np.asarray([arr.shape[0], arr.shape[1], channels], "<u4").tobytes())
    h.update(np.ascontiguousarray(arr).tobytes())
    return int.from_bytes(h.digest(), "little")


@dataclass(frozen=True)
class SeenImages:
    """The fingerprints of the images one model saw, and what it did with each.

    Attributes:
        model: the model's name.
        fingerprints: ``(N,)`` uint64, sorted ascending, unique.
        kinds: ``(N,)`` uint8, keys of :data:`SEEN_KINDS` (the first use, in that order,
            of an image used more than one way).
        max_side: the longest side, in pixels, of any image recorded: a larger image cannot
            be one of them and is not fingerprinted (:meth:`could_hold`).
    """

    model: str
    fingerprints: np.ndarray
    kinds: np.ndarray
    max_side: int = 2**31 - 1

    def could_hold(self, image: np.ndarray) -> bool:
        """Whether ``image`` is small enough to be one of the recorded images (hashing a
        12-megapixel photo costs tens of milliseconds; none of these is that large)."""
        return max(image.shape[:2]) <= self.max_side

    def lookup(self, fingerprints: np.ndarray) -> np.ndarray:
        """What the model did with each image.

        Args:
            fingerprints: ``(n,)`` uint64 (:func:`fingerprint` of each image).

        Returns:
            ``(n,)`` object array: a :data:`SEEN_KINDS` value, or ``None`` for an image the
            model never saw.
        """
        query = np.asarray(fingerprints, np.uint64)
        out = np.full(len(query), None, dtype=object)
        if len(self.fingerprints) == 0 or len(query) == 0:
            return out
        at = np.clip(np.searchsorted(self.fingerprints, query), 0, len(self.fingerprints) - 1)
        hit = self.fingerprints[at] == query
        out[hit] = [SEEN_KINDS[int(k)] for k in self.kinds[at[hit]]]
        return out


def seen_images(model: str, sha256: str | None = None) -> SeenImages | None:
    """The images bundled model ``model`` saw, or ``None`` where it ships no record.

    Args:
        model: the model's name.
        sha256: the weights' sha256, if known: a record made for other weights of the same
            name (an export of your own named like a bundled model) is not theirs, so
            ``None``.
    """
    ref = resources.files("mien.expression.weights") / f"{model}.seen.npz"
    if not ref.is_file():
        return None
    with resources.as_file(ref) as path, np.load(path) as data:
        if sha256 is not None and str(data["sha256"]) != sha256:
            return None
        return SeenImages(
            model, data["fingerprints"].astype(np.uint64), data["kinds"], int(data["max_side"])
        )


def seen_by(spec: object) -> SeenImages | None:
    """The record of the images the model with this spec (``name``, ``sha256``) saw, or
    ``None`` where it ships none (weights of your own; a spec without a name)."""
    name = getattr(spec, "name", None)
    return seen_images(name, getattr(spec, "sha256", None)) if name else None


def without_seen(
    dataset: LabeledDataset,
    seen: SeenImages,
    kinds: Collection[str] = ("trained",),
    *,
    max_pixels: int | None = None,
) -> tuple[LabeledDataset, int]:
    """``dataset`` less the images ``seen`` records as one of ``kinds``.

    Each image is read once (:func:`mien.io.read_image`, with ``max_pixels`` as the analyzer
    that will score the set has it; default: :data:`mien.io.DEFAULT_MAX_PIXELS`); one that
    cannot be read is kept, for :func:`~mien.evaluation.runner.evaluate` to report.

    Returns:
        The set with those rows left out (every column kept parallel), and how many.

    Raises:
        ValueError: a kind that is not a :data:`SEEN_KINDS` value.
    """
    from mien.errors import ImageError
    from mien.io import DEFAULT_MAX_PIXELS, read_image

    cap = DEFAULT_MAX_PIXELS if max_pixels is None else max_pixels

    unknown = sorted(set(kinds) - set(SEEN_KINDS.values()))
    if unknown:
        raise ValueError(f"unknown kind(s) {unknown}; expected {list(SEEN_KINDS.values())}")
    keep = []
    for i, rel in enumerate(dataset.paths):
        try:
            image = read_image(dataset.root / rel, max_pixels=cap)
        except ImageError:
            keep.append(i)
            continue
        if not seen.could_hold(image):
            keep.append(i)
            continue
        if seen.lookup(np.asarray([fingerprint(image)], np.uint64))[0] not in kinds:
            keep.append(i)
    kept = replace(
        dataset,
        paths=tuple(dataset.paths[i] for i in keep),
        labels=tuple(dataset.labels[i] for i in keep),
        columns={c: tuple(v[i] for i in keep) for c, v in dataset.columns.items()},
    )
    return kept, len(dataset) - len(keep)


def build_seen(groups: dict[str, list[int]], model: str, max_side: int = 2**31 - 1) -> SeenImages:
    """The record of one model from fingerprints grouped by kind.

    Args:
        groups: :data:`SEEN_KINDS` value → fingerprints; an image in several groups keeps the
            first kind in :data:`SEEN_KINDS`' order (trained before tuned before compared).
        model: the model's name.
        max_side: the longest side of any image in ``groups``, pixels.

    Raises:
        ValueError: a group whose name is not a :data:`SEEN_KINDS` value.
    """
    codes = {name: code for code, name in SEEN_KINDS.items()}
    unknown = sorted(set(groups) - set(codes))
    if unknown:
        raise ValueError(f"unknown kind(s) {unknown}; expected {sorted(codes)}")
    first: dict[int, int] = {}
    for name in sorted(groups, key=codes.__getitem__, reverse=True):
        first.update(dict.fromkeys(groups[name], codes[name]))
    fps = np.asarray(sorted(first), np.uint64)
    kinds = np.asarray([first[int(f)] for f in fps], np.uint8)
    return SeenImages(model, fps, kinds, max_side)


__all__ = [
    "SEEN_KINDS",
    "SeenImages",
    "build_seen",
    "fingerprint",
    "seen_by",
    "seen_images",
    "without_seen",
]
