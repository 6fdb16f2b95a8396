"""Live sources (webcam index, device path, RTSP/HTTP URL) read by a background thread.

OpenCV's ``VideoCapture`` opens the source (V4L2 for cameras, FFmpeg for URLs and files). The
reader thread keeps only the latest frame by default, so analysis never lags behind the camera
(``drop_frames=False`` keeps every frame in a bounded buffer instead, blocking the reader when
full). When a camera or stream drops, the reader reconnects with exponential back-off.
Timestamps are seconds since the stream was opened (monotonic clock); indices count every frame
read from the source, so dropped frames leave gaps.

A regular video *file* given as the source is played once at its own frame rate, like a
camera, and the stream ends at its last frame; its timestamps are the file's media time. (To
analyse a file as fast as possible, use ``mien analyze``.) A local path that does not exist is
an error at once.
"""

from __future__ import annotations

import collections
import os
import threading
import time
from collections.abc import Iterator

import cv2

from mien.errors import StreamError
from mien.types import Frame

_OPENING = threading.Lock()  # OpenCV's log level is process-wide: see LiveStream._open


class LiveStream:
    """Iterate frames of a live source; ``with LiveStream(0) as s: for frame in s: ...``.

    Args:
        source: camera index (``0``), device path (``/dev/video0``) or URL (``rtsp://…``).
        drop_frames: keep only the newest frame (``True``), or every frame (``False``).
        buffer: frames held when ``drop_frames`` is ``False``.
        reconnect_s: first back-off delay after the source drops; doubles up to
            ``max_reconnect_s``.
        max_reconnect_s: longest back-off delay.
        open_timeout_s: how long the first connection may take before :class:`StreamError`.
        give_up_s: stop (with :class:`StreamError`) after this long without a frame once
            connected; ``None`` retries for ever.

    Raises:
        ValueError: bad arguments.
        StreamError: (while iterating) the source never opened, or stayed away longer than
            ``give_up_s``.
    """

    def __init__(
        self,
        source: int | str,
        *,
        drop_frames: bool = True,
        buffer: int = 30,
        reconnect_s: float = 0.5,
        max_reconnect_s: float = 8.0,
        open_timeout_s: float = 10.0,
        give_up_s: float | None = None,
    ) -> None:
        if buffer < 1:
            raise ValueError(f"buffer must be >= 1; got {buffer}")
        if reconnect_s <= 0 or max_reconnect_s < reconnect_s:
            raise ValueError("need 0 < reconnect_s <= max_reconnect_s")
        self.source = int(source) if isinstance(source, str) and source.isdigit() else source
        self.drop_frames = drop_frames
        self.reconnect_s = reconnect_s
        self.max_reconnect_s = max_reconnect_s
        self.open_timeout_s = open_timeout_s
        self.give_up_s = give_up_s
        self.reconnects = 0
        self.frames_read = 0
        self.frames_dropped = 0
        self.is_file = isinstance(self.source, str) and os.path.isfile(self.source)
        self.ended = False
        self._frames: collections.deque[Frame] = collections.deque(
            maxlen=1 if drop_frames else buffer
        )
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._error: StreamError | None = None
        self._t0 = time.monotonic()
        if (
            isinstance(self.source, str)
            and _looks_local(self.source)
            and not os.path.exists(self.source)
        ):
            self._error = StreamError(f"{self.source}: no such file or device")
        self._thread = threading.Thread(target=self._read, name="mien-live", daemon=True)
        if self._error is None:
            self._thread.start()

    @property
    def name(self) -> str:
        return str(self.source)

    def _open(self) -> cv2.VideoCapture | None:
        # OpenCV logs a dozen warnings per failed attempt (each backend it tries, then "camera
        # index out of range"); the failure is reported once, by _fail, instead
        with _OPENING:  # one stream at a time changes the process-wide level and restores it
            previous = cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
            try:
                cap = cv2.VideoCapture(self.source)
            finally:
                cv2.utils.logging.setLogLevel(previous)
        if cap.isOpened():
            return cap
        cap.release()
        return None

    def _read(self) -> None:
        delay = self.reconnect_s
        connected_once = False
        last_frame = time.monotonic()
        cap = None
        try:
            while not self._stop.is_set():
                if cap is None:
                    cap = self._open()
                    if cap is None:
                        waited = time.monotonic() - (last_frame if connected_once else self._t0)
                        limit = self.give_up_s if connected_once else self.open_timeout_s
                        if limit is not None and waited > limit:
                            what = "came back" if connected_once else "opened"
                            self._fail(f"{self.name}: the source has not {what} for {waited:.1f} s")
                            return
                        # back off, but never sleep past the limit
                        left = delay if limit is None else max(0.0, limit - waited) + 0.05
                        self._stop.wait(min(delay, left))
                        delay = min(delay * 2, self.max_reconnect_s)
                        continue
                    if connected_once:
                        self.reconnects += 1
                    connected_once = True
                    delay = self.reconnect_s
                ok, image = cap.read()
                if not ok or image is None:
                    cap.release()
                    cap = None
                    if self.is_file and connected_once:  # a file ends: no reconnect, no loop
                        self.ended = True
                        return
                    continue
                last_frame = time.monotonic()
                t = last_frame - self._t0
                if self.is_file:  # play at the file's own pace, stamped with its media time
                    t = cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
                    ahead = t - (last_frame - self._t0)
                    if ahead > 0 and self._stop.wait(ahead):
                        return
                frame = Frame(image, self.frames_read, t, self.name)
                self.frames_read += 1
                with self._cond:
                    if self.drop_frames:
                        if self._frames:
                            self.frames_dropped += 1
                        self._frames.append(frame)
                    else:
                        while (
                            len(self._frames) >= (self._frames.maxlen or 1)
                            and not self._stop.is_set()
                        ):
                            self._cond.wait(0.1)
                        self._frames.append(frame)
                    self._cond.notify_all()
        finally:
            if cap is not None:
                cap.release()
            with self._cond:
                self._cond.notify_all()

    def _fail(self, message: str) -> None:  # called from the reader thread
        with self._cond:
            self._error = StreamError(message)
            self._cond.notify_all()

    def __iter__(self) -> Iterator[Frame]:
        while True:
            with self._cond:
                while (
                    not self._frames
                    and self._error is None
                    and not self._stop.is_set()
                    and not (self.ended or (not self._thread.is_alive() and self._started))
                ):
                    self._cond.wait(0.1)
                if self._frames:
                    frame = self._frames.popleft()
                    self._cond.notify_all()
                elif self._error is not None:
                    raise self._error
                else:
                    return
            yield frame

    @property
    def _started(self) -> bool:
        return self._thread.ident is not None

    def close(self) -> None:
        """Stop the reader thread and release the source (idempotent)."""
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        if self._started:
            self._thread.join(timeout=5.0)

    def __enter__(self) -> LiveStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _looks_local(source: str) -> bool:
    """A file or device path rather than a URL (``rtsp://``, ``http://`` …)."""
    return "://" not in source
