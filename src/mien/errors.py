"""mien's error types: one base class; each subclass also inherits the matching builtin."""

from __future__ import annotations


class MienError(Exception):
    """Base class of every error mien raises on purpose."""


class _PathProblem(MienError):
    """An error about one file: ``path`` and ``problem``, kept when pickled (a process pool
    sends a worker's error to its parent so; ``Exception`` alone would rebuild it from the
    message, and a two-argument ``__init__`` would fail there)."""

    path: str
    problem: str

    def __reduce__(self) -> tuple:
        return (type(self), self._init_args(), self.__dict__)

    def _init_args(self) -> tuple:
        return (self.path, self.problem)


class ImageError(_PathProblem, ValueError):
    """An image could not be used. ``path`` names the file (or ``"<bytes>"``/``"<array>"``)."""

    def __init__(self, path: str, problem: str) -> None:
        self.path = path
        self.problem = problem
        super().__init__(f"{path}: {problem}")


class ImageNotFoundError(ImageError, FileNotFoundError):
    """The path does not exist or is not a file."""


class UnreadableImageError(ImageError):
    """The file is not an image, or it is corrupt or truncated."""


class ImageTooLargeError(ImageError):
    """The image has more pixels than the configured cap (decompression-bomb guard)."""


class VideoError(_PathProblem, ValueError):
    """A video file cannot be opened or decoded. ``path`` names it; ``problem`` says why."""

    def __init__(self, path: str, problem: str) -> None:
        self.path = path
        self.problem = problem
        super().__init__(f"{path}: {problem}")


class VideoNotFoundError(VideoError, FileNotFoundError):
    """The video's path does not exist (``except FileNotFoundError`` catches it, as it
    catches a missing image's :class:`ImageNotFoundError`)."""


class VideoDecodeError(VideoError):
    """Decoding stopped before the end of the video (truncated or corrupt data), or damaged
    data inside it was skipped. Every frame before the break (or every undamaged frame) was
    delivered; ``last_timestamp_s`` is the last decoded (or last delivered) one, or ``None``."""

    def __init__(self, path: str, problem: str, last_timestamp_s: float | None = None) -> None:
        self.last_timestamp_s = last_timestamp_s
        super().__init__(path, problem)

    def _init_args(self) -> tuple:
        return (self.path, self.problem, self.last_timestamp_s)


class StreamError(MienError, ConnectionError):
    """A live source cannot be opened (at all, or again within the reconnect budget)."""


class WeightsError(MienError, RuntimeError):
    """Model weights are missing, corrupt (sha256 mismatch) or do not fit their spec."""


class UnknownModelError(MienError, ValueError):
    """A model name that is not bundled (:func:`mien.list_models` gives the known ones)."""


class UnknownDetectorError(MienError, ValueError):
    """A face detector option that is not one of
    :data:`~mien.detection.mediapipe.DETECTOR_MODELS`."""


class DatasetError(MienError, ValueError):
    """A labelled dataset folder is malformed, or its labels do not fit the model."""


class TimeWindowsError(DatasetError):
    """A time-windows table (or its CSV file) that :func:`mien.summary.window_summary`
    cannot use; the result rows are not at fault."""
