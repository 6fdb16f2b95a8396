"""Readers and writers at mien's boundary: images, video files, live streams.

Everything becomes an upright uint8 BGR ``ImageBGR`` (or a :class:`~mien.types.Frame`) here.
"""

from mien.io.image import (
    ANNOTATED_MARKER,
    DEFAULT_MAX_PIXELS,
    IMAGE_SUFFIXES,
    iter_image_paths,
    read_image,
)
from mien.io.kind import media_kind
from mien.io.prefetch import prefetch
from mien.io.stream import LiveStream
from mien.io.video import VIDEO_SUFFIXES, VideoInfo, VideoWriter, is_video, iter_frames, probe_video

__all__ = [
    "ANNOTATED_MARKER",
    "DEFAULT_MAX_PIXELS",
    "IMAGE_SUFFIXES",
    "VIDEO_SUFFIXES",
    "LiveStream",
    "VideoInfo",
    "VideoWriter",
    "is_video",
    "iter_frames",
    "iter_image_paths",
    "media_kind",
    "prefetch",
    "probe_video",
    "read_image",
]
