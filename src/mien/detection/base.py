"""The face-detector protocol every backend satisfies."""

from __future__ import annotations

from typing import Protocol

from mien.types import Faces, ImageBGR


class FaceDetector(Protocol):
    """Finds faces in one image.

    ``detect`` returns every face as :class:`~mien.types.Faces` with ``xyxy`` clipped to the
    image, ``confidence`` and ``keypoints`` filled; an image without faces gives
    ``Faces.empty()``, never an exception.
    """

    def detect(self, image: ImageBGR) -> Faces: ...

    def close(self) -> None: ...
