"""Helpers shared by the CLI commands: the stderr console, analyzer set-up, progress, paths."""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, ParamSpec, TypeVar, cast

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.text import Text

from mien.logs import quiet_native_stderr

P = ParamSpec("P")
R = TypeVar("R")

if TYPE_CHECKING:
    from mien.detection.mediapipe import DetectorModel
    from mien.pipeline import Analyzer

ModelName = Annotated[str, typer.Option(help="Expression model (see `mien models`).")]
"""The ``--model`` option of every command that loads a model."""

Weights = Annotated[
    Path | None,
    typer.Option(
        help="Your own exported .onnx instead of the bundled weights (its spec .json, written "
        "by scripts/export_onnx.py, must lie beside it). Local files only.",
    ),
]
"""The ``--weights`` option of every command that loads a model."""


def _bootstrap_count(value: int) -> int:
    from mien.evaluation.runner import MIN_BOOT

    if value != 0 and value < MIN_BOOT:
        raise typer.BadParameter(
            f"0 (no intervals) or at least {MIN_BOOT}; got {value} (a 95 % interval from so "
            "few resamples does not mean 95 %)"
        )
    return value


def bootstrap_option(text: str) -> typer.models.OptionInfo:
    """The ``--bootstrap`` option (``text`` its help): 0, or at least
    :data:`~mien.evaluation.runner.MIN_BOOT` resamples."""
    return typer.Option(min=0, callback=_bootstrap_count, help=text)


ResultsFile = Annotated[
    Path,
    typer.Argument(
        help="Rows from `mien analyze`/`watch` (.csv, .jsonl, .json, .parquet), or a "
        "folder of .parquet files (`mien batch`'s parts/)."
    ),
]
"""The results argument of ``mien plot`` and ``mien summary``."""

DetectorMode = Annotated[
    str, typer.Option(help="auto | short | full | multi | tiled (BlazeFace range; see README).")
]
"""The ``--detector`` option."""

BlurDetectorMode = Annotated[
    str | None,
    typer.Option(
        "--detector",
        help="auto | short | full | multi | tiled (BlazeFace range; see README). Default: "
        "auto, or tiled with --blur-faces (auto stops at the first pass that finds a face, so "
        "a smaller face beside a large one would stay sharp).",
    ),
]
"""The ``--detector`` option of the commands that can blur faces (default ``None``: see
:func:`detector_for`)."""


def detector_for(detector: str | None, blur_faces: bool) -> str:
    """The detector to run: the one asked for, else ``"tiled"`` when faces are to be blurred
    (``auto`` missed a 46 px face next to a 126 px one in a 640×360 frame; ``multi`` missed
    61 of 120 faces in composed group scenes, ``tiled`` none: ``benchmarks/group_scenes.py``)
    and ``"auto"`` otherwise."""
    if detector is not None:
        return detector
    return "tiled" if blur_faces else "auto"


def weaker_blur(detector: str | None, min_confidence: float = 0.5) -> list[str]:
    """Warnings for ``--blur-faces`` with options that blur fewer faces: a detector other than
    ``tiled`` (its default), or a score threshold above MediaPipe's floor of 0.5 (a face scored
    below it is neither analysed nor blurred)."""
    notes = []
    if detector is not None and detector != "tiled":
        notes.append(
            f"--blur-faces with --detector {detector}: it finds fewer faces than tiled (the "
            "default with --blur-faces), and a face it misses stays sharp"
        )
    if min_confidence > 0.5:
        notes.append(
            f"--blur-faces with --min-confidence {min_confidence:g}: a face the detector "
            "scores below that is neither analysed nor blurred (0.5, the default, blurs most)"
        )
    return notes


BLUR_HOLD_S = 0.5
"""Default of ``--blur-hold``: :data:`mien.annotate.hold.HOLD_S` (not imported here, so that
the CLI starts without loading the annotator)."""

BlurHoldSeconds = Annotated[
    float,
    typer.Option(
        "--blur-hold",
        min=0.0,
        help="Videos and streams, with --blur-faces: seconds a lost face's place stays "
        "blurred (longer covers longer misses, such as a head turned away, at the cost of more "
        "blurred background).",
    ),
]
"""The ``--blur-hold`` option of ``analyze`` and ``watch`` (``BlurHold.hold_s``)."""

StartSeconds = Annotated[
    float, typer.Option(min=0.0, help="Videos: start this many seconds after the first frame.")
]
"""The ``--start`` option of ``analyze`` and ``batch``."""

EndSeconds = Annotated[
    float | None,
    typer.Option(
        help="Videos: stop this many seconds after the first frame (a frame at exactly that "
        "time is left out)."
    ),
]
"""The ``--end`` option of ``analyze`` and ``batch``."""

MinConfidence = Annotated[
    float,
    typer.Option(min=0.0, max=1.0, help="Detector score threshold (MediaPipe's floor is 0.5)."),
]
"""The ``--min-confidence`` option of ``analyze`` and ``batch``."""

MinUpright = Annotated[
    float,
    typer.Option(
        min=0.0,
        max=1.0,
        help="Faces whose upright check is below this abstain (0 turns the check off: in "
        "video it calls many upright faces under about 60 px turned; see ORIENTATION_CARD.md).",
    ),
]
"""The ``--min-upright`` option of ``analyze``, ``batch`` and ``watch``
(:attr:`mien.quality.QualityThresholds.min_upright`)."""

MaxPixels = Annotated[
    int,
    typer.Option(
        min=1,
        help="Refuse images with more pixels than this (Pillow refuses above ~179 M anyway).",
    ),
]
"""The ``--max-pixels`` option of ``analyze`` and ``batch``."""

MeasurePose = Annotated[
    bool,
    typer.Option("--pose/--no-pose", help="Measure head pose (FaceMesh, about 5–7 ms per face)."),
]
"""The ``--pose/--no-pose`` option of ``analyze``, ``batch`` and ``watch``."""

PoseInterval = Annotated[
    float,
    typer.Option(
        min=0.0,
        help="Videos: measure each track's head pose at most once per this many seconds "
        "(rows between carry the last value; 0 = every frame).",
    ),
]
"""The ``--pose-interval`` option shared by ``analyze`` and ``watch``."""

# No markup: file names such as "a[red].jpg" must print as they are. Colour via style=.
err = Console(stderr=True, soft_wrap=True, markup=False)  # soft_wrap: never break file names


def check_weights(model: str, weights: Path | None, *, load: bool = True) -> None:
    """Exit 2 with one line unless ``--model``/``--weights`` name one usable model: a bundled
    name, or (not both) an export's ``.onnx`` with its spec beside it that (with ``load``)
    loads, matches its sha256 and names a known alignment. A caller that loads the model
    right away itself passes ``load=False``."""
    from mien.errors import WeightsError
    from mien.registry import create_model, get_spec
    from mien.weights import DEFAULT_MODEL, check_export

    if weights is not None and model != DEFAULT_MODEL:
        fail("give --model (a bundled model) or --weights (your own export), not both")
    try:
        if weights is None:
            get_spec(model)
        elif load:
            create_model(model, weights=check_export(weights), threads=1)  # loads and checks it
        else:
            check_export(weights)
    except (ValueError, WeightsError) as e:
        fail(str(e))


def make_analyzer(
    model: str,
    detector: str,
    min_confidence: float,
    max_pixels: int,
    *,
    pose: bool = True,
    pose_interval: float = 0.2,
    weights: Path | None = None,
    min_upright: float = 0.5,
) -> Analyzer:
    """An :class:`~mien.pipeline.Analyzer` with its MediaPipe graphs built quietly; exit 2 on a
    bad option or missing weights. ``weights``: an exported ``.onnx`` with its spec beside it
    (:func:`mien.weights.check_export`), instead of ``model``."""
    from mien.errors import WeightsError
    from mien.pipeline import Analyzer  # lazily: keeps --help fast
    from mien.quality import QualityThresholds

    check_weights(model, weights, load=False)  # the Analyzer below loads and checks it
    if min_confidence < 0.5:
        err.print(
            f"--min-confidence {min_confidence:g} acts as 0.5: MediaPipe's face detector "
            "keeps no detection scoring below 0.5",
            style="yellow",
        )
    try:
        with quiet_native_stderr():
            analyzer = Analyzer(
                model,
                weights=weights,
                detector=cast("DetectorModel", detector),  # checked by Analyzer
                min_confidence=min_confidence,
                max_pixels=max_pixels,
                pose=pose,
                pose_interval_s=pose_interval,
                thresholds=QualityThresholds(min_upright=min_upright),
            )
            analyzer.warm_up()  # build the MediaPipe graphs while their C++ logs are hidden
    except (ValueError, WeightsError) as e:
        fail(str(e))
    return analyzer


def dash_is_stdout(out: Path | None) -> Path | None:
    """``None`` (standard output) for ``--out -``, as Unix tools read a lone dash (it had
    written a file named ``-``); else ``out``."""
    return None if out is not None and str(out) == "-" else out


def resolve_format(out: Path | None, fmt: str | None) -> str:
    """The row format: ``fmt``, else ``--out``'s suffix, else (standard output) jsonl; exit 2
    when unusable, also for an ``--out`` file without a suffix and no ``fmt`` (readers such as
    ``mien summary`` go by the suffix; a device or pipe such as ``/dev/stdout`` is taken)."""
    from mien.export import FORMATS

    if fmt is None:
        suffix = out.suffix.lower().lstrip(".") if out else ""
        if suffix and suffix not in FORMATS:
            fail(
                f"--out {out}: unknown suffix .{suffix}; use .csv, .json, .jsonl or .parquet, "
                "or give --format"
            )
        # a device or pipe (/dev/stdout, a shell's >(gzip …)) is written as JSON Lines
        if out is not None and not suffix and (out.is_file() or not out.exists()):
            fail(
                f"--out {out}: no suffix to tell the format by; name it {out.name}.jsonl (or "
                ".csv, .json, .parquet), or give --format"
            )
        fmt = suffix or "jsonl"
    fmt = fmt.strip().lower()  # -f CSV
    if fmt not in FORMATS:
        fail(f"--format must be one of {list(FORMATS)}; got {fmt!r}")
    suffix = out.suffix.lower().lstrip(".") if out else ""
    if suffix in FORMATS and suffix != fmt:  # readers (mien plot, pandas) go by the suffix
        fail(f"--out {out} names a .{suffix} file but --format is {fmt}; make them agree")
    if fmt == "parquet" and out is None:
        fail("--format parquet needs --out FILE")
    return fmt


def unwritable(path: Path, option: str, *, folder: bool = False) -> str | None:
    """Why ``path`` cannot be written as a file (or, with ``folder``, as a folder), or ``None``.

    Checked before any work starts, so a long run never ends in a traceback at its last step.
    Missing parent folders (and the folder itself) are created.
    """
    if folder:
        if path.exists() and not path.is_dir():
            return f"{option} {path} is a file; give a folder"
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            return f"{option} {path}: cannot create the folder ({e.strerror or e})"
        if not os.access(path, os.W_OK):
            return f"{option} {path}: the folder is not writable"
        return None
    if path.is_dir():
        return f"{option} {path} is a folder; give a file name"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():
            if not os.access(path, os.W_OK):
                return f"{option} {path}: the file is not writable"
        else:
            path.open("xb").close()
            path.unlink()
    except OSError as e:
        return f"{option} {path}: cannot be written ({e.strerror or e})"
    return None


VIDEO_OUT_SUFFIXES = (".mp4", ".mkv", ".mov")  # what --annotate writes a video as


def plural(n: int, word: str) -> str:
    """``"1 frame"``, ``"2 frames"``, ``"0 frames"``."""
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM (``kill``, ``timeout``, a job scheduler at its time limit) stops a command the
    way Ctrl-C does: output files are closed whole (a Parquet footer, a JSON array's end) and
    finished work is recorded. A no-op outside the main thread."""

    def raise_interrupt(*_: object) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second one must not cut the footer
        raise KeyboardInterrupt

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, raise_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def interruptible(command: Callable[P, R]) -> Callable[P, R]:
    """Run a CLI command under :func:`sigterm_as_interrupt`, so SIGTERM (a scheduler's time
    limit) stops it as Ctrl-C does: exit status 130, as the README promises for every command."""

    @functools.wraps(command)  # typer reads the signature through __wrapped__
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        with sigterm_as_interrupt():
            return command(*args, **kwargs)

    return run


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print ``error: message`` on stderr and exit with ``code``."""
    err.print(Text.assemble(("error:", "red"), " ", message))
    raise typer.Exit(code)


def progress(enabled: bool) -> Progress:
    return Progress(
        TextColumn("{task.description}", markup=False),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err,
        disable=not enabled,
        transient=True,
    )


def describe(error: BaseException | None) -> str:
    """A one-line reason for a failed input: the problem of a mien error, else type + text."""
    problem = getattr(error, "problem", None)
    return problem if isinstance(problem, str) else f"{type(error).__name__}: {error}"


def resolved(path: Path) -> Path:
    """``path.resolve()``, or the absolute path where links cannot be resolved (a link loop
    raises ``RuntimeError`` on Python 3.11, other failures ``OSError``)."""
    try:
        return path.resolve()
    except (OSError, RuntimeError):
        return path.absolute()


def warn_unreadable(folders: list[tuple[Path, str]]) -> None:
    """Say which folders could not be listed, so their files are not silently missing."""
    for folder, reason in folders:
        err.print(
            f"could not read folder {folder} ({reason}): its files are left out", style="yellow"
        )


def file_key(path: Path) -> object:
    """What makes two paths one file: device and inode of an existing file (hard links and
    symbolic links share them), else the resolved path (a file that is not there yet)."""
    try:
        st = path.stat()
    except OSError:
        return resolved(path)
    return (st.st_dev, st.st_ino)


def same_file(path: Path, others: list[Path]) -> Path | None:
    """The first of ``others`` that is ``path`` itself: the same resolved path, or the same
    file under another name (:func:`file_key`); ``None`` when none is."""
    target, key = resolved(path), file_key(path)
    for other in others:
        if resolved(other) == target or file_key(other) == key:
            return other
    return None


def relative_name(path: Path, roots: list[Path]) -> Path:
    """``path`` relative to the input folder it came from, else its file name."""
    for root in roots:
        with contextlib.suppress(ValueError):
            return path.relative_to(root)
    return Path(path.name)


def quiet_stdout() -> None:
    """Point stdout at /dev/null, so Python's flush at exit does not fail on the closed pipe
    (the recipe of Python's ``signal`` docs, "Note on SIGPIPE")."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
