"""``mien analyze``: images and video files in, one row per face per image or frame out."""

from __future__ import annotations

import itertools
import math
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, cast

import typer
from rich.table import Table

from mien.cli.common import (
    BLUR_HOLD_S,
    VIDEO_OUT_SUFFIXES,
    BlurDetectorMode,
    BlurHoldSeconds,
    EndSeconds,
    MaxPixels,
    MeasurePose,
    MinConfidence,
    MinUpright,
    ModelName,
    PoseInterval,
    StartSeconds,
    Weights,
    dash_is_stdout,
    describe,
    detector_for,
    err,
    fail,
    file_key,
    make_analyzer,
    plural,
    progress,
    quiet_stdout,
    relative_name,
    resolve_format,
    resolved,
    same_file,
    sigterm_as_interrupt,
    unwritable,
    warn_unreadable,
    weaker_blur,
)
from mien.export.rows import probability_shown
from mien.weights import DEFAULT_MODEL

if TYPE_CHECKING:
    from mien.annotate import ExpressionAnnotator
    from mien.export.sinks import Format, ParquetSink, RowSink
    from mien.pipeline import Analyzer

WRITABLE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


def _annotate_kind(annotate: Path) -> str:
    """What ``--annotate`` names: ``"video"`` (an .mp4, .mkv or .mov name: one input video),
    ``"image"`` (an image name OpenCV writes, not an existing folder: one input image), or
    ``"folder"`` (copies of every input inside it)."""
    suffix = annotate.suffix.lower()
    if suffix in VIDEO_OUT_SUFFIXES:
        return "video"
    if suffix in WRITABLE_SUFFIXES and not annotate.is_dir():
        return "image"
    return "folder"


@dataclass
class _Run:
    """What one ``mien analyze`` call carries from file to file."""

    analyzer: Analyzer
    sink: RowSink | ParquetSink
    names: tuple[str, ...]
    annotator: ExpressionAnnotator | None
    annotate: Path | None
    roots: list[Path]
    files: list[Path]
    options: dict[str, Any]
    written: set[Path] = field(default_factory=set)
    summary: list[tuple[str, str, str]] = field(default_factory=list)
    n_failed: int = 0
    n_faces: int = 0
    keep_existing: bool = False  # the annotate folder held the user's own files: never replace
    one_image: bool = False  # annotate names the one input image's copy, not a folder
    _inputs: set[object] | None = None

    def is_input(self, target: Path) -> bool:
        """Whether writing ``target`` would write over an input: the same path, through a
        link, or the same file under another name (a hard link)."""
        if self._inputs is None:
            self._inputs = {file_key(f) for f in self.files} | {resolved(f) for f in self.files}
        return resolved(target) in self._inputs or file_key(target) in self._inputs

    def error(self, path: Path, message: str, **where: Any) -> None:
        from mien.export import error_row

        row = error_row(str(path), message, self.names, model=self.analyzer.model_name, **where)
        self.sink.append(row)
        self.summary.append((str(path), "error", message))
        self.n_failed += 1


INTERRUPTED = "interrupted (Ctrl-C or SIGTERM): this video's rows stop here, not at its end"


def analyze(
    paths: Annotated[
        list[Path], typer.Argument(help="Image or video files, or folders (folders recurse).")
    ],
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Write rows here (default, or -: stdout)."),
    ] = None,
    fmt: Annotated[
        str | None,
        typer.Option(
            "--format",
            "-f",
            help="json | jsonl | csv | parquet (default: from --out's suffix, else jsonl).",
        ),
    ] = None,
    annotate: Annotated[
        Path | None,
        typer.Option(
            "--annotate",
            help="Folder for copies with boxes and labels drawn (videos become .mp4 there); "
            "or an .mp4, .mkv or .mov file when the input is one video, a .jpg or .png (…) "
            "file when it is one image. An annotated video "
            "holds the analysed frames only, at their source timestamps.",
        ),
    ] = None,
    blur_faces: Annotated[
        bool,
        typer.Option(
            "--blur-faces",
            help="Blur the detected faces in the annotated output; in videos a face's place stays "
            "blurred 0.5 s (--blur-hold) after it is lost (faces never found stay sharp).",
        ),
    ] = False,
    blur_hold: BlurHoldSeconds = BLUR_HOLD_S,
    every: Annotated[int, typer.Option(min=1, help="Videos: analyse every N-th frame.")] = 1,
    fps: Annotated[
        float | None,
        typer.Option(
            min=0.001,
            help="Videos: about F frames per second (the first frame in each 1/F s slot of "
            "media time).",
        ),
    ] = None,
    start: StartSeconds = 0.0,
    end: EndSeconds = None,
    smooth_tau: Annotated[
        float,
        typer.Option(
            min=0.0,
            help="Videos: time constant (s) of the per-track smoothing of the expression "
            "(the upright check is averaged over 0.2 s whatever it is).",
        ),
    ] = 0.5,
    model: ModelName = DEFAULT_MODEL,
    weights: Weights = None,
    detector: BlurDetectorMode = None,
    min_confidence: MinConfidence = 0.5,
    min_upright: MinUpright = 0.5,
    max_pixels: MaxPixels = 100_000_000,
    pose: MeasurePose = True,
    pose_interval: PoseInterval = 0.2,
    quiet: Annotated[
        bool,
        typer.Option(
            "--quiet",
            "-q",
            help="No summary table or progress bar; a file that failed is still named.",
        ),
    ] = False,
) -> None:
    """Find faces and their perceived expression: one row per face per image or video frame.

    A frame or image without a face gets a no_face row; a file that fails gets an error row and
    the run goes on. Exit status: 0 when every file was read, 1 when any failed, 2 for a usage
    error, 130 when interrupted (Ctrl-C or SIGTERM; the output file is whole).
    """
    from mien.export import column_types, open_sink, row_columns
    from mien.io import IMAGE_SUFFIXES, VIDEO_SUFFIXES, iter_image_paths, media_kind

    out = dash_is_stdout(out)
    fmt = resolve_format(out, fmt)
    if blur_faces and annotate is None:
        err.print("--blur-faces blurs the annotated copies: add --annotate DIR", style="yellow")
    elif blur_faces:
        for note in weaker_blur(detector, min_confidence):
            err.print(note, style="yellow")
    if end is not None and not math.isfinite(end):  # click's range check lets nan through
        fail(f"--end must be a number of seconds; got {end}")
    if end is not None and end <= start:
        fail(f"--end ({end}) must be after --start ({start})")
    if fps is not None and not math.isfinite(fps):
        fail(f"--fps must be a number of frames per second; got {fps}")
    if fps is not None and every > 1:
        err.print(
            f"--fps {fps:g} with --every {every}: each 1/fps slot keeps its first frame among "
            f"those --every keeps, an uneven cadence unless {every} divides a slot's frames; "
            "give one of them",
            style="yellow",
        )
    skipped: list[Path] = []
    unreadable: list[tuple[Path, str]] = []
    files = list(
        iter_image_paths(
            paths,
            suffixes=IMAGE_SUFFIXES | VIDEO_SUFFIXES,
            skipped=skipped,
            unreadable=unreadable,
        )
    )
    warn_unreadable(unreadable)
    for folder in skipped:
        err.print(
            f"skipped {folder}: annotated copies of an earlier run (name it to analyse them)",
            style="yellow",
        )
    if not files:
        fail(f"no image or video files found in {', '.join(map(str, paths))}", 1)
    empty = [p for p in paths if p.is_dir() and not any(f.is_relative_to(p) for f in files)]
    for folder in empty:
        if folder not in skipped and folder not in {f for f, _ in unreadable}:
            err.print(f"{folder}: no image or video files in this folder", style="yellow")
    first: dict[object, Path] = {}
    for f in files:
        first.setdefault(file_key(f), f)
    unique = list(first.values())
    if len(unique) < len(files):  # a file named twice, in a folder also given, or a link
        err.print(
            f"{plural(len(files) - len(unique), 'input')} reached twice (another path to the "
            "same file) analysed once",
            style="yellow",
        )
        files = unique
    kinds = [(f, media_kind(f)) for f in files]
    problem = _check_outputs(
        out, annotate, paths, files, [f for f, k in kinds if k == "video"]
    ) or _check_writable(out, annotate)
    if problem:
        fail(problem)
    analyzer = make_analyzer(
        model,
        detector_for(detector, blur_faces and annotate is not None),
        min_confidence,
        max_pixels,
        pose=pose,
        pose_interval=pose_interval,
        weights=weights,
        min_upright=min_upright,
    )
    names = analyzer.expression_names
    annotator = None
    foreign = False  # the annotate folder holds files mien did not write
    kind = None if annotate is None else _annotate_kind(annotate)
    if annotate is not None:
        from mien.annotate import ExpressionAnnotator

        annotator = ExpressionAnnotator(blur_faces=blur_faces, bars=True)
        if kind == "folder":
            from mien.io import ANNOTATED_MARKER

            # only a folder of ours gets the marker: one that held other files (the user's own
            # photos, or a parent of the inputs) would be hidden from later scans
            ours = not annotate.exists() or (annotate / ANNOTATED_MARKER).exists()
            annotate.mkdir(parents=True, exist_ok=True)
            foreign = not ours and any(not p.name.startswith(".") for p in annotate.iterdir())
            if foreign:
                err.print(
                    f"--annotate {annotate} already holds other files: none of them is "
                    "replaced (a copy whose name is taken is numbered), and the folder gets no "
                    f"{ANNOTATED_MARKER} marker, so a later scan of a folder around it reads "
                    "the copies as photos (give a new or empty folder to avoid that)",
                    style="yellow",
                )
            else:
                (annotate / ANNOTATED_MARKER).write_text(
                    "Annotated copies written by `mien analyze --annotate`. Folder scans skip a "
                    "folder holding this file, so these copies are not analysed as new photos.\n"
                )
    options = {
        "every": every,
        "fps": fps,
        "start_s": start,
        "end_s": end,
        "tau": smooth_tau,
        "blur_hold_s": blur_hold,
    }
    run: _Run | None = None
    try:
        with (
            sigterm_as_interrupt(),
            open_sink(
                out, row_columns(names), cast("Format", fmt), types=column_types(names)
            ) as sink,
            progress(not quiet) as bar,
        ):
            roots = [p for p in paths if p.is_dir()]
            run = _Run(
                analyzer, sink, names, annotator, annotate, roots, files, options,
                keep_existing=foreign, one_image=kind == "image",
            )  # fmt: skip
            for folder, reason in unreadable:  # its files are missing: a failure, not a note
                run.error(folder, f"folder could not be read ({reason}): its files are left out")
            task = bar.add_task("files", total=len(files))
            for kind, group in itertools.groupby(kinds, key=lambda fk: fk[1]):
                group_paths = [f for f, _ in group]
                if kind == "image":
                    _images(run, group_paths, bar, task)
                else:
                    for path in group_paths:
                        _video(run, path, bar)
                        bar.advance(task)
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM: the output is closed whole, and says so
        analyzer.close()
        done = len({r[0] for r in run.summary if r[2] != INTERRUPTED}) if run is not None else 0
        where = f"the rows so far are in {out}" if out is not None else "the rows so far went out"
        err.print(
            f"interrupted after {done} of {plural(len(files), 'file')} (a video in progress "
            f"ends with an error row saying so): {where}, each row whole, but not a complete "
            "run",
            style="yellow",
        )
        raise typer.Exit(130) from None
    except BrokenPipeError:  # `mien analyze … | head`: the reader has what it wanted
        analyzer.close()
        quiet_stdout()
        return
    except OSError as e:  # the disk filled, a network share went away: outputs, not inputs
        analyzer.close()  # (an input that fails to read is an error row, never raised here)
        name = getattr(e, "filename", None) or out or "standard output"
        fail(f"could not write {name}: {e.strerror or e}; the output is incomplete", code=1)
    analyzer.close()
    if not quiet:
        _print_summary(run.summary, run.n_faces, run.n_failed, out, analyzer.model_name)
    else:  # no table, but a failure is never silent (exit 1 alone said nothing of which)
        for name, count, message in run.summary:
            if count == "error":
                err.print(
                    f"{name}: {message}", style="red", markup=False, highlight=False, soft_wrap=True
                )
    raise typer.Exit(1 if run.n_failed else 0)


def _images(run: _Run, paths: list[Path], bar: Any, task: Any) -> None:
    from mien.export import result_rows

    items = run.analyzer.analyze_batch(paths, keep_images=run.annotator is not None)
    for path, item in zip(paths, items, strict=True):
        bar.advance(task)
        if item.result is None:
            run.error(path, describe(item.error))
            continue
        rows = result_rows(item.result)
        for row in rows:
            run.sink.append(row)
        run.n_faces += len(item.result.faces)
        run.summary.append(
            (str(path), str(len(item.result.faces)), _labels(rows, item.result.abstain_threshold))
        )
        if run.annotator is not None and run.annotate is not None and item.image is not None:
            target = run.annotate  # the one image's copy, named (replaced if there)
            if not run.one_image:  # a folder of copies
                target = _unique(
                    _image_name(run.annotate / relative_name(path, run.roots)),
                    run.written,
                    path,
                    keep_existing=run.keep_existing,
                )
            try:
                if run.is_input(target):
                    raise OSError("it would overwrite an input")
                _write_image(run.annotator.annotate(item.image, item.result), target)
                run.written.add(target)
            except Exception as e:  # OSError, or drawing failing: the run goes on
                err.print(f"could not write {target}: {e}", style="red")
                run.n_failed += 1


def _video(run: _Run, path: Path, bar: Any) -> None:
    from mien.annotate import BlurHold
    from mien.errors import MienError, VideoDecodeError
    from mien.export import result_rows
    from mien.io import VideoWriter, iter_frames, prefetch, probe_video
    from mien.summary import TrackTimes
    from mien.tracking import ExpressionSmoother, FaceTracker

    o = run.options
    try:
        info = probe_video(path)
    except MienError as e:
        run.error(path, describe(e))
        return
    writer = None
    if run.annotator is not None and run.annotate is not None:
        target = run.annotate
        if target.suffix.lower() not in VIDEO_OUT_SUFFIXES:
            target = _unique(
                _video_name(run.annotate / relative_name(path, run.roots)),
                run.written,
                path,
                keep_existing=run.keep_existing,
            )
        run.written.add(target)
        rate = (info.fps or 30.0) / o["every"]  # the sampled rate: the last frame lasts one step
        if run.is_input(target):  # a link to an input inside the annotate folder
            err.print(f"could not write {target}: it would overwrite an input", style="red")
            run.n_failed += 1
        elif _is_link(target):  # a video is written in place: through a link it would land
            # on whatever file the link names (the rows file, another one)
            err.print(f"could not write {target}: it is a link to another file", style="red")
            run.n_failed += 1
        else:
            writer = VideoWriter(target, fps=min(rate, o["fps"]) if o["fps"] else rate)
    current: list[Any] = [None]

    def remember(frames: Any) -> Any:
        for frame in frames:
            current[0] = frame
            yield frame

    frames = prefetch(
        iter_frames(path, every=o["every"], fps=o["fps"], start_s=o["start_s"], end_s=o["end_s"]),
        16,
    )
    task = bar.add_task(path.name, total=info.frame_count)
    n_frames = n_faces = clock_back = 0
    last_t: float | None = None
    times = TrackTimes(run.analyzer.expression_names)  # for the summary's per-track line
    blur = writer is not None and run.annotator.blur_faces  # type: ignore[union-attr]
    hold = BlurHold(hold_s=o["blur_hold_s"]) if blur else None
    try:
        for result in run.analyzer.run(
            remember(frames), tracker=FaceTracker(), smoother=ExpressionSmoother(o["tau"])
        ):
            rows = result_rows(result)
            for row in rows:
                run.sink.append(row)
            if last_t is not None and result.timestamp_s < last_t:
                clock_back += 1
            last_t = result.timestamp_s
            times.add_rows(result.timestamp_s, rows)
            n_frames += 1
            n_faces += len(result.faces)
            if writer is not None:
                also = (
                    None
                    if hold is None
                    else hold.update(
                        result.timestamp_s,
                        result.faces.xyxy,
                        result.faces.track_id,
                        result.image_wh,
                    )
                )
                scene = run.annotator.annotate(current[0].image.copy(), result, also_blur=also)  # type: ignore[union-attr]
                writer.write(scene, result.timestamp_s)
            bar.update(task, completed=current[0].index + 1)
    except KeyboardInterrupt:  # the rows so far stay; a row says they stop short of the end
        run.error(path, INTERRUPTED, timestamp_s=last_t)
        raise
    except VideoDecodeError as e:
        run.error(path, e.problem, timestamp_s=e.last_timestamp_s)
    except MienError as e:
        run.error(path, describe(e))
    except Exception as e:  # one file's failure must not end the run (rows so far are kept)
        run.error(path, f"{type(e).__name__}: {e}")
    finally:
        frames.close()
        if writer is not None:
            try:
                writer.close()
            except Exception as e:  # e.g. a full disk while flushing: this file's error only
                run.error(path, f"annotated video {writer.path}: {type(e).__name__}: {e}")
            for note in writer.adjustments():
                err.print(f"{path}: {note}", style="yellow")
        bar.remove_task(task)
    run.n_faces += n_faces
    if n_frames == 0 and not any(r[0] == str(path) for r in run.summary):
        until = "the end" if o["end_s"] is None else f"--end {o['end_s']:g} s"
        none = f"; no annotated video written to {writer.path}" if writer is not None else ""
        err.print(
            f"{path}: no frames from --start {o['start_s']:g} s to {until} "
            f"(the video lasts {info.duration_s or 0:.1f} s){none}",
            style="yellow",
        )
    if clock_back:
        err.print(
            f"{path}: the clock went back {plural(clock_back, 'time')} (recordings joined end "
            "to end?): tracks end there and new ids go on counting; rows keep the source's "
            "times",
            style="yellow",
        )
    tracks = [line.text() for line in times.tracks()]
    seen = f"video: {plural(n_frames, 'frame')}, {plural(len(tracks), 'track')}"
    if tracks:
        seen += (
            "; " + ", ".join(tracks[:5]) + (f", {len(tracks) - 5} more" if len(tracks) > 5 else "")
        )
    broke = [i for i, r in enumerate(run.summary) if r[0] == str(path) and r[1] == "error"]
    if broke:  # one line per file: the error, with what was read before it
        name, _, message = run.summary[broke[-1]]
        if n_frames:
            run.summary[broke[-1]] = (name, "error", f"{message} (after {seen})")
        return
    run.summary.append((str(path), str(n_faces), seen))


def _labels(rows: list[dict[str, Any]], threshold: float) -> str:
    """``"neutral 0.62, sadness 0.41 (abstained: low confidence, quality flags)"``: each face's
    label and probability, with every reason it abstained (a probability under ``threshold``,
    failed quality flags)."""

    def why(row: dict[str, Any]) -> str:
        if not row["abstained"]:
            return ""
        quality_ok = row.get("quality_ok")
        reasons = []
        if row["label_probability"] < threshold or quality_ok is None or quality_ok:
            reasons.append("low confidence")  # None: quality not measured
        if quality_ok is not None and not quality_ok:
            reasons.append("quality flags")
        return f" (abstained: {', '.join(reasons)})"

    text = ", ".join(
        f"{row['label']} {probability_shown(row['label_probability'], 2):.2f}{why(row)}"
        for row in rows
        if row["status"] == "ok"
    )
    return text or "no face"


def _check_outputs(
    out: Path | None,
    annotate: Path | None,
    paths: list[Path],
    files: list[Path],
    videos: list[Path],
) -> str | None:
    """Why the requested outputs would destroy inputs or cannot be written, or ``None``."""
    from mien.io import IMAGE_SUFFIXES, VIDEO_SUFFIXES

    if out is not None:
        if out.is_dir():
            return f"--out {out} is a folder; give a file name such as results.csv"
        if same_file(out, files) is not None:
            return f"--out {out} is one of the inputs; it would be overwritten"
        if annotate is not None and same_file(out, [annotate]) is not None:
            return f"--out and --annotate name one path ({out}); give two names"
        if out.suffix.lower() in IMAGE_SUFFIXES | VIDEO_SUFFIXES:
            return (
                f"--out {out} looks like an image or video; rows go to .csv/.json/.jsonl/.parquet"
            )
    if annotate is not None:
        if annotate.suffix.lower() in (".csv", ".json", ".jsonl", ".parquet", ".txt"):
            # out.csv became a folder of that name holding the copies
            return (
                f"--annotate {annotate} names a table; give a folder for the annotated copies "
                "(or an image or video file name for a single input), and --out for the rows"
            )
        if annotate.suffix.lower() in VIDEO_SUFFIXES - set(VIDEO_OUT_SUFFIXES):
            return f"--annotate {annotate}: annotated videos are written as .mp4, .mkv or .mov"
        if annotate.suffix.lower() in VIDEO_OUT_SUFFIXES:
            if len(files) == 1 and not videos and not files[0].exists():
                return f"{files[0]}: no such file (--annotate {annotate} wants its video)"
            if len(files) == 1 and not videos:
                return (
                    f"--annotate {annotate} names a video file, but the input is an image; "
                    "give a folder for annotated images"
                )
            if len(videos) != 1 or len(files) != 1:
                return (
                    f"--annotate {annotate} names one video file; give a folder for several inputs"
                )
            if same_file(annotate, files) is not None:
                return f"--annotate {annotate} is the input video; it would be overwritten"
            return None
        if _annotate_kind(annotate) == "image":
            if len(files) == 1 and videos:
                return (
                    f"--annotate {annotate} names an image file, but the input is a video; "
                    "give an .mp4, .mkv or .mov name"
                )
            if len(files) != 1:
                return (
                    f"--annotate {annotate} names one image file; give a folder for several inputs"
                )
            if same_file(annotate, files) is not None:
                return f"--annotate {annotate} is the input image; it would be overwritten"
            return None
        if annotate.suffix.lower() in IMAGE_SUFFIXES and not annotate.is_dir():
            return (
                f"--annotate {annotate}: annotated images are written as "
                f"{', '.join(WRITABLE_SUFFIXES)} (or give a folder)"
            )
        if annotate.exists() and not annotate.is_dir():
            return f"--annotate {annotate} is a file; give a folder"
        folders = {resolved(p) for p in paths if p.is_dir()} | {resolved(f).parent for f in files}
        if resolved(annotate) in folders:
            return (
                f"--annotate {annotate} holds input files, which copies would overwrite; "
                "give a folder outside the inputs"
            )
    return None


def _check_writable(out: Path | None, annotate: Path | None) -> str | None:
    if out is not None and (problem := unwritable(out, "--out")):
        return problem
    if annotate is not None:
        return unwritable(annotate, "--annotate", folder=_annotate_kind(annotate) == "folder")
    return None


def _image_name(target: Path) -> Path:
    """``target`` if OpenCV can write its suffix, else ``target`` + ``.png`` (``y.pgm`` →
    ``y.pgm.png``: the source's full name stays, so it cannot meet ``y.png``'s output)."""
    if target.suffix.lower() in WRITABLE_SUFFIXES:
        return target
    return target.with_name(target.name + ".png")


def _video_name(target: Path) -> Path:
    """``target`` as an ``.mp4`` name: ``x.mp4`` stays, ``x.mkv`` → ``x.mkv.mp4``."""
    return target if target.suffix.lower() == ".mp4" else target.with_name(target.name + ".mp4")


def _unique(target: Path, taken: set[Path], source: Path, *, keep_existing: bool = False) -> Path:
    """``target``, or ``name_1.ext``, ``name_2.ext``… if this run already wrote that name (two
    inputs with one name, from different places) or, with ``keep_existing``, a file of that
    name exists (the user's own, in a folder mien did not make); the renaming is printed."""
    candidate, i = target, 0
    while candidate in taken or (keep_existing and os.path.lexists(candidate)):
        i += 1
        candidate = target.with_name(f"{target.stem}_{i}{target.suffix}")
    if i:
        err.print(f"annotated {source} → {candidate} ({target.name} was taken)", style="yellow")
    return candidate


def _is_link(path: Path) -> bool:
    """Whether ``path`` is a symbolic link, or a file with other names (a hard link)."""
    try:
        return path.is_symlink() or (path.is_file() and path.stat().st_nlink > 1)
    except OSError:
        return False


def _write_image(scene: Any, target: Path) -> None:
    """Encode ``scene`` (BGR) to ``target``: written beside it, then renamed over it, so an
    existing file there is replaced, never written into, and a crash leaves no half-written
    image.

    Raises:
        OSError: the folder or file cannot be written, or the image cannot be encoded.
    """
    import cv2

    target.parent.mkdir(parents=True, exist_ok=True)
    ok, buf = cv2.imencode(target.suffix, scene)
    if not ok:
        raise OSError(f"cannot encode {target.suffix} image")
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=".mien-", suffix=".part")
    part = Path(name)  # a short name: the target's own may already be 255 bytes long
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)  # as a plain write would make it (mkstemp makes 0600)
        with os.fdopen(fd, "wb") as f:
            f.write(buf.tobytes())
        os.replace(part, target)
    finally:
        part.unlink(missing_ok=True)


def _print_summary(
    summary: list[tuple[str, str, str]],
    n_faces: int,
    n_failed: int,
    out: Path | None,
    model: str,
) -> None:
    """A table of every file (up to 20 files), else of the failed ones only; then the counts
    and the expression model that made the probabilities."""
    rows = summary if len(summary) <= 20 else [r for r in summary if r[1] == "error"]
    if rows:
        table = Table(box=None, header_style="bold")
        table.add_column("file", overflow="fold")
        table.add_column("faces")
        table.add_column("perceived expression (probability)", overflow="fold")
        for name, count, labels in rows:
            table.add_row(name, count, labels, style="red" if count == "error" else None)
        if len(summary) > 20:
            err.print(f"failed files ({len(rows)}):")
        err.print(table)
    where = f" → {out}" if out else ""
    err.print(f"{len(summary)} file(s), {n_faces} face(s), {n_failed} failed, model {model}{where}")
