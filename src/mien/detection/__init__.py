"""Face detectors: ``detect(image) -> Faces``. One backend per module."""

from mien.detection.base import FaceDetector
from mien.detection.mediapipe import DETECTOR_MODELS, MediaPipeFaceDetector

__all__ = ["DETECTOR_MODELS", "FaceDetector", "MediaPipeFaceDetector"]
