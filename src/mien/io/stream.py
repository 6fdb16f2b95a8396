"""Live sources (webcam index, device path, RTSP/HTTP/UDP URL, named pipe) read by a
background thread.

OpenCV's ``VideoCapture`` opens the source (V4L2 for cameras, FFmpeg for URLs and pipes). The
reader thread keeps only the latest frame by default, so analysis never lags behind the camera
(``drop_frames=False`` keeps every frame in a bounded buffer instead, blocking the reader when
full). When a camera or stream drops, the reader reconnects with exponential back-off
(also after a connection that ended within :data:`STEADY_S` of opening).
Indices count every frame read from the source, so dropped frames leave gaps.

Timestamps are seconds since the stream object was made. A camera's frames are stamped when
they arrive. A stream (URL or pipe) whose frames carry presentation times is stamped by them:
the first frame of each connection when it arrives, the rest that far after it in media time,
so frames that arrive in a burst (FFmpeg's start-up probing delivers seconds of video at once)
keep their real spacing; where a stream's times do not advance or fall behind the clock,
arrival times are used from where the stamps had got to, the lag closed gradually
(:data:`CATCH_UP`). Timestamps never go back.

A regular video *file* given as the source is decoded by PyAV, as ``mien analyze`` reads it,
and played once at its own frame rate, like a camera; the stream ends at its last frame. Its
frames keep the file's own indices and timestamps (the container's presentation times), so
its rows match ``mien analyze``'s. (To analyse a file as fast as possible, use ``mien
analyze``.) A local path that does not exist, a folder, or a file that is not a video, is an
error at once.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import math
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from urllib.parse import unquote

import cv2

from mien.errors import MienError, StreamError, VideoDecodeError
from mien.types import Frame

CATCH_UP = 0.1
"""Where a stream's own times are dropped after falling behind the clock, its stamps go on
from where they were and close the lag at this share of the clock's rate (1.1 s a second),
so the time line does not jump (a jump of 1 s split every track)."""
STEADY_S = 5.0
"""A connection that ends sooner than this after opening is backed off before the next try."""
MAX_RATE_ERROR = 1.15
"""A connection's own times are kept only while, over 4 s once its start-up burst has
drained, they advance at between 1/1.15 and 1.15 times the clock's rate: FFmpeg's invented 25
fps for a 30 fps MJPEG camera (1.2x) ran 6 s ahead in 30 s under the 2/3-3/2 band this
replaced. Network jitter of 0.2 s at both ends of the window moves the rate by 10 %."""
PACED_SPAN_S = 0.5
"""A start-up burst has drained once frames arrive at 0.8 of real-time pace or more over this
much media time (one frame's step was fooled by a slow key frame inside a burst)."""
MAX_LEAD_S = 30.0
"""Stamps at most this far ahead of arrival: past it a connection's own times are dropped (a
recording served over HTTP, read faster than real time again and again, ran 34 s ahead in 32
s). FFmpeg's start-up probing hands over about 5 s of a live stream at once, a live HLS
playlist's three segments back up to 30 s."""
STALL_S = 2.0
"""``on_status`` is told when no frame has come for this long (a source that stalls without
closing its connection holds OpenCV's read up to 30 s)."""
FFMPEG_LOGLEVEL = "-8"
"""``OPENCV_FFMPEG_LOGLEVEL`` set for OpenCV's FFmpeg unless the environment sets it:
FFmpeg's quiet level. Its own lines ("Stream ends prematurely", "Invalid NAL unit size",
a dozen per drop) said again what the status lines say; set the variable to ``16`` (errors)
to see them, which OpenCV then prints to stdout (so not with rows written there). Set here,
at import, before any reading thread runs (OpenCV reads it at each open)."""
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", FFMPEG_LOGLEVEL)

_QUIET = threading.Lock()  # OpenCV's log level is process-wide: see _opencv_quiet
_quiet = {"openers": 0, "saved": 0}


@contextlib.contextmanager
def _opencv_quiet() -> Iterator[None]:
    """OpenCV silent while any stream is opening; the level before the first is restored
    after the last. The lock is never held while OpenCV opens a source: an open can block for
    ever (a pipe nobody writes to) and must not stop other streams from opening."""
    with _QUIET:
        if _quiet["openers"] == 0:
            _quiet["saved"] = cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
        _quiet["openers"] += 1
    try:
        yield
    finally:
        with _QUIET:
            _quiet["openers"] -= 1
            if _quiet["openers"] == 0:
                cv2.utils.logging.setLogLevel(_quiet["saved"])


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
        on_status: told (from the reading thread) when the source drops and when a frame
            comes again, one line each (the source named as :attr:`name` names it).

    A connection that ends within :data:`STEADY_S` of opening is backed off like a failed
    one (a recording served over HTTP ends at once and would be read again and again).

    The reading thread starts at once: close the stream (``with``, or :meth:`close`) when done.

    Raises:
        ValueError: bad arguments (``buffer`` < 1, a back-off or timeout not > 0).
        StreamError: (while iterating) the source never opened, or stayed away longer than
            ``give_up_s``.
        VideoDecodeError: (while iterating) a video file given as the source broke off, or
            its damaged data was left out (after its last frame), as :func:`iter_frames`
            raises it.
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
        on_status: Callable[[str], None] | None = None,
    ) -> None:
        if buffer < 1:
            raise ValueError(f"buffer must be >= 1; got {buffer}")
        if reconnect_s <= 0 or max_reconnect_s < reconnect_s:
            raise ValueError("need 0 < reconnect_s <= max_reconnect_s")
        if not open_timeout_s > 0 or (give_up_s is not None and not give_up_s > 0):  # NaN too
            raise ValueError(
                f"open_timeout_s and give_up_s must be > 0; got {open_timeout_s}, {give_up_s}"
            )
        self.source = int(source) if isinstance(source, str) and source.isdigit() else source
        self.drop_frames = drop_frames
        self.reconnect_s = reconnect_s
        self.max_reconnect_s = max_reconnect_s
        self.open_timeout_s = open_timeout_s
        self.give_up_s = give_up_s
        self.on_status = on_status
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
        self._interrupted = False  # interrupt(): a plain flag, safe in a signal handler
        self._last_frame_at: float | None = None  # monotonic time of the newest frame read
        self._away = False  # said to be away (dropped, or stalled STALL_S): not back yet
        self._opened = False  # a connection opened (frames or none)
        self._error: StreamError | VideoDecodeError | None = None
        self._t0 = time.monotonic()
        if isinstance(self.source, str) and _looks_local(self.source):
            if not os.path.exists(self.source):
                self._error = StreamError(f"{self.source}: no such file or device")
            elif os.path.isdir(self.source):  # OpenCV waited out open_timeout_s on it
                self._error = StreamError(f"{self.source}: a folder, not a video file or device")
        self._thread = threading.Thread(target=self._read, name="mien-live", daemon=True)
        if self._error is None:
            self._thread.start()

    @property
    def name(self) -> str:
        """The source as rows and messages name it: a URL without its user name, password,
        secret-looking query values and fragment (:func:`redact_url`)."""
        return redact_url(str(self.source))

    def _open(self) -> cv2.VideoCapture | None:
        # OpenCV logs a dozen warnings per failed attempt (each backend it tries, then "camera
        # index out of range"); the failure is reported once, by _fail, instead
        with _opencv_quiet():
            cap = cv2.VideoCapture(self.source)
        if cap.isOpened():
            return cap
        cap.release()
        return None

    def _read(self) -> None:
        try:
            if self.is_file:
                self._read_file()
            else:
                self._read_live()
        finally:
            with self._cond:
                self._cond.notify_all()

    def _read_file(self) -> None:
        """Decode the file with PyAV at its own pace; the stream ends at its last frame."""
        from mien.io.video import iter_frames

        frames = iter_frames(self.source)
        start: tuple[float, float] | None = None  # (monotonic, media time) pacing starts from
        last = -math.inf
        try:
            for frame in frames:
                if start is None or frame.timestamp_s < last:  # first, or the clock went back
                    start = (time.monotonic(), frame.timestamp_s)
                last = frame.timestamp_s
                ahead = (frame.timestamp_s - start[1]) - (time.monotonic() - start[0])
                if self._stop.wait(max(ahead, 0.0)):
                    return
                self.frames_read = frame.index + 1
                self._push(dataclasses.replace(frame, source=self.name))  # damage marks too
        except VideoDecodeError as e:  # broke off, or damaged data left out: as analyze says it
            with self._cond:
                self._error = e
                self._cond.notify_all()
        except MienError as e:  # not a video
            self._fail(str(e))
        finally:
            frames.close()
            self.ended = True

    def _read_live(self) -> None:
        delay = self.reconnect_s
        connected_once = False
        last_frame = opened_at = time.monotonic()
        media = not isinstance(self.source, int) and not str(self.source).startswith("/dev/")
        timeline = _Timeline(media)
        cap = None
        try:
            while not self._stop.is_set():
                if cap is None:
                    cap = self._open()
                    if cap is None:
                        waited = time.monotonic() - (last_frame if connected_once else self._t0)
                        limit = self.give_up_s if connected_once else self.open_timeout_s
                        if (delay := self._retry_after(delay, waited, limit, connected_once)) < 0:
                            return
                        continue
                    if connected_once:
                        self.reconnects += 1
                    connected_once = self._opened = True
                    opened_at = time.monotonic()
                    timeline.connect()
                ok, image = cap.read()
                if not ok or image is None:
                    cap.release()
                    cap = None
                    if self._last_frame_at is not None and not self._away:
                        self._away = True
                        self._say("the source dropped: reconnecting")
                    if time.monotonic() - opened_at < STEADY_S:
                        # it ended soon after it opened (a recording served over HTTP, read
                        # again and again): back off before the next try, as after a failure
                        waited = time.monotonic() - last_frame
                        framed = self._last_frame_at is not None
                        limit = self.give_up_s if framed else self.open_timeout_s
                        if (delay := self._retry_after(delay, waited, limit, True)) < 0:
                            return
                    else:
                        delay = self.reconnect_s
                    continue
                now = time.monotonic()
                with self._cond:  # with the stall check (iterating thread): one or the other
                    self._last_frame_at, was_away, self._away = now, self._away, False
                if was_away:  # the first frame since the source dropped or stalled
                    self._say(f"back after {now - last_frame:.1f} s without a frame")
                last_frame = now
                t = timeline.stamp(cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0, last_frame - self._t0)
                frame = Frame(image, self.frames_read, t, self.name)
                self.frames_read += 1
                self._push(frame)
        finally:
            if cap is not None:
                cap.release()

    def _retry_after(
        self, delay: float, waited: float, limit: float | None, connected: bool
    ) -> float:
        """Wait ``delay`` before the next try, never past ``limit``, and return the next
        delay (doubled, up to ``max_reconnect_s``); -1 once ``waited`` (seconds without a
        frame) is past ``limit``: the stream has failed (:meth:`_fail`)."""
        if limit is not None and waited > limit:
            self._fail(self._absent(connected, waited))
            return -1.0
        self._stop.wait(delay if limit is None else min(delay, max(0.0, limit - waited) + 0.05))
        return min(delay * 2, self.max_reconnect_s)

    def _say(self, message: str) -> None:
        if self.on_status is not None:
            self.on_status(f"{self.name}: {message}")

    def _absent(self, connected_once: bool, waited: float) -> str:
        if connected_once and self._last_frame_at is None:  # it opens, then gives nothing
            return (
                f"{self.name}: the source opened but has given no frame in {waited:.1f} s "
                f"({self.reconnects + 1} connection{'s' * (self.reconnects > 0)})"
            )
        what = "come back" if connected_once else "opened"
        message = f"{self.name}: the source has not {what} for {waited:.1f} s"
        if isinstance(self.source, int) and not connected_once:
            message += " (no camera at that index, or another program holds it)"
        return message

    def _push(self, frame: Frame) -> None:
        with self._cond:
            if self.drop_frames:
                if self._frames:
                    self.frames_dropped += 1
                    dropped = self._frames[-1].damaged_from_s
                    if dropped is not None:  # its damage mark goes on to the frame kept
                        marks = [dropped, frame.damaged_from_s]
                        since = min(m for m in marks if m is not None)
                        frame = dataclasses.replace(frame, damaged_from_s=since)
                self._frames.append(frame)
            else:
                while len(self._frames) >= (self._frames.maxlen or 1) and not self._stop.is_set():
                    self._cond.wait(0.1)
                self._frames.append(frame)
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
                    and not self._interrupted
                    and not (self.ended or (not self._thread.is_alive() and self._started))
                ):
                    self._cond.wait(0.1)
                    if not self._frames and (late := self._overdue()) is not None:
                        raise late
                    self._say_stalled()
                if self._interrupted:
                    return
                if self._frames:
                    frame = self._frames.popleft()
                    self._cond.notify_all()
                elif self._error is not None:
                    raise self._error
                else:
                    return
            yield frame

    def _say_stalled(self) -> None:
        """Tell ``on_status`` once when a source that gave frames has given none for
        :data:`STALL_S` (it may hold its connection open without data: nothing else says so
        until OpenCV gives up, 30 s on)."""
        last = self._last_frame_at
        if last is None or self._away or self.is_file:
            return
        if (waited := time.monotonic() - last) > STALL_S:
            self._away = True
            self._say(f"no frame for {waited:.0f} s: waiting for the source")

    def _overdue(self) -> StreamError | None:
        """The open timeout or ``give_up_s`` passed without a frame while the reader is stuck
        inside OpenCV (a pipe nobody writes to, a silent UDP port: FFmpeg waits there without
        a limit, so the reader's own checks never run); a second later than the reader's."""
        if self.is_file:
            return None
        now = time.monotonic()
        if self._last_frame_at is None:
            waited, limit = now - self._t0, self.open_timeout_s
        else:
            waited, limit = now - self._last_frame_at, self.give_up_s
        if limit is None or waited <= limit + 1.0:
            return None
        return StreamError(self._absent(self._opened, waited))

    @property
    def _started(self) -> bool:
        return self._thread.ident is not None

    def interrupt(self) -> None:
        """Make iteration end within about 0.1 s, even while the source is away or has not
        opened yet (:meth:`close` still stops the reader and releases the source). It only
        sets a flag, taking no lock, so a signal handler may call it at any moment."""
        self._interrupted = True

    def close(self) -> None:
        """Stop the reader thread and release the source (idempotent)."""
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        if self._started:
            self._thread.join(timeout=1.0)
        if self._thread.is_alive() and _is_fifo(self.source):
            # stuck opening a pipe nobody writes to (see _overdue): OpenCV's FFmpeg backend
            # opens one source at a time, so release it by opening the pipe's other end
            deadline = time.monotonic() + 2.0
            while self._thread.is_alive() and time.monotonic() < deadline:
                with contextlib.suppress(OSError):  # no reader waiting at this instant
                    os.close(os.open(str(self.source), os.O_WRONLY | os.O_NONBLOCK))
                self._thread.join(timeout=0.05)  # (OpenCV may open it more than once)

    def __enter__(self) -> LiveStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _is_fifo(source: int | str) -> bool:
    import stat

    try:
        return isinstance(source, str) and stat.S_ISFIFO(os.stat(source).st_mode)
    except OSError:
        return False


SECRET_KEYS = ("pass", "pwd", "token", "tok", "key", "secret", "auth", "sig", "cred",
               "session", "jwt", "mail", "hash", "bearer", "access", "ticket", "policy",
               "streamid", "md5", "hdnts", "hdnea")  # fmt: skip
"""Parts of query keys whose values :func:`redact_url` hides (``password``, ``access_token``,
``apikey``, ``X-Amz-Signature``, ``sessionid``, SRT's ``streamid`` …), matched in the key
percent-decoded, case ignored; also the whole keys of :data:`SECRET_NAMES`."""
SECRET_NAMES = ("pw", "user", "usr", "username", "login", "code", "sid", "uid", "u", "p", "k",
                "s", "st", "t", "pin", "pincode", "psk")  # fmt: skip
"""Query keys whose values :func:`redact_url` hides, matched whole (case ignored)."""


def redact_url(source: str) -> str:
    """``source`` with the secrets a stream URL may carry replaced by ``***``: its user name
    and password (before the ``@`` that ends them, however they are written), the values of
    query keys that look secret (:data:`SECRET_KEYS`, :data:`SECRET_NAMES`) and the fragment
    (``rtsp://admin:pw@cam/live?channel=2&token=x`` →
    ``rtsp://***@cam/live?channel=2&token=***``); each URL of an FFmpeg ``concat:a|b`` alike.
    Other query values are kept (they tell streams apart: ``channel=1``, ``subtype=0``), and
    so is the path. A path that is not a URL is returned as it is.

    Camera and stream URLs often carry credentials, and rows, logs and terminal output get
    shared. A token written into the path (an RTMP stream key), or under a query key of
    another name, is not found.
    """
    if _looks_local(source):
        return source
    if source.startswith("concat:") and "|" in source:
        return "|".join(redact_url(part) for part in source.split("|"))
    scheme, _, rest = source.partition("://")
    # the user name and password end at the last "@" before the path; a password with a
    # "/" in it has none there: then at the last "@" before the query
    at = rest.rfind("@", 0, _first(rest, "/"))
    if at < 0:
        at = rest.rfind("@", 0, _first(rest, "?#"))
    head = "***@" if at > 0 else rest[: at + 1]
    # that "@" was in a query value (or a password had a "?")
    in_query = at > 0 and "?" in rest[:at]
    rest = rest[at + 1 :]
    rest, hash_, fragment = rest.partition("#")
    if in_query:  # the rest of that query (up to "#", whatever "?" it holds): its secrets
        # hidden all the same; its first part is the end of the value that held the "@"
        rest, question, query = _redact_query(rest, first_bare="kept"), "", ""
    else:
        rest, question, query = rest.partition("?")
    if question:
        query = _redact_query(query)
    return f"{scheme}://{head}{rest}{question}{query}{hash_}{'***' if fragment else ''}"


def _first(text: str, chars: str) -> int:
    """Index of the first of ``chars`` in ``text``, else its length."""
    return min((i for c in chars if (i := text.find(c)) >= 0), default=len(text))


def _redact_query(query: str, first_bare: str = "hidden") -> str:
    """A query's ``key=value`` parts with secret-looking values hidden, separators kept; a
    value that is itself a URL (percent-encoded up to three times, or scheme-relative)
    redacted as one; parts without ``=`` hidden (they may be a token), except the first with
    ``first_bare="kept"``."""
    out = []
    for i, part in enumerate(re.split(r"([&;])", query)):
        key, eq, value = part.partition("=")
        low = unquote(key).lower()
        for _ in range(3):
            value = unquote(value)
        if part in ("&", ";", "") or (not eq and i == 0 and first_bare == "kept"):
            out.append(part)
        elif not eq:
            out.append("***")
        elif low in SECRET_NAMES or any(k in low for k in SECRET_KEYS):
            out.append(f"{key}=***")
        elif "://" in value:  # a URL in a URL
            out.append(f"{key}={redact_url(value)}")
        elif value.startswith("//") and "@" in value:
            out.append(f"{key}={redact_url('x:' + value)[2:]}")
        else:
            out.append(part)
    return "".join(out)


def _looks_local(source: str) -> bool:
    """A file or device path rather than a URL (``rtsp://``, ``http://`` …)."""
    return "://" not in source


class _Timeline:
    """One stream's timestamps across its connections: by the media clock of each connection
    (:class:`_MediaClock`) while its times are trusted, else by arrival, never going back.

    ``lead`` is how far the stamps are ahead of arrival (a burst) or behind it (media times
    that fell behind before they were dropped). While a connection's own times are trusted a
    lead stays; once they are dropped (also past :data:`MAX_LEAD_S` ahead) a lead or lag
    closes at :data:`CATCH_UP` of the clock's rate. A new connection's own times start at
    its first frame's arrival; stamps that would fall before the stamps so far are held
    there."""

    def __init__(self, media: bool) -> None:
        self.media = media
        self.clock: _MediaClock | None = None
        self.lead = 0.0
        self.last_t = 0.0
        self.last_arrival: float | None = None

    def connect(self) -> None:
        """A new connection: its own media clock (for a stream with presentation times)."""
        self.clock = _MediaClock() if self.media else None

    def stamp(self, media_s: float, arrival_s: float) -> float:
        """The timestamp of a frame with media time ``media_s`` (seconds; NaN when unknown)
        that arrived at ``arrival_s`` (seconds on the stream's clock)."""
        t = None
        if self.clock is not None:
            # each connection starts at its arrival (its start-up burst replays video from
            # before it: stamps before the stamps so far are held there, never going back),
            # so a lead does not grow by a burst a reconnect
            t = self.clock.time(media_s, arrival_s)
            if t is not None and t - arrival_s > MAX_LEAD_S:
                t = None  # read faster than real time for long: not a live stream's times
            if t is None:
                self.clock = None  # for the rest of this connection
        if t is None:
            if self.last_arrival is not None:  # a lag or lead left closes gradually
                step = CATCH_UP * max(arrival_s - self.last_arrival, 0.0)
                self.lead = (
                    max(0.0, self.lead - step) if self.lead > 0 else min(0.0, self.lead + step)
                )
            t = arrival_s + self.lead
        self.last_t = t = max(t, self.last_t)
        self.lead = t - arrival_s
        self.last_arrival = arrival_s
        return t


class _MediaClock:
    """Stamps one connection's frames by their presentation time: the first frame at its
    stamp by arrival (plus the lead it is given), each later one that far after it in media
    time.

    The media times are dropped for the rest of the connection (``time`` returns ``None``, and
    the caller stamps by arrival) when they fail to advance, when they fall more than
    ``max_behind_s`` behind arrival since the connection's first frame (or, once its start-up
    burst has drained, run that much ahead of it since then: a jump forward), or when, over
    ``window_s`` of arrival time from the first frame after ``settle_s`` that arrives at
    real-time pace (:data:`PACED_SPAN_S`: the burst has drained), they advance at less than
    1/:data:`MAX_RATE_ERROR` or more than
    :data:`MAX_RATE_ERROR` times the rate of the clock: FFmpeg invents a steady 25 fps for a
    stream without times (MJPEG or raw H.264 through a pipe), however fast its frames come.
    """

    def __init__(
        self, max_behind_s: float = 1.0, settle_s: float = 0.5, window_s: float = 4.0
    ) -> None:
        self.max_behind_s = max_behind_s
        self.settle_s = settle_s
        self.window_s = window_s
        self._base: tuple[float, float, float] | None = None  # media, stamp, arrival
        self._ref: tuple[float, float] | None = None  # media, arrival where the rate check starts
        self._checked = False
        self._last: tuple[float, float] | None = None  # the previous frame's media, arrival
        self._recent: collections.deque[tuple[float, float]] = collections.deque()
        self._ok = True

    def time(self, media_s: float, arrival_s: float, lead_s: float = 0.0) -> float | None:
        """The stamp of a frame with this media time that arrived at ``arrival_s`` (seconds on
        the stream's clock), or ``None`` once media times are not trusted. ``lead_s``: how far
        the first frame's stamp is ahead of its arrival (the stream's stamps so far, which
        must not go back)."""
        last = self._last
        advancing = math.isfinite(media_s) and (last is None or media_s > last[0])
        if not (self._ok and advancing):
            self._ok = False
            return None
        if self._base is None:
            self._base = (media_s, arrival_s + lead_s, arrival_s)
        media0, stamp0, arrival0 = self._base
        t = stamp0 + (media_s - media0)
        if self._ref is None:
            self._recent.append((media_s, arrival_s))
            while media_s - self._recent[0][0] > PACED_SPAN_S:
                self._recent.popleft()
            m0, a0 = self._recent[0]
            # at real-time pace over the last half second of media: the burst has drained
            paced = media_s - m0 >= 0.8 * PACED_SPAN_S and arrival_s - a0 >= 0.8 * (media_s - m0)
            if arrival_s - arrival0 >= self.settle_s and paced:
                self._ref = (media_s, arrival_s)
                self._recent.clear()
        elif not self._checked and arrival_s - self._ref[1] >= self.window_s:
            self._checked = True
            rate = (media_s - self._ref[0]) / (arrival_s - self._ref[1])
            self._ok = 1 / MAX_RATE_ERROR <= rate <= MAX_RATE_ERROR
        behind = (arrival_s - arrival0) - (media_s - media0)  # since the first frame
        if self._ref is not None:  # once the burst has drained, not ahead either (a jump
            # forward in the stream's times; an invented rate a little too fast)
            ahead = (media_s - self._ref[0]) - (arrival_s - self._ref[1])
            behind = max(behind, ahead)
        if self._ok and behind <= self.max_behind_s:
            self._last = (media_s, arrival_s)
            return t
        self._ok = False
        return None
