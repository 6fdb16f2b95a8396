"""Decode any still image into mien's one internal form: upright ``(H, W, 3)`` uint8 BGR.

Pillow does the decoding because it names what is wrong with a bad file and reads EXIF
orientation; OpenCV does the colour conversions.
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from mien.errors import ImageError, ImageNotFoundError, ImageTooLargeError, UnreadableImageError
from mien.types import ImageBGR

DEFAULT_MAX_PIXELS = 100_000_000
"""Default pixel cap (width × height); larger images raise :class:`ImageTooLargeError`."""

IMAGE_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm",
     ".pgm", ".pbm", ".pnm", ".avif", ".heic", ".heif"}
)  # fmt: skip
"""File suffixes (lower case) that folder recursion treats as images (HEIC/HEIF too: mien
cannot decode them, so each becomes an error row saying to convert it, not a silent skip)."""

HEIF_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1"})
"""``ftyp`` brands of HEIF images (not AVIF, which Pillow reads)."""

IMAGE_FORMATS = ("JPEG", "PNG", "BMP", "DIB", "GIF", "TIFF", "WEBP", "PPM", "AVIF")
"""The Pillow decoders :func:`read_image` uses. Pillow knows some 40 formats; the rarely used
ones are a large surface for crafted files (an upload to ``mien serve`` is untrusted), so any
other format is refused as "not a recognised image format"."""


def read_image(
    source: str | os.PathLike[str] | bytes | np.ndarray | Image.Image,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    name: str | None = None,
) -> ImageBGR:
    """Read a still image as an upright uint8 BGR array.

    Handles grey, grey+alpha, palette, RGBA (composited on white), 16-bit (scaled to 8 bits),
    CMYK and EXIF-rotated JPEGs (the orientation is applied, so coordinates refer to the image
    as a person sees it). For an animated file only the first frame is read.

    Args:
        source: a path, the encoded file bytes, a Pillow image (converted from its own mode,
            RGB included, with its EXIF orientation applied), or an array: ``(H, W)`` grey or
            ``(H, W, 3)`` **BGR**, uint8 (other dtypes are rejected rather than guessed). An
            array cannot tell its channel order: one from Pillow, imageio or matplotlib is RGB
            and must be reversed first (``rgb[..., ::-1]``); read as BGR, its reds and blues
            swap, which changes faces found and probabilities.
        max_pixels: largest accepted ``width * height`` of an encoded file or a Pillow image;
            guards against decompression bombs (an array is already in memory and is not
            checked).
        name: how to name the source in errors (defaults to the path, ``<bytes>``/``<array>``).

    Returns:
        ``(H, W, 3)`` uint8 BGR, C-contiguous.

    Raises:
        ImageNotFoundError: the path does not exist or is a folder.
        UnreadableImageError: not an image, corrupt or truncated, or an unusable array.
        ImageTooLargeError: more than ``max_pixels`` pixels.
    """
    if isinstance(source, np.ndarray):
        return _from_array(source, name or "<array>")
    if isinstance(source, (bytes, bytearray, memoryview)):
        return _decode(io.BytesIO(bytes(source)), name or "<bytes>", max_pixels)
    if isinstance(source, Image.Image):
        return _from_pillow(source, name or "<PIL.Image>", max_pixels)
    if not isinstance(source, (str, os.PathLike)):
        raise UnreadableImageError(
            name or f"<{type(source).__name__}>",
            "not an image: expected a path, encoded bytes, a Pillow image or a uint8 array",
        )
    if not os.fspath(source):
        raise ImageNotFoundError(name or "''", "empty path")
    path = Path(source)
    label = name or str(path)
    if not path.exists():
        why = "a link to nothing (its target is missing, or a link loop)"
        raise ImageNotFoundError(label, why if path.is_symlink() else "no such file")
    if path.is_dir():
        raise ImageNotFoundError(
            label,
            "a folder, not an image file (mien analyze reads folders; in Python, list its "
            "images with mien.io.iter_image_paths(folder))",
        )
    if not path.is_file():
        raise ImageNotFoundError(label, "not a file")
    try:
        data = path.read_bytes()
    except OSError as err:
        raise UnreadableImageError(label, f"cannot read file ({err.strerror or err})") from err
    return _decode(io.BytesIO(data), label, max_pixels)


def _decode(stream: io.BytesIO, label: str, max_pixels: int) -> ImageBGR:
    if stream.getbuffer().nbytes == 0:
        raise UnreadableImageError(label, "empty file")
    # Pillow warns (DecompressionBombWarning) above 89 M pixels; our own cap below decides. The
    # warning is not filtered here: a warnings.catch_warnings block is not thread-safe, and
    # images are decoded in reader threads (the CLI filters it for its own process).
    return _from_pillow(_open(stream, label, max_pixels), label, max_pixels)


def _from_pillow(img: Image.Image, label: str, max_pixels: int) -> ImageBGR:
    """A Pillow image (opened, not necessarily loaded) as upright uint8 BGR: the pixel cap,
    then loading, the EXIF orientation and the conversion from its mode."""
    width, height = img.size
    if width * height > max_pixels:
        raise ImageTooLargeError(
            label, f"{width}x{height} = {width * height} pixels exceeds the cap of {max_pixels}"
        )
    if width < 1 or height < 1:
        raise UnreadableImageError(label, f"image has no pixels ({width}x{height})")
    if _closed(img):
        raise UnreadableImageError(
            label,
            "the Pillow image is closed (used after its with-block or close()); pass it "
            "before closing it, or pass the path",
        )
    try:
        img.load()
        img = ImageOps.exif_transpose(img) or img
    except Image.DecompressionBombError as err:
        raise ImageTooLargeError(label, f"too many pixels ({err})") from err
    except (OSError, ValueError, SyntaxError, EOFError) as err:
        raise UnreadableImageError(label, f"corrupt or truncated image data ({err})") from err
    except MemoryError:
        raise
    except Exception as err:
        raise _decoder_bug(label, err) from err
    return _to_bgr(img, label)


def _closed(img: Image.Image) -> bool:
    """Whether a Pillow image was closed: loaded, then closed (its pixels are gone), or
    closed before it was loaded (its file is gone)."""
    try:
        img.im  # noqa: B018 - the access is the test
    except ValueError:  # "Operation on closed image"
        return True
    except AssertionError:  # not loaded yet: it can be, while its file is open
        return getattr(img, "fp", None) is None
    return False


def _decoder_bug(label: str, err: Exception) -> UnreadableImageError:
    """A Pillow decoder's own exception on a crafted file (``NotImplementedError``,
    ``AttributeError``, ...) is still a bad image."""
    return UnreadableImageError(
        label, f"the decoder failed on this file ({type(err).__name__}: {err})"
    )


def available_formats() -> tuple[str, ...]:
    """:data:`IMAGE_FORMATS` that this Pillow has (older Pillow releases have no AVIF plugin)."""
    Image.init()
    return tuple(f for f in IMAGE_FORMATS if f in Image.OPEN)


def _open(stream: io.BytesIO, label: str, max_pixels: int) -> Image.Image:
    """``Image.open`` limited to :data:`IMAGE_FORMATS`, its errors made :class:`ImageError`
    (one too large for Pillow to open is named against the caller's cap ``max_pixels``, as
    :func:`_from_pillow` names a smaller one)."""
    try:
        return Image.open(stream, formats=available_formats())
    except Image.DecompressionBombError as err:
        found = re.search(r"\((\d+) pixels\)", str(err))
        size = f"{found[1]} pixels" if found else f"more than {Image.MAX_IMAGE_PIXELS * 2} pixels"
        raise ImageTooLargeError(
            label, f"{size} exceeds the cap of {min(max_pixels, Image.MAX_IMAGE_PIXELS * 2)}"
        ) from err
    except UnidentifiedImageError as err:
        head = stream.getbuffer()[:16].tobytes()
        if head[4:8] == b"ftyp" and head[8:12] in HEIF_BRANDS:
            raise UnreadableImageError(
                label,
                "a HEIC/HEIF image (an iPhone's default), which mien cannot decode: convert "
                "it to JPEG or PNG first (e.g. with the phone's export or an image editor)",
            ) from err
        if looks_like_video(stream.getbuffer()[:400].tobytes()):
            raise UnreadableImageError(
                label,
                "a video, not an image: analyse its frames with "
                "Analyzer.run(mien.io.iter_frames(path)) or `mien analyze`",
            ) from err
        if stream.getbuffer()[:4].tobytes() in (b"II*\x00", b"MM\x00*"):
            raise UnreadableImageError(
                label,
                "a TIFF whose sample format the decoder does not read (colour in floating "
                "point, say): save it with 8 or 16 bits per channel",
            ) from err
        raise UnreadableImageError(
            label,
            "not a recognised image format (mien reads JPEG, PNG, BMP, GIF, TIFF, WebP, "
            "PPM/PGM and AVIF)",
        ) from err
    except (OSError, ValueError, SyntaxError) as err:
        raise UnreadableImageError(label, f"corrupt image header ({err})") from err
    except MemoryError:
        raise
    except Exception as err:
        raise _decoder_bug(label, err) from err


def _to_bgr(img: Image.Image, label: str) -> ImageBGR:
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        arr = np.asarray(img)
        top = 65535 if mode != "I" or arr.max(initial=0) > 255 else 255
        grey = np.clip(arr.astype(np.float64) * (255.0 / top), 0, 255).round().astype(np.uint8)
        return cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR)
    if mode == "F":
        arr = np.nan_to_num(np.asarray(img, dtype=np.float64), nan=0.0, posinf=255.0, neginf=0.0)
        grey = np.clip(arr * (255.0 if arr.max(initial=0) <= 1.0 else 1.0), 0, 255)
        return cv2.cvtColor(grey.round().astype(np.uint8), cv2.COLOR_GRAY2BGR)
    if mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    elif mode == "PA":
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "La", "RGBa"):
        background = Image.new("RGBA", img.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, img.convert("RGBA"))
    if img.mode == "1":
        img = img.convert("L")
    if img.mode == "L":
        return cv2.cvtColor(np.asarray(img), cv2.COLOR_GRAY2BGR)
    try:
        rgb = np.asarray(img.convert("RGB"))
    except (OSError, ValueError) as err:
        raise UnreadableImageError(label, f"unsupported image mode {mode!r} ({err})") from err
    return np.ascontiguousarray(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))


def _from_array(arr: np.ndarray, label: str) -> ImageBGR:
    if arr.dtype != np.uint8:
        hint = ""
        if np.issubdtype(arr.dtype, np.floating):
            hint = " (for values in 0-1: (arr * 255).round().astype(np.uint8))"
        raise UnreadableImageError(label, f"array dtype must be uint8; got {arr.dtype}{hint}")
    if arr.ndim == 2:
        arr = cv2.cvtColor(arr, cv2.COLOR_GRAY2BGR)
    elif arr.ndim == 3 and arr.shape[2] == 1:
        arr = cv2.cvtColor(arr[:, :, 0], cv2.COLOR_GRAY2BGR)
    elif not (arr.ndim == 3 and arr.shape[2] == 3):
        raise UnreadableImageError(
            label, f"array must be (H, W), (H, W, 1) or (H, W, 3); got {arr.shape}"
        )
    if arr.shape[0] < 1 or arr.shape[1] < 1:
        raise UnreadableImageError(label, f"image has no pixels ({arr.shape})")
    return np.ascontiguousarray(arr)


VIDEO_BRANDS = (
    b"iso", b"mp4", b"mp41", b"mp42", b"avc1", b"M4V", b"qt  ", b"3gp", b"3g2",
    b"dash", b"cmf", b"XAVC", b"f4v", b"MSNV", b"NDAS",
)  # fmt: skip
"""Prefixes of the ``ftyp`` brands of MP4, QuickTime, 3GPP, DASH/CMAF, Sony XAVC, F4V and other
camera video files (HEIF/AVIF stills and camera raw files such as Canon's CR3 also open with
``ftyp``, under :data:`STILL_BRANDS`)."""

STILL_BRANDS = HEIF_BRANDS | {b"avif", b"avis", b"crx "}
"""``ftyp`` major brands of ISO still images: HEIF and AVIF (and their image sequences) and
Canon's CR3 raw files."""


def looks_like_video(head: bytes) -> bool:
    """Whether ``head`` (a file's first bytes; 377 or more to recognise MPEG-TS) opens an
    MP4/MOV/3GP (an ``ftyp`` box of a :data:`VIDEO_BRANDS` brand), Matroska/WebM, AVI, FLV,
    ASF/WMV, MPEG program stream or MPEG transport stream file."""
    return (
        (head[4:8] == b"ftyp" and head[8:12].startswith(VIDEO_BRANDS))
        or head[:4] == b"\x1a\x45\xdf\xa3"
        or (head[:4] == b"RIFF" and head[8:12] == b"AVI ")
        or head[:3] == b"FLV"
        or head[:4] == b"\x30\x26\xb2\x75"  # the ASF header object's GUID
        or head[:4] == b"\x00\x00\x01\xba"  # an MPEG-PS pack header
        or (len(head) > 376 and head[0] == head[188] == head[376] == 0x47)  # TS sync bytes
    )


ANNOTATED_MARKER = ".mien-annotated"
"""A file that ``mien analyze --annotate DIR`` leaves in ``DIR``: folder scans skip a folder
holding it, so annotated copies inside an input folder are not read back as new photos."""


def iter_image_paths(
    paths: Iterable[str | os.PathLike[str]],
    *,
    suffixes: frozenset[str] = IMAGE_SUFFIXES,
    skipped: list[Path] | None = None,
    unreadable: list[tuple[Path, str]] | None = None,
) -> Iterator[Path]:
    """Expand paths: files are yielded as given, folders recursively (sorted, image suffixes).

    Inside folders only files whose suffix is in ``suffixes`` (default :data:`IMAGE_SUFFIXES`)
    are taken, and hidden names (starting with ``.``, e.g. macOS's ``._photo.jpg`` resource
    forks, or anything under a hidden folder) are skipped; a file named directly is always
    taken, whatever its name or suffix.

    Links to folders are followed (researchers link data folders into a study folder); a folder
    reached a second time, through a loop or a second link, is not read again.

    A folder found inside a given one that holds :data:`ANNOTATED_MARKER` (annotated copies
    written by ``mien analyze --annotate``) is skipped, and appended to ``skipped`` when a
    list is given; a folder given directly is read.

    A folder that cannot be listed (no permission, a link loop the operating system refuses)
    is appended to ``unreadable`` with the reason, when a list is given, so the caller can say
    its files were left out.

    A path that does not exist is yielded unchanged so the caller can record its failure.
    """
    for p in paths:
        path = Path(p)
        if path.is_dir():
            yield from sorted(_files_under(path, suffixes, skipped, unreadable))
        else:
            yield path


def _files_under(
    folder: Path,
    suffixes: frozenset[str],
    skipped: list[Path] | None = None,
    unreadable: list[tuple[Path, str]] | None = None,
) -> Iterator[Path]:
    """Files under ``folder`` with one of ``suffixes``, following folder links once each."""
    seen: set[str] = set()

    def on_error(err: OSError) -> None:
        if unreadable is not None:
            unreadable.append((Path(err.filename or folder), err.strerror or str(err)))

    for root, dirs, files in os.walk(folder, onerror=on_error, followlinks=True):
        real = os.path.realpath(root)
        if real in seen:  # a link loop, or a folder linked twice
            dirs[:] = []
            continue
        seen.add(real)
        if ANNOTATED_MARKER in files and Path(root) != folder:
            dirs[:] = []
            if skipped is not None:
                skipped.append(Path(root))
            continue
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))  # the first link met, by name
        for name in files:
            f = Path(root, name)
            # broken links are kept so that their failure is recorded, not silently skipped
            if not name.startswith(".") and f.suffix.lower() in suffixes:
                yield f


__all__ = [
    "DEFAULT_MAX_PIXELS",
    "IMAGE_SUFFIXES",
    "ImageError",
    "iter_image_paths",
    "looks_like_video",
    "read_image",
]
