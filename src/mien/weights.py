"""Bundled model weights: a spec per weight file, sha256-checked on load, never downloaded."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from mien.errors import WeightsError

WEIGHTS_PACKAGE = "mien.expression.weights"
#: The expression model used when none is named (the one shipped model; see its card).
DEFAULT_MODEL = "fer_resnet_v3"


@dataclass(frozen=True)
class WeightSpec:
    """Everything needed to use one weight file correctly (timm's ``PretrainedCfg`` idea).

    Attributes:
        name: registry name, e.g. ``"fer_resnet_v3"``.
        file: ONNX file name inside the package's ``expression/weights`` folder.
        sha256: hex digest the file must have.
        input_size: crop side in pixels (crops are ``input_size``×``input_size``).
        grey: crops are single-channel grey (BT.601 luma) when true, else BGR.
        input_range: ``(low, high)`` of the float32 pixel values the graph expects.
        alignment: name of the alignment template the crops must follow (``"fer"``).
        names: output column labels, in order.
        temperature: divides the logits before softmax (temperature scaling, fitted on val).
        abstain_threshold: a face is ``abstained`` when its top probability is below this.
        flip_tta: average logits of the crop and its mirror image.
        logit_bias: added to the logits before the temperature (post-hoc logit adjustment
            for rare labels; empty = none).
        license: licence of the weights.
        metrics: measured numbers (for the model card and ``mien models``).
        train_config: the resolved training config that produced the weights.
    """

    name: str
    file: str
    sha256: str
    input_size: int
    grey: bool
    input_range: tuple[float, float]
    alignment: str
    names: tuple[str, ...]
    temperature: float
    abstain_threshold: float
    flip_tta: bool = False
    logit_bias: tuple[float, ...] = ()
    license: str = "MIT"
    metrics: dict[str, Any] = field(default_factory=dict)
    train_config: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, path: str | Path) -> WeightSpec:
        """Read a spec JSON file.

        Raises:
            WeightsError: the file is missing or not a valid spec.
        """
        try:
            raw = json.loads(Path(path).read_text())
            raw["names"] = tuple(raw["names"])
            raw["input_range"] = tuple(raw["input_range"])
            raw["logit_bias"] = tuple(raw.get("logit_bias", ()))
            return cls(**raw)
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise WeightsError(f"{path}: not a valid weight spec ({err})") from err

    def to_json(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(asdict(self), indent=2) + "\n")


def bundled_dir() -> Path:
    """The folder holding the bundled weight files and their specs."""
    return Path(str(resources.files(WEIGHTS_PACKAGE)))


def bundled_specs() -> dict[str, WeightSpec]:
    """Every bundled spec, by name: each ``<name>.json`` beside a ``<name>.onnx`` (other JSON
    there, such as ``<name>.ablation.json``, is documentation)."""
    folder = bundled_dir()
    return {
        spec.name: spec
        for spec in (
            WeightSpec.from_json(p)
            for p in sorted(folder.glob("*.json"))
            if (folder / f"{p.stem}.onnx").is_file()
        )
    }


def sha256_of(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def check_export(path: str | Path) -> Path:
    """The ``.onnx`` of an export (``scripts/export_onnx.py``), checked to have its spec
    ``.json`` beside it; returns it as a :class:`~pathlib.Path`.

    Raises:
        WeightsError: ``path`` is not an ``.onnx`` (its ``.json`` was given, say), or the file or
            its spec is missing; the message names the file.
    """
    given = str(path)
    path = Path(path)
    if re.match(r"[A-Za-z][A-Za-z0-9+.-]+:/", given) and not path.exists():
        # a URL (a CLI path option has already made "https://" into "https:/"); one letter
        # before the colon is a Windows drive (C:/models/m.onnx)
        raise WeightsError(
            f"{given}: a URL; mien never downloads weights: give the local .onnx file"
        )
    if path.suffix != ".onnx":
        raise WeightsError(f"{path}: give the .onnx file; its spec .json lies beside it")
    for need in (path, path.with_suffix(".json")):
        if not need.is_file():
            raise WeightsError(f"{need}: no such file (scripts/export_onnx.py writes both)")
    return path


def verified_path(spec: WeightSpec, weights: str | Path | None = None) -> Path:
    """Path of the weight file for ``spec``, checked against its sha256.

    Args:
        spec: the weight spec.
        weights: a user-supplied file to use instead of the bundled one. It is checked against
            ``spec.sha256`` as well unless ``spec.sha256`` is empty.

    Raises:
        WeightsError: the file is missing, a folder, or its sha256 differs; the message names
            the path.
    """
    path = Path(weights) if weights is not None else bundled_dir() / spec.file
    if path.is_dir():
        raise WeightsError(f"{path}: a folder, not a weight file (give the .onnx file)")
    if not path.is_file():
        raise WeightsError(
            f"{path}: weight file for {spec.name!r} not found (mien never downloads weights)"
        )
    actual = sha256_of(path)
    if spec.sha256 and actual != spec.sha256:
        raise WeightsError(
            f"{path}: sha256 {actual} does not match {spec.name!r}'s {spec.sha256}; "
            "the file is corrupt or not these weights"
        )
    return path


SPIN = False
"""Whether onnxruntime's idle intra-op threads busy-wait for work (its default). Off: mien's
models are small and called once per face or frame, so spinning threads burnt about as much
CPU as the work itself (``python benchmarks/ort_spinning.py`` measures both ways)."""


def onnx_session(path: str | Path, *, threads: int = 0) -> Any:
    """An onnxruntime CPU session for the model at ``path``: ``threads`` intra-op threads
    (``0`` = onnxruntime's default), one inter-op thread, idle threads sleeping rather than
    spinning (:data:`SPIN`), its log quiet but for errors.

    Raises:
        WeightsError: onnxruntime cannot load the file (its own errors are untyped).
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    spin = "1" if SPIN else "0"
    options.add_session_config_entry("session.intra_op.allow_spinning", spin)
    options.add_session_config_entry("session.inter_op.allow_spinning", spin)
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as err:  # onnxruntime raises its own untyped errors
        raise WeightsError(f"{path}: onnxruntime cannot load this model ({err})") from err
