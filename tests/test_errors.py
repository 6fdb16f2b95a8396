"""mien's errors survive pickling: a process pool sends a worker's error to its parent so."""

from __future__ import annotations

import copy
import pickle
from concurrent.futures import ProcessPoolExecutor

import pytest

import mien
from mien import errors


@pytest.mark.parametrize(
    "error",
    [
        errors.ImageNotFoundError("a.jpg", "no such file"),
        errors.UnreadableImageError("b.png", "truncated"),
        errors.ImageTooLargeError("c.tif", "too many pixels"),
        errors.ImageError("<array>", "dtype must be uint8"),
        errors.VideoError("v.mp4", "no video stream"),
        errors.VideoDecodeError("v.mkv", "decoding stopped", last_timestamp_s=1.25),
        errors.VideoDecodeError("w.mkv", "decoding stopped"),
        errors.StreamError("camera 0 cannot be opened"),
        errors.WeightsError("sha256 mismatch"),
        errors.DatasetError("labels.csv: empty"),
    ],
)
def test_every_error_round_trips(error):
    error.note = "kept too"  # attributes set after construction survive as well
    for back in (pickle.loads(pickle.dumps(error)), copy.deepcopy(error)):
        assert type(back) is type(error) and str(back) == str(error)
        assert back.__dict__ == error.__dict__


def _read(path: str) -> None:
    mien.io.read_image(path)


def test_a_worker_error_reaches_the_parent_typed(tmp_path):
    """Before, the pool broke (BrokenProcessPool) unpickling the worker's ImageNotFoundError."""
    with (
        ProcessPoolExecutor(1) as pool,
        pytest.raises(errors.ImageNotFoundError, match=r"nope\.jpg") as caught,
    ):
        pool.submit(_read, str(tmp_path / "nope.jpg")).result(timeout=60)
    assert caught.value.path == str(tmp_path / "nope.jpg")


def test_a_missing_video_is_a_file_not_found_error_as_a_missing_image_is(tmp_path):
    import pickle

    import mien

    with pytest.raises(FileNotFoundError) as caught:
        list(mien.iter_frames(tmp_path / "gone.mp4"))
    assert isinstance(caught.value, mien.VideoNotFoundError)
    assert isinstance(caught.value, mien.VideoError) and isinstance(caught.value, ValueError)
    assert str(pickle.loads(pickle.dumps(caught.value))) == f"{tmp_path / 'gone.mp4'}: no such file"
    assert issubclass(mien.UnknownDetectorError, ValueError)
