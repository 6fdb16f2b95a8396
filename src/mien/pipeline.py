"""``Analyzer``: detect → align → classify for one image. It only wires the stages together."""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path

import numpy as np

from mien.alignment import FER_TEMPLATE, align_faces, crop_whole_image
from mien.detection import MediaPipeFaceDetector
from mien.detection.base import FaceDetector
from mien.detection.mediapipe import DetectorModel
from mien.expression import ExpressionModel
from mien.io import DEFAULT_MAX_PIXELS, read_image
from mien.registry import DEFAULT_MODEL, create_model
from mien.types import Faces, FrameResult, ImageBGR

TEMPLATES = {"fer": FER_TEMPLATE}


class Analyzer:
    """Finds faces and classifies each one's perceived expression.

    Args:
        model: bundled expression model name (``mien.list_models()``).
        weights: your own ``.onnx`` file for that model (see :func:`mien.create_model`).
        detector: ``"auto"`` (BlazeFace short-range, then full-range if nothing found),
            ``"short"`` or ``"full"``; or any object with ``detect(image) -> Faces``.
        min_confidence: detector score threshold in ``[0, 1]``.
        max_pixels: largest image accepted, in pixels (decompression-bomb guard).
        threads: onnxruntime threads for the expression model (``0`` = its default).

    Raises:
        ValueError: unknown model or detector option.
        WeightsError: weights missing or corrupt.

    Example:
        >>> result = Analyzer().analyze("photo.jpg")
        >>> result.faces.xyxy, result.faces.expression  # (n, 4) pixels, (n, 8) probabilities
    """

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        *,
        weights: str | Path | None = None,
        detector: DetectorModel | FaceDetector = "auto",
        min_confidence: float = 0.5,
        max_pixels: int = DEFAULT_MAX_PIXELS,
        threads: int = 0,
    ) -> None:
        self.expression: ExpressionModel = create_model(model, weights=weights, threads=threads)
        spec = self.expression.spec
        if spec.alignment not in TEMPLATES:
            raise ValueError(
                f"spec alignment must be one of {sorted(TEMPLATES)}; got {spec.alignment!r}"
            )
        self.template = TEMPLATES[spec.alignment]
        self.detector: FaceDetector = (
            MediaPipeFaceDetector(detector, min_confidence=min_confidence)
            if isinstance(detector, str)
            else detector
        )
        self.max_pixels = max_pixels

    @property
    def expression_names(self) -> tuple[str, ...]:
        return self.expression.names

    def analyze(
        self,
        image: str | os.PathLike[str] | bytes | ImageBGR,
        *,
        source: str | None = None,
        frame_index: int = 0,
        timestamp_s: float = 0.0,
    ) -> FrameResult:
        """Every face in one image, with its calibrated expression probabilities.

        Args:
            image: a path, encoded bytes, or an ``(H, W, 3)`` uint8 BGR array (``(H, W)`` grey
                accepted). Paths and bytes are decoded by :func:`mien.io.read_image` (EXIF
                orientation applied; boxes refer to the upright image).
            source: name to record (defaults to the path, or ``"<array>"``/``"<bytes>"``).
            frame_index: index to record for a video frame.
            timestamp_s: presentation timestamp to record, in seconds.

        Returns:
            A :class:`~mien.types.FrameResult`; an image without faces gives empty ``Faces``.

        Raises:
            mien.errors.ImageError: the image cannot be read (subclass says why).
        """
        if source is None:
            source = (
                str(image)
                if isinstance(image, (str, os.PathLike))
                else ("<bytes>" if isinstance(image, (bytes, bytearray)) else "<array>")
            )
        t0 = time.perf_counter()
        img = read_image(image, max_pixels=self.max_pixels, name=source)
        t1 = time.perf_counter()
        faces = self.detector.detect(img)
        t2 = time.perf_counter()
        spec = self.expression.spec
        crops, _ = align_faces(
            img, faces, size=spec.input_size, grey=spec.grey, template=self.template
        )
        t3 = time.perf_counter()
        faces = self._classify(faces, crops)
        t4 = time.perf_counter()
        return FrameResult(
            faces=faces,
            frame_index=frame_index,
            timestamp_s=timestamp_s,
            image_wh=(img.shape[1], img.shape[0]),
            source=source,
            expression_names=self.expression_names,
            abstain_threshold=spec.abstain_threshold,
            timings_ms={
                "read": (t1 - t0) * 1e3,
                "detect": (t2 - t1) * 1e3,
                "align": (t3 - t2) * 1e3,
                "expression": (t4 - t3) * 1e3,
            },
        )

    def whole_image_crop(self, image: str | os.PathLike[str] | bytes | ImageBGR) -> np.ndarray:
        """The model input for a whole (pre-cropped) image: read it, convert it to the model's
        colour form and resize it to its input size; no detector, no alignment.

        Returns:
            ``(S, S)`` uint8 grey (or ``(S, S, 3)`` BGR for a colour model).

        Raises:
            mien.errors.ImageError: the image cannot be read.
        """
        spec = self.expression.spec
        img = read_image(image, max_pixels=self.max_pixels)
        return crop_whole_image(img, size=spec.input_size, grey=spec.grey)

    def classify_crop(self, image: str | os.PathLike[str] | bytes | ImageBGR) -> np.ndarray:
        """Classify a whole image as one already-cropped face (see :meth:`whole_image_crop`).

        Returns:
            ``(K,)`` float32 calibrated probabilities.
        """
        return self.expression.predict(self.whole_image_crop(image)[None])[0]

    def _classify(self, faces: Faces, crops: np.ndarray) -> Faces:
        probs = self.expression.predict(crops)
        return dataclasses.replace(
            faces, expression=probs, abstained=self.expression.abstained(probs)
        )

    def close(self) -> None:
        """Free the detector's resources."""
        self.detector.close()

    def __enter__(self) -> Analyzer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
