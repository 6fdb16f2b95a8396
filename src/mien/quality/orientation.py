"""Is a detected face upright? A small CNN on the aligned crop (our own weights, onnxruntime).

BlazeFace finds sideways and upside-down faces too (a photo whose orientation tag was lost, a
person lying down), but places its keypoints as if the face were upright, so the aligned crop
holds a turned face, FaceMesh fits an upright mesh to it, and the expression model reads it
with confidence. This check gives the probability that the face in the crop is upright, not
turned by a quarter or half turn; ``quality_ok`` needs it at
:attr:`~mien.quality.QualityThresholds.min_upright` or more.

Weights: ``weights/orientation_v2.onnx``, trained by ``scripts/train_orientation.py`` on
crops that mien's own detector and aligner cut from FER2013, SMILEsmileD and Taiwanese photos
(some also made small in a large frame, as faces in video are) turned by 0, 90, 180 and 270
degrees; their card is ``weights/ORIENTATION_CARD.md`` and
``python benchmarks/upright_check.py`` measures it on photos it never saw.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from pathlib import Path

import numpy as np
import numpy.typing as npt

from mien.errors import WeightsError
from mien.weights import onnx_session, sha256_of

ORIENTATION_MODEL = "orientation_v2"
"""Name of the bundled weights (``weights/<name>.onnx`` and ``.json``)."""

CROP_SIDE = 48
"""Side, pixels, of the grey aligned crops the check reads (``QUALITY_CROP_SIDE``)."""


@cache
def bundled_weights() -> tuple[Path, dict]:
    """The bundled ``(onnx path, spec)``, the file checked against the spec's sha256.

    Raises:
        WeightsError: the file's sha256 differs from its spec's.
    """
    folder = Path(str(resources.files("mien.quality") / "weights"))
    spec = json.loads((folder / f"{ORIENTATION_MODEL}.json").read_text())
    path = folder / f"{ORIENTATION_MODEL}.onnx"
    if sha256_of(path) != spec["sha256"]:
        raise WeightsError(f"{path}: sha256 differs from {ORIENTATION_MODEL}.json")
    return path, spec


class UprightCheck:
    """Probability that each aligned face crop shows an upright face.

    Args:
        threads: onnxruntime intra-op threads (``0`` = onnxruntime's default).

    Raises:
        WeightsError: the bundled weights are missing, altered or cannot be loaded.
    """

    def __init__(self, *, threads: int = 0) -> None:
        path, self.spec = bundled_weights()
        self._session = onnx_session(path, threads=threads)
        self._input = self._session.get_inputs()[0].name

    def turn_probabilities(self, crops: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        """``(n, 4)`` float32 probabilities that each face is turned 0, 90, 180 or 270
        degrees clockwise (rows sum to 1).

        Args:
            crops: ``(n, 48, 48)`` uint8 grey crops aligned on the eyes (as
                :func:`mien.alignment.align_faces` cuts them).

        Raises:
            ValueError: crops of another shape or dtype.
        """
        crops = np.asarray(crops)
        if crops.dtype != np.uint8 or crops.ndim != 3 or crops.shape[1:] != (CROP_SIDE,) * 2:
            side = CROP_SIDE
            raise ValueError(
                f"crops must be (n, {side}, {side}) uint8; got {crops.shape} {crops.dtype}"
            )
        if not len(crops):
            return np.zeros((0, 4), np.float32)
        x = crops.astype(np.float32)[:, None]
        return np.asarray(self._session.run(None, {self._input: x})[0], np.float32)

    def upright(self, crops: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        """``(n,)`` float32 probability in ``[0, 1]`` that each face is upright (see
        :meth:`turn_probabilities`)."""
        return self.turn_probabilities(crops)[:, 0]
