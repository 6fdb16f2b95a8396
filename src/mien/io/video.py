"""Video files with PyAV: probe the container, iterate frames with their real timestamps.

Timestamps are the container's presentation timestamps (``pts × time_base``, seconds), so they
are right for variable-frame-rate files; frame indices count every decoded frame from 0.
Display rotation (the container's display matrix) is applied, so frames are upright.
Frames are decoded sequentially from the start (no seeking), which keeps indices exact.
"""

from __future__ import annotations

import collections
import math
import os
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from mien.errors import VideoDecodeError, VideoError, VideoNotFoundError
from mien.tracking.iou import STEP_WINDOW
from mien.types import Frame, whole_number

VIDEO_SUFFIXES = frozenset(
    {
        ".mp4",
        ".m4v",
        ".mov",
        ".mkv",
        ".webm",
        ".avi",
        ".mpg",
        ".mpeg",
        ".ts",
        ".wmv",
        ".flv",
        ".3gp",
        ".ogv",
        ".mts",
        ".m2ts",
        ".vob",
    }
)
"""Suffixes (lower case) that folder recursion treats as videos; named files are probed."""

STILL_FORMATS = frozenset(
    {
        "image2",
        "png_pipe",
        "jpeg_pipe",
        "bmp_pipe",
        "webp_pipe",
        "tiff_pipe",
        "gif",
        "gif_pipe",
        "pgm_pipe",
        "ppm_pipe",
        "pam_pipe",
        "pgmyuv_pipe",
        "pbm_pipe",
        "jpegls_pipe",
        "j2k_pipe",
        "jpegxl_pipe",
        "qoi_pipe",
        "sgi_pipe",
        "psd_pipe",
        "xbm_pipe",
        "xpm_pipe",
        "dpx_pipe",
        "exr_pipe",
        "hdr_pipe",
        "pcx_pipe",
        "pictor_pipe",
        "pgx_pipe",
        "photocd_pipe",
        "sunrast_pipe",
        "svg_pipe",
        "tiff",
        "ico",
    }
)
"""FFmpeg demuxers of still images: such files are analysed as images, not videos (with
every other ``*_pipe`` demuxer: see :func:`is_still_format`)."""


TEXT_FORMATS = frozenset({"tty", "bin", "xbin", "adf", "idf"})
"""FFmpeg demuxers that render a text file (ANSI art, ``.txt``, ``.nfo``) as video frames: such
a file is not a video (a page of text read as 5 frames of 640×400)."""


RESYNC_MAX_S = 2.0
"""In a stream with no key frame after its first (intra refresh), the most seconds of frames
left out after each damage: such a stream heals by its refresh period, usually under a second.
Without an index that lists the key frames (MP4's does), it applies until a second key frame
is decoded."""

NEAR_DAMAGE_PACKETS = 64
"""Frames whose packets gave none count as lost to damage only this many packets (in
decoding order) from damage FFmpeg reported: threaded decoding reports it a few late."""
UNMATCHED_KEPT = 256
"""Packets kept waiting for their frame before those 10 s behind are dropped."""

RAW_STREAM_FORMATS = frozenset({"h264", "hevc", "vvc", "m4v", "mpegvideo", "h263", "obu"})
"""FFmpeg demuxers of bare elementary streams (``.h264``, ``.265``, ``.m4v``): no container
times, and an ``average_rate`` that is FFmpeg's default guess (25) rather than the stream's own
rate, which the codec's header gives (``guessed_rate``)."""


def is_still_format(name: str) -> bool:
    """Whether FFmpeg's demuxer ``name`` reads a still image: one of :data:`STILL_FORMATS` or
    any ``*_pipe`` demuxer (FFmpeg's image readers: ``dds_pipe``, ``xwd_pipe``, ...)."""
    return name in STILL_FORMATS or name.endswith("_pipe")


@dataclass(frozen=True)
class VideoInfo:
    """What the container says about the video stream mien reads: its largest, cover
    pictures aside (:func:`iter_frames` reads the same one).

    Attributes:
        path: the file.
        width, height: frame size in pixels as displayed: after the sample aspect ratio
            (non-square pixels of DV, DVD, HDV and broadcast video are made square) and
            after rotation.
        fps: the frame rate the container or codec declares, frames per second (0.0 when
            unknown): FFmpeg's average rate where it has one, else the codec's. For a
            variable-frame-rate file it may be nominal (a Matroska file's header rate, say);
            the frames' own ``timestamp_s`` are what mien times by.
        frame_count: frames the container declares (``None`` when it does not say).
        duration_s: seconds from the first frame's time to the stream's end (``None`` when
            unknown).
        rotation: degrees counter-clockwise applied to display each frame (0, 90, 180, -90).
        codec: the codec name, e.g. ``"h264"``.
        container: the demuxer name.
        sample_aspect_ratio: width of a stored pixel over its height (1.0 for square pixels;
            e.g. 4/3 for 1440×1080 HDV shown at 1920×1080).
    """

    path: str
    width: int
    height: int
    fps: float
    frame_count: int | None
    duration_s: float | None
    rotation: int
    codec: str
    container: str
    sample_aspect_ratio: float = 1.0

    @property
    def resolution_wh(self) -> tuple[int, int]:
        return (self.width, self.height)


def _open(path: str | os.PathLike[str]):
    import av

    p = Path(path)
    if not p.exists():
        raise VideoNotFoundError(str(path), "no such file")
    if not p.is_file():
        raise VideoError(str(path), "not a file")
    if p.stat().st_size == 0:
        raise VideoError(str(path), "empty file")
    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError, UnicodeDecodeError, ValueError) as err:
        # FFmpeg's words without its error number or the path again ("[Errno 1094995529]
        # Invalid data found when processing input: 'x.mp4'")
        why = getattr(err, "strerror", None) or err
        raise VideoError(str(path), _unfinished_mp4(p) or f"not a readable video ({why})") from err
    if not container.streams.video:
        audio = bool(container.streams.audio)
        container.close()
        problem = (
            "audio only, no video stream in the file" if audio else "no video stream in the file"
        )
        raise VideoError(str(path), _unfinished_mp4(p) or problem)
    if container.format.name in TEXT_FORMATS:
        name = container.format.name
        container.close()
        raise VideoError(
            str(path), f"a text file, not a video (FFmpeg's {name} demuxer draws text)"
        )
    return container


def _later_key_frames(stream: Any) -> bool | None:
    """Whether the container's index (MP4's sample table) lists a key frame after the first;
    ``None`` where there is no index to read at opening (Matroska's cues, MPEG-TS, raw)."""
    entries = getattr(stream, "index_entries", None)
    if entries is None or len(entries) < 2:
        return None
    keys = 0
    for entry in entries:
        keys += bool(entry.is_keyframe)
        if keys > 1:
            return True
    return False


def _video_stream(container: Any) -> Any:
    """The largest video stream (the first of equals) that is not a cover picture, so a file
    whose first video stream is a small preview or sub-stream is read at its main picture."""
    import av

    streams = list(container.streams.video)
    pictures = [s for s in streams if not s.disposition & av.stream.Disposition.attached_pic]
    return max(
        pictures or streams,
        key=lambda s: (s.codec_context.width or 0) * (s.codec_context.height or 0),
    )


def _unfinished_mp4(path: Path) -> str | None:
    """The reason for an MP4/MOV file whose top-level boxes hold no ``moov`` (the index a
    recorder writes last, or first with "fast start", that a cut recording lacks) or a ``moov``
    that runs past the end of the file, else ``None``. Reads only the box headers."""
    try:
        with open(path, "rb") as f:
            size = f.seek(0, os.SEEK_END)
            pos, kinds, cut_index = 0, [], False
            while pos + 8 <= size and len(kinds) < 1000:
                f.seek(pos)
                head = f.read(16)
                length, kind = int.from_bytes(head[:4], "big"), head[4:8]
                if length == 1 and len(head) == 16:
                    length = int.from_bytes(head[8:16], "big")
                elif length == 0:
                    length = size - pos
                kinds.append(kind)
                cut_index |= kind == b"moov" and pos + length > size
                if length < 8:
                    break
                pos += length
    except OSError:
        return None
    if not kinds or kinds[0] != b"ftyp" or (b"moov" in kinds and not cut_index):
        return None
    what = (
        "cut short inside its index ('moov' box)"
        if cut_index
        else "without its index (no 'moov' box)"
    )
    return (
        f"an MP4/MOV file {what}: a recording cut off before it was finished, or a file only "
        "partly copied; repair tools can rebuild the index from a finished recording of the "
        "same camera"
    )


def probe_video(path: str | os.PathLike[str]) -> VideoInfo:
    """Read a video's header.

    Raises:
        VideoError: the file is missing, not a media container, has no video stream, or is a
            still image.
    """
    container = _open(path)
    try:
        if is_still_format(container.format.name):
            if not _video_stream(container).codec_context.width:
                # FFmpeg picks a still-image demuxer from the name alone (text named .jpg)
                raise VideoError(str(path), "not a readable video or image")
            raise VideoError(str(path), f"a still image ({container.format.name}), not a video")
        stream = _video_stream(container)
        w, h = stream.codec_context.width, stream.codec_context.height
        codec = stream.codec_context.name
        rate = stream.average_rate or stream.guessed_rate
        if container.format.name in RAW_STREAM_FORMATS:
            rate = stream.guessed_rate or rate
        frames = int(stream.frames) or None
        duration = _stream_duration(stream)
        if duration is None and container.duration is not None and len(container.streams) == 1:
            duration = container.duration / 1_000_000  # with audio it may be the audio's
        if duration is not None and container.format.name.startswith("matroska"):
            duration = _from_first_frame(duration, stream, container)
        sar = _sample_aspect(stream)
        w = _display_width(w, sar)
        rotation = _first_frame_rotation(container, stream)
        if rotation % 180:
            w, h = h, w
        return VideoInfo(
            path=str(path),
            width=int(w),
            height=int(h),
            fps=float(rate) if rate else 0.0,
            frame_count=frames,
            duration_s=duration,
            rotation=rotation,
            codec=codec,
            container=container.format.name,
            sample_aspect_ratio=sar,
        )
    finally:
        container.close()


def _from_first_frame(duration: float, stream: Any, container: Any) -> float:
    """A Matroska duration (its ``DURATION`` tag or the segment's) as the time from the stream's
    first frame: Matroska counts it from time 0, so a file whose frames start at 10 s and end
    at 13 s says 13 s. Unchanged when the start is unknown or not before the end."""
    if stream.start_time is not None and stream.time_base is not None:
        start = float(stream.start_time * stream.time_base)
    elif container.start_time is not None:
        start = container.start_time / 1_000_000
    else:
        return duration
    return duration - start if 0 < start < duration else duration


def _sample_aspect(stream) -> float:
    """The stream's sample aspect ratio (a stored pixel's width over its height): the
    container's, else the codec's, as FFmpeg's ``av_guess_sample_aspect_ratio`` prefers (a
    remux with a new aspect changes only the container's); 1.0 when unset, zero or
    implausible (outside 1/4 to 4)."""
    sar = stream.sample_aspect_ratio or stream.codec_context.sample_aspect_ratio
    value = float(sar) if sar else 1.0
    return value if 0.25 <= value <= 4.0 else 1.0


def _display_width(width: int, sar: float) -> int:
    """Stored width ``width`` shown with square pixels (``width × sar``, rounded to even)."""
    return width if sar == 1.0 else max(2, round(width * sar / 2) * 2)


def _stream_duration(stream) -> float | None:
    """The video stream's own duration in seconds: its header's, else Matroska's ``DURATION``
    tag (``HH:MM:SS.nnnnnnnnn``); ``None`` when neither says."""
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    tag = (stream.metadata or {}).get("DURATION") or (stream.metadata or {}).get("duration")
    try:
        h, m, sec = str(tag).split(":")
        return int(h) * 3600 + int(m) * 60 + float(sec)
    except ValueError:
        return None


def _square_pixels(image: np.ndarray, sar: float) -> np.ndarray:
    """``image`` (stored pixels of aspect ``sar``) resized to square pixels, as a player shows
    it: its width times ``sar``, its height kept."""
    import cv2

    h, w = image.shape[:2]
    width = _display_width(w, sar)
    interpolation = cv2.INTER_AREA if width < w else cv2.INTER_LINEAR
    return cv2.resize(image, (width, h), interpolation=interpolation)


def _display_matrix(frame: Any) -> np.ndarray | None:
    """The frame's display matrix (FFmpeg's 9 int32: a, b, u, c, d, v, x, y, w), or ``None``."""
    for data in frame.side_data:
        if getattr(data.type, "name", "") == "DISPLAYMATRIX":
            values = np.frombuffer(bytes(data), "<i4")
            return values[:9] if len(values) >= 9 else None
    return None


def _displayed(image: np.ndarray, rotation: int, matrix: np.ndarray | None) -> np.ndarray:
    """``image`` as a player shows it: turned ``rotation`` degrees counter-clockwise; where the
    display matrix mirrors without a quarter turn (a negative determinant, as some front
    cameras write), flipped instead, as FFmpeg's own autorotation does (``fftools``: ``a < 0``
    a left-right mirror, ``d < 0`` an upside-down one). PyAV's angle alone read a left-right
    mirror as a half turn, and the picture came out upside down. A mirror with a quarter turn
    is only turned: the face is upright, perhaps mirrored, which a perceived expression does
    not depend on."""
    k = (rotation // 90) % 4
    mirrored = (
        matrix is not None and float(matrix[0]) * matrix[4] - float(matrix[1]) * matrix[3] < 0
    )
    if mirrored and k % 2 == 0:
        if matrix[0] < 0:
            image = image[:, ::-1]
        return image[::-1] if matrix[4] < 0 else image
    return np.rot90(image, k) if k else image


def _first_frame_rotation(container, stream) -> int:
    """Display rotation read off the first decoded frame (its display matrix)."""
    import av

    try:
        for frame in container.decode(stream):
            return int(frame.rotation or 0)
    except av.error.FFmpegError:
        return 0
    return 0


def is_video(path: str | os.PathLike[str]) -> bool:
    """True when PyAV opens the file and finds a video stream in a non-still-image container."""
    try:
        probe_video(path)
    except VideoError:
        return False
    return True


def is_audio(path: str | os.PathLike[str]) -> bool:
    """True when PyAV opens the file and finds audio streams and no video stream (a recording
    of an interview's sound given by mistake). Never raises."""
    import av

    try:
        with av.open(str(path)) as container:
            return bool(container.streams.audio) and not container.streams.video
    except Exception:  # not a media file at all
        return False


def iter_frames(
    path: str | os.PathLike[str],
    *,
    every: int = 1,
    fps: float | None = None,
    start_s: float = 0.0,
    end_s: float | None = None,
) -> Iterator[Frame]:
    """Decode a video file frame by frame.

    Args:
        path: the video file.
        every: keep every ``every``-th decoded frame (by source index).
        fps: keep about this many frames per second of media time: the first frame in each
            ``1/fps``-second slot (by timestamp, so it holds for variable frame rates; two kept
            frames in neighbouring slots can be closer than ``1/fps``); combined with ``every``
            if both are given.
        start_s: skip frames earlier than this many seconds after the first frame (a file
            whose timestamps start at 100 s, as MPEG-TS recordings often do, starts at 0 here).
        end_s: stop at the first frame at or after this many seconds after the first frame.

    Yields:
        :class:`~mien.types.Frame` with the upright BGR image, the 0-based source index and
        the presentation timestamp in seconds (the container's own, not shifted). The
        container is closed when the generator finishes, fails or is closed early
        (``break``). A ``start_s`` past the last frame yields nothing, and that is not an
        error (:func:`probe_video` gives the duration; ``mien analyze`` warns of it).

    Raises:
        ValueError: bad sampling options (checked at the first ``next()``, as the generator
            starts).
        VideoError: the file cannot be opened as a video.
        VideoDecodeError: decoding broke off (truncated or corrupt file) — raised *after* every
            frame before the break has been yielded; or damaged data was skipped — raised after
            the last frame, naming what was left out. Damaged data is skipped as players skip
            it: a packet that will not decode, and a frame the decoder flags as corrupt, leave
            out the frames up to the next key frame (predicted from the damage, they would be
            garbled; at most :data:`RESYNC_MAX_S` in a stream without key frames after its
            first); where packets would not decode, later indices count only the frames
            decoded. Only damage inside the ``start_s``/``end_s`` window is reported. A frame
            without a timestamp is given the one before it plus one frame step.
    """
    import av

    whole_number(every, "every", 1)
    if fps is not None and not 0 < fps < float("inf"):  # NaN too
        raise ValueError(f"fps must be a number > 0; got {fps}")
    if not start_s >= 0 or (end_s is not None and end_s != end_s):
        raise ValueError(f"start_s must be >= 0 and end_s a number; got {start_s}, {end_s}")
    if end_s is not None and end_s <= start_s:
        raise ValueError(f"end_s must be after start_s; got start {start_s}, end {end_s}")
    info = probe_video(path)
    container = _open(path)
    source = str(path)
    index, last_t, max_t, origin, next_t = -1, None, None, None, start_s
    yielded_t: float | None = None
    try:
        stream = _video_stream(container)
        stream.thread_type = "AUTO"
        sar = _sample_aspect(stream)
        # times count from the first decoded frame, not the stream's start_time: a recording
        # cut mid-GOP starts at a frame that cannot be decoded (stream start 10.76 s, first
        # frame 10.80 s), and --start/--end/--fps are promised from the first frame. The
        # container's duration counts from the stream's start: the truncation check uses it.
        stream_start = (
            float(stream.start_time * stream.time_base)
            if stream.start_time is not None and stream.time_base is not None
            else None
        )
        cut_short = False  # the last packet read was incomplete (a file cut while written)
        last_failed = False  # the last video packet would not decode
        packets_end = None  # the latest pts + duration among the packets, seconds
        failed_at: list[float | None] = []  # packets that would not decode: their times
        left_out: list[float] = []  # decoded frames not yielded as damaged: their times
        lost_at: list[float] = []  # frames shown nowhere, their packets giving none: times
        pending: list[float] = []  # frames left out as damaged since the last one yielded
        # Packets whose frame has not come out yet: pts (s) -> their place in decoding order.
        # Near damage FFmpeg reported, a packet still here when a later frame is shown lost
        # its frame: that is where the damage was (threaded decoding reports a failed packet
        # late and under another frame's pts, so the failure's own time is no guide). Only
        # there: a clean file's packets may give no frame too (MPEG-4's N-VOPs), and an
        # AVI's times are in decoding order.
        unmatched: dict[float, tuple[int, float]] = {}  # pts to 6 places -> (place, pts)
        previous_t: float | None = None  # the previous decoded frame's time
        reported: int | None = None  # packets read when FFmpeg last reported damage
        locating = True  # off for good once frames come out of time order
        damaged_upto: float | None = None  # the latest time of a frame lost or corrupt
        packets = 0  # video packets read so far
        failed_seq = -1  # decoding place of the latest damage (failed packet, corrupt frame)
        resync = False  # after damage: frames are left out until the next good key frame
        damage_from: float | None = None  # when the damage being skipped began
        key_frames = 0  # undamaged key frames decoded so far
        later_keys = _later_key_frames(stream)  # from the index: True, False or None (no index)
        reached_end = False  # stopped at --end: the rest of the file is not read
        step = 1.0 / (info.fps or 30.0)

        def decoded() -> Iterator[Any]:  # container.decode(stream), watching the packets
            nonlocal cut_short, packets_end, last_failed, resync, damage_from, packets, failed_seq
            nonlocal reported
            # every stream's packets are read (the demuxer reads them anyway): the partial
            # last packet of a cut file may be an audio one
            for packet in container.demux():
                if packet.size:  # not a final flush
                    cut_short = bool(packet.is_corrupt)
                if packet.stream.index != stream.index:
                    continue
                when = None
                if packet.size and packet.pts is not None and packet.time_base is not None:
                    when = float(packet.pts * packet.time_base)
                    end = float((packet.pts + (packet.duration or 0)) * packet.time_base)
                    packets_end = end if packets_end is None else max(packets_end, end)
                    unmatched[round(when, 6)] = (packets, when)
                packets += 1
                if packet.is_corrupt and packet.size:
                    reported = packets
                try:
                    frames = packet.decode()
                except av.error.FFmpegError:
                    # damaged data: skip the packet and go on from the next key frame, as
                    # players do (the demuxer still knows where every later packet lies)
                    failed_at.append(when)
                    failed_seq, reported = packets - 1, packets
                    damage_from = when  # each new damage restarts the longest skip
                    last_failed = resync = True
                    continue
                if packet.size:
                    last_failed = False
                yield from frames

        try:
            for frame in decoded():
                index += 1
                if frame.time is not None:
                    t = float(frame.time)
                else:  # no timestamp (a damaged stretch, a raw stream): one step on
                    t = (stream_start or 0.0) if last_t is None else last_t + step
                went_back = last_t is not None and t < last_t - 1e-6
                if went_back and fps is not None:  # the clock went back: the slots restart
                    next_t = t  # (here, whether or not this frame is kept)
                last_t = t
                max_t = t if max_t is None else max(max_t, t)
                if origin is None:
                    origin = t
                if index == 0:
                    next_t += origin
                # its packet's place in decoding order (None: not known); a key frame decoded
                # before the latest damage but coming out after it was reported (threaded
                # decoding, B-frames) does not end the skip: the frames after it may be
                # predicted from the damage
                seq = unmatched.pop(round(t, 6), (None, t))[0] if frame.time is not None else None
                # frames due between the previous frame and this one that never came out:
                # their packets were lost to damage, reported or not; the frames after them
                # up to a key frame may be garbled, as after a failed packet
                lost: list[float] = []
                if frame.is_corrupt:
                    reported = packets
                if previous_t is not None and t < previous_t - 1e-6:
                    locating = False  # out of time order (an AVI, recordings joined)
                elif previous_t is not None and t > previous_t:
                    if len(unmatched) > UNMATCHED_KEPT:  # long gone: never to come out
                        unmatched = {k: v for k, v in unmatched.items() if k > previous_t - 10.0}
                    near = reported is not None and packets - reported <= NEAR_DAMAGE_PACKETS
                    if locating and near:
                        lost = [k for k in unmatched if previous_t < k < t - 1e-6]
                if lost and len(lost_at) + len(lost) > max(10, index // 2):
                    lost, locating = [], False  # most unmatched: the times disagree, not damage
                previous_t = t
                if lost:
                    gone = [unmatched.pop(k) for k in lost if k in unmatched]
                    lost = [when for _, when in gone] or lost  # exact times
                    failed_seq = max(failed_seq, *(place for place, _ in gone), (seq or 0) - 1)
                    lost_at.extend(lost)
                    pending.extend(lost)
                    if damage_from is None:
                        damage_from = min(lost)
                    damaged_upto = max(damaged_upto or -math.inf, *lost)
                    resync = True
                # decoded before the damage, so it heals nothing, unless it is a key frame shown
                # after every frame known lost (an open GOP's leading picture, decoded after
                # its key frame, was the one lost: the key frame ends the skip)
                before = (
                    seq is not None
                    and seq < failed_seq
                    and not (frame.key_frame and damaged_upto is not None and t > damaged_upto)
                )
                # A frame the decoder flags as corrupt, and the frames after it up to the next
                # key frame (predicted from it), would show a garbled face. A stream with no key
                # frame after its first (x264's intra refresh) heals without one: there at most
                # RESYNC_MAX_S is skipped. Followed for every frame, in the window or not.
                damaged = bool(frame.is_corrupt) or (resync and not frame.key_frame)
                no_keys = later_keys is False or (later_keys is None and key_frames <= 1)
                if damaged and not frame.is_corrupt and no_keys:
                    damaged = damage_from is None or t - damage_from < RESYNC_MAX_S
                if damaged:
                    if frame.is_corrupt or damage_from is None:
                        damage_from = t
                    if frame.is_corrupt and seq is not None:
                        failed_seq = max(failed_seq, seq)
                    if frame.is_corrupt:
                        damaged_upto = max(damaged_upto or -math.inf, t)
                    resync = True
                elif not before:  # a good frame decoded after the damage: healed
                    resync, damage_from, damaged_upto = False, None, None
                    key_frames += bool(frame.key_frame)
                # without --start every frame is kept, even one timed before the first (two
                # recordings joined, a stream whose clock restarts)
                if start_s > 0 and t - origin < start_s - 1e-9:
                    continue
                if end_s is not None and t - origin >= end_s - 1e-9:
                    reached_end = True
                    break
                if damaged:
                    if index % every == 0:  # a frame --every would have kept
                        left_out.append(t)
                        pending.append(t)
                    continue
                if index % every:
                    continue
                if fps is not None:
                    if t < next_t - 1e-6:
                        continue
                    # the next slot after this frame, in one step (a loop of 1/fps steps
                    # ran for ever at --fps 1e9 over a long gap)
                    next_t += (math.floor((t + 1e-6 - next_t) * fps) + 1) / fps
                image = frame.to_ndarray(format="bgr24")
                if sar != 1.0:  # non-square pixels: shown (and analysed) as displayed
                    image = _square_pixels(image, sar)
                image = _displayed(image, int(frame.rotation or 0), _display_matrix(frame))
                gap = _damaged_from(pending, yielded_t, t, origin + start_s)
                pending.clear()
                yielded_t = t
                yield Frame(np.ascontiguousarray(image), index, t, source, gap)
        except av.error.FFmpegError as err:  # the demuxer itself gave up: nothing more to read
            where = (
                "before the first frame"
                if last_t is None
                else f"after {last_t:.3f} s (frame {index})"
            )
            damage = _damage(failed_at, left_out, lost_at)
            raise VideoDecodeError(
                source, f"decoding stopped {where}: {err}{damage}", last_t
            ) from err
        if cut_short and last_failed and not reached_end:
            failed_at.pop()  # the cut packet: reported as the truncation below
        if origin is not None:  # only packets inside the window count (not --end's read-ahead)
            low = origin + start_s - 1e-9 if start_s > 0 else float("-inf")
            high = float("inf") if end_s is None else origin + end_s - 1e-9
            failed_at = [w for w in failed_at if w is None or low <= w < high]
            lost_at = [w for w in lost_at if low <= w < high]
        damage = _damage(failed_at, left_out, lost_at)
        if cut_short and not reached_end:
            # A fragmented MP4 cut while it was written ends in a partial packet; with frame
            # threading FFmpeg drops the decode error it gives, and the container has no
            # duration to compare with.
            where = "before the first frame" if last_t is None else f"after {last_t:.3f} s"
            raise VideoDecodeError(
                source,
                f"the file's last packet is cut short, {where}: truncated file{damage}",
                last_t,
            )
        if last_t is None and (failed_at or (info.duration_s and start_s < info.duration_s)):
            # not one frame decoded, though the container promises some (a file cut before its
            # first frame decodes silently to nothing), or packets that would not decode
            n = len(failed_at)
            bad = f" ({n} packet{'s' * (n > 1)} would not decode)" if n else ""
            says = (
                f", but the container says {info.duration_s:.3f} s"
                if info.duration_s and info.duration_s >= 0.001
                else ""
            )
            raise VideoDecodeError(
                source, f"no frame could be decoded{bad}{says}: truncated or corrupt file", None
            )
        if not reached_end and info.duration_s and max_t is not None and origin is not None:
            # Decoding ran out before --end (or without one): does the container promise more?
            # The packets' own end counts, not the last frame's start: a variable-frame-rate
            # file may hold its last frame for seconds (a screen recording).
            last_t = max(max_t, packets_end or max_t)
            base = origin if stream_start is None else stream_start
            slack = max(1.0, 3 / info.fps if info.fps else 0.3)
            # Some containers count the duration from time 0, not from the stream's start: a
            # file whose frames start at 100 s and end at 101.9 s may say 102 s. Matroska
            # does, and probe_video counts its duration from the stream's start when it knows
            # it; for any other file, short under both readings, or it is not called truncated.
            until = float("inf") if end_s is None else end_s
            short_from_start = last_t - base < min(info.duration_s, origin - base + until) - slack
            short_from_zero = last_t < min(info.duration_s, origin + until) - slack
            from_start = info.container.startswith("matroska") and stream_start is not None
            if short_from_start and (base <= 0 or from_start or short_from_zero):
                own = f" ({last_t:.3f} s in the file's own time)" if base > 0 else ""
                before = "" if end_s is None else f", before --end {end_s:g} s,"
                raise VideoDecodeError(
                    source,
                    f"the video ends at {last_t - base:.3f} s{own}{before} but the container "
                    f"says {info.duration_s:.3f} s: truncated or corrupt file{damage}",
                    max_t,
                )
        if damage:
            raise VideoDecodeError(source, DAMAGED_DATA + damage.removeprefix("; "), yielded_t)
    finally:
        container.close()


def _damaged_from(
    missing: list[float], previous_t: float | None, t: float, window_t: float
) -> float | None:
    """Where the damage left out since the previous frame yielded (at ``previous_t``) began,
    for the frame yielded at ``t``: the earliest of ``missing``, the times of the frames left
    out as damaged or lost (their packets gave no frame), after the previous frame and
    before ``t``. Before the first frame yielded, only frames inside the ``--start`` window
    (from ``window_t``) count. ``None`` where none was missing."""
    low = window_t - 1e-9 if previous_t is None else previous_t + 1e-9
    inside = [w for w in missing if low <= w < t - 1e-9]
    return min(inside) if inside else None


def _damage(
    failed_at: list[float | None], left_out: list[float], lost_at: Sequence[float] = ()
) -> str:
    """``"; 2 packets would not decode (from 2.933 s); …; 3 frames lost …; 14 damaged frames
    from … left out …"``: what :func:`iter_frames` skipped as damaged, or ``""``."""
    parts = []
    if failed_at:
        # the time of a packet that would not decode is only where FFmpeg said so (threaded
        # decoding says it late): the frames lost say where the damage was
        known = [t for t in failed_at if t is not None]
        first = f" (from {min(known):.3f} s)" if known and not lost_at else ""
        parts.append(
            f"{len(failed_at)} packet{'s' * (len(failed_at) > 1)} would not decode{first}; "
            "their frames are missing and later frame_index values count only the frames "
            "decoded"
        )
    if lost_at:
        parts.append(
            f"{len(lost_at)} frame{'s' * (len(lost_at) > 1)} lost (their packets gave no "
            f"frame) from {min(lost_at):.3f} s to {max(lost_at):.3f} s"
        )
    if left_out:
        parts.append(
            f"{len(left_out)} damaged frame{'s' * (len(left_out) > 1)} from "
            f"{min(left_out):.3f} s to {max(left_out):.3f} s "
            f"left out (to the next key frame, or at most {RESYNC_MAX_S:g} s in a stream "
            "without them)"
        )
    if not parts:
        return ""
    return "; " + "; ".join(parts) + "; all other frames were read"


DAMAGED_DATA = "damaged data: "
"""How the error of a video whose damaged data was skipped begins (its row's ``error``)."""

_WRITER_TIME_BASE = Fraction(1, 90000)


def _letterbox(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """``image`` scaled to fit ``width`` x ``height`` without distortion, centred on black."""
    import cv2

    h, w = image.shape[:2]
    scale = min(width / w, height / h)
    new_w, new_h = max(1, round(w * scale)), max(1, round(h * scale))
    out = np.zeros((height, width, 3), np.uint8)
    x, y = (width - new_w) // 2, (height - new_h) // 2
    out[y : y + new_h, x : x + new_w] = cv2.resize(
        image, (new_w, new_h), interpolation=cv2.INTER_AREA
    )
    return out


def _reason(err: OSError) -> str:
    """``"file exists: /dev/null"``: an OS error's reason, with the path it names, if any."""
    text = (err.strerror or str(err)).lower()
    return f"{text}: {err.filename}" if err.filename and err.strerror else text


class VideoWriter:
    """Write BGR frames to an H.264 MP4 with the given timestamps (PyAV, libx264).

    Timestamps are kept in a 1/90000 s time base (MPEG's; Matroska's own is 1/1000 s, so
    ``.mkv``/``.webm`` files get that), so a variable-frame-rate source stays
    variable-frame-rate and each timestamp is off by at most half a tick; a timestamp not after
    the previous one is moved one tick after it, and a clock that goes back by more than a
    frame step (recordings joined, a restarted stream) is continued one frame step after the
    previous frame, counted in :attr:`time_resets`, so the video still plays every frame; a
    first timestamp below 0 (an MPEG-TS recording across its clock's wrap) starts the video at
    0, every frame moved by the same :attr:`start_shift_s` (an MP4 would skip frames before 0). The
    video has the size of the first frame, cut to even numbers (one column or row dropped, as
    H.264's 4:2:0 needs); a later frame of another size (a stream that changes resolution) is
    scaled to fit and letterboxed, and counted in :attr:`resized`.

    Args:
        path: the output file (``.mp4``/``.mkv``/``.mov``); its folder is made if missing, as
            ``mien analyze -o`` makes its output's.
        fps: nominal frame rate for the stream header.
        crf: x264 quality (lower is better; 23 is x264's default).

    Raises:
        VideoError: the folder cannot be made or a file cannot be created in it (at once: FFmpeg
            itself opens the file only at the first frame).
    """

    def __init__(self, path: str | os.PathLike[str], *, fps: float = 30.0, crf: int = 23) -> None:
        import av

        self.path = str(path)
        self.fps = fps
        self.crf = crf
        folder = Path(path).parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise VideoError(self.path, f"cannot create its folder ({_reason(err)})") from err
        if Path(path).exists():  # kept until the first frame replaces it: may it be written?
            if Path(path).is_dir():
                raise VideoError(self.path, "cannot create video (a folder, not a file)")
            if not os.access(path, os.W_OK):
                raise VideoError(self.path, "cannot create video (the file cannot be written)")
        else:
            try:  # can a file be made there?
                with tempfile.TemporaryFile(dir=folder):
                    pass
            except OSError as err:
                reason = (err.strerror or str(err)).lower()  # not the probe's temporary name
                raise VideoError(self.path, f"cannot create a file in {folder} ({reason})") from err
        try:
            # MP4/MOV: the movie's own timescale (1/1000 s by default) would round the edit
            # list's start, shifting every frame of a video that does not start on a whole ms
            mp4 = Path(path).suffix.lower() in (".mp4", ".mov", ".m4v")
            self._mp4 = mp4
            options = {"movie_timescale": str(_WRITER_TIME_BASE.denominator)} if mp4 else {}
            self._container = av.open(self.path, mode="w", options=options)
        except (av.error.FFmpegError, OSError) as err:
            raise VideoError(self.path, f"cannot create video ({err})") from err
        self._stream = None
        matroska = Path(path).suffix.lower() in (".mkv", ".webm")
        self._time_base = Fraction(1, 1000) if matroska else _WRITER_TIME_BASE
        self._last_pts: int | None = None
        self.frames = 0
        self.resized = 0
        self.time_resets = 0
        self.start_shift_s = 0.0
        self._offset = 0  # ticks added since the clock went back
        # encoded packets wait here until the frame after theirs is written: each packet's
        # duration is then the step to the next frame (x264 gave every one 1/fps, so a
        # variable-rate video's last frame lasted 1/average rate: 5.46 s for a 5.24 s source)
        self._pending: list[Any] = []
        self._next_pts: dict[int, int] = {}
        # steps in ticks between the latest frames (repeats moved one tick on left out): the
        # last frame lasts their median, as the summaries time it (the same window)
        self._steps: collections.deque[int] = collections.deque(maxlen=STEP_WINDOW)

    def write(self, image: np.ndarray, timestamp_s: float) -> None:
        """Append ``image`` (``(H, W, 3)`` uint8 BGR) shown at ``timestamp_s`` seconds."""
        import av

        h, w = image.shape[:2]
        if self._stream is None:
            stream = self._container.add_stream(
                "libx264", rate=Fraction(max(1, round(self.fps * 1000)), 1000)
            )
            stream.width, stream.height = w - w % 2, h - h % 2
            stream.pix_fmt = "yuv420p"
            stream.time_base = self._time_base
            stream.codec_context.time_base = self._time_base
            # MP4/MOV: no B-frames. MP4 takes each frame's duration from the decode-order gaps,
            # which B-frames put out of step with the frames' own (a variable-rate video ended
            # 1 s early); it costs 1.3-1.5x the file size. Matroska keeps each frame's duration.
            stream.options = {"crf": str(self.crf), "preset": "veryfast"}
            if self._mp4:
                stream.options = {**stream.options, "bf": "0"}
            self._stream = stream
        stream = self._stream
        if (w - w % 2, h - h % 2) != (stream.width, stream.height):
            image = _letterbox(image, stream.width, stream.height)
            self.resized += 1
        pts = round(timestamp_s * self._time_base.denominator) + self._offset
        if self._last_pts is None and pts < 0:
            # a container shows no time before 0 (MP4 marked those frames to be skipped):
            # the whole video starts at 0, every frame moved by the same amount
            self._offset -= pts
            self.start_shift_s = -pts / self._time_base.denominator
            pts = 0
        last = self._last_pts
        if last is not None and pts <= last:
            step = max(1, round(self._time_base.denominator / self.fps))
            if last - pts > step:  # the clock went back: go on one frame step later
                self._offset += last + step - pts
                pts = last + step
                self.time_resets += 1
            else:
                pts = last + 1
        if last is not None:
            self._next_pts[last] = pts
            if pts - last > 1:
                self._steps.append(pts - last)
        self._last_pts = pts
        frame = av.VideoFrame.from_ndarray(
            np.ascontiguousarray(image[: stream.height, : stream.width]), format="bgr24"
        )
        frame.pts = pts
        frame.time_base = self._time_base
        self._pending.extend(stream.encode(frame))
        self._mux_ready()
        self.frames += 1

    def _mux_ready(self, *, final: bool = False) -> None:
        """Mux the waiting packets, in order, whose duration is known (all when ``final``: the
        last frame lasts :meth:`_final_step`)."""
        done = 0
        for packet in self._pending:
            following = self._next_pts.pop(packet.pts, None)
            if following is None and not final:
                break
            step = following - packet.pts if following is not None else self._final_step()
            packet.duration = max(1, step)
            self._container.mux(packet)
            done += 1
        del self._pending[:done]

    def _final_step(self) -> int:
        """The last frame's duration in ticks: the median of the last
        :data:`~mien.tracking.iou.STEP_WINDOW` steps between frames, the usual step where the
        video ends, as :func:`mien.summary.frame_durations` times it (the step before it alone
        made a variable-rate video 0.17 s longer than its summary's time); one nominal frame
        (``1 / fps``) where there is no step (a one-frame video lasted 11 µs)."""
        if not self._steps:
            return max(1, round(self._time_base.denominator / self.fps))
        return max(1, round(float(np.median(self._steps))))

    def adjustments(self) -> list[str]:
        """What the writer changed to keep the video playable (empty when nothing): the
        frames it letterboxed, the times the clock went back."""
        notes = []
        if self.start_shift_s:
            notes.append(
                f"the first frame's time is {-self.start_shift_s:g} s (an MPEG-TS clock that "
                f"wrapped, say); {self.path} starts at 0, every frame {self.start_shift_s:g} s "
                "later than the rows' times"
            )
        if self.time_resets:
            notes.append(
                f"the clock went back {self.time_resets} time(s); {self.path} goes on one frame "
                "step later there (the rows keep the source's times)"
            )
        if self.resized:
            notes.append(
                f"the frame size changed; {self.resized} frame(s) of {self.path} were scaled to "
                "the first frame's size (letterboxed)"
            )
        return notes

    def close(self) -> None:
        """Flush the encoder and finish the file (idempotent)."""
        if self._container is None:
            return
        if self._stream is not None:
            self._pending.extend(self._stream.encode())
            self._mux_ready(final=True)
        self._container.close()
        self._container = None

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
