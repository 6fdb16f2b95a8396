"""Builders shared by the tests (no fixtures here; see conftest.py)."""

from __future__ import annotations

import contextlib
import io
import struct
import zlib
from collections.abc import Iterator, Sequence
from fractions import Fraction
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


def face_patch(name: str = "grace_hopper.jpg", size: int = 150) -> np.ndarray:
    """A head-and-shoulders patch of a sample photo, ``size`` px square, BGR uint8."""
    import cv2

    from mien.io import read_image

    img = read_image(SAMPLES / name)
    crop = {"grace_hopper.jpg": img[100:400, 120:420], "astronaut.jpg": img[20:250, 110:340]}[name]
    return cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA)


def compose(
    size_wh: tuple[int, int], patches: Sequence[tuple[np.ndarray, int, int]], grey: int = 90
) -> np.ndarray:
    """A BGR scene of ``size_wh`` with each ``(patch, x, y)`` pasted (clipped to the scene)."""
    w, h = size_wh
    scene = np.full((h, w, 3), grey, np.uint8)
    for patch, x, y in patches:
        ph, pw = patch.shape[:2]
        x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + pw, w), min(y + ph, h)
        if x1 > x0 and y1 > y0:
            scene[y0:y1, x0:x1] = patch[y0 - y : y1 - y, x0 - x : x1 - x]
    return scene


def two_seated(frame: int) -> np.ndarray:
    """Frame ``frame`` (10 fps) of a reviewer's clip: Grace Hopper (180×211) and the astronaut
    (180×180) side by side in a 640×480 scene, drifting 2 px a frame towards each other. One
    short-range pass misses one of them in 11 of the first 40 frames (1 of them in frame 1)."""
    import cv2

    from mien.io import read_image

    grace = cv2.resize(
        read_image(SAMPLES / "grace_hopper.jpg"), (180, 211), interpolation=cv2.INTER_AREA
    )
    astronaut = read_image(SAMPLES / "astronaut.jpg")[30:240, 120:330]
    astronaut = cv2.resize(astronaut, (180, 180), interpolation=cv2.INTER_AREA)
    return compose((640, 480), [(grace, 40 + 2 * frame, 120), (astronaut, 400 - 2 * frame, 150)])


def two_small() -> np.ndarray:
    """Grace Hopper and the astronaut, 110 px patches 40 px apart in a 640×480 scene: one
    short-range pass finds only one of them; the full-range pass finds both."""
    grace, astronaut = face_patch("grace_hopper.jpg", 110), face_patch("astronaut.jpg", 110)
    return compose((640, 480), [(grace, 150, 180), (astronaut, 300, 180)])


def write_gop_clip(
    path: Path,
    images: Sequence[np.ndarray],
    *,
    rate: int = 15,
    gop: int = 15,
    start_s: float = 0.0,
    options: dict[str, str] | None = None,
) -> Path:
    """Encode BGR ``images`` as H.264 at ``rate`` fps (presentation times from ``start_s``), a
    key frame every ``gop`` frames, x264 at ``ultrafast`` unless ``options`` say otherwise."""
    from fractions import Fraction

    import av

    h, w = images[0].shape[:2]
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=rate)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.options = {"preset": "ultrafast", "g": str(gop), "keyint_min": str(gop),
                          **(options or {})}  # fmt: skip
        for i, image in enumerate(images):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="bgr24")
            frame.pts, frame.time_base = i + round(start_s * rate), Fraction(1, rate)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def write_clip(
    path: Path,
    frames: Sequence[tuple[np.ndarray, float]],
    *,
    rotation: int | None = None,
    sample_aspect: Fraction | None = None,
) -> Path:
    """Encode ``(bgr image, timestamp_s)`` pairs as H.264 MP4 with exact timestamps (1/1000 s
    time base); ``rotation`` sets the display matrix (degrees counter-clockwise),
    ``sample_aspect`` the stored pixels' aspect ratio (anamorphic video)."""
    from fractions import Fraction

    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=30)
        h, w = frames[0][0].shape[:2]
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.time_base = Fraction(1, 1000)
        stream.codec_context.time_base = Fraction(1, 1000)
        stream.options = {"preset": "ultrafast", "crf": "20"}
        if rotation:
            stream.set_display_rotation(rotation)
        if sample_aspect is not None:
            stream.codec_context.sample_aspect_ratio = sample_aspect
        for image, t in frames:
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="bgr24")
            frame.pts = round(t * 1000)
            frame.time_base = Fraction(1, 1000)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def make_export(folder: Path, name: str = "mine") -> Path:
    """A stand-in for ``scripts/export_onnx.py``'s output: the bundled weights copied into
    ``folder`` as ``<name>.onnx`` with a spec ``<name>.json`` that names the model ``name``.
    Returns the ``.onnx`` path."""
    import json
    import shutil

    from mien.weights import DEFAULT_MODEL, bundled_dir

    onnx = folder / f"{name}.onnx"
    shutil.copy(bundled_dir() / f"{DEFAULT_MODEL}.onnx", onnx)
    spec = json.loads((bundled_dir() / f"{DEFAULT_MODEL}.json").read_text())
    spec.update(name=name, file=onnx.name)
    onnx.with_suffix(".json").write_text(json.dumps(spec))
    return onnx


def study_with_a_locked_folder(tmp_path: Path, monkeypatch) -> Path:
    """``tmp_path/study`` with ``hopper.jpg`` and a subfolder ``locked`` that cannot be listed
    (``os.scandir`` refuses it, as for a folder of mode 000 when not root)."""
    import os

    folder = tmp_path / "study"
    (folder / "locked").mkdir(parents=True)
    (folder / "hopper.jpg").write_bytes((SAMPLES / "grace_hopper.jpg").read_bytes())
    real_scandir = os.scandir

    def scandir(path="."):
        if os.fspath(path).endswith("locked"):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    return folder


@contextlib.contextmanager
def uvicorn_in_thread(app, **config) -> Iterator[int]:
    """Serve the ASGI ``app`` with uvicorn on a free loopback port in a daemon thread; yields
    the port once the server has started, and stops it on exit. ``config``: more
    ``uvicorn.Config`` arguments."""
    import socket
    import threading
    import time

    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", **config)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(timeout=10)
