"""``mien watch``: analyse a live source (webcam, device, RTSP/HTTP URL) until stopped."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, cast

import typer
from rich.text import Text

from mien.cli.common import (
    BLUR_HOLD_S,
    VIDEO_OUT_SUFFIXES,
    BlurDetectorMode,
    BlurHoldSeconds,
    MeasurePose,
    MinUpright,
    ModelName,
    PoseInterval,
    Weights,
    dash_is_stdout,
    describe,
    detector_for,
    err,
    fail,
    make_analyzer,
    plural,
    resolve_format,
    same_file,
    unwritable,
    weaker_blur,
)
from mien.weights import DEFAULT_MODEL

if TYPE_CHECKING:
    from mien.export.sinks import Format


def watch(
    source: Annotated[
        str,
        typer.Argument(
            help="Camera index (0), device path, rtsp:// / http:// / udp:// URL, named pipe, or "
            "a video file (played once at its own rate)."
        ),
    ],
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", "-o", help="Write rows here (csv/jsonl/json/parquet; default, or -: stdout)."
        ),
    ] = None,
    fmt: Annotated[
        str | None,
        typer.Option(
            "--format", "-f", help="Row format (default: from --out's suffix, else jsonl)."
        ),
    ] = None,
    annotate: Annotated[
        Path | None,
        typer.Option(
            "--annotate", help="Write an annotated video (.mp4, .mkv or .mov) of what was analysed."
        ),
    ] = None,
    preview: Annotated[
        bool,
        typer.Option("--preview/--no-preview", help="Show a preview window (needs a display)."),
    ] = True,
    lossless: Annotated[
        bool,
        typer.Option(
            "--lossless", help="Analyse every frame (may fall behind) instead of the latest."
        ),
    ] = False,
    max_seconds: Annotated[
        float | None, typer.Option(help="Stop after this many seconds (above 0).")
    ] = None,
    smooth_tau: Annotated[
        float, typer.Option(min=0.0, help="Time constant (s) of the per-track smoothing.")
    ] = 0.5,
    blur_faces: Annotated[
        bool,
        typer.Option(
            "--blur-faces",
            help="Blur the detected faces in the preview and annotated video; a face's place "
            "stays blurred 0.5 s (--blur-hold) after it is lost (faces never found stay sharp).",
        ),
    ] = False,
    blur_hold: BlurHoldSeconds = BLUR_HOLD_S,
    give_up: Annotated[
        float | None,
        typer.Option(
            min=0.1,
            help="Stop when the source stays away this many seconds (default: wait up to 10 s for "
            "the first frame, then reconnect for ever).",
        ),
    ] = None,
    model: ModelName = DEFAULT_MODEL,
    weights: Weights = None,
    detector: BlurDetectorMode = None,
    pose: MeasurePose = True,
    pose_interval: PoseInterval = 0.2,
    min_upright: MinUpright = 0.5,
    quiet: Annotated[
        bool,
        typer.Option(
            "--quiet", "-q", help="No status lines (nor the summary at the end); errors still show."
        ),
    ] = False,
) -> None:
    """Analyse a live source until Ctrl-C, SIGTERM, --max-seconds or the end of a file; outputs
    are flushed on stop.

    The preview and the annotated video always carry an "expression analysis active" notice.
    The source is reconnected with back-off when it drops.
    """
    import cv2

    from mien.annotate import BlurHold, ExpressionAnnotator, draw_notice
    from mien.errors import MienError, VideoDecodeError
    from mien.export import column_types, open_sink, result_rows, row_columns
    from mien.io import LiveStream, VideoWriter
    from mien.summary import TrackTimes
    from mien.tracking import ExpressionSmoother, FaceTracker
    from mien.tracking.iou import MAX_HOLD_S

    out = dash_is_stdout(out)
    fmt = resolve_format(out, fmt)
    if max_seconds is not None and not max_seconds > 0:
        fail(f"--max-seconds must be above 0; got {max_seconds:g}")
    if problem := _clashes(source, out, annotate):
        fail(problem)
    if annotate is not None and (
        annotate.is_dir() or annotate.suffix.lower() not in VIDEO_OUT_SUFFIXES
    ):
        fail(f"--annotate {annotate}: give a video file name ending in .mp4, .mkv or .mov")
    for path, option in ((out, "--out"), (annotate, "--annotate")):
        if path is not None and (problem := unwritable(path, option)):
            fail(problem)
    show = preview and (
        os.name == "nt"
        or sys.platform == "darwin"  # OpenCV's own Cocoa window there, no X display
        or _display_reachable(os.environ.get("DISPLAY", ""))
    )
    if preview and not show and not quiet:
        why = "DISPLAY is set but no display answers" if os.environ.get("DISPLAY") else "no display"
        err.print(f"{why}: running without a preview window", style="yellow")
    if blur_faces and (annotate is not None or show):
        for note in weaker_blur(detector):
            err.print(note, style="yellow")
    elif blur_faces:
        err.print(
            "--blur-faces blurs the preview window and the annotated video, and neither is "
            "made here: add --annotate FILE",
            style="yellow",
        )
    analyzer = make_analyzer(
        model,
        detector_for(detector, blur_faces and (annotate is not None or show)),
        0.5,
        100_000_000,
        pose=pose,
        pose_interval=pose_interval,
        weights=weights,
        min_upright=min_upright,
    )
    names = analyzer.expression_names
    annotator = ExpressionAnnotator(bars=True, blur_faces=blur_faces)
    # a face missed for a frame or a few stays blurred
    hold = BlurHold(hold_s=blur_hold) if blur_faces else None
    # plain flags, no locks: a signal handler may run at any point of the main thread
    stop = {"requested": False, "timed_out": False}
    streams: list = []

    def stop_now(*_: object) -> None:  # also while the source is away: the stream stops waiting
        stop["requested"] = True
        for s in streams:
            s.interrupt()

    def time_up() -> None:
        stop["timed_out"] = True
        stop_now()

    # Ctrl-C and SIGTERM both stop cleanly, also when the shell started us in the background
    # (where SIGINT would otherwise be ignored)
    previous = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, stop_now)
    timer = threading.Timer(max_seconds, time_up) if max_seconds is not None else None
    writer = VideoWriter(annotate, fps=30.0) if annotate is not None else None
    stream = LiveStream(
        source,
        drop_frames=not lossless,
        give_up_s=give_up,
        on_status=None if quiet else lambda line: err.print(line, style="yellow"),
        # --max-seconds also bounds the wait for the first frame
        open_timeout_s=min(
            give_up if give_up is not None else 10.0,
            max_seconds if max_seconds is not None else float("inf"),
        ),
    )
    streams.append(stream)
    if stop["requested"]:  # a signal came before the stream existed
        stream.interrupt()
    if timer is not None:
        timer.daemon = True
        timer.start()
    current: list = [None]
    started = time.monotonic()
    n_frames = n_faces = 0
    last_status, frames_then = started, 0
    # a file holds a frame on screen while its picture stands still; a live source's long
    # step is an outage (its frames are stamped by arrival)
    hold_s = MAX_HOLD_S if stream.is_file else 0.0
    times = TrackTimes(analyzer.expression_names, hold_s=hold_s)  # for the lines at the end
    failed = False

    def frames():
        for frame in stream:
            if stop["requested"] or (
                max_seconds is not None and time.monotonic() - started >= max_seconds
            ):
                return
            current[0] = frame
            yield frame

    made = out is not None and not out.exists()  # a file this run creates
    try:
        with (
            open_sink(
                out, row_columns(names), cast("Format", fmt), types=column_types(names)
            ) as sink,
            _error_row_on_failure(sink, current, names, analyzer.model_name),
        ):
            for result in analyzer.run(
                frames(),
                tracker=FaceTracker(hold_s=hold_s),
                smoother=ExpressionSmoother(smooth_tau),
            ):
                rows = result_rows(result)
                for row in rows:
                    sink.append(row)
                times.add_rows(result.timestamp_s, rows)
                n_frames += 1
                n_faces += len(result.faces)
                if writer is not None or show:
                    also = (
                        hold.update(
                            result.timestamp_s,
                            result.faces.xyxy,
                            result.faces.track_id,
                            result.image_wh,
                        )
                        if hold
                        else None
                    )
                    scene = annotator.annotate(current[0].image.copy(), result, also_blur=also)
                    scene = draw_notice(scene)
                    if writer is not None:
                        writer.write(scene, result.timestamp_s)
                    if show:
                        cv2.imshow("mien watch", scene)
                        if cv2.waitKey(1) & 0xFF in (27, ord("q")):
                            stop_now()
                now = time.monotonic()
                if not quiet and now - last_status >= 1.0:
                    fps = (n_frames - frames_then) / (now - last_status)  # the last second's
                    err.print(
                        f"{fps:5.1f} fps · {plural(n_frames, 'frame')} · "
                        f"{plural(n_faces, 'face')} · {plural(stream.reconnects, 'reconnect')} · "
                        f"{stream.frames_dropped} dropped"
                    )
                    last_status, frames_then = now, n_frames
    except KeyboardInterrupt:
        stop["requested"] = True
    except MienError as e:
        said = describe(e)
        if isinstance(e, VideoDecodeError):  # a file source: its problem, then which file
            said = f"{stream.name}: {said}"
        err.print(Text.assemble(("error:", "red"), " ", said))
        failed = True
    finally:
        if timer is not None:
            timer.cancel()
        stream.close()
        if writer is not None:
            writer.close()
            for note in writer.adjustments():
                err.print(f"{stream.name}: {note}", style="yellow")
        if show:
            cv2.destroyAllWindows()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        analyzer.close()
    if n_frames == 0 and not failed and (stop["timed_out"] or not stop["requested"]):
        why = (
            f"no frame came within --max-seconds {max_seconds:g}"
            if stop["timed_out"]
            else "no frames could be read (not a video?)"
        )
        err.print(Text.assemble(("error:", "red"), f" {stream.name}: {why}"))
        failed = True
    if failed and n_frames == 0 and made and out is not None:  # no rows: leave no empty file
        out.unlink(missing_ok=True)
    if not quiet:
        err.print(
            f"stopped: {plural(n_frames, 'frame')} analysed, {stream.frames_dropped} dropped "
            f"unanalysed, {plural(n_faces, 'face')}, {plural(stream.reconnects, 'reconnect')}"
        )
        lines = [line.text() for line in times.tracks()]
        if lines:
            more = f", {len(lines) - 5} more" if len(lines) > 5 else ""
            err.print(f"{plural(len(lines), 'track')}: " + ", ".join(lines[:5]) + more)
    raise typer.Exit(1 if failed else 0)


def _clashes(source: str, out: Path | None, annotate: Path | None) -> str | None:
    """Why ``--out``/``--annotate`` would destroy the source file or each other, or ``None``."""
    source_file = Path(source)
    for path, option in ((out, "--out"), (annotate, "--annotate")):
        if path is not None and source_file.is_file() and same_file(path, [source_file]):
            return f"{option} {path} is the source video; it would be overwritten"
    if out is not None and annotate is not None and same_file(out, [annotate]):
        return f"--out and --annotate are one file ({out}); give two names"
    return None


def _display_reachable(display: str) -> bool:
    """Whether the X display named by ``DISPLAY`` answers (``:0``, ``unix:0``, ``host:0.0``).

    OpenCV's Qt preview aborts the whole process (no exception) when ``DISPLAY`` names a display
    that does not answer, as after SSH without X forwarding: check first, with a 1 s limit.
    """
    import re
    import socket

    m = re.fullmatch(r"(?:([^:/]*)/)?([^:]*):(\d+)(?:\.\d+)?", display.strip())
    if m is None:
        return False
    host, number = m.group(2), int(m.group(3))
    try:
        if host in ("", "unix"):  # the socket file, else Linux's abstract socket of that name
            for address in (f"/tmp/.X11-unix/X{number}", f"\0/tmp/.X11-unix/X{number}"):
                with socket.socket(socket.AF_UNIX) as s:
                    s.settimeout(1.0)
                    try:
                        s.connect(address)
                        return True
                    except OSError:
                        continue
            return False
        else:
            socket.create_connection((host, 6000 + number), timeout=1.0).close()
    except OSError:
        return False
    return True


@contextlib.contextmanager
def _error_row_on_failure(sink: Any, current: list, names: Any, model: str) -> Iterator[None]:
    """A source that breaks off after some frames (a truncated file, a stream gone for good)
    ends its rows with an ``error`` row, as in ``mien analyze``: the rows before it are not a
    complete run. Re-raises for the caller's message and exit status."""
    from mien.errors import MienError, VideoDecodeError
    from mien.export.rows import error_row

    try:
        yield
    except MienError as e:
        frame = current[0]
        if frame is not None:  # rows were written: say where they stop
            problem = e.problem if isinstance(e, VideoDecodeError) else describe(e)
            at = getattr(e, "last_timestamp_s", None)
            at = frame.timestamp_s if at is None else at
            sink.append(error_row(frame.source, problem, names, model=model, timestamp_s=at))
        raise
