"""Every bad-input class the CLI and API must survive, with real values checked."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from mien.errors import ImageError, ImageNotFoundError, ImageTooLargeError, UnreadableImageError
from mien.io import iter_image_paths, read_image
from tests.helpers import SAMPLES, encode, jpeg_with_orientation, png_with_size


def test_reads_jpeg_as_bgr():
    img = read_image(SAMPLES / "grace_hopper.jpg")
    assert img.shape == (600, 512, 3) and img.dtype == np.uint8
    # the flag's blue star field is top-left: in BGR order channel 0 (blue) dominates there
    b, g, r = img[50:100, 0:60].reshape(-1, 3).mean(0)
    assert b > r + 20 and b > g + 20


@pytest.mark.parametrize(
    ("mode", "value", "expected_bgr"),
    [
        ("L", 200, (200, 200, 200)),
        ("RGB", (10, 20, 30), (30, 20, 10)),
        ("LA", (100, 255), (100, 100, 100)),  # opaque grey + alpha
        ("RGBA", (255, 0, 0, 0), (255, 255, 255)),  # fully transparent -> white background
        ("RGBA", (0, 0, 255, 255), (255, 0, 0)),  # opaque blue
        ("1", 1, (255, 255, 255)),
    ],
)
def test_modes_convert_to_bgr(mode, value, expected_bgr):
    img = read_image(encode(Image.new(mode, (4, 3), value)))
    assert img.shape == (3, 4, 3)
    np.testing.assert_array_equal(img[0, 0], expected_bgr)


def test_palette_png_with_transparency():
    pal = Image.new("P", (5, 5), 1)
    pal.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    pal.info["transparency"] = 0
    img = read_image(encode(pal))
    np.testing.assert_array_equal(img[0, 0], (0, 0, 255))  # palette index 1 = red


def test_16bit_png_scaled_to_8bit():
    arr = np.full((6, 7), 65535, np.uint16)
    arr[0, 0] = 32896  # ~ half scale
    img = read_image(encode(Image.fromarray(arr)))
    assert img.dtype == np.uint8 and img.shape == (6, 7, 3)
    assert img[1, 1, 0] == 255 and img[0, 0, 0] == 128


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_exif_orientation_is_applied(orientation):
    upright = np.zeros((40, 60, 3), np.uint8)
    upright[:10, :10] = (255, 255, 255)  # white square top-left when upright
    stored = {3: np.rot90(upright, 2), 6: np.rot90(upright, 1), 8: np.rot90(upright, 3)}[
        orientation
    ]
    img = read_image(jpeg_with_orientation(np.ascontiguousarray(stored), orientation))
    assert img.shape == (40, 60, 3)
    assert img[:8, :8].mean() > 200 and img[-8:, -8:].mean() < 50


def test_one_pixel_image():
    assert read_image(encode(Image.new("RGB", (1, 1), (1, 2, 3)))).shape == (1, 1, 3)


def test_decompression_bomb_is_refused_before_decoding():
    with pytest.raises(ImageTooLargeError, match="pixels") as info:
        read_image(png_with_size(50_000, 50_000), max_pixels=100_000_000, name="bomb.png")
    # one too large for Pillow to open is named against the caller's cap, as a smaller one is
    # (it said "more than Pillow decodes safely (178956970)", though the cap was 100 M)
    assert str(info.value) == "bomb.png: 2500000000 pixels exceeds the cap of 100000000"
    with pytest.raises(ImageTooLargeError, match="exceeds the cap"):
        read_image(png_with_size(12_000, 12_000), max_pixels=100_000_000)
    with pytest.raises(ImageTooLargeError, match="exceeds the cap of 100"):
        read_image(encode(Image.new("L", (20, 20))), max_pixels=100)


NOISE_JPEG = encode(
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (128, 128, 3), dtype=np.uint8)),
    "JPEG",
)


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"", "empty file"),
        (b"hello, this is text", "not a recognised image format"),
        (
            encode(Image.new("RGB", (64, 64)), "JPEG")[:200],
            "corrupt or truncated|corrupt image header",
        ),
        (NOISE_JPEG[: len(NOISE_JPEG) * 2 // 3], "corrupt or truncated"),
        (
            encode(Image.new("RGB", (64, 64)), "PNG")[:60],
            "corrupt or truncated|corrupt image header",
        ),
    ],
)
def test_bad_bytes_raise_typed_errors(data, match):
    with pytest.raises(UnreadableImageError, match=match) as info:
        read_image(data, name="broken.jpg")
    assert "broken.jpg" in str(info.value)
    assert isinstance(info.value, ValueError)


def test_missing_path_and_folder(tmp_path):
    with pytest.raises(ImageNotFoundError, match="no such file") as info:
        read_image(tmp_path / "nope.jpg")
    assert isinstance(info.value, FileNotFoundError) and "nope.jpg" in str(info.value)
    with pytest.raises(ImageNotFoundError, match=r"a folder, not an image file .*iter_image_paths"):
        read_image(tmp_path)


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L", "P", "I;16"])
def test_pillow_images_read_as_their_encoded_files(mode):
    import io

    base = Image.open(SAMPLES / "grace_hopper.jpg").convert("RGB").resize((64, 75))
    img = base.convert("RGBA") if mode == "RGBA" else base.convert(mode if mode != "I;16" else "L")
    if mode == "I;16":
        img = Image.fromarray(np.asarray(img).astype(np.uint16) * 257)
    png = encode(img)
    np.testing.assert_array_equal(read_image(img), read_image(png))
    with Image.open(io.BytesIO(png)) as opened:  # opened, not loaded
        np.testing.assert_array_equal(read_image(opened), read_image(png))


def test_a_pillow_image_gets_its_exif_orientation_and_the_pixel_cap():
    import io

    upright = np.zeros((40, 60, 3), np.uint8)
    upright[:10, :10] = 255
    data = jpeg_with_orientation(np.ascontiguousarray(np.rot90(upright, 1)), 6)
    with Image.open(io.BytesIO(data)) as opened:
        img = read_image(opened)
    assert img.shape == (40, 60, 3) and img[:8, :8].mean() > 200
    with pytest.raises(ImageTooLargeError, match=r"<PIL\.Image>: 60x40 = 2400 pixels"):
        read_image(Image.fromarray(upright), max_pixels=2000)


def test_a_float_array_is_told_how_to_convert():
    with pytest.raises(
        UnreadableImageError, match=r"got float32 \(for values in 0-1: \(arr \* 255\)"
    ):
        read_image(np.zeros((5, 5, 3), np.float32))
    with pytest.raises(UnreadableImageError, match="a Pillow image"):
        read_image(["not", "an", "image"])


def test_non_ascii_path(tmp_path):
    path = tmp_path / "visages été" / "фото_笑顔.png"
    path.parent.mkdir()
    path.write_bytes(encode(Image.new("RGB", (8, 8), (0, 255, 0))))
    np.testing.assert_array_equal(read_image(path)[0, 0], (0, 255, 0))


@pytest.mark.parametrize(
    ("array", "ok"),
    [
        (np.zeros((5, 5), np.uint8), True),
        (np.zeros((5, 5, 1), np.uint8), True),
        (np.zeros((5, 5, 3), np.uint8), True),
        (np.zeros((5, 5, 4), np.uint8), False),
        (np.zeros((5, 5, 3), np.float32), False),
        (np.zeros((0, 5, 3), np.uint8), False),
    ],
)
def test_array_input(array, ok):
    if ok:
        assert read_image(array).shape == (5, 5, 3)
    else:
        with pytest.raises(ImageError):
            read_image(array)


def test_folder_recursion_sorted_and_filtered(tmp_path):
    (tmp_path / "b").mkdir()
    (tmp_path / ".thumbs").mkdir()
    for name in ["b/2.png", "1.JPG", "notes.txt", "._1.JPG", "b/.hidden.png", ".thumbs/3.png"]:
        (tmp_path / name).write_bytes(b"x")
    found = [p.relative_to(tmp_path).as_posix() for p in iter_image_paths([tmp_path])]
    assert found == ["1.JPG", "b/2.png"]  # hidden names (macOS's ._ forks) are skipped
    assert list(iter_image_paths([tmp_path / "._1.JPG"])) == [tmp_path / "._1.JPG"]  # named
    assert list(iter_image_paths([tmp_path / "missing.jpg"])) == [tmp_path / "missing.jpg"]


def test_folder_links_are_followed_once_and_loops_end(tmp_path):
    data = tmp_path / "data" / "session1"
    data.mkdir(parents=True)
    (data / "a.jpg").write_bytes(b"x")
    study = tmp_path / "study"
    study.mkdir()
    (study / "own.png").write_bytes(b"x")
    (study / "session1").symlink_to(data, target_is_directory=True)  # a linked data folder
    (study / "again").symlink_to(data, target_is_directory=True)  # the same folder twice
    (data / "loop").symlink_to(study, target_is_directory=True)  # and a loop back
    (study / "gone.jpg").symlink_to(tmp_path / "nothing.jpg")  # a broken link
    found = [p.relative_to(study).as_posix() for p in iter_image_paths([study])]
    # the linked folder is read once (through the first link by name), the loop ends, the
    # broken link is kept so that its failure is recorded
    assert found == ["again/a.jpg", "gone.jpg", "own.png"]


@pytest.mark.parametrize(
    "head",
    [
        b"\x00\x00\x00\x18ftypisom",  # MP4
        b"\x1a\x45\xdf\xa3\x01\x00\x00\x00",  # Matroska / WebM
        b"RIFF\x00\x00\x00\x00AVI ",  # AVI
        b"FLV\x01\x05",  # Flash video
        b"\x30\x26\xb2\x75\x8e\x66\xcf\x11",  # ASF / WMV
        b"\x00\x00\x01\xba\x44",  # MPEG program stream (.mpg)
        (b"\x47" + bytes(187)) * 3,  # MPEG transport stream (.ts): a sync byte every 188
    ],
)
def test_a_video_given_as_an_image_is_named_as_a_video(head):
    from mien.errors import UnreadableImageError

    with pytest.raises(UnreadableImageError, match=r"a video, not an image.*iter_frames"):
        read_image(head + bytes(200), name="clip.mp4")
    with pytest.raises(UnreadableImageError, match=r"a HEIC/HEIF image .* convert it to JPEG"):
        read_image(b"\x00\x00\x00\x18ftypheic" + bytes(200))  # a HEIF still is not a video
    with pytest.raises(UnreadableImageError, match="not a recognised image format"):
        read_image(b"\x00\x00\x00\x18ftypcrx " + bytes(200))  # nor a Canon CR3 raw


DDS_HEADER = (
    b"DDS "
    + (124).to_bytes(4, "little")
    + (0x1007).to_bytes(4, "little")
    + (4).to_bytes(4, "little") * 2
    + (16).to_bytes(4, "little")
    + bytes(52)
    + (32).to_bytes(4, "little")
    + bytes(44)
    + bytes(64)
)  # a DDS file that made Pillow's DDS reader raise NotImplementedError (a 500 from the service)


@pytest.mark.parametrize(
    "data",
    [DDS_HEADER, encode(Image.new("RGB", (4, 4)), "ICO"), encode(Image.new("RGB", (4, 4)), "TGA")],
    ids=["dds", "ico", "tga"],
)
def test_formats_outside_the_list_are_refused_by_name(data):
    with pytest.raises(
        UnreadableImageError, match=r"not a recognised image format \(mien reads JPEG"
    ):
        read_image(data, name="photo.jpg")


def test_a_decoder_bug_becomes_a_typed_error(monkeypatch):
    def broken_load(self):
        raise TypeError("'str' object cannot be interpreted as an integer")

    data = encode(Image.new("RGB", (4, 4)), "PNG")
    monkeypatch.setattr(Image.Image, "load", broken_load)
    with pytest.raises(UnreadableImageError, match=r"decoder failed on this file \(TypeError"):
        read_image(data, name="crafted.png")


def test_float_image_with_nan_and_inf_reads_without_warnings(recwarn):
    arr = np.array([[np.nan, np.inf], [-np.inf, 100.4]], np.float32)
    out = read_image(encode(Image.fromarray(arr, mode="F"), "TIFF"))
    assert out[..., 0].tolist() == [[0, 255], [0, 100]]
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]


def test_folders_of_annotated_copies_are_skipped_unless_named(tmp_path):
    from mien.io import ANNOTATED_MARKER

    (tmp_path / "drawn").mkdir()
    for name in ["a.jpg", "drawn/a.jpg", f"drawn/{ANNOTATED_MARKER}"]:
        (tmp_path / name).write_bytes(b"x")
    skipped: list = []
    assert list(iter_image_paths([tmp_path], skipped=skipped)) == [tmp_path / "a.jpg"]
    assert skipped == [tmp_path / "drawn"]
    assert list(iter_image_paths([tmp_path / "drawn"])) == [tmp_path / "drawn" / "a.jpg"]


def test_a_closed_pillow_image_is_named_closed_not_corrupt():
    """It read "the decoder failed on this file (AssertionError: )", blaming a good file."""
    with Image.open(SAMPLES / "grace_hopper.jpg") as unloaded:
        pass
    loaded = Image.open(SAMPLES / "grace_hopper.jpg")
    loaded.load()
    loaded.close()
    for image in (unloaded, loaded):
        with pytest.raises(UnreadableImageError, match="the Pillow image is closed"):
            read_image(image)
    with Image.open(SAMPLES / "grace_hopper.jpg") as open_image:
        assert read_image(open_image).shape == (600, 512, 3)


def test_the_detector_checks_its_input():
    from mien.detection import MediaPipeFaceDetector

    with MediaPipeFaceDetector() as detector:
        for bad in (np.zeros((40, 40, 3), np.float32), np.zeros((0, 0, 3), np.uint8),
                    np.zeros((40, 40, 4), np.uint8), np.zeros((40, 40), np.uint8)):  # fmt: skip
            with pytest.raises(ValueError, match=r"detect needs an \(H, W, 3\) uint8 BGR image"):
                detector.detect(bad)
        assert len(detector.detect(np.zeros((40, 40, 3), np.uint8))) == 0


def test_a_tiff_the_decoder_cannot_read_is_named_a_tiff(tmp_path):
    """A colour TIFF in floating point read "not a recognised image format (mien reads …
    TIFF …)": the file is a TIFF; its sample format is what fails."""
    import cv2

    path = tmp_path / "float.tiff"
    cv2.imwrite(str(path), np.full((8, 8, 3), 0.5, np.float32))
    with pytest.raises(UnreadableImageError, match="a TIFF whose sample format"):
        read_image(path)
