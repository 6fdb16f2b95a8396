"""Named expression models (timm-style): ``list_models("fer_*")``, ``create_model(name)``."""

from __future__ import annotations

import fnmatch
from pathlib import Path

from mien.alignment.templates import TEMPLATES
from mien.errors import UnknownModelError, WeightsError
from mien.expression.model import ExpressionModel
from mien.weights import DEFAULT_MODEL, WeightSpec, bundled_specs, verified_path

__all__ = ["DEFAULT_MODEL", "create_model", "get_spec", "list_models"]


def list_models(pattern: str = "*") -> list[str]:
    """Names of bundled expression models matching a shell-style ``pattern``, sorted."""
    return sorted(fnmatch.filter(bundled_specs(), pattern))


def get_spec(name: str) -> WeightSpec:
    """The bundled spec of model ``name``.

    Raises:
        UnknownModelError: unknown name (a ``ValueError``); the message lists the known ones.
    """
    specs = bundled_specs()
    if name not in specs:
        raise UnknownModelError(f"model must be one of {sorted(specs)}; got {name!r}")
    return specs[name]


def create_model(
    name: str = DEFAULT_MODEL, *, weights: str | Path | None = None, threads: int = 0
) -> ExpressionModel:
    """Load an expression model; nothing is ever downloaded.

    Args:
        name: a bundled model name (see :func:`list_models`).
        weights: your own ``.onnx`` file instead of the bundled one. If a spec ``.json`` with
            the same stem lies beside it, that spec (and its sha256) is used; otherwise the
            bundled spec of ``name`` describes it, no checksum applies, and the model is named
            ``"<file name> (spec: <name>)"`` (rows record it, so they never pass your weights
            off as the bundled model).
        threads: onnxruntime intra-op threads (``0`` = its default).

    Raises:
        UnknownModelError: unknown ``name`` (a ``ValueError``).
        ValueError: ``threads`` is not a whole number ≥ 0.
        WeightsError: the file is missing, not a file, fails its sha256, does not load, or its
            spec names an unknown alignment template.
    """
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 0:
        raise ValueError(
            f"threads must be a whole number >= 0 (0: onnxruntime's default); got {threads!r}"
        )
    spec = get_spec(name)
    if weights is not None:
        sibling = Path(weights).with_suffix(".json")
        if sibling.is_file():
            spec = WeightSpec.from_json(sibling)
        else:
            own = f"{Path(weights).name} (spec: {spec.name})"
            spec = WeightSpec(**{**spec.__dict__, "sha256": "", "name": own})
    path = verified_path(spec, weights)
    if not spec.file.endswith(".onnx"):
        raise WeightsError(f"{path}: spec {spec.name!r} names {spec.file!r}, not an ONNX file")
    if spec.alignment not in TEMPLATES:
        raise WeightsError(
            f"{path}: spec alignment must be one of {sorted(TEMPLATES)}; got {spec.alignment!r}"
        )
    return ExpressionModel(spec, path, threads=threads)
