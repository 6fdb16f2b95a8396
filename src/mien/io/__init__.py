"""Readers at mien's boundary: everything becomes an upright uint8 BGR ``ImageBGR`` here."""

from mien.io.image import DEFAULT_MAX_PIXELS, IMAGE_SUFFIXES, iter_image_paths, read_image

__all__ = ["DEFAULT_MAX_PIXELS", "IMAGE_SUFFIXES", "iter_image_paths", "read_image"]
