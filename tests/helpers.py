"""Builders shared by the tests (no fixtures here; see conftest.py)."""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from mien.types import Faces

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples"
SHARED = ROOT.parent / "shared"


def make_faces(
    xyxy: Sequence[Sequence[float]], confidence: Sequence[float] | None = None, **kw
) -> Faces:
    """Faces from box lists; confidence defaults to 0.9 each."""
    n = len(xyxy)
    return Faces(
        xyxy=np.asarray(xyxy, np.float32).reshape(n, 4),
        confidence=np.asarray(confidence if confidence is not None else [0.9] * n, np.float32),
        **kw,
    )


def encode(img: Image.Image, fmt: str = "PNG", **params) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **params)
    return buf.getvalue()


def png_with_size(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width``×``height`` (a decompression-bomb stand-in; the pixel
    data is a few bytes, never decodable to that size)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 16))
        + chunk(b"IEND", b"")
    )


def jpeg_with_orientation(rgb: np.ndarray, orientation: int) -> bytes:
    """JPEG of ``rgb`` (H, W, 3 uint8) stored with an EXIF Orientation tag."""
    img = Image.fromarray(rgb)
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encode(img, "JPEG", exif=exif.tobytes(), quality=95)
