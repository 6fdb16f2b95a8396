"""Video reading on clips generated here with PyAV (exact timestamps, rotation, truncation)."""

from __future__ import annotations

import os
from fractions import Fraction

import numpy as np
import pytest

from mien.errors import VideoDecodeError, VideoError
from mien.io import is_video, iter_frames, probe_video
from tests.helpers import SAMPLES, write_clip, write_gop_clip

VFR_TIMES = [0.0, 0.033, 0.1, 0.11, 0.5, 0.52, 0.9, 1.25, 1.3, 2.0]


def level_frames(times, size=(96, 64)):
    """Flat frames whose grey level encodes their position (0, 20, 40, ...)."""
    w, h = size
    return [(np.full((h, w, 3), (20 * i) % 240, np.uint8), t) for i, t in enumerate(times)]


@pytest.fixture(scope="module")
def vfr_clip(tmp_path_factory):
    return write_clip(tmp_path_factory.mktemp("v") / "vfr.mp4", level_frames(VFR_TIMES))


def test_variable_frame_rate_timestamps_and_indices(vfr_clip):
    frames = list(iter_frames(vfr_clip))
    assert [f.index for f in frames] == list(range(len(VFR_TIMES)))
    np.testing.assert_allclose([f.timestamp_s for f in frames], VFR_TIMES, atol=1e-6)
    levels = [round(f.image.mean() / 20) for f in frames]
    assert levels == list(range(len(VFR_TIMES)))  # presentation order, none lost
    assert frames[0].image.shape == (64, 96, 3) and frames[0].image.dtype == np.uint8


@pytest.mark.parametrize(
    ("kwargs", "indices"),
    [
        ({"every": 3}, [0, 3, 6, 9]),
        ({"fps": 2.0}, [0, 4, 7, 9]),  # first frames at or after 0, 0.5, 1.0 (1.25), 1.5 (2.0)
        ({"start_s": 0.5, "end_s": 1.3}, [4, 5, 6, 7]),
        ({"start_s": 0.2, "every": 2}, [4, 6, 8]),
    ],
)
def test_sampling_keeps_source_indices(vfr_clip, kwargs, indices):
    assert [f.index for f in iter_frames(vfr_clip, **kwargs)] == indices


def test_rotation_metadata_is_applied(tmp_path):
    stored = np.zeros((64, 96, 3), np.uint8)
    stored[:16, -16:] = 255  # white block at the stored top-right corner
    clip = write_clip(tmp_path / "rot.mp4", [(stored, 0.0), (stored, 0.1)], rotation=90)
    info = probe_video(clip)
    assert (info.rotation, info.width, info.height) == (90, 64, 96)
    image = next(iter_frames(clip)).image
    assert image.shape == (96, 64, 3)
    # displayed = stored turned 90° counter-clockwise: top-right goes to top-left
    assert image[:12, :12].mean() > 200 and image[-12:, -12:].mean() < 50


def _with_track_matrix(clip, matrix):
    """A copy of an MP4 whose track header ('tkhd', version 0) holds ``matrix`` (a, b, c, d
    as numbers, translation from the frame size), as some front cameras write a mirror."""
    import struct

    data = bytearray(clip.read_bytes())
    at = data.find(b"tkhd") + 4 + 4 + 4 * 5 + 8 + 8  # version/flags, 5 fields, reserved, layer…
    a, b, c, d = (round(v * 65536) for v in matrix)
    width = probe_video(clip).width << 16
    data[at : at + 36] = struct.pack(">9i", a, b, 0, c, d, 0, width if a < 0 else 0, 0, 1 << 30)
    out = clip.with_name(f"m_{clip.name}")
    out.write_bytes(bytes(data))
    return out


def test_a_mirrored_display_matrix_is_a_mirror_not_a_half_turn(tmp_path):
    """PyAV reports a left-right mirror as a rotation of -180: the picture came out upside
    down (a reviewer's finding)."""
    stored = np.zeros((64, 96, 3), np.uint8)
    stored[:16, -16:] = 255  # white block at the stored top-right corner
    clip = write_clip(tmp_path / "cam.mp4", [(stored, 0.0), (stored, 0.1)])
    mirrored = next(iter_frames(_with_track_matrix(clip, (-1, 0, 0, 1)))).image
    assert mirrored[:12, :12].mean() > 200 and mirrored[-12:, :].mean() < 50  # top-left now
    turned = next(iter_frames(_with_track_matrix(clip, (-1, 0, 0, -1)))).image  # a half turn
    assert turned[-12:, :12].mean() > 200 and turned[:12, :].mean() < 50


def test_anamorphic_video_is_read_with_square_pixels_as_players_show_it(tmp_path):
    """A 2:1 sample aspect ratio (as DV, DVD and HDV store it) was analysed squeezed."""
    stored = np.zeros((64, 48, 3), np.uint8)
    stored[:, :24] = 255  # the left half white
    clip = write_clip(
        tmp_path / "sar.mp4", [(stored, 0.0), (stored, 0.1)], sample_aspect=Fraction(2)
    )
    info = probe_video(clip)
    assert (info.width, info.height, info.sample_aspect_ratio) == (96, 64, 2.0)
    image = next(iter_frames(clip)).image
    assert image.shape == (64, 96, 3)
    assert image[:, :44].mean() > 200 and image[:, 52:].mean() < 50  # still the left half
    assert (
        probe_video(write_clip(tmp_path / "square.mp4", [(stored, 0.0)])).sample_aspect_ratio == 1.0
    )


def test_truncated_file_yields_frames_then_a_clear_error(tmp_path):
    clip = write_clip(tmp_path / "long.mp4", level_frames([i / 10 for i in range(60)], (160, 120)))
    data = clip.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    got = []
    with pytest.raises(VideoError) as info:
        for frame in iter_frames(cut):
            got.append(frame.timestamp_s)
    assert str(cut) in str(info.value)
    if isinstance(info.value, VideoDecodeError):
        assert info.value.last_timestamp_s == pytest.approx(got[-1] if got else None)


def test_not_a_video(tmp_path):
    text = tmp_path / "notes.mp4"
    text.write_text("not a video")
    assert not is_video(text) and not is_video(SAMPLES / "grace_hopper.jpg")
    with pytest.raises(VideoError, match=r"not a readable video|no video stream"):
        probe_video(text)
    with pytest.raises(VideoError, match="still image"):
        probe_video(SAMPLES / "grace_hopper.jpg")
    fake = tmp_path / "notimage.jpg"  # FFmpeg guessed a still image from the name alone
    fake.write_text("hello")
    with pytest.raises(VideoError, match=r"notimage\.jpg: not a readable video or image$"):
        probe_video(fake)
    with pytest.raises(VideoError, match="no such file"):
        list(iter_frames(tmp_path / "missing.mp4"))
    (tmp_path / "empty.mp4").write_bytes(b"")
    with pytest.raises(VideoError, match=r"empty\.mp4: empty file$"):
        probe_video(tmp_path / "empty.mp4")


def test_early_break_closes_the_reader(vfr_clip):
    frames = iter_frames(vfr_clip)
    next(frames)
    frames.close()  # no error, container released in finally


def test_bad_sampling_options(vfr_clip):
    for kwargs in ({"every": 0}, {"fps": 0.0}, {"start_s": 2.0, "end_s": 1.0}):
        with pytest.raises(ValueError):
            list(iter_frames(vfr_clip, **kwargs))


def test_start_and_end_count_from_the_first_frame(tmp_path):
    """Recordings often start at a non-zero timestamp (MPEG-TS at 100 s, say): --start 1 means
    one second into the file; timestamps stay the container's."""
    frames = [(np.full((32, 32, 3), 90, np.uint8), 100 + i / 10) for i in range(30)]
    clip = write_clip(tmp_path / "offset.mkv", frames)
    first = next(iter_frames(clip)).timestamp_s
    assert first == pytest.approx(100.0, abs=1e-3)
    got = [f.timestamp_s for f in iter_frames(clip, start_s=1.0, end_s=2.0)]
    assert got == pytest.approx([101.0 + i / 10 for i in range(10)], abs=1e-3)


def test_a_matroska_file_whose_times_start_late_is_not_called_truncated(tmp_path):
    """Frames at 100.0-101.9 s: FFmpeg gives the MKV's duration as 102 s (counted from 0), and
    the whole file was reported 'truncated or corrupt' after its last frame."""
    from tests.helpers import write_clip

    image = np.zeros((32, 32, 3), np.uint8)
    clip = write_clip(tmp_path / "late.mkv", [(image, 100 + i / 10) for i in range(20)])
    frames = list(iter_frames(clip))
    assert len(frames) == 20
    assert frames[0].timestamp_s == pytest.approx(100.0) and frames[-1].timestamp_s == (
        pytest.approx(101.9)
    )


@pytest.mark.parametrize("suffix", [".mkv", ".mp4"])
def test_the_duration_counts_from_the_first_frame(tmp_path, suffix):
    """Frames at 10.0-12.9 s last 3 s in every container; Matroska's own duration (13 s, from
    time 0) made `--start 5` say "the video lasts 13.0 s" of a 3 s video."""
    image = np.zeros((32, 32, 3), np.uint8)
    clip = write_clip(tmp_path / f"late{suffix}", [(image, 10 + i / 10) for i in range(30)])
    assert probe_video(clip).duration_s == pytest.approx(3.0, abs=0.1)


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"every": 0}, "every must be a whole number"),
        ({"every": 1.5}, "every must be a whole number"),  # kept frames 0, 3, 6, ...
        ({"fps": float("nan")}, "fps must be a number > 0"),  # kept every frame
        ({"start_s": float("nan")}, "start_s must be >= 0"),
        ({"start_s": -1.0}, "start_s must be >= 0"),
    ],
)
def test_bad_sampling_options_are_refused(tmp_path, options, match):
    clip = write_clip(
        tmp_path / "c.mp4", [(np.zeros((32, 32, 3), np.uint8), i / 10) for i in range(3)]
    )
    with pytest.raises(ValueError, match=match):
        next(iter_frames(clip, **options))


@pytest.mark.parametrize(
    ("suffix", "tick"), [(".mp4", 1 / 90000), (".mov", 1 / 90000), (".mkv", 1e-3)]
)
def test_writer_keeps_timestamps_to_its_tick_and_letterboxes(tmp_path, suffix, tick):
    from mien.io import VideoWriter

    # a start off the whole millisecond (an MP4 edit list in ms would shift every frame);
    # a repeat is moved one tick later
    times = [0.3003 + t for t in (0.0, 1 / 30, 2 / 30, 2 / 30, 0.1)]
    path = tmp_path / f"out{suffix}"
    with VideoWriter(path, fps=30) as writer:
        for i, t in enumerate(times):
            size = (241, 321) if i < 3 else (120, 320)  # odd sizes, then a change of size
            writer.write(np.full((*size, 3), 40 * i, np.uint8), t)
    assert writer.resized == 2
    info = probe_video(path)
    assert (info.width, info.height) == (320, 240)
    got = [f.timestamp_s for f in iter_frames(path)]
    want = [0.3003 + t for t in (0.0, 1 / 30, 2 / 30, 2 / 30 + tick, 0.1)]
    np.testing.assert_allclose(got, want, atol=tick / 2 + 1e-9)
    last = next(f for i, f in enumerate(iter_frames(path)) if i == 4).image
    # 320x120 scaled to fit 320x240 unchanged in size, centred: black bands above and below
    assert last[:50].max() < 20 and abs(int(last[120, 160].mean()) - 160) < 10


def test_writer_goes_on_after_the_clock_goes_back(tmp_path):
    from mien.io import VideoWriter

    path = tmp_path / "out.mp4"
    times = [1.0, 1.1, 1.2, 0.0, 0.1]  # two recordings joined: the second starts at 0
    with VideoWriter(path, fps=10) as writer:
        for i, t in enumerate(times):
            writer.write(np.full((48, 64, 3), 40 * i, np.uint8), t)
    assert writer.time_resets == 1
    got = [f.timestamp_s for f in iter_frames(path)]
    np.testing.assert_allclose(got, [1.0, 1.1, 1.2, 1.3, 1.4], atol=1e-5)


@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])
def test_a_video_whose_times_start_below_zero_keeps_every_frame(tmp_path, suffix):
    """An MPEG-TS recorded across its clock's wrap gave times from -3.72 s: the MP4 marked
    every frame before 0 to be skipped, and 8 of 16 frames never played."""
    from mien.io import VideoWriter

    path = tmp_path / f"out{suffix}"
    times = [-1.0, -0.5, 0.0, 0.5, 1.0]
    with VideoWriter(path, fps=2) as writer:
        for i, t in enumerate(times):
            writer.write(np.full((48, 64, 3), 40 * i, np.uint8), t)
    assert writer.start_shift_s == 1.0
    assert "starts at 0, every frame 1 s later than the rows' times" in writer.adjustments()[0]
    frames = list(iter_frames(path))
    np.testing.assert_allclose([f.timestamp_s for f in frames], [0.0, 0.5, 1.0, 1.5, 2.0])
    assert [round(float(f.image.mean()) / 40) for f in frames] == [0, 1, 2, 3, 4]


@pytest.mark.parametrize("suffix", [".mp4", ".mov", ".mkv"])
@pytest.mark.parametrize(
    ("times", "duration"),
    [
        ([i * 0.5 for i in range(10)] + [5.0 + i * 0.02 for i in range(1, 11)], 5.22),  # 5.46
        ([*(i * 0.04 for i in range(10)), 1.0, 2.0, 2.04], 2.08),  # MP4: 1.12 with B-frames
        ([0.0], 0.1),  # one frame: one nominal step at 10 fps (it lasted 11 µs)
        ([0.0, 0.1, 0.2, 0.2], 0.3),  # a repeat moved one tick on: the usual step, 0.1
        # a last step longer than the usual: the summaries' rule, the median of the last 16
        # steps (the step before it made the video 0.17 s longer than its summary's time)
        ([*(i / 30 for i in range(30)), 29 / 30 + 0.2], 29 / 30 + 0.2 + 1 / 30),
    ],
)
def test_each_written_frame_lasts_until_the_next(tmp_path, suffix, times, duration):
    """x264 gave every frame 1/fps: a variable-rate video's last frame lasted 1/average rate
    (5.46 s for a 5.24 s source); with B-frames an MP4 took its frames' durations from the
    decode order and ended before its last frame."""
    import av

    from mien.io import VideoWriter

    fps = len(times) / times[-1] if times[-1] else 10.0  # the average rate, as analyze gives
    path = tmp_path / f"vfr{suffix}"
    with VideoWriter(path, fps=fps) as writer:
        for i, t in enumerate(times):
            writer.write(np.full((48, 64, 3), 7 * i % 256, np.uint8), t)
    with av.open(str(path)) as container:
        assert container.duration / 1e6 == pytest.approx(duration, abs=2e-3)
    got = [f.timestamp_s for f in iter_frames(path)]
    np.testing.assert_allclose(got, times, atol=1.1e-3)  # a repeat: one tick (1 ms in MKV) on


@pytest.mark.parametrize("suffix", [".mkv"])  # a cut MP4 (index at the end) will not open
def test_a_cut_file_is_called_truncated_also_with_an_end(tmp_path, suffix):
    """--end past where a cut file breaks off must not hide the break; --end before it does
    not need the rest of the file."""
    frames = level_frames([i / 10 for i in range(80)], (160, 120))
    data = write_clip(tmp_path / f"long{suffix}", frames).read_bytes()
    cut = tmp_path / f"cut{suffix}"
    cut.write_bytes(data[: len(data) // 2])
    got = []
    with pytest.raises(VideoDecodeError, match=r"before --end 7 s, but the container says"):
        for frame in iter_frames(cut, end_s=7.0):
            got.append(frame.timestamp_s)
    assert 0 < len(got) < 70
    early = [f.timestamp_s for f in iter_frames(cut, end_s=got[len(got) // 2] - 1e-3)]
    assert early == got[: len(got) // 2]


@pytest.mark.parametrize("start", [0.0, 10.0])
def test_a_cut_matroska_file_is_called_truncated_however_late_its_times_start(tmp_path, start):
    """A Matroska duration counted from the first frame (not from 0) made the check's second
    reading, for containers that count from 0, pass every cut file that starts late."""
    frames = level_frames([start + i / 10 for i in range(80)], (160, 120))
    data = write_clip(tmp_path / "long.mkv", frames).read_bytes()
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(VideoDecodeError, match=r"truncated or corrupt file"):
        list(iter_frames(cut))


@pytest.mark.parametrize("with_audio", [False, True])
def test_a_fragmented_mp4_cut_while_written_is_called_truncated(tmp_path, with_audio):
    """Recorders write fragmented MP4 (index first, then fragments) so that a crash leaves a
    playable file; cut mid-fragment it ends in a partial packet, whose decode error FFmpeg's
    frame threads drop, and it has no full duration to compare with."""
    import av

    path = tmp_path / "frag.mp4"
    rng = np.random.default_rng(0)
    with av.open(str(path), "w", options={"movflags": "frag_keyframe+empty_moov"}) as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 160, 120, "yuv420p"
        stream.options = {"g": "25"}
        audio = out.add_stream("aac", rate=48000) if with_audio else None
        for i in range(100):
            if audio is None:  # noise: big video packets
                image = rng.integers(0, 255, (120, 160, 3), dtype=np.uint8)
            else:  # flat frames, so that most of the file is sound
                image = np.full((120, 160, 3), i * 2, np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="bgr24")):
                out.mux(packet)
            for k in range(2 if audio is not None else 0):  # 2 x 1024 samples per frame
                noise = rng.standard_normal((1, 1024)).astype(np.float32) * 0.3
                sound = av.AudioFrame.from_ndarray(noise, format="fltp", layout="mono")
                sound.sample_rate, sound.pts = 48000, (2 * i + k) * 1024
                for packet in audio.encode(sound):
                    out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
        for packet in audio.encode() if audio is not None else []:
            out.mux(packet)
    whole = [f.timestamp_s for f in iter_frames(path)]
    assert len(whole) == 100  # the whole file reads without complaint
    data = path.read_bytes()
    cut = tmp_path / "cut.mp4"
    for share in (0.3, 0.45, 0.5, 0.55, 0.65, 0.8):  # the last packet cut: video or audio
        cut.write_bytes(data[: round(len(data) * share)])
        got = []
        with pytest.raises(VideoDecodeError, match="last packet is cut short, after") as info:
            for frame in iter_frames(cut):
                got.append(frame.timestamp_s)
        assert 0 < len(got) <= 100 and got == whole[: len(got)]  # the sound may be what is cut
        assert info.value.last_timestamp_s == pytest.approx(got[-1])


def _mux(path, video_s, *, audio_s=0.0, last_frame_s=None):
    """``video_s`` of 25 fps H.264 (its last frame held ``last_frame_s`` when given), with
    ``audio_s`` of silent AAC beside it."""
    import av

    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=25)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        audio = out.add_stream("aac", rate=8000) if audio_s else None
        n = round(video_s * 25)
        for i in range(n):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), i % 255, np.uint8), "bgr24")
            frame.pts, frame.time_base = i, Fraction(1, 25)
            for packet in video.encode(frame):
                if last_frame_s and packet.pts == n - 1:
                    packet.duration = round(last_frame_s / packet.time_base)
                out.mux(packet)
        for packet in video.encode():
            if last_frame_s and packet.pts == n - 1:
                packet.duration = round(last_frame_s / packet.time_base)
            out.mux(packet)
        if audio is not None:
            samples = np.zeros((1, 1024), np.float32)
            for k in range(round(audio_s * 8000 / 1024)):
                frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
                frame.sample_rate, frame.pts = 8000, k * 1024
                for packet in audio.encode(frame):
                    out.mux(packet)
            for packet in audio.encode():
                out.mux(packet)
    return path


@pytest.mark.parametrize("end_s", [None, 5.0, 100.0])
def test_no_false_truncation_from_longer_audio_or_a_long_last_frame(tmp_path, end_s):
    """A Matroska file whose audio runs past its video (the container's duration is the
    audio's), and an MP4 whose last frame is held for seconds, are whole files."""
    longer_audio = _mux(tmp_path / "a.mkv", 3.0, audio_s=10.0)
    held = _mux(tmp_path / "held.mp4", 3.0, last_frame_s=6.0)
    for clip in (longer_audio, held):
        times = [f.timestamp_s for f in iter_frames(clip, end_s=end_s)]
        assert len(times) == 75 and times[-1] == pytest.approx(2.96, abs=1e-3), clip


def _gop_clip(path, *, n=90, rate=15, gop=15, start_s=0.0, intra_refresh=False, b_frames=0):
    """``n`` frames of a moving textured scene at ``rate`` fps, a key frame every ``gop`` (or,
    with ``intra_refresh``, none after the first: x264's rolling refresh), ``b_frames`` B-frames
    in a row at most (x264's ``medium`` preset then)."""
    texture = np.random.default_rng(0).integers(0, 255, (240, 480, 3), dtype=np.uint8)
    images = [texture[i : i + 160, 2 * i : 2 * i + 240] for i in range(n)]
    options = {"intra-refresh": "1"} if intra_refresh else {}
    if b_frames:
        options.update(preset="medium", bf=str(b_frames))
    return write_gop_clip(path, images, rate=rate, gop=gop, start_s=start_s, options=options)


@pytest.mark.parametrize("suffix", [".mp4", ".ts"])
def test_damaged_data_is_skipped_to_the_next_key_frame_and_reported(tmp_path, suffix):
    # MP4 stopped at the first damaged packet (43 of 90 frames); MPEG-TS gave garbled frames,
    # and a damaged frame without a timestamp was timed from 0 in a file starting at 10 s
    clip = _gop_clip(tmp_path / f"clip{suffix}", start_s=10.0)
    clean = {round(f.timestamp_s, 4): f.image for f in iter_frames(clip)}
    data = bytearray(clip.read_bytes())
    mid = len(data) // 2
    data[mid : mid + 2000] = np.random.default_rng(1).integers(0, 255, 2000, np.uint8).tobytes()
    damaged = tmp_path / f"damaged{suffix}"
    damaged.write_bytes(bytes(data))
    got = []
    with pytest.raises(VideoDecodeError, match=r"damaged data: .*left out") as info:
        for frame in iter_frames(damaged):
            got.append(frame)
    times = [f.timestamp_s for f in got]
    assert times == sorted(times) and 10.0 <= times[0] and times[-1] < 16.0
    assert len(got) >= 60  # most of the file, on both sides of the damage
    assert times[-1] == pytest.approx(max(clean), abs=1e-3) and max(clean) > 15.9
    for frame in got:  # every frame given out is the clean file's frame at that time
        ref = clean[round(frame.timestamp_s, 4)]
        assert np.abs(frame.image.astype(int) - ref).mean() < 2.0, frame.timestamp_s
    assert info.value.last_timestamp_s == pytest.approx(times[-1])
    assert str(damaged) in str(info.value)


def test_a_raw_stream_is_timed_by_its_own_frame_rate(tmp_path):
    # a bare .h264 has no container times; FFmpeg's average_rate is its default 25
    clip = _gop_clip(tmp_path / "clip.mp4", n=30)
    import av

    raw = tmp_path / "clip.h264"
    with av.open(str(clip)) as src, av.open(str(raw), "w", format="h264") as dst:
        out = dst.add_stream_from_template(src.streams.video[0])
        for packet in src.demux(src.streams.video[0]):
            if packet.size:
                packet.stream = out
                dst.mux(packet)
    assert probe_video(raw).fps == pytest.approx(15.0)
    times = [f.timestamp_s for f in iter_frames(raw)]
    assert len(times) == 30 and times[-1] == pytest.approx(29 / 15)


def test_an_mp4_without_its_index_is_called_an_unfinished_recording(tmp_path):
    # it was "not a readable video ([Errno 1094995529] Invalid data found ...)"
    clip = write_clip(tmp_path / "full.mp4", level_frames([i / 10 for i in range(30)]))
    data = clip.read_bytes()
    assert b"moov" in data[-4096:]  # the index is written last (no "fast start")
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) * 3 // 4])
    with pytest.raises(VideoError, match=r"cut\.mp4: an MP4/MOV file without its index"):
        probe_video(cut)
    moov = data.rindex(b"moov") - 4  # the index box itself cut short
    cut.write_bytes(data[: moov + 40])
    with pytest.raises(VideoError, match=r"cut short inside its index \('moov' box\)"):
        list(iter_frames(cut))
    assert probe_video(clip).frame_count == 30  # the whole file is not touched


def test_the_main_video_stream_is_read_not_a_small_first_one(tmp_path):
    # a 64x48 preview stream first made every row "no_face": FFmpeg plays the larger one
    import av

    path = tmp_path / "two.mkv"
    with av.open(str(path), "w") as container:
        small = container.add_stream("libx264", rate=10)
        small.width, small.height, small.pix_fmt = 64, 48, "yuv420p"
        main = container.add_stream("libx264", rate=10)
        main.width, main.height, main.pix_fmt = 160, 96, "yuv420p"
        for i in range(5):
            for stream, value in ((small, 0), (main, 200)):
                image = np.full((stream.height, stream.width, 3), value, np.uint8)
                frame = av.VideoFrame.from_ndarray(image, format="bgr24")
                frame.pts, frame.time_base = i, Fraction(1, 10)
                for packet in stream.encode(frame):
                    container.mux(packet)
        for stream in (small, main):
            for packet in stream.encode():
                container.mux(packet)
    assert probe_video(path).resolution_wh == (160, 96)
    frames = list(iter_frames(path))
    assert len(frames) == 5 and frames[0].image.shape == (96, 160, 3)
    assert frames[0].image.mean() > 150


@pytest.mark.parametrize("brand", [b"dash", b"XAVC", b"cmfc", b"MSNV", b"isom"])
def test_camera_and_dash_mp4_brands_are_videos(tmp_path, brand):
    # batch read a DASH download or a Sony XAVC clip as an image ("not a recognised image format")
    from mien.io import media_kind

    clip = write_clip(tmp_path / "clip.mp4", level_frames([0.0, 0.1, 0.2]))
    data = bytearray(clip.read_bytes())
    assert data[4:8] == b"ftyp"
    data[8:12] = brand
    clip.write_bytes(bytes(data))
    assert media_kind(clip) == "video"
    assert len(list(iter_frames(clip))) == 3
    still = tmp_path / "photo.heic"  # an ISO still Pillow cannot read stays an image
    still.write_bytes(b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(64))
    assert media_kind(still) == "image"


def _damaged(clip, tmp_path, at=0.5, n=2000):
    data = bytearray(clip.read_bytes())
    mid = int(len(data) * at)
    data[mid : mid + n] = np.random.default_rng(1).integers(0, 255, n, np.uint8).tobytes()
    out = tmp_path / f"damaged{clip.suffix}"
    out.write_bytes(bytes(data))
    return out


def _read(path, **kwargs):
    """The frames ``iter_frames`` yields, and its error (or ``None``)."""
    got = []
    try:
        for frame in iter_frames(path, **kwargs):
            got.append(frame)
    except VideoDecodeError as err:
        return got, err
    return got, None


def test_damage_is_followed_and_reported_inside_the_window_only(tmp_path):
    # the skip state was only followed inside --start/--end: clean frames after a key frame
    # before --start were left out, and damage outside the window failed a clean window
    clip = _gop_clip(tmp_path / "clip.mp4")  # a key frame every 1 s
    clean = {round(f.timestamp_s, 4): f.image for f in iter_frames(clip)}
    damaged = _damaged(clip, tmp_path)
    whole, err = _read(damaged)
    skipped = sorted(set(clean) - {round(f.timestamp_s, 4) for f in whole})
    assert err is not None and skipped and skipped[-1] - skipped[0] < 1.0
    # the frame after the stretch says where it began; no other frame says anything
    marked = [(f.timestamp_s, f.damaged_from_s) for f in whole if f.damaged_from_s is not None]
    after = min(t for t in clean if t > skipped[-1])
    assert marked == [(pytest.approx(after), pytest.approx(skipped[0]))]
    sampled = [f for f in iter_frames(clip, fps=1)]  # nothing left out of the clean file
    assert all(f.damaged_from_s is None for f in sampled)
    sampled, _ = _read(damaged, fps=1)  # sampled frames: the next one kept says it
    marked = [(f.timestamp_s, f.damaged_from_s) for f in sampled if f.damaged_from_s is not None]
    assert marked == [(pytest.approx(after), pytest.approx(skipped[0]))]
    after = int(skipped[-1]) + 1.5  # inside the next GOP, past its key frame
    window, err = _read(damaged, start_s=after, end_s=after + 0.4)
    assert err is None and len(window) == 6
    assert all(np.array_equal(f.image, clean[round(f.timestamp_s, 4)]) for f in window)
    before, err = _read(damaged, end_s=skipped[0] - 0.5)
    assert err is None and len(before) == round((skipped[0] - 0.5) * 15)
    inside, err = _read(damaged, start_s=skipped[0] + 0.1, end_s=skipped[-1] + 0.5)
    assert err is not None and "damaged data" in str(err)
    for frame in inside:  # nothing garbled, though the damage began before the window
        assert np.abs(frame.image.astype(int) - clean[round(frame.timestamp_s, 4)]).mean() < 2


@pytest.mark.parametrize(
    ("suffix", "b_frames", "at"),
    [(".mp4", 3, 0.25), (".mp4", 3, 0.6), (".mp4", 3, 0.75), (".mp4", 0, 0.3), (".mp4", 0, 0.6),
     (".mkv", 3, 0.6)],
)  # fmt: skip
def test_every_frame_left_out_as_damaged_lies_in_a_marked_stretch(tmp_path, suffix, b_frames, at):
    """With B-frames a packet that would not decode was marked on a frame shown before it
    ("from 2.000 s to this frame at 2.000 s"), and the stretch really left out went unmarked
    (counted as seen); threaded decoding reports a failed packet late, under another frame's
    pts, so marks began 1-2 frames late. No frame shown is garbled, and no mark covers only
    frames that were shown."""
    clip = _gop_clip(tmp_path / f"clip{suffix}", b_frames=b_frames)
    clean = {f.timestamp_s: f.image for f in iter_frames(clip)}
    assert not any(f.damaged_from_s for f in iter_frames(clip))  # nothing marked in it
    got, err = _read(_damaged(clip, tmp_path, at=at))
    seen = {f.timestamp_s for f in got}
    marks = [(f.damaged_from_s, f.timestamp_s) for f in got if f.damaged_from_s is not None]
    missing = [t for t in clean if t not in seen]
    assert err is not None and missing and marks
    inside = [t for t in missing if min(seen) < t < max(seen)]
    for t in inside:  # each inside [where its stretch began, the frame after it)
        assert any(start <= t + 1e-6 < end for start, end in marks), (t, marks)
    for start, end in marks:  # each covers frames that are missing, from the first of them
        assert any(abs(start - t) < 1e-3 for t in missing), (start, marks)
        assert all(t in missing for t in clean if start + 1e-3 <= t < end)
    # nothing garbled, but for a key frame damaged without a word from the decoder
    garbled = [f for f in got if np.abs(f.image.astype(int) - clean[f.timestamp_s]).mean() > 3]
    assert len(garbled) <= 1


@pytest.mark.parametrize(
    ("name", "codec", "options"),
    [("x264.avi", "libx264", {"bf": "3", "g": "30"}),  # AVI: times in decoding order
     ("open.mkv", "libx264", {"bf": "3", "g": "30", "x264-params": "open-gop=1"}),
     ("mpeg2.mpg", "mpeg2video", {"bf": "2", "g": "15"})],
)  # fmt: skip
def test_clean_files_with_b_frames_lose_no_frame_and_carry_no_mark(tmp_path, name, codec, options):
    """Packets that give no frame with their own time were taken for damage: a clean AVI of
    H.264 with B-frames gave 4 of its 120 frames."""
    import av

    clip = tmp_path / name
    with av.open(str(clip), "w") as container:
        stream = container.add_stream(codec, rate=25)
        stream.width, stream.height, stream.pix_fmt = 160, 120, "yuv420p"
        stream.options = options
        for i in range(120):
            image = np.full((120, 160, 3), (i * 2) % 255, np.uint8)
            image[i % 100 : i % 100 + 20, 40:80] = 255
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="bgr24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    frames = list(iter_frames(clip))
    assert len(frames) == 120 and not any(f.damaged_from_s for f in frames)


def test_a_stream_without_key_frames_resumes_after_damage(tmp_path):
    # x264's intra refresh has one key frame: the whole rest of the file was left out
    clip = _gop_clip(tmp_path / "refresh.mkv", intra_refresh=True)
    clean = {round(f.timestamp_s, 4): f.image for f in iter_frames(clip)}
    got, err = _read(_damaged(clip, tmp_path, at=0.4, n=300))
    assert err is not None and "at most 2 s" in str(err)
    assert len(got) >= 50 and max(f.timestamp_s for f in got) == pytest.approx(89 / 15, abs=1e-3)
    for frame in got:
        assert np.abs(frame.image.astype(int) - clean[round(frame.timestamp_s, 4)]).mean() < 2


def test_a_long_gop_mp4_damaged_early_is_skipped_to_its_next_key_frame(tmp_path):
    # before its second key frame the file looked like one without key frames (intra refresh),
    # and frames from 2 s after the damage were yielded still garbled; MP4's index says better
    clip = _gop_clip(tmp_path / "long.mp4", n=150, gop=120)  # key frames at 0 and 8 s
    clean = {round(f.timestamp_s, 4): f.image for f in iter_frames(clip)}
    got, err = _read(_damaged(clip, tmp_path, at=0.2, n=300))
    assert err is not None and "damaged data" in str(err)
    for frame in got:
        assert np.abs(frame.image.astype(int) - clean[round(frame.timestamp_s, 4)]).mean() < 2
    assert max(f.timestamp_s for f in got) == pytest.approx(149 / 15, abs=1e-3)


def test_fps_slots_restart_where_the_clock_goes_back_at_a_damaged_frame(tmp_path):
    # two recordings joined (10-16 s, then 0-6 s), the second's first frames damaged: --fps
    # compared the first good frame with the skipped one and kept nothing of the second part
    first = _gop_clip(tmp_path / "a.ts", start_s=10.0).read_bytes()
    second = bytearray(_gop_clip(tmp_path / "b.ts").read_bytes())
    second[3000:3300] = np.random.default_rng(2).integers(0, 255, 300, np.uint8).tobytes()
    joined = tmp_path / "joined.ts"
    joined.write_bytes(first + bytes(second))
    times = []
    with pytest.raises(VideoDecodeError, match="damaged data"):
        for frame in iter_frames(joined, fps=2):
            times.append(frame.timestamp_s)
    assert sum(t >= 10 for t in times) == 12  # the first part, two a second
    assert sum(t < 10 for t in times) >= 8  # and the second part after its damage


def test_a_file_ffmpeg_cannot_read_is_named_in_its_words_without_its_error_number(tmp_path):
    fake = tmp_path / "fake.mp4"
    fake.write_bytes(b"hello, not a video\n" * 3)
    with pytest.raises(VideoError) as caught:
        probe_video(fake)
    assert str(caught.value) == (
        f"{fake}: not a readable video (Invalid data found when processing input)"
    )


def test_a_text_file_is_not_a_video(tmp_path):
    """FFmpeg's tty demuxer drew a 1.2 KB text file as 5 frames of 640×400, and `mien analyze`
    wrote 5 no_face rows for it instead of an error row."""
    from mien.io.kind import media_kind

    text = tmp_path / "notes.txt"
    text.write_text("".join(f"hello world, line {i} of some notes\n" for i in range(30)))
    with pytest.raises(VideoError, match="a text file, not a video"):
        next(iter_frames(text))
    assert media_kind(text) == "image"  # so the image reader names the problem


@pytest.mark.parametrize(
    ("name", "fmt", "codec"), [("talk.m4a", "mp4", "aac"), ("talk.wav", "wav", "pcm_s16le")]
)
def test_an_audio_only_file_is_said_to_be_audio_whatever_its_name(tmp_path, name, fmt, codec):
    """An interview's sound given by mistake: as .mp4 it was "no video stream", as .m4a or
    .wav "not a recognised image format (mien reads JPEG, PNG…)"."""
    import av

    from mien.io.kind import media_kind

    path = tmp_path / name
    with av.open(str(path), "w", format=fmt) as container:
        stream = container.add_stream(codec, rate=16000)
        planar = codec == "aac"
        for i in range(10):
            frame = av.AudioFrame.from_ndarray(
                np.zeros((1, 1024), np.float32 if planar else np.int16),
                format="fltp" if planar else "s16",
                layout="mono",
            )
            frame.sample_rate, frame.pts = 16000, i * 1024
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    as_mp4 = tmp_path / "talk.mp4"
    as_mp4.write_bytes(path.read_bytes())
    for each in (path, as_mp4):
        assert media_kind(each) == "video"  # so the video reader names the problem
        with pytest.raises(VideoError, match="audio only, no video stream in the file"):
            next(iter_frames(each))


def test_a_video_writer_that_cannot_write_fails_at_once_with_a_video_error(tmp_path):
    """VideoWriter("/proc/x.mp4") was made without error and raised a bare FileNotFoundError at
    the first frame; a folder that could not be made escaped as a plain OSError."""
    from mien.io import VideoWriter

    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    with pytest.raises(VideoError, match=r"cannot create its folder \(not a directory: "):
        VideoWriter(blocker / "sub" / "x.mp4")
    if os.geteuid() != 0:  # root may write anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        with pytest.raises(VideoError, match="cannot create a file in"):
            VideoWriter(locked / "x.mp4")
    with pytest.raises(VideoError, match=r"cannot create a file in /proc \("):
        VideoWriter("/proc/x.mp4")
    existing = tmp_path / "kept.mp4"
    existing.write_bytes(b"old")
    VideoWriter(existing)  # nothing written yet: an existing file is kept
    assert existing.read_bytes() == b"old"
    with pytest.raises(VideoError, match="a folder, not a file"):
        VideoWriter(tmp_path)
    if os.geteuid() != 0:  # an existing writable file in a folder that takes no new files
        shut = tmp_path / "shut"
        shut.mkdir()
        (shut / "x.mp4").write_bytes(b"old")
        shut.chmod(0o555)
        VideoWriter(shut / "x.mp4")
