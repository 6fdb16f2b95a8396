"""The video path end to end on generated clips: rows per frame, tracks, CLI, plots, streams."""

from __future__ import annotations

import contextlib
import csv
import io
import itertools
import json
import os
import threading
import time

import numpy as np
import pytest
from typer.testing import CliRunner

from mien.cli.main import app
from mien.io import LiveStream, iter_frames
from mien.tracking import FaceTracker
from tests.helpers import (
    compose,
    face_patch,
    make_export,
    two_seated,
    two_small,
    write_clip,
    write_gop_clip,
)

runner = CliRunner()
SIZE = (360, 300)


@pytest.fixture(scope="module")
def enter_leave(tmp_path_factory):
    """36 frames at 12 fps: empty, then Grace Hopper drifts across (frames 10-25), then empty."""
    face = face_patch("grace_hopper.jpg", 130)
    frames = []
    for i in range(36):
        patches = [(face, 40 + 6 * (i - 10), 80)] if 10 <= i <= 25 else []
        frames.append((compose(SIZE, patches), i / 12))
    return write_clip(tmp_path_factory.mktemp("clips") / "enter_leave.mp4", frames)


@pytest.fixture(scope="module")
def crossing(tmp_path_factory):
    """Two faces swap sides: Grace Hopper on the top row left→right, the astronaut below."""
    a, b = face_patch("grace_hopper.jpg", 130), face_patch("astronaut.jpg", 130)
    frames = []
    for i in range(24):
        frames.append((compose((420, 300), [(a, 10 + 12 * i, 5), (b, 280 - 12 * i, 160)]), i / 15))
    return write_clip(tmp_path_factory.mktemp("clips") / "crossing.mp4", frames)


def rows_of(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text)))


def test_face_enters_and_leaves_one_row_per_frame(enter_leave, tmp_path):
    out = tmp_path / "rows.csv"
    result = runner.invoke(app, ["analyze", str(enter_leave), "--out", str(out), "-q"])
    assert result.exit_code == 0, result.output
    rows = rows_of(out.read_text())
    assert [int(r["frame_index"]) for r in rows] == list(range(36))  # no gaps, no duplicates
    np.testing.assert_allclose(
        [float(r["timestamp_s"]) for r in rows], np.arange(36) / 12, atol=1e-3
    )
    status = [r["status"] for r in rows]
    assert status[:10] == ["no_face"] * 10 and status[26:] == ["no_face"] * 10
    assert status[10:26] == ["ok"] * 16
    assert {r["track_id"] for r in rows[10:26]} == {"1"}
    assert all(r["track_id"] == "" for r in rows[26:])  # no stale result after it leaves
    probs = np.array(
        [[float(r[f"ps_{n}"]) for n in ("anger", "happiness", "neutral")] for r in rows[10:26]]
    )
    assert (probs >= 0).all() and rows[12]["smoothed_label"] != ""


def test_the_summary_gives_each_track_its_time_and_label(enter_leave, tmp_path):
    import re

    args = ["analyze", str(enter_leave), "-o", str(tmp_path / "r.csv")]
    result = runner.invoke(app, args, env={"COLUMNS": "250"})  # one line per file
    assert result.exit_code == 0, result.output
    text = " ".join(result.stderr.split())
    # the face is in frames 10-25 of 36 at 12 fps: 16 frames, 1.3 s
    assert re.search(r"video: 36 frames, 1 track; #1 [a-z]+ \d+% of 1\.3 s", text), text


def test_crossing_faces_keep_their_ids(crossing):
    from mien import Analyzer

    with Analyzer() as analyzer:
        results = list(analyzer.run(iter_frames(crossing), tracker=FaceTracker()))
    assert len(results) == 24
    by_id: dict[int, list[float]] = {}
    for r in results:
        assert len(r.faces) == 2, r.frame_index
        for box, tid in zip(r.faces.xyxy, r.faces.track_id, strict=True):
            by_id.setdefault(int(tid), []).append(float(box[1]))
    assert sorted(by_id) == [1, 2]
    rows_y = sorted(np.mean(v) for v in by_id.values())
    for ys in by_id.values():  # each id stays on its own row all the way through
        assert max(ys) - min(ys) < 40
    assert rows_y[1] - rows_y[0] > 100
    assert all(r.faces.smoothed is not None for r in results)


def test_auto_keeps_both_of_two_seated_people_in_every_frame(analyzer):
    from mien import Frame

    # one short-range pass a frame lost one of them in 11 of these 40 frames
    frames = [Frame(two_seated(i), i, i / 10, "two") for i in range(40)]
    results = list(analyzer.run(frames))
    assert [len(r.faces) for r in results] == [2] * 40
    assert {tuple(sorted(r.faces.track_id.tolist())) for r in results} == {(1, 2)}


def test_auto_looks_wider_for_a_face_short_range_never_finds(analyzer):
    from mien import Frame

    # short-range finds one of these two faces in every frame, so the other was never
    # tracked and never looked for; the first frame looks wider, and the track then asks
    scene = two_small()
    results = list(analyzer.run(Frame(scene, i, i / 12, "two") for i in range(24)))
    assert [len(r.faces) for r in results] == [2] * 24
    assert {tuple(sorted(r.faces.track_id.tolist())) for r in results} == {(1, 2)}


def test_black_frames_and_parquet_and_plot(tmp_path, enter_leave):
    black = write_clip(
        tmp_path / "black.mp4", [(np.zeros((120, 160, 3), np.uint8), i / 10) for i in range(7)]
    )
    out = tmp_path / "rows.parquet"
    result = runner.invoke(app, ["analyze", str(black), str(enter_leave), "--out", str(out), "-q"])
    assert result.exit_code == 0, result.output
    import pyarrow.parquet as pq

    table = pq.read_table(out)
    sources = table.column("source").to_pylist()
    assert sources.count(str(black)) == 7 and sources.count(str(enter_leave)) == 36
    assert set(table.column("status").to_pylist()[:7]) == {"no_face"}
    assert str(table.schema.field("track_id").type) == "int64"
    png = tmp_path / "tracks.png"
    result = runner.invoke(app, ["plot", str(out), "--out", str(png)])
    assert result.exit_code == 0, result.output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000


def test_plot_refuses_results_without_tracks(tmp_path):
    rows = tmp_path / "stills.jsonl"
    result = runner.invoke(app, ["analyze", "samples/grace_hopper.jpg", "--out", str(rows), "-q"])
    assert result.exit_code == 0
    result = runner.invoke(app, ["plot", str(rows)])
    assert result.exit_code == 1 and "no tracked faces" in result.stderr


def test_annotated_video_and_sampling(enter_leave, tmp_path):
    from mien.io import probe_video

    target = tmp_path / "drawn.mp4"
    args = ["analyze", str(enter_leave), "--every", "2", "--annotate", str(target), "--blur-faces"]
    result = runner.invoke(app, [*args, "-f", "jsonl", "-q"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["frame_index"] for r in rows] == list(range(0, 36, 2))
    info = probe_video(target)
    assert info.frame_count == 18 and (info.width, info.height) == SIZE
    frames = list(iter_frames(target))
    # the source's own timestamps (its 1/1000 s time base), kept within 1/180000 s by the
    # writer's 1/90000 s time base
    np.testing.assert_allclose(
        [f.timestamp_s for f in frames], [r["timestamp_s"] for r in rows], atol=6e-6
    )
    assert [r["timestamp_s"] for r in rows][1] == 0.167


def test_truncated_video_keeps_rows_then_reports(tmp_path):
    face = face_patch("grace_hopper.jpg", 130)
    clip = write_clip(
        tmp_path / "full.mp4", [(compose(SIZE, [(face, 100, 80)]), i / 10) for i in range(60)]
    )
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(clip.read_bytes()[: clip.stat().st_size * 2 // 3])
    result = runner.invoke(app, ["analyze", str(cut), "-f", "csv", "-q"])
    assert result.exit_code == 1
    rows = rows_of(result.stdout)
    assert rows[-1]["status"] == "error" and str(cut) in rows[-1]["source"]
    good = [r for r in rows if r["status"] != "error"]
    assert [int(r["frame_index"]) for r in good] == list(range(len(good)))


def serve_folder(folder, port=0):
    """A plain HTTP server for ``folder`` in a thread; returns (server, port)."""
    import functools
    import http.server

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", port), functools.partial(Quiet, directory=str(folder))
    )
    server.allow_reuse_address = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, server.server_address[1]


def test_live_stream_reconnects_after_the_server_goes_away(tmp_path):
    face = face_patch("grace_hopper.jpg", 120)
    write_clip(
        tmp_path / "cam.mkv", [(compose((320, 240), [(face, 60, 40)]), i / 10) for i in range(20)]
    )
    server, port = serve_folder(tmp_path)
    seen, after_restart = [], []
    with LiveStream(
        f"http://127.0.0.1:{port}/cam.mkv", drop_frames=False, reconnect_s=0.05, max_reconnect_s=0.2
    ) as stream:

        def outage():  # the "camera" server dies for a while, then comes back on the same port
            time.sleep(0.5)
            server.shutdown()
            server.server_close()
            time.sleep(0.8)
            restarted.append(serve_folder(tmp_path, port)[0])

        restarted: list = []
        thread = threading.Thread(target=outage)
        thread.start()
        deadline = time.monotonic() + 30
        for frame in stream:
            seen.append(frame)
            if restarted:
                after_restart.append(frame)
            if len(after_restart) > 30 or time.monotonic() > deadline:
                break
        thread.join()
    restarted[0].shutdown()
    assert stream.reconnects >= 2 and len(after_restart) > 30
    assert [f.index for f in seen] == list(range(len(seen)))  # lossless: every frame, in order
    assert all(b.timestamp_s >= a.timestamp_s for a, b in itertools.pairwise(seen))


def test_ffmpegs_own_lines_stay_off_the_terminal_when_a_stream_breaks_off(
    tmp_path, capfd, monkeypatch
):
    import http.server

    face = face_patch("grace_hopper.jpg", 120)
    write_clip(
        tmp_path / "cam.mkv", [(compose((320, 240), [(face, 60, 40)]), i / 10) for i in range(40)]
    )
    data = (tmp_path / "cam.mkv").read_bytes()

    class HalfSent(http.server.BaseHTTPRequestHandler):  # promises the file, sends half of it
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[: len(data) // 2])

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), HalfSent)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    assert os.environ.get("OPENCV_FFMPEG_LOGLEVEL") == "-8"  # set as mien.io.stream is imported
    said: list[str] = []
    url = f"http://127.0.0.1:{server.server_address[1]}/cam.mkv"
    with LiveStream(url, drop_frames=False, on_status=said.append, reconnect_s=0.1) as stream:
        deadline = time.monotonic() + 20
        for _ in stream:  # until the first drop is reported
            if said or time.monotonic() > deadline:
                break
    server.shutdown()
    out, err = capfd.readouterr()
    assert any("dropped" in line for line in said)  # our own status line says it, once
    assert "prematurely" not in out + err and "[http @" not in out + err


def test_a_file_source_plays_once_at_its_own_pace(enter_leave):
    t0 = time.monotonic()
    with LiveStream(str(enter_leave), drop_frames=False) as stream:
        frames = list(stream)
    elapsed = time.monotonic() - t0
    assert len(frames) == 36 and stream.reconnects == 0  # ends at the last frame, no loop
    np.testing.assert_allclose([f.timestamp_s for f in frames], np.arange(36) / 12, atol=0.01)
    assert elapsed > 2.5  # 36 frames at 12 fps take 3 s, like a camera


def test_live_stream_that_never_opens_raises(tmp_path):
    from mien.errors import StreamError

    with LiveStream(str(tmp_path / "nothing.mp4")) as stream:  # a local path: at once
        with pytest.raises(StreamError, match="no such file"):
            next(iter(stream))
    t0 = time.monotonic()
    with LiveStream(str(tmp_path), open_timeout_s=5.0) as stream:  # waited out the 10 s
        with pytest.raises(StreamError, match="a folder, not a video file or device"):
            next(iter(stream))
    assert time.monotonic() - t0 < 2.0
    server, port = serve_folder(tmp_path)  # a URL that never answers with video: the timeout
    try:
        t0 = time.monotonic()
        with LiveStream(
            f"http://127.0.0.1:{port}/missing.mkv", open_timeout_s=1.0, reconnect_s=0.9
        ) as stream:
            with pytest.raises(StreamError, match="not opened"):
                next(iter(stream))
        # the back-off (0.9 s, then 1.8 s) is cut short at the limit: tries at 0, 0.9 and ~1.05 s
        assert time.monotonic() - t0 < 2.2  # not 2.7 s
    finally:
        server.shutdown()


def test_a_stream_urls_secrets_stay_out_of_rows_and_messages(tmp_path):
    """`watch 'rtsp://admin:s3cret@cam/live?token=abc123'` wrote the password and token into
    every row's `source` and into its error message."""
    from mien.errors import StreamError
    from mien.io.stream import redact_url

    assert redact_url("rtsp://admin:s3cret@10.0.0.2:554/live?token=abc&ch=2#x") == (
        "rtsp://***@10.0.0.2:554/live?token=***&ch=2#***"  # ch tells streams apart: kept
    )
    assert redact_url("udp://@:1234") == "udp://@:1234"  # no user: "listen on"
    assert redact_url("http://cam/a?flag") == "http://cam/a?***"
    # a password FFmpeg cannot parse still reaches the error message: hidden all the same
    for odd in ("rtsp://a:pa/ss@cam/live", "rtsp://a:pa?ss@cam/live", "rtsp://a:p#s@cam/live"):
        assert redact_url(odd) == "rtsp://***@cam/live"
    assert redact_url("http://cam/v.cgi?user=admin&pwd=x;rate=0") == (
        "http://cam/v.cgi?user=***&pwd=***;rate=0"
    )
    # an "@" in a query value ended the "user name" there, and the password after it showed
    assert redact_url("http://h/v?notify=ops@corp.com&password=X1&channel=2") == (
        "http://h/v?notify=ops@corp.com&password=***&channel=2"
    )
    assert (
        redact_url("http://u:pw@h/v?to=x@y&%70assword=Z") == "http://***@h/v?to=x@y&%70assword=***"
    )
    # no path, an "@" in the query, and a later "?": what came between showed
    assert redact_url("http://cam?user=bob@corp.com&password=S&back=/h?x=1") == (
        "http://***@corp.com&password=***&back=/h?x=1"
    )
    assert redact_url("http://cam/p?pin=1234") == "http://cam/p?pin=***"
    assert (
        redact_url("http://c/x?r=http%253A%252F%252Fu%253AP%2540h") == "http://c/x?r=http://***@h"
    )
    assert redact_url("concat:http://a:pw@h/1.ts|http://a:pw@k/2.ts") == (
        "concat:http://***@h/1.ts|http://***@k/2.ts"
    )
    assert redact_url("/dev/video0") == "/dev/video0" and redact_url("a@b.mp4") == "a@b.mp4"
    face = face_patch("grace_hopper.jpg", 120)
    write_clip(
        tmp_path / "cam.mkv", [(compose((320, 240), [(face, 60, 40)]), i / 10) for i in range(5)]
    )
    server, port = serve_folder(tmp_path)
    try:
        url = f"http://user:s3cret@127.0.0.1:{port}/cam.mkv?token=abc123"
        with LiveStream(url, drop_frames=False) as stream:
            frame = next(iter(stream))
        assert frame.source == f"http://***@127.0.0.1:{port}/cam.mkv?token=***"
        with LiveStream(url.replace("cam.mkv", "gone.mkv"), open_timeout_s=0.5) as stream:
            with pytest.raises(StreamError) as caught:
                next(iter(stream))
        assert "s3cret" not in str(caught.value) and "abc123" not in str(caught.value)
        assert "http://***@" in str(caught.value)
    finally:
        server.shutdown()


@pytest.mark.parametrize(
    "kwargs", [{"give_up_s": -1}, {"give_up_s": float("nan")}, {"open_timeout_s": 0}]
)
def test_live_stream_refuses_timeouts_that_are_not_positive(tmp_path, kwargs):
    with pytest.raises(ValueError, match="must be > 0"):  # -1 was taken: no frame, no error
        LiveStream(str(tmp_path / "nothing.mp4"), **kwargs)


def test_a_camera_that_is_not_there_fails_without_opencvs_warnings(capfd):
    from mien.errors import StreamError

    with LiveStream(99, open_timeout_s=0.3, reconnect_s=0.1) as stream:  # no camera 99
        with pytest.raises(StreamError, match="99: the source has not opened"):
            next(iter(stream))
    assert "WARN" not in capfd.readouterr().err  # OpenCV logged a dozen per attempt


def test_watch_command_writes_rows_with_your_own_weights(enter_leave, tmp_path):
    out = tmp_path / "live.jsonl"
    args = [
        "watch",
        str(enter_leave),
        "--weights",
        str(make_export(tmp_path, "mine")),
        "--no-preview",
        "--max-seconds",
        "3",
        "--out",
        str(out),
        "-q",
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) > 10
    assert {r["status"] for r in rows} <= {"ok", "no_face"}
    assert any(r["status"] == "ok" and r["track_id"] >= 1 for r in rows)
    assert {r["model"] for r in rows} == {"mine"}


def test_watch_never_writes_over_its_source_video(tmp_path, enter_leave):
    import shutil

    clip = tmp_path / "clip.mp4"
    shutil.copy(enter_leave, clip)
    before = clip.read_bytes()
    for args, match in (
        (["--annotate", str(clip)], "--annotate"),
        (["--out", str(clip), "--format", "jsonl"], "--out"),
    ):
        result = runner.invoke(app, ["watch", str(clip), "--no-preview", "-q", *args])
        assert result.exit_code == 2 and f"{match} {clip} is the source video" in result.output
    same = tmp_path / "same.mp4"
    result = runner.invoke(
        app, ["watch", str(clip), "--no-preview", "--out", str(same), "--format", "jsonl",
              "--annotate", str(same)],
    )  # fmt: skip
    assert result.exit_code == 2 and "--out and --annotate are one file" in result.output
    link = tmp_path / "link.mp4"  # the source under another name (a hard link)
    os.link(clip, link)
    result = runner.invoke(app, ["watch", str(clip), "--no-preview", "-q", "--annotate", str(link)])
    assert result.exit_code == 2 and f"--annotate {link} is the source video" in result.output
    assert clip.read_bytes() == before and not same.exists()


def test_watch_that_reads_no_frame_leaves_no_empty_output(tmp_path):
    """`mien watch 0 --out live.jsonl` without a camera left an empty live.jsonl behind."""
    fake = tmp_path / "notes.mp4"
    fake.write_text("not a video")
    out = tmp_path / "live.jsonl"
    result = runner.invoke(app, ["watch", str(fake), "--no-preview", "-q", "--out", str(out)])
    assert result.exit_code == 1 and not out.exists()
    out.write_text("kept\n")  # a file that was there before is not this run's to remove
    result = runner.invoke(app, ["watch", str(fake), "--no-preview", "-q", "--out", str(out)])
    assert result.exit_code == 1 and out.exists()


@pytest.mark.parametrize("sig", ["SIGTERM", "SIGINT"])
def test_watch_stops_cleanly_on_a_signal(enter_leave, tmp_path, sig):
    import signal
    import subprocess
    import sys

    out = tmp_path / "live.csv"
    cmd = [
        sys.executable,
        "-m",
        "mien",
        "watch",
        str(enter_leave),
        "--no-preview",
        "-o",
        str(out),
        "-q",
    ]
    # start with SIGINT ignored, as a shell does for `mien watch … &`: mien must still stop on it
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not out.exists() or out.stat().st_size < 2000):
        time.sleep(0.2)
    proc.send_signal(getattr(signal, sig))
    assert proc.wait(timeout=30) == 0
    rows = rows_of(out.read_text())
    assert len(rows) > 5 and all(r["status"] in ("ok", "no_face") for r in rows)


@pytest.mark.parametrize(
    ("interval", "measured_frames"), [(0.25, [10, 13, 16, 19, 22, 25]), (0.0, list(range(10, 26)))]
)
def test_head_pose_is_measured_per_track_at_most_once_per_interval(
    enter_leave, interval, measured_frames
):
    """At 12 fps a 0.25 s interval measures every third frame; the rows between carry the last
    measurement; 0 measures every frame."""
    from mien import Analyzer

    analyzer = Analyzer(pose_interval_s=interval)
    calls = []
    estimate = analyzer._pose.estimate

    def counting(image, xyxy):
        calls.append(len(xyxy))
        return estimate(image, xyxy)

    analyzer._pose.estimate = counting
    results = list(analyzer.run(iter_frames(enter_leave)))
    seen = [r for r in results if len(r.faces)]
    assert [r.frame_index for r in seen] == list(range(10, 26))
    assert len(calls) == len(measured_frames) and set(calls) == {1}
    yaws = [float(r.faces.data["yaw"][0]) for r in seen]
    assert not np.isnan(yaws).any()
    if interval:
        for k in range(len(seen)):
            first = max(f for f in measured_frames if f <= seen[k].frame_index)
            assert yaws[k] == yaws[first - 10]  # carried, not re-measured
    for r in seen:  # a face that fails the quality limits is abstained
        assert r.faces.data["quality_ok"][0] or r.faces.abstained[0]
    analyzer.close()


def test_a_stream_analysed_a_frame_per_call_keeps_its_pose_interval(enter_leave):
    """The service calls run() once per frame: with one poses dict (and one tracker) the pose
    is measured every 0.25 s, as in one call; a fresh dict each call measured every frame."""
    from mien import Analyzer

    frames = [f for f in iter_frames(enter_leave) if 10 <= f.index < 22]  # a face in each
    with Analyzer(pose_interval_s=0.25) as analyzer:
        calls = []
        estimate = analyzer._pose.estimate
        analyzer._pose.estimate = lambda image, xyxy: calls.append(1) or estimate(image, xyxy)
        tracker, poses = FaceTracker(), {}
        for frame in frames:
            next(analyzer.run([frame], tracker=tracker, poses=poses))
        assert len(calls) == 4  # frames 10, 13, 16, 19 at 12 fps
        calls.clear()
        tracker = FaceTracker()
        for frame in frames:
            next(analyzer.run([frame], tracker=tracker))
        assert len(calls) == 12


def _ts_clip(path, n, t0, size, x0=60, g=10):
    """An MPEG-TS H.264 clip (keyframe every ``g`` frames, no B-frames) at 10 fps from ``t0``."""
    from fractions import Fraction

    import av

    face = face_patch("grace_hopper.jpg", 130)
    with av.open(str(path), "w", format="mpegts") as c:
        s = c.add_stream("libx264", rate=10)
        s.width, s.height, s.pix_fmt = *size, "yuv420p"
        s.time_base = s.codec_context.time_base = Fraction(1, 1000)
        s.options = {"preset": "ultrafast", "g": str(g), "keyint_min": str(g), "bf": "0"}
        for i in range(n):
            frame = av.VideoFrame.from_ndarray(
                compose(size, [(face, x0 + 4 * i, 80)]), format="bgr24"
            )
            frame.pts, frame.time_base = round((t0 + i / 10) * 1000), Fraction(1, 1000)
            for packet in s.encode(frame):
                c.mux(packet)
        for packet in s.encode():
            c.mux(packet)
    return path


def test_times_count_from_the_first_decoded_frame(tmp_path):
    # a recording cut inside its first GOP: the stream starts at 10.1 s, but the first frame
    # that decodes is the next keyframe's, at 11.0 s; --start/--fps count from that frame
    full = _ts_clip(tmp_path / "full.ts", 40, 10.0, SIZE)
    cut = tmp_path / "cut.ts"
    cut.write_bytes(full.read_bytes()[188 * 10 :])  # whole TS packets
    assert [f.timestamp_s for f in itertools.islice(iter_frames(cut), 2)] == pytest.approx(
        [11.0, 11.1]
    )
    first = next(iter(iter_frames(cut, start_s=0.5)))
    assert first.timestamp_s == pytest.approx(11.5)
    kept = [f.timestamp_s for f in iter_frames(cut, fps=2.0, end_s=2.0)]
    assert kept == pytest.approx([11.0, 11.5, 12.0, 12.5])


def test_annotate_survives_a_change_of_frame_size(tmp_path):
    from mien.io import probe_video

    # two TS recordings joined byte for byte: 360x300, then 480x300 (a stream that changes
    # resolution); the annotated copy keeps the first size and the run goes on
    a = _ts_clip(tmp_path / "a.ts", 10, 0.0, SIZE)
    b = _ts_clip(tmp_path / "b.ts", 10, 1.0, (480, 300))
    joined = tmp_path / "joined.ts"
    joined.write_bytes(a.read_bytes() + b.read_bytes())
    target = tmp_path / "drawn.mp4"
    result = runner.invoke(app, ["analyze", str(joined), "--annotate", str(target), "-f", "csv"])
    assert result.exit_code == 0, result.output
    rows = rows_of(result.stdout)
    assert len({r["frame_index"] for r in rows}) == 20 and {r["status"] for r in rows} == {"ok"}
    assert "10 frame(s) of" in " ".join(result.stderr.split())
    info = probe_video(target)
    assert (info.width, info.height, info.frame_count) == (*SIZE, 20)


def test_frames_timed_before_the_first_are_kept(tmp_path):
    # two recordings joined byte for byte, the later-timed one first: the clock goes back at
    # the seam; every frame is still yielded (none is "before --start"), and --fps restarts
    # its slots there
    late = _ts_clip(tmp_path / "late.ts", 10, 2.0, SIZE)
    early = _ts_clip(tmp_path / "early.ts", 10, 0.0, SIZE)
    joined = tmp_path / "joined.ts"
    joined.write_bytes(late.read_bytes() + early.read_bytes())
    times = [f.timestamp_s for f in iter_frames(joined)]
    assert times == pytest.approx([2.0 + i / 10 for i in range(10)] + [i / 10 for i in range(10)])
    sampled = [f.timestamp_s for f in iter_frames(joined, fps=2.0)]
    assert sampled == pytest.approx([2.0, 2.5, 0.0, 0.5])


def test_a_joined_recordings_parts_get_their_own_tracks_and_times(tmp_path):
    """`cat a.ts b.ts`, both from 0 s, the face at the same place: the second part took track 1
    again, and the summary dropped its frames as repeats of the first part's timestamps."""
    a = _ts_clip(tmp_path / "a.ts", 10, 0.0, SIZE)
    b = _ts_clip(tmp_path / "b.ts", 6, 0.0, SIZE)
    joined = tmp_path / "joined.ts"
    joined.write_bytes(a.read_bytes() + b.read_bytes())
    result = runner.invoke(app, ["analyze", str(joined), "-f", "csv", "--no-pose"])
    assert result.exit_code == 0, result.output
    rows = rows_of(result.stdout)
    ids = [(int(r["frame_index"]), int(r["track_id"])) for r in rows if r["status"] == "ok"]
    assert {t for i, t in ids if i < 10} == {1} and {t for i, t in ids if i >= 10} == {2}
    said = " ".join(result.stderr.split())
    assert "the clock went back 1 time" in said
    assert "2 tracks; #1 " in said and " of 1.0 s" in said and "#2 " in said
    assert " of 0.6 s" in said  # the second part timed on its own: 6 frames at 10 fps


def _fifo(tmp_path, data: bytes | None):
    """A named pipe; a thread writes ``data`` into it at once (a burst), or nobody writes."""
    import os

    fifo = tmp_path / "live.fifo"
    os.mkfifo(fifo)
    if data is not None:

        def write():
            with open(fifo, "wb") as f:
                f.write(data)

        threading.Thread(target=write, daemon=True).start()
    return fifo


def test_a_stream_that_arrives_in_a_burst_keeps_its_media_spacing(tmp_path):
    """FFmpeg's start-up probing hands over seconds of video at once: 2 s of frames were
    stamped 10 ms apart (their arrival), which split tracks and broke the smoothing."""
    clip = _ts_clip(tmp_path / "a.ts", 30, 5.0, SIZE)
    fifo = _fifo(tmp_path, clip.read_bytes())  # all 3 s of it at once
    with LiveStream(str(fifo), drop_frames=False, open_timeout_s=10) as stream:
        times = [f.timestamp_s for f in itertools.islice(stream, 30)]
    np.testing.assert_allclose(np.diff(times), 0.1, atol=1e-3)  # the stream's own 10 fps
    assert 0 <= times[0] < 5.0  # seconds since the stream was made, not the source's 5 s


def test_a_file_source_keeps_the_files_own_times_and_refuses_a_non_video(tmp_path):
    from mien.errors import StreamError

    clip = _ts_clip(tmp_path / "late.ts", 5, 60.0, SIZE)  # a TS recording timed from 60 s
    with LiveStream(str(clip), drop_frames=False) as stream:
        frames = list(stream)
    analysed = list(iter_frames(clip))  # as `mien analyze` reads it
    assert [(f.index, f.timestamp_s) for f in frames] == [
        (f.index, f.timestamp_s) for f in analysed
    ]
    assert frames[0].timestamp_s == pytest.approx(60.0)
    text = tmp_path / "notes.txt"
    text.write_text("not a video")
    t0 = time.monotonic()
    with LiveStream(str(text)) as stream, pytest.raises(StreamError, match=r"notes\.txt"):
        next(iter(stream))
    assert time.monotonic() - t0 < 5  # at once, not after the 10 s open timeout


@pytest.mark.parametrize(("stop", "code", "said"), [
    ("SIGTERM", 0, "stopped: 0 frames analysed"),
    ("--max-seconds", 1, "no frame came within --max-seconds 2"),
])  # fmt: skip
def test_watch_stops_while_its_source_is_away(tmp_path, stop, code, said):
    """A stream that has not opened (a pipe nobody writes to) ignored SIGTERM, Ctrl-C and
    --max-seconds until OpenCV gave up; a forced kill then left an unreadable Parquet file."""
    import signal
    import subprocess
    import sys

    fifo = _fifo(tmp_path, None)
    out = tmp_path / "rows.parquet"
    extra = ["--max-seconds", "2"] if stop == "--max-seconds" else []
    cmd = [sys.executable, "-m", "mien", "watch", str(fifo), "--no-preview", "-o", str(out)]
    proc = subprocess.Popen([*cmd, *extra], stderr=subprocess.PIPE, text=True)
    t0 = time.monotonic()
    if stop == "SIGTERM":
        time.sleep(3)  # the model is loaded and the stream is waiting for its source
        proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == code, stderr
    assert said in " ".join(stderr.split())
    assert time.monotonic() - t0 < 20  # the open timeout alone is 10 s, OpenCV's read 30 s
    import pyarrow.parquet as pq

    if code == 0:  # stopped by a signal: a whole file, with its footer
        assert pq.read_table(out).num_rows == 0
    else:  # failed before any frame: no file left behind
        assert not out.exists()


def test_watch_refuses_an_annotate_target_it_cannot_write(tmp_path, enter_leave):
    for target in (tmp_path, tmp_path / "a.gif"):
        result = runner.invoke(app, ["watch", str(enter_leave), "--annotate", str(target)])
        assert result.exit_code == 2
        assert "give a video file name ending in .mp4, .mkv or .mov" in result.output


def test_a_display_that_does_not_answer_is_not_used():
    from mien.cli.watch import _display_reachable

    # OpenCV's Qt preview aborted the process (exit 134) when DISPLAY named no live X server
    assert not _display_reachable(":987")
    assert not _display_reachable("127.0.0.1:987")
    assert not _display_reachable("") and not _display_reachable("nonsense")


def test_the_media_clock_falls_back_to_arrival_where_times_are_not_real():
    from mien.io.stream import _MediaClock

    clock = _MediaClock()  # an invented 25 fps, frames really 0.25 s apart
    stamps = [clock.time(k * 0.04, k * 0.25) for k in range(6)]
    assert stamps[:5] == pytest.approx([0.0, 0.04, 0.08, 0.12, 0.16])
    assert stamps[5] is None  # 1 s behind arrival: stamped by arrival from here
    burst = _MediaClock()  # held back by probing: 40 frames at once, then 0.1 s apart
    for k in range(40):
        assert burst.time(k * 0.04, 0.001 * k) == pytest.approx(k * 0.04)
    later = [burst.time((40 + k) * 0.04, 0.04 + 0.1 * k) for k in range(50)]
    assert later[-1] is None  # its rate (0.4 of the clock's) gave it away within 4.5 s
    assert all(t is not None for t in later[:5])
    back = _MediaClock()  # a real burst: media 0-2 s at arrival 0, then the clock restarts
    assert back.time(0.0, 0.0) == 0.0 and back.time(2.0, 0.05, 1.95) == 2.0
    assert back.time(0.0, 0.1, 1.95) is None  # went back: the stream stamps arrival + lead
    steady = _MediaClock()  # a real stream after its burst: the rate check passes
    assert all(steady.time(k * 0.1, 0.5 + k * 0.1, 0.0) is not None for k in range(60))


def test_a_streams_time_line_does_not_jump_where_its_own_times_are_dropped():
    """A live MJPEG stream at 10 fps (FFmpeg invents 25 fps): its stamps fell 1 s behind the
    clock, were dropped, and the time line jumped 1.07 s, which split the track of a face
    that never left, on every connection. Now the stamps go on from where they were and
    catch up at 1.1x the clock."""
    from mien.io.stream import CATCH_UP, _Timeline

    line = _Timeline(media=True)
    line.connect()
    stamps = [line.stamp(k * 0.04, 0.2 + k * 0.1) for k in range(200)]
    steps = np.diff(stamps)
    assert steps.max() <= 0.1 * (1 + CATCH_UP) + 1e-9 and steps.min() > 0
    assert stamps[-1] == pytest.approx(0.2 + 199 * 0.1)  # caught up with the clock by 20 s
    camera = _Timeline(media=False)  # a camera: arrival times, as before
    camera.connect()
    assert [camera.stamp(float("nan"), t) for t in (0.5, 0.6)] == [0.5, 0.6]


def test_a_streams_time_line_stays_near_the_clock():
    """A 30 fps MJPEG camera (FFmpeg invents 25 fps: its times run 1.2x the clock) was trusted
    and ran 6 s ahead in 30 s; a recording served over HTTP, each pass read in a burst, ran
    34 s ahead in 32 s; and after every reconnect an MJPEG camera's invented times were
    trusted afresh."""
    from mien.io.stream import MAX_LEAD_S, _Timeline

    mjpeg30 = _Timeline(media=True)
    mjpeg30.connect()
    for k in range(900):  # 30 s at 30 fps
        t = mjpeg30.stamp(k * 0.04, 0.2 + k / 30)
    assert abs(t - (0.2 + 899 / 30)) < 0.5
    recording = _Timeline(media=True)
    arrival = 0.0
    for _ in range(20):  # 5 s of video read in 0.1 s, then a 0.5 s back-off, 20 times
        recording.connect()
        for k in range(50):
            t = recording.stamp(k * 0.1, arrival + k * 0.002)
        last_arrival = arrival + 49 * 0.002
        arrival += 0.1 + 0.5
    assert t - last_arrival <= MAX_LEAD_S  # it ran 5 s further ahead with every pass
    # once its times are dropped, a lead left closes at a tenth of the clock's rate
    lead = t - last_arrival
    recording.connect()
    recording.clock = None  # (as after a drop)
    assert recording.stamp(float("nan"), last_arrival + 10) - (last_arrival + 10) == (
        pytest.approx(lead - 1.0)
    )


def test_a_live_streams_own_times_survive_a_burst_jitter_a_stall_and_a_reconnect():
    """A real 25 fps stream: a 5 s start-up burst decoded at 4x real time, then frames with
    +-0.15 s of network jitter, a 1.2 s stall, and a reconnect after a 2 s outage with
    another 5 s burst. Its own times are kept throughout (the rate check waits for the burst
    to drain; "behind" counts from the connection's first frame, not frame by frame), and a
    reconnect does not add a burst to the lead."""
    from mien.io.stream import _Timeline

    rng = np.random.default_rng(0)
    line = _Timeline(media=True)

    def connection(start: float, seconds: float) -> tuple[float, float]:
        line.connect()
        arrival = start
        for k in range(int(seconds * 25)):
            media = k * 0.04
            if media < 5.0:  # the burst: 4x real time
                arrival = start + media / 4
            else:
                arrival = start + 1.25 + (media - 5.0) + rng.uniform(-0.15, 0.15)
                if 20.0 <= media < 20.04:
                    arrival += 1.2  # a stall
                arrival = max(arrival, line.last_arrival or 0.0)
            t = line.stamp(media, arrival)
            assert line.clock is not None, (media, arrival)  # still on its own times
        return t, arrival

    t, end = connection(0.0, 40.0)
    lead = t - end
    assert 3.0 < lead < 5.0  # the burst's lead, kept
    t, end = connection(end + 2.0, 40.0)  # an outage of 2 s, then another burst
    assert t - end < lead + 5.0 - 1.9  # the outage took 2 s off the carried lead


def test_a_streams_own_times_that_jump_or_run_a_little_fast_are_dropped_without_a_jump():
    """Once a connection's burst had drained, only the 30 s cap held its times: a 5 s jump
    forward (an encoder restart, an HLS discontinuity) went straight into the stamps, and a
    27 fps MJPEG camera (invented 25 fps: 1.08x) ran 9.6 s ahead in 120 s. A key frame that
    decodes slowly inside a burst no longer passes for the burst's end."""
    from mien.io.stream import _Timeline

    jump = _Timeline(media=True)
    jump.connect()
    stamps = []
    for k in range(1500):  # 60 s at 25 fps, its times 5 s ahead from 20 s on
        media = k * 0.04 + (5.0 if k >= 500 else 0.0)
        stamps.append(jump.stamp(media, 0.1 + k * 0.04))
    assert np.diff(stamps).max() < 0.2 and abs(stamps[-1] - (0.1 + 1499 * 0.04)) < 1.0
    mjpeg27 = _Timeline(media=True)
    mjpeg27.connect()
    for k in range(27 * 120):
        t = mjpeg27.stamp(k * 0.04, k / 27)
        assert t - k / 27 < 1.2
    slow_keys = _Timeline(media=True)  # a 5 s burst decoded at 4x, key frames 15 ms slower
    slow_keys.connect()
    arrival = 0.0
    for k in range(25 * 30):
        media = k * 0.04
        step = 0.01 + (0.015 if k % 25 == 0 else 0.0) if media < 5 else 0.04
        arrival += step
        slow_keys.stamp(media, arrival)
        assert slow_keys.clock is not None, media


def test_a_reconnect_starts_at_its_arrival_and_holds_replayed_frames_at_the_stamps_so_far():
    from mien.io.stream import _Timeline

    line = _Timeline(media=True)
    for start in (0.0, 6.5, 13.0, 19.5):  # 10 s of video each, a 5 s burst at 10x, 1 s apart
        line.connect()
        before = line.last_t
        for k in range(250):
            media = k * 0.04
            t = line.stamp(media, start + (media / 10 if media < 5 else 0.5 + (media - 5)))
            assert t >= before
            before = t
    assert t - (19.5 + 0.5 + 5.0) < 5.0  # one burst's lead, not four (it was 14.8 s)


def test_a_connection_that_ends_at_once_obeys_give_up_and_says_it_opened(monkeypatch):
    from mien.errors import StreamError
    from mien.io.stream import LiveStream

    class Empty:  # opens, gives nothing, ends
        def read(self):
            time.sleep(0.05)
            return False, None

        def get(self, _prop):
            return 0.0

        def release(self):
            pass

    monkeypatch.setattr(LiveStream, "_open", lambda self: Empty())
    t0 = time.monotonic()
    with LiveStream("rtsp://cam/live", open_timeout_s=1.5, reconnect_s=0.2) as stream:
        with pytest.raises(StreamError, match=r"opened but has given no frame in \d"):
            next(iter(stream))
    assert time.monotonic() - t0 < 3.0 and stream.reconnects >= 2


def test_a_stalled_source_is_said_and_the_time_away_counted_from_its_last_frame(monkeypatch):
    """A source that stopped sending but kept its connection open held OpenCV's read 30 s
    with no word, then said "back after 0.0 s away"."""
    from mien.io.stream import LiveStream

    class Stalling:  # 5 frames, a 2.6 s stall, then the connection ends
        def __init__(self):
            self.k = 0

        def read(self):
            self.k += 1
            if self.k == 6:
                time.sleep(2.6)
                return False, None
            time.sleep(0.02)
            return True, np.zeros((8, 8, 3), np.uint8)

        def get(self, _prop):
            return self.k * 40.0

        def release(self):
            pass

    monkeypatch.setattr(LiveStream, "_open", lambda self: Stalling())
    said: list[str] = []
    with LiveStream("rtsp://cam/live", on_status=said.append, drop_frames=False) as stream:
        frames = [f for _, f in zip(range(8), stream, strict=False)]
    assert len(frames) == 8
    assert said[0] == "rtsp://cam/live: no frame for 2 s: waiting for the source"
    away = float(said[1].split("back after ")[1].split(" s")[0])
    assert len(said) == 2 and 2.5 <= away < 3.5  # from the last frame, not from the drop


def test_a_source_that_ends_at_once_is_backed_off(tmp_path):
    """`watch http://…/file.mp4` requested the file 6-18 times a second: each connection
    opened, ended at once, and was reopened with no wait."""
    face = face_patch("grace_hopper.jpg", 120)
    write_clip(
        tmp_path / "short.mkv", [(compose((160, 120), [(face, 20, 0)]), i / 10) for i in range(3)]
    )
    server, port = serve_folder(tmp_path)
    said: list[str] = []
    try:
        with LiveStream(
            f"http://127.0.0.1:{port}/short.mkv?key=x",
            reconnect_s=0.2,
            max_reconnect_s=0.8,
            on_status=said.append,
        ) as stream:
            t0 = time.monotonic()
            for _ in stream:
                if time.monotonic() - t0 > 2.5:
                    break
    finally:
        server.shutdown()
    # waits of 0.2, 0.4, 0.8, 0.8 s: 3-5 connections in 2.5 s, not dozens
    assert 2 <= stream.reconnects <= 5
    assert said[:2] == [
        f"http://127.0.0.1:{port}/short.mkv?key=***: the source dropped: reconnecting",
        f"http://127.0.0.1:{port}/short.mkv?key=***: back after " + said[1].split("after ")[1],
    ]


def test_a_source_stuck_inside_opencv_still_times_out(tmp_path):
    """A pipe nobody writes to (or a silent UDP port) blocks inside OpenCV's open, where the
    reader's own timeout never runs: `watch` waited for ever instead of 10 s."""
    from mien.errors import StreamError

    fifo = _fifo(tmp_path, None)
    t0 = time.monotonic()
    with pytest.raises(StreamError, match="has not opened for"):
        with LiveStream(str(fifo), open_timeout_s=1.0) as stream:
            next(iter(stream))
    assert time.monotonic() - t0 < 4.5  # the limit, a second's grace, and close()'s 1 s
    assert not stream._thread.is_alive()  # close() opened the pipe's other end to free it


def test_a_stream_without_real_times_is_stamped_by_arrival(tmp_path):
    """JPEGs through a pipe every 0.2 s: FFmpeg invents 25 fps, which stamped 22 s of video
    as 3.2 s."""
    from PIL import Image

    from tests.helpers import encode

    # large frames, so FFmpeg's probing (5 MB) does not hold them all back as one burst
    jpeg = encode(Image.effect_noise((1280, 960), 64).convert("RGB"), "JPEG", quality=95)
    fifo = _fifo(tmp_path, None)

    def write():
        with contextlib.suppress(BrokenPipeError), open(fifo, "wb") as f:
            for _ in range(30):
                f.write(jpeg)
                f.flush()
                time.sleep(0.2)

    threading.Thread(target=write, daemon=True).start()
    with LiveStream(str(fifo), drop_frames=False, open_timeout_s=10) as stream:
        times = [f.timestamp_s for f in itertools.islice(stream, 25)]
    steps = np.diff(times[-8:])
    assert np.median(steps) == pytest.approx(0.2, abs=0.07)  # not 0.04
    assert np.diff(times).max() < 0.5  # where the invented times were dropped: no jump


def test_a_joined_file_source_paces_both_parts(tmp_path):
    """After the clock went back, the second part was played as fast as it decoded (in
    `watch`, most of its frames were dropped)."""
    a = _ts_clip(tmp_path / "a.ts", 10, 0.0, SIZE)
    joined = tmp_path / "joined.ts"
    joined.write_bytes(a.read_bytes() * 2)  # 1 s, then the same 1 s again
    t0 = time.monotonic()
    with LiveStream(str(joined), drop_frames=False) as stream:
        frames = list(stream)
    assert len(frames) == 20 and time.monotonic() - t0 > 1.7  # two seconds of video


def test_watch_on_a_file_that_breaks_off_ends_its_rows_with_an_error_row(tmp_path):
    """As `analyze` does: the rows before the break are not a complete run."""
    frames = [(np.full((64, 64, 3), 90, np.uint8), i / 10) for i in range(80)]
    data = write_clip(tmp_path / "long.mkv", frames).read_bytes()
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(data[: len(data) // 2])  # Matroska: playable up to the cut
    out = tmp_path / "live.jsonl"
    result = runner.invoke(app, ["watch", str(cut), "--no-preview", "-q", "--out", str(out)])
    assert result.exit_code == 1, result.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) > 5 and {r["status"] for r in rows[:-1]} == {"no_face"}
    assert rows[-1]["status"] == "error" and rows[-1]["source"] == str(cut)
    assert rows[-1]["timestamp_s"] >= rows[-2]["timestamp_s"]
    # worded as analyze words it (it was "StreamError: <path>: the video ends at …")
    assert rows[-1]["error"].startswith(("the video ends at", "decoding stopped")), rows[-1]
    assert f"error: {cut}: " in " ".join(result.stderr.split())


def test_a_damaged_stretch_is_marked_in_the_rows_and_not_counted_as_seen(tmp_path):
    """A video's stretch left out as damaged (1 s here) became time "seen" with the label of
    the frame before it; rows now mark it, and summaries, plots and the run's own track line
    keep it out."""

    import pandas as pd

    face = face_patch("grace_hopper.jpg", 120)
    scenes = [compose((320, 240), [(face, 60 + i % 7, 40)]) for i in range(90)]
    clip = write_gop_clip(tmp_path / "talk.mp4", scenes)  # a key frame every second: heals
    data = bytearray(clip.read_bytes())
    mid = len(data) // 2
    data[mid : mid + 2000] = np.random.default_rng(1).integers(0, 255, 2000, np.uint8).tobytes()
    clip.write_bytes(bytes(data))
    rows_csv = tmp_path / "rows.csv"
    result = runner.invoke(app, ["analyze", str(clip), "-o", str(rows_csv)])
    assert result.exit_code == 1  # the damage is reported, as before
    rows = pd.read_csv(rows_csv)
    at = rows.index[rows["status"] == "damaged"]
    assert len(at) == 1
    mark, after = rows.loc[at[0]], rows.loc[at[0] + 1]  # the frame after the stretch follows
    assert mark["frame_index"] == after["frame_index"] and after["status"] == "ok"
    before = rows.loc[at[0] - 1]
    assert before["timestamp_s"] < mark["timestamp_s"] < after["timestamp_s"]
    assert mark["timestamp_s"] == pytest.approx(before["timestamp_s"] + 1 / 15, abs=1e-3)
    gap = after["timestamp_s"] - mark["timestamp_s"]
    assert gap > 0.5 and "nothing seen in between" in mark["error"]
    assert rows["status"].iloc[-1] == "error" and "damaged data" in rows["error"].iloc[-1]
    frames = rows.loc[rows["status"] == "ok", "timestamp_s"]
    span = frames.max() - frames.min() + 1 / 15
    summary = runner.invoke(app, ["summary", str(rows_csv)])
    assert summary.exit_code == 0 and "left out" not in summary.stderr
    table = pd.read_csv(io.StringIO(summary.stdout))
    # over 1 s unseen: the face after it is a new track, as after any such gap
    assert table["track_id"].tolist() == [1, 2]
    assert table["seen_s"].sum() == pytest.approx(span - gap, abs=1e-3)
    said = " ".join(result.stderr.split())  # the run's own track line counts it so too
    assert all(f"of {s:.1f} s" in said for s in table["seen_s"])


def test_one_frames_dip_in_the_upright_check_does_not_abstain_a_tracked_face(tmp_path, monkeypatch):
    """A clean frontal face moving through a video abstained in single frames where the
    upright check dipped (0.27-0.49 in 6 of 178 frames); the check is now averaged per track
    (rows show the average), and a sustained turn still abstains."""
    import mien
    from mien.quality.orientation import UprightCheck

    face = face_patch("grace_hopper.jpg", 150)
    clip = write_clip(
        tmp_path / "still.mp4", [(compose((320, 240), [(face, 80, 40)]), k / 15) for k in range(12)]
    )
    real = UprightCheck.upright
    calls = {"n": 0}

    def dipping(self, crops):
        calls["n"] += 1
        p = real(self, crops)
        if calls["n"] == 6:  # one frame's dip
            return np.full_like(p, 0.3)
        return np.full_like(p, 0.02) if calls["n"] > 9 else p  # turned from the tenth

    monkeypatch.setattr(UprightCheck, "upright", dipping)
    with mien.Analyzer(pose=False) as analyzer:
        results = list(analyzer.run(iter_frames(clip)))
    upright = [float(r.faces.data["upright"][0]) for r in results]
    ok = [bool(r.faces.data["quality_ok"][0]) for r in results]
    assert upright[5] > 0.5 and ok[5] and not results[5].faces.abstained[0]  # the dip
    assert upright[11] < 0.5 and not ok[11] and results[11].faces.abstained[0]  # a real turn
    assert ok[:10] == [True] * 10  # a turn is called by its second or third frame


def test_a_dropped_frames_damage_mark_goes_on_to_the_frame_kept(tmp_path):
    """watch keeps only the newest frame: a dropped frame that carried a damage mark took it
    along, and the stretch counted as the frame before it held."""
    from mien.types import Frame

    stream = LiveStream(str(tmp_path / "none.mp4"))  # never opens: no reader thread
    image = np.zeros((8, 8, 3), np.uint8)
    stream._push(Frame(image, 10, 1.0, "s", damaged_from_s=0.5))
    stream._push(Frame(image, 11, 1.1, "s"))
    stream._push(Frame(image, 12, 1.2, "s", damaged_from_s=1.15))
    (kept,) = stream._frames
    assert (kept.index, kept.damaged_from_s, stream.frames_dropped) == (12, 0.5, 2)
    stream.close()
