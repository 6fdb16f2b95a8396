"""Whether a file is read as an image or as a video, from its content, never the whole file."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from PIL import Image, UnidentifiedImageError

from mien.io.image import STILL_BRANDS, available_formats
from mien.io.video import VIDEO_SUFFIXES, is_audio, is_video


def media_kind(path: str | os.PathLike[str]) -> Literal["image", "video"]:
    """How to read ``path``: ``"image"`` when Pillow recognises the content, ``"video"`` when
    PyAV finds a video stream or only audio (or the suffix is a video's, so an unreadable
    ``.mp4`` gets the video reader's reason: an ``.m4a`` or ``.wav`` had been called "not a
    recognised image format"), else ``"image"`` (the image reader then says what is wrong).

    Only the file's head is read (a video may be gigabytes), and what is not a regular file (a
    folder, a named pipe, a link loop) is never opened: a pipe would block until written to.
    Never raises for a bad file.
    """
    path = Path(path)
    if not path.is_file():
        return "image"
    try:
        with Image.open(path, formats=available_formats()):  # the formats read_image reads
            return "image"
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        pass
    except Exception:
        return "image"
    try:
        with open(path, "rb") as f:
            head = f.read(400)
    except OSError:
        head = b""
    if head[4:8] == b"ftyp" and head[8:12] in STILL_BRANDS:
        return "image"  # an ISO still (AVIF, HEIF) that Pillow could not read: say so as an image
    if is_video(path) or path.suffix.lower() in VIDEO_SUFFIXES or is_audio(path):
        return "video"
    return "image"
