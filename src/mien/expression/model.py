"""Run an exported expression model with onnxruntime (no torch at inference)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt

from mien.errors import WeightsError
from mien.evaluation.metrics import softmax
from mien.weights import WeightSpec, onnx_session


class ExpressionModel:
    """An ONNX expression classifier described by a :class:`~mien.weights.WeightSpec`.

    Args:
        spec: what the weights expect and output (input size, grey, label names, temperature).
        path: the verified ``.onnx`` file (see :func:`mien.registry.create_model`).
        threads: onnxruntime intra-op threads (``0`` = onnxruntime's default).

    Raises:
        WeightsError: onnxruntime cannot load the file, or its input/output shapes do not
            match the spec.
    """

    def __init__(self, spec: WeightSpec, path: str | Path, *, threads: int = 0) -> None:
        self.spec = spec
        self.path = Path(path)
        self._session = onnx_session(path, threads=threads)
        inputs, outputs = self._session.get_inputs(), self._session.get_outputs()
        channels = 1 if spec.grey else 3
        if len(inputs) != 1 or list(inputs[0].shape[1:]) != [
            channels,
            spec.input_size,
            spec.input_size,
        ]:
            raise WeightsError(
                f"{path}: input must be (n, {channels}, {spec.input_size}, {spec.input_size}); "
                f"got {[i.shape for i in inputs]}"
            )
        if outputs[0].shape[-1] != len(spec.names):
            raise WeightsError(
                f"{path}: output has {outputs[0].shape[-1]} classes; spec names {len(spec.names)}"
            )
        self._input = inputs[0].name

    @property
    def names(self) -> tuple[str, ...]:
        """Output column labels."""
        return self.spec.names

    def logits(self, crops: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        """Raw (uncalibrated) logits.

        Args:
            crops: ``(n, S, S)`` uint8 grey (or ``(n, S, S, 3)`` BGR for a colour model), aligned
                as the spec says; ``S = spec.input_size``.

        Returns:
            ``(n, K)`` float32 logits; with ``spec.flip_tta`` the mean over crop and mirror.

        Raises:
            ValueError: crops of the wrong shape or dtype.
        """
        crops = np.asarray(crops)
        s = self.spec.input_size
        expected = (s, s) if self.spec.grey else (s, s, 3)
        if crops.dtype != np.uint8 or crops.shape[1:] != expected:
            raise ValueError(
                f"crops must be uint8 (n, {', '.join(map(str, expected))}); "
                f"got {crops.dtype} {crops.shape}"
            )
        if len(crops) == 0:
            return np.zeros((0, len(self.names)), np.float32)
        x = crops.astype(np.float32)
        x = x[:, None] if self.spec.grey else x.transpose(0, 3, 1, 2)
        if self.spec.flip_tta:
            both = np.concatenate([x, x[..., ::-1]])
            out = self._session.run(None, {self._input: np.ascontiguousarray(both)})[0]
            return ((out[: len(x)] + out[len(x) :]) / 2).astype(np.float32)
        return self._session.run(None, {self._input: np.ascontiguousarray(x)})[0].astype(np.float32)

    def adjusted(self, logits: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """``logits`` plus the spec's ``logit_bias`` (unchanged when it is empty)."""
        if not self.spec.logit_bias:
            return logits
        return logits + np.asarray(self.spec.logit_bias, np.float32)

    def predict(self, crops: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        """Calibrated probabilities ``softmax((logits + spec.logit_bias) / spec.temperature)``,
        ``(n, K)`` float32, rows summing to 1."""
        return softmax(self.adjusted(self.logits(crops)), self.spec.temperature)

    def abstained(self, probs: npt.NDArray[np.float32]) -> npt.NDArray[np.bool_]:
        """``(n,)`` bool: top probability below ``spec.abstain_threshold``."""
        return np.asarray(probs).max(axis=1, initial=0.0) < self.spec.abstain_threshold
