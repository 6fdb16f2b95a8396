"""Training data as in-memory arrays: FER2013 crops with FER+ vote targets, plus an optional
posed set (Taiwanese Facial Expression Image Database) run through mien's own detector and
aligner, so those crops are exactly what the product feeds the model at run time.
"""

from __future__ import annotations

import csv
import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from mien.training.config import TrainConfig
from mien.types import EXPRESSIONS

if TYPE_CHECKING:
    from mien.detection.base import FaceDetector

log = logging.getLogger(__name__)

NOT_HAPPINESS = -1
"""Hard label of a row whose only information is that the face is not smiling."""


@dataclass
class ArraySet:
    """Parallel arrays of a labelled image set.

    Attributes:
        images: ``(n, S, S)`` uint8 grey crops (``S`` = the run's ``input_size``, 48 by
            default).
        targets: ``(n, K)`` float32 target distributions over :data:`EXPRESSIONS` (rows sum to 1).
        labels: ``(n,)`` int64 index of the hard (majority / intended) label, or
            :data:`NOT_HAPPINESS` for a row that only says "not happiness" (its target row is
            all zeros; see :func:`load_smiles`).
        source: ``(n,)`` str, where each row came from (for per-source reporting).
    """

    images: np.ndarray
    targets: np.ndarray
    labels: np.ndarray
    source: np.ndarray

    def __len__(self) -> int:
        return len(self.images)

    def fingerprint(self) -> str:
        """16 hex digits of sha256 over the pixels and hard labels: names these exact rows, in
        this order (a stored teacher's probabilities are checked against it)."""
        h = hashlib.sha256(np.ascontiguousarray(self.images).tobytes())
        h.update(np.ascontiguousarray(self.labels, np.int64).tobytes())
        return h.hexdigest()[:16]

    def subset(self, mask: np.ndarray) -> ArraySet:
        return ArraySet(self.images[mask], self.targets[mask], self.labels[mask], self.source[mask])

    @staticmethod
    def concat(sets: list[ArraySet]) -> ArraySet:
        return ArraySet(
            *(
                np.concatenate([getattr(s, f) for s in sets])
                for f in ("images", "targets", "labels", "source")
            )
        )


def load_fer(
    fer_dir: str | Path,
    split: str,
    *,
    vote_weight: float = 0.8,
    clean: bool = False,
    size: int = 48,
) -> ArraySet:
    """FER2013 crops of one split with FER+ targets.

    Target = ``vote_weight`` × (normalised votes over the 8 expressions, ``unknown``/``NF``
    dropped) + (1 − ``vote_weight``) × one-hot majority label. Training on the vote
    distribution follows Barsoum et al., "Training Deep Networks for Facial Expression
    Recognition with Crowd-Sourced Label Distribution" (ICMI 2016).

    Args:
        clean: drop rows whose image also appears in another split (``cross_split_dup_rows``).
        size: crop side; the 48×48 images are resized as :func:`mien.alignment.crop_whole_image`
            resizes a whole image at run time (bilinear to enlarge).
    """
    from mien.alignment import crop_whole_image

    fer_dir = Path(fer_dir)
    rows = [
        r for r in csv.DictReader(open(fer_dir / "labels.csv", newline="")) if r["split"] == split
    ]
    if clean:
        rows = [r for r in rows if not r.get("cross_split_dup_rows")]
    index = {name: i for i, name in enumerate(EXPRESSIONS)}
    n, k = len(rows), len(EXPRESSIONS)
    images = np.empty((n, size, size), np.uint8)
    votes = np.zeros((n, k), np.float32)
    labels = np.empty(n, np.int64)
    for i, r in enumerate(rows):
        img = cv2.imread(str(fer_dir / r["path"]), cv2.IMREAD_GRAYSCALE)
        if img is None:
            raise FileNotFoundError(fer_dir / r["path"])
        images[i] = (
            img if img.shape == (size, size) else crop_whole_image(np.asarray(img), size=size)
        )
        for name, j in index.items():
            votes[i, j] = float(r[f"votes_{name}"])
        labels[i] = index[r["label"]]
    votes /= np.maximum(votes.sum(1, keepdims=True), 1e-6)
    onehot = np.eye(k, dtype=np.float32)[labels]
    targets = vote_weight * votes + (1 - vote_weight) * onehot
    return ArraySet(images, targets.astype(np.float32), labels, np.full(n, f"fer_{split}"))


def load_fer_clean_mask(fer_dir: str | Path, split: str) -> np.ndarray:
    """``(n,)`` bool over :func:`load_fer` rows: ``True`` where the image has no copy in
    another split (the rows of a clean validation figure)."""
    rows = csv.DictReader(open(Path(fer_dir) / "labels.csv", newline=""))
    return np.asarray([not r.get("cross_split_dup_rows") for r in rows if r["split"] == split])


def _largest_face_crop(
    detector: FaceDetector, image: np.ndarray, size: int = 48
) -> np.ndarray | None:
    """The ``(size, size)`` uint8 aligned crop of the image's largest detected face, as the
    product makes it at run time; ``None`` when no face is found."""
    from mien.alignment import align_faces

    faces = detector.detect(image)
    if not len(faces):
        return None
    crops, _ = align_faces(image, faces[int(np.argmax(faces.area))], size=size)
    return crops[0]


def load_taiwanese(
    tw_dir: str | Path,
    *,
    val_subjects: list[str],
    observer_weight: float = 0.5,
    size: int = 48,
) -> tuple[ArraySet, ArraySet]:
    """Posed photos, detected and aligned by mien, plus a whole-image (no-detector) copy.

    Each photo gives two rows: the aligned crop (as :class:`mien.Analyzer` makes it) and the
    whole photo resized to ``size``×``size`` (as ``mien evaluate`` without ``--detect`` sees
    a whole-head image); ``size`` is the model's input side. Target = ``observer_weight`` ×
    observers' ratings + the rest on the intended label; neutral photos (raters had no
    neutral option) get the intended label only.

    Returns:
        ``(train, val)`` split by performer: ``val_subjects`` go to ``val``.
    """
    from mien.alignment import crop_whole_image
    from mien.detection import MediaPipeFaceDetector
    from mien.io import read_image

    tw_dir = Path(tw_dir)
    rows = list(csv.DictReader(open(tw_dir / "labels.csv", newline="")))
    index = {name: i for i, name in enumerate(EXPRESSIONS)}
    k = len(EXPRESSIONS)
    out: dict[bool, list[tuple[np.ndarray, np.ndarray, int, str]]] = {True: [], False: []}
    missed = 0
    with MediaPipeFaceDetector("auto") as detector:
        for r in rows:
            image = read_image(tw_dir / r["path"])
            label = index[r["label"]]
            target = np.eye(k, dtype=np.float32)[label]
            if r["label"] != "neutral":
                observed = np.zeros(k, np.float32)
                for name in ("happiness", "sadness", "anger", "disgust", "fear", "surprise"):
                    observed[index[name]] = float(r[f"p_{name}"] or 0.0)
                if observed.sum() > 0:
                    observed /= observed.sum()
                    target = observer_weight * observed + (1 - observer_weight) * target
            is_val = r["subject"] in val_subjects
            crop = _largest_face_crop(detector, image, size)
            if crop is not None:
                out[is_val].append((crop, target, label, "taiwanese_aligned"))
            else:
                missed += 1
            out[is_val].append(
                (crop_whole_image(image, size=size), target, label, "taiwanese_whole")
            )
    log.info("taiwanese: %d photos, detector missed %d", len(rows), missed)

    def pack(items: list[tuple[np.ndarray, np.ndarray, int, str]]) -> ArraySet:
        return ArraySet(
            np.stack([i[0] for i in items]),
            np.stack([i[1] for i in items]).astype(np.float32),
            np.asarray([i[2] for i in items], np.int64),
            np.asarray([i[3] for i in items]),
        )

    return pack(out[False]), pack(out[True])


def load_smiles(smiles_dir: str | Path, *, size: int = 48) -> ArraySet:
    """SMILEsmileD crops (Arnaud 2013, from Labeled Faces in the Wild), detected and aligned
    by mien so they are framed like the crops the product classifies.

    Smiles become happiness rows (one-hot target). Non-smiles become :data:`NOT_HAPPINESS`
    rows with an all-zero target: a non-smile is not "neutral", so the loss for them is
    ``-log(1 - p_happiness)`` only. Rows flagged ``label_conflict`` (in both folders) and
    photos the detector misses are dropped. Crops are ``size`` px.
    """
    from mien.detection import MediaPipeFaceDetector
    from mien.io import read_image

    smiles_dir = Path(smiles_dir)
    rows = [
        r
        for r in csv.DictReader(open(smiles_dir / "labels.csv", newline=""))
        if not r.get("label_conflict")
    ]
    k = len(EXPRESSIONS)
    happy = EXPRESSIONS.index("happiness")
    images, targets, labels = [], [], []
    missed = 0
    with MediaPipeFaceDetector("auto") as detector:
        for r in rows:
            crop = _largest_face_crop(detector, read_image(smiles_dir / r["path"]), size)
            if crop is None:
                missed += 1
                continue
            images.append(crop)
            smile = r["smile"] == "1"
            targets.append(np.eye(k, dtype=np.float32)[happy] if smile else np.zeros(k, np.float32))
            labels.append(happy if smile else NOT_HAPPINESS)
    log.info("smiles: %d photos, detector missed %d", len(rows), missed)
    n = len(images)
    return ArraySet(
        np.stack(images),
        np.stack(targets),
        np.asarray(labels, np.int64),
        np.full(n, "smiles"),
    )


PARTS = ("fer_train", "val", "taiwanese_train", "taiwanese_val", "smiles")


@dataclass
class TrainingData:
    """Everything one training run reads, kept in parts so a cache stores each row once.

    Attributes:
        fer_train: FER+ ``train``.
        val: FER+ ``val`` (checkpoint selection).
        val_clean: ``(len(val),)`` bool, ``val`` rows with no copy in another split.
        taiwanese_train: the Taiwanese training performers' rows, or ``None``.
        taiwanese_val: the held-out performers' rows (monitoring only), or ``None``.
        smiles: SMILEsmileD rows, or ``None``.
    """

    fer_train: ArraySet
    val: ArraySet
    val_clean: np.ndarray
    taiwanese_train: ArraySet | None = None
    taiwanese_val: ArraySet | None = None
    smiles: ArraySet | None = None
    taiwanese_val_subjects: tuple[str, ...] | None = None
    """The performers in ``taiwanese_val`` (kept in a cache, so that a run whose config holds
    out other performers is refused); ``None`` when unknown (caches from before 0.2.3)."""

    @property
    def side(self) -> int:
        """The crops' side in pixels (every part has the same)."""
        return int(self.val.images.shape[1])

    def train_rows(self, taiwanese_repeat: int = 1) -> ArraySet:
        """FER+ ``train``, the Taiwanese training rows ``taiwanese_repeat`` times, smiles."""
        parts = [self.fer_train]
        if self.taiwanese_train is not None:
            parts += [self.taiwanese_train] * max(1, taiwanese_repeat)
        if self.smiles is not None:
            parts.append(self.smiles)
        return ArraySet.concat(parts)

    def save(self, path: str | Path) -> None:
        """Write every part to one ``.npz``: a cache for a machine without the raw data, the
        detector or the aligner (a GPU box, say). Images are stored as lossless WebP (about
        1.6 kB a crop, 30 % under raw pixels), so FER+ and the Taiwanese rows take 53 MB.
        Targets are stored as built, so the cache fixes ``vote_weight`` and
        ``taiwanese_observer_weight``."""
        sides = {
            name: getattr(self, name).images.shape[1:]
            for name in PARTS
            if getattr(self, name) is not None
        }
        if len(set(sides.values())) > 1:
            raise ValueError(f"the parts' crops differ in size: {sides}")
        arrays: dict[str, np.ndarray] = {
            "val_clean": self.val_clean,
            "side": np.asarray(self.side, np.int64),
        }
        if self.taiwanese_val_subjects is not None:
            arrays["taiwanese_val_subjects"] = np.asarray(self.taiwanese_val_subjects, str)
        for name in PARTS:
            part = getattr(self, name)
            if part is not None:
                arrays[f"{name}.webp"], arrays[f"{name}.webp_ends"] = _encode(part.images)
                for f in ("targets", "labels", "source"):
                    arrays[f"{name}.{f}"] = getattr(part, f)
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, **arrays)

    @classmethod
    def load(cls, path: str | Path) -> TrainingData:
        """Read a cache written by :meth:`save`.

        Raises:
            FileNotFoundError: no file at ``path``.
            ValueError: the file is not such a cache.
        """
        with np.load(path) as z:
            side = int(z["side"]) if "side" in z else 48  # caches without "side" are 48 px

            def part(name: str) -> ArraySet | None:
                if f"{name}.webp" not in z:
                    return None
                images = _decode(z[f"{name}.webp"], z[f"{name}.webp_ends"], side)
                return ArraySet(
                    images, *(z[f"{name}.{f}"] for f in ("targets", "labels", "source"))
                )

            parts = {name: part(name) for name in PARTS}
            if parts["fer_train"] is None or parts["val"] is None or "val_clean" not in z:
                raise ValueError(f"{path}: not a training-data cache (TrainingData.save)")
            subjects = (
                tuple(str(v) for v in z["taiwanese_val_subjects"])
                if "taiwanese_val_subjects" in z
                else None
            )
            return cls(val_clean=z["val_clean"], **parts, taiwanese_val_subjects=subjects)  # type: ignore[arg-type]


def _encode(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(n, H, W)`` uint8 → (concatenated lossless WebP bytes, ``(n,)`` int64 end offsets)."""
    blobs = []
    for img in images:
        ok, buf = cv2.imencode(".webp", img, [cv2.IMWRITE_WEBP_QUALITY, 101])  # 101 = lossless
        if not ok:
            raise ValueError("WebP encoding failed")
        blobs.append(buf.ravel())
    ends = np.cumsum([len(b) for b in blobs]).astype(np.int64)
    return (np.concatenate(blobs) if blobs else np.zeros(0, np.uint8)), ends


def _decode(data: np.ndarray, ends: np.ndarray, side: int) -> np.ndarray:
    """Inverse of :func:`_encode`: ``(n, H, W)`` uint8 (``(0, side, side)`` when empty)."""
    if not len(ends):
        return np.zeros((0, side, side), np.uint8)
    starts = np.concatenate([[0], ends[:-1]])
    return np.stack(
        [
            cv2.imdecode(data[a:b], cv2.IMREAD_GRAYSCALE)
            for a, b in zip(starts.tolist(), ends.tolist(), strict=True)
        ]
    )


def load_training_data(cfg: TrainConfig) -> TrainingData:
    """The parts a run with ``cfg`` reads: from ``cfg.data_cache`` when set (see
    :meth:`TrainingData.save`), else from the raw sets (which runs the face detector over the
    Taiwanese and SMILEsmileD photos). Crops are ``cfg.input_size`` px. ``limit_train`` keeps
    the first rows of FER+ ``train``.

    Raises:
        ValueError: the cache's crops are not ``cfg.input_size`` px, or it holds out other
            Taiwanese performers than ``cfg.taiwanese_val_subjects``.
    """
    size = cfg.input_size
    if cfg.data_cache:
        data = TrainingData.load(cfg.data_cache)
        if data.side != size:
            raise ValueError(
                f"{cfg.data_cache}: crops are {data.side} px, the config's input_size is {size}; "
                f"pack a cache for it (scripts/pack_training_data.py ... input_size={size})"
            )
        held = data.taiwanese_val_subjects
        if held is not None and sorted(held) != sorted(cfg.taiwanese_val_subjects):
            raise ValueError(
                f"{cfg.data_cache}: holds out performers {sorted(held)}, the config "
                f"{sorted(cfg.taiwanese_val_subjects)}; pack a cache for this split"
            )
    else:
        data = TrainingData(
            load_fer(cfg.fer_dir, "train", vote_weight=cfg.vote_weight, size=size),
            load_fer(cfg.fer_dir, "val", vote_weight=cfg.vote_weight, size=size),
            load_fer_clean_mask(cfg.fer_dir, "val"),
        )
        if cfg.taiwanese_dir and Path(cfg.taiwanese_dir).exists():
            data.taiwanese_train, data.taiwanese_val = load_taiwanese(
                cfg.taiwanese_dir,
                val_subjects=cfg.taiwanese_val_subjects,
                observer_weight=cfg.taiwanese_observer_weight,
                size=size,
            )
            data.taiwanese_val_subjects = tuple(cfg.taiwanese_val_subjects)
        if cfg.smiles_dir:
            data.smiles = load_smiles(cfg.smiles_dir, size=size)
    if cfg.teacher_probs:
        mix_teacher_probs(data, cfg.teacher_probs, cfg.distill_alpha)
    if cfg.limit_train:
        data.fer_train = data.fer_train.subset(np.arange(min(cfg.limit_train, len(data.fer_train))))
    return data


def mix_teacher_probs(data: TrainingData, path: str | Path, alpha: float) -> None:
    """Offline distillation: mix a teacher's stored probabilities into the training targets.

    ``target = (1 - alpha) * target + alpha * teacher`` for the rows of ``fer_train`` and
    ``taiwanese_train``, in place. ``path`` is a ``.npz`` with ``<part>.probs`` ``(n, K)``
    arrays in the cache's row order and ``<part>.fingerprint`` (:meth:`ArraySet.fingerprint`
    of the rows they were predicted on), as ``scripts/predict_ensemble.py`` writes it. A file
    without fingerprints (written by an earlier predict_ensemble.py) is matched by row count
    only, with a warning.

    Raises:
        ValueError: the file holds no ``fer_train.probs``; a part's row count differs from
            the stored probabilities'; or its fingerprint differs (other rows, other order, or
            crops of another size).
    """
    with np.load(path) as z:
        if "fer_train.probs" not in z:
            raise ValueError(
                f"{path}: no fer_train.probs; not a teacher-probabilities file "
                "(scripts/predict_ensemble.py)"
            )
        log.info("offline distillation: targets mixed %.2f with %s", alpha, path)
        for name in ("fer_train", "taiwanese_train"):
            part = getattr(data, name)
            if part is None or f"{name}.probs" not in z:
                continue
            probs = z[f"{name}.probs"].astype(np.float32)
            if probs.shape != part.targets.shape:
                raise ValueError(
                    f"{path}: {name} has {probs.shape[0]} teacher rows, the data {len(part)}"
                )
            if f"{name}.fingerprint" not in z:
                log.warning("%s: no %s.fingerprint; matched by row count only", path, name)
            elif str(z[f"{name}.fingerprint"]) != part.fingerprint():
                raise ValueError(
                    f"{path}: {name} probabilities were predicted on other rows than these "
                    f"(fingerprint {z[f'{name}.fingerprint']}, the data's {part.fingerprint()}): "
                    "another cache, row order or crop size; rerun scripts/predict_ensemble.py "
                    "on this run's data_cache"
                )
            probs /= probs.sum(1, keepdims=True)
            part.targets = ((1 - alpha) * part.targets + alpha * probs).astype(np.float32)


def balanced_weights(labels: np.ndarray, beta: float) -> np.ndarray:
    """``(n,)`` float64 sampling weights ∝ ``n_c ** -beta`` for each row's label count.

    ``beta = 0`` gives uniform weights, ``beta = 1`` equal total weight per label (the
    :data:`NOT_HAPPINESS` rows count as one more group). Sums to 1.
    """
    _, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    w = counts[inverse].astype(np.float64) ** -beta
    return w / w.sum()
