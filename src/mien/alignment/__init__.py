"""Face alignment: upright, FER-framed crops from detector keypoints, with their affine maps."""

from mien.alignment.align import align_faces, crop_whole_image, invert_affine
from mien.alignment.templates import FER_TEMPLATE, TEMPLATES, AlignTemplate

__all__ = [
    "FER_TEMPLATE",
    "TEMPLATES",
    "AlignTemplate",
    "align_faces",
    "crop_whole_image",
    "invert_affine",
]
