"""``mien batch``: resumable runs over many images and videos (local processes or Ray)."""

from __future__ import annotations

import math
import os
import sqlite3
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mien.cli.common import (
    DetectorMode,
    EndSeconds,
    MaxPixels,
    MeasurePose,
    MinConfidence,
    MinUpright,
    ModelName,
    PoseInterval,
    StartSeconds,
    Weights,
    check_weights,
    err,
    fail,
    file_key,
    interruptible,
    plural,
    progress,
    sigterm_as_interrupt,
    unwritable,
    warn_unreadable,
)
from mien.weights import DEFAULT_MODEL

if TYPE_CHECKING:
    from mien.batch import BatchOptions


def _expand(
    sources: list[Path],
    skipped: list[Path] | None = None,
    unreadable: list[tuple[Path, str]] | None = None,
) -> list[Path]:
    """Files, folders (recursive) and ``.txt`` lists of paths (one per line, ``#`` comments,
    ``~`` for the home folder, relative to the list, which may name other lists);
    folders of annotated copies found inside a folder are appended to ``skipped``, folders
    that cannot be listed to ``unreadable`` with the reason."""
    from mien.io import IMAGE_SUFFIXES, VIDEO_SUFFIXES, iter_image_paths

    def scan(folder: Path) -> list[Path]:
        return list(
            iter_image_paths(
                [folder],
                suffixes=IMAGE_SUFFIXES | VIDEO_SUFFIXES,
                skipped=skipped,
                unreadable=unreadable,
            )
        )

    from mien.batch.manifest import fold_dots

    paths: list[Path] = []
    lists_read: set[object] = set()

    def read_list(src: Path) -> None:
        if file_key(src) in lists_read:  # a list naming itself, or two naming each other
            return
        lists_read.add(file_key(src))
        try:  # utf-8-sig: a list saved by Notepad starts with a byte-order mark
            text = src.read_text(encoding="utf-8-sig")
        except UnicodeDecodeError:
            fail(f"{src}: a list of paths must be UTF-8 text")
        for line in (ln.strip() for ln in text.splitlines()):
            if not line or line.startswith("#"):
                continue
            # ~ and ~/photos/a.jpg as a shell reads them (not ~old.jpg, a file of that name)
            named = Path(line).expanduser() if line == "~" or line.startswith("~/") else Path(line)
            # lists/../photos/a.jpg is named photos/a.jpg, as a folder run names it
            p = Path(fold_dots(str(named if named.is_absolute() else src.parent / named)))
            if p.is_dir():  # a listed folder recurses, as on the command line
                paths.extend(scan(p))
            elif p.suffix.lower() == ".txt" and p.is_file():  # a list of lists
                read_list(p)
            else:
                paths.append(p)

    for src in sources:
        if src.suffix.lower() == ".txt" and src.is_file():
            read_list(src)
        else:
            paths += scan(src)
    seen: set[object] = set()
    unique = []
    for p in paths:  # one file reached twice (a link, a hard link, "..", two arguments) once
        key = file_key(p)  # as analyze decides; a link loop keeps its own path, and fails
        if key not in seen:
            seen.add(key)
            unique.append(p)
    return unique


def _refused(err: BaseException) -> bool:
    """Whether ``err`` is a permission refusal (a read-only file, folder or disk), not a full
    disk: its advice is then to make the output writable, not to free space."""
    import errno

    if isinstance(err, OSError):
        return err.errno in (errno.EACCES, errno.EPERM, errno.EROFS)
    return "readonly" in str(err) or "read-only" in str(err)


def _interrupted_counts(
    out: Path, options: BatchOptions, inputs: list[Path], stats: dict[str, int]
) -> str:
    """What an interrupted run leaves, from the manifest (a result recorded there just before
    the interrupt may not have reached the progress count, which was one short); the
    progress count only when the manifest cannot be read."""
    import sqlite3

    from mien.batch.manifest import Manifest, ManifestError

    try:
        if not (out / "manifest.sqlite").is_file():  # interrupted before it was made
            raise FileNotFoundError(out / "manifest.sqlite")
        with Manifest(out, options.config(), lock=False) as manifest:  # read only
            counts = manifest.counts(inputs)
    except (OSError, sqlite3.Error, ManifestError):  # not made yet, say
        return f"{stats['done']} done, {stats['failed']} failed this run"
    done, failed = counts.get("done", 0), counts.get("failed", 0)
    return (
        f"{done} of {plural(len(inputs), 'input')} done, {failed} failed, "
        f"{len(inputs) - done - failed} to do"
    )


@interruptible  # SIGTERM while the inputs are listed, too (then nothing was started)
def batch(
    sources: Annotated[
        list[Path], typer.Argument(help="Files, folders, or .txt files listing paths.")
    ],
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Output folder: parts/*.parquet + manifest.sqlite.")
    ],
    workers: Annotated[int, typer.Option(min=1, help="Worker processes (or Ray actors).")] = 1,
    engine: Annotated[str, typer.Option(help="local (process pool) | ray.")] = "local",
    ray_address: Annotated[
        str | None, typer.Option(help="Ray cluster address (default: start a local Ray).")
    ] = None,
    retry_failed: Annotated[
        bool, typer.Option("--retry-failed", help="Redo inputs that failed before.")
    ] = False,
    every: Annotated[int, typer.Option(min=1, help="Videos: every N-th frame.")] = 1,
    fps: Annotated[
        float | None, typer.Option(min=0.001, help="Videos: about F frames/s (see analyze).")
    ] = None,
    start: StartSeconds = 0.0,
    end: EndSeconds = None,
    smooth_tau: Annotated[
        float,
        typer.Option(
            min=0.0,
            help="Videos: expression smoothing time constant (s); the upright check is "
            "averaged over 0.2 s whatever it is.",
        ),
    ] = 0.5,
    model: ModelName = DEFAULT_MODEL,
    weights: Weights = None,
    detector: DetectorMode = "auto",
    min_confidence: MinConfidence = 0.5,
    min_upright: MinUpright = 0.5,
    max_pixels: MaxPixels = 100_000_000,
    pose: MeasurePose = True,
    pose_interval: PoseInterval = 0.2,
    quiet: Annotated[
        bool,
        typer.Option("--quiet", "-q", help="No progress bar, and no start-up lines from Ray."),
    ] = False,
) -> None:
    """Analyse many inputs into one Parquet file per input, resumably.

    Re-running the same command skips finished inputs and redoes unfinished ones; a run killed
    at any moment and resumed gives exactly the rows of an uninterrupted run. Exit status 1
    when any input failed (see manifest.sqlite; --retry-failed retries them), 2 for a usage
    error, 130 when interrupted.
    """
    from mien.batch import BatchOptions, WorkersFailing, run_batch
    from mien.batch.manifest import ManifestError
    from mien.batch.run import check_ray

    if engine not in ("local", "ray"):
        fail(f"--engine must be local or ray, got {engine!r}")
    if end is not None and not math.isfinite(end):  # click's range check lets nan through
        fail(f"--end must be a number of seconds; got {end}")
    if end is not None and end <= start:
        fail(f"--end ({end}) must be after --start ({start})")
    if fps is not None and not math.isfinite(fps):
        fail(f"--fps must be a number of frames per second; got {fps}")
    skipped: list[Path] = []
    unreadable: list[tuple[Path, str]] = []
    inputs = _expand(sources, skipped, unreadable)
    warn_unreadable(unreadable)
    for folder in skipped:
        err.print(
            f"skipped {folder}: annotated copies written by mien analyze (name it to include it)",
            style="yellow",
        )
    if not inputs:
        fail("no inputs found", 1)
    check_weights(model, weights)  # before unwritable(), which creates the folder
    options = BatchOptions(
        model=model,
        weights=None if weights is None else str(weights.resolve()),
        detector=detector,
        every=every,
        fps=fps,
        start_s=start,
        end_s=end,
        tau=smooth_tau,
        min_confidence=min_confidence,
        min_upright=min_upright,
        max_pixels=max_pixels,
        pose=pose,
        pose_interval_s=pose_interval,
    )
    try:
        options.check()
        if engine == "ray":
            check_ray(ray_address)
    except (ValueError, RuntimeError) as e:
        fail(str(e))
    if problem := unwritable(out, "--out", folder=True):
        fail(problem)
    for name in ("parts", "manifest.sqlite", "manifest.sqlite-shm", "manifest.sqlite-wal"):
        # SQLite leaves its -shm file read-only when it was made while the database was: a
        # chmod of manifest.sqlite alone did not unblock the folder
        if (out / name).exists() and not os.access(out / name, os.W_OK):
            fail(f"--out {out}: {name} is not writable; make it writable (chmod u+w) to go on")
    stats = {"done": 0, "failed": 0, "frames": 0}
    frameless: list[str] = []  # paths of videos with no frame in range (--start past the end)
    t0 = time.perf_counter()
    with sigterm_as_interrupt(), progress(not quiet) as bar:
        task = bar.add_task("inputs", total=len(inputs))

        def on_start(n_todo: int) -> None:  # on resume, only what is left to do
            bar.update(task, total=n_todo, description=f"{plural(n_todo, 'input')} to do")

        def on_result(res: dict) -> None:
            stats[res["state"]] = stats.get(res["state"], 0) + 1
            stats["frames"] += res["frames"]
            if res["state"] == "done" and res["frames"] == 0:
                frameless.append(res.get("path") or res["id"])
            fps_all = stats["frames"] / max(time.perf_counter() - t0, 1e-9)
            bar.update(
                task,
                advance=1,
                description=f"done {stats['done']} · failed {stats['failed']} · "
                f"{fps_all:.1f} frames/s",
            )

        try:
            counts = run_batch(
                inputs,
                out,
                options,
                workers=workers,
                engine=engine,
                ray_address=ray_address,
                retry_failed=retry_failed,
                on_result=on_result,
                on_warning=lambda line: err.print(line, style="yellow"),
                on_start=on_start,
                quiet=quiet,
            )
        except WorkersFailing as e:
            fail(str(e), 1)
        except (ManifestError, ValueError, RuntimeError) as e:
            fail(str(e))
        except (OSError, sqlite3.Error) as e:  # the output disk filled, a share went away
            fix = "make it writable" if _refused(e) else "free space"
            fail(
                f"could not write the batch in {out}: {getattr(e, 'strerror', None) or e}; "
                f"what finished is kept: {fix} and run the same command again to resume",
                1,
            )
        except KeyboardInterrupt:  # Ctrl-C, or SIGTERM (sigterm_as_interrupt)
            said = _interrupted_counts(out, options, inputs, stats)
            then = (
                "nothing was left to do"  # it came as the last input finished
                if said.endswith(" 0 to do")
                else "run the same command again to resume"
            )
            err.print(f"interrupted: {said}; {then}", style="yellow")
            raise typer.Exit(130) from None
    elapsed = time.perf_counter() - t0
    if counts.get("failed"):
        from mien.batch.manifest import Manifest, input_id

        with Manifest(out, options.config(), lock=False) as manifest:  # read only
            failed = [r for r in manifest.rows() if r["state"] == "failed"]
        wanted = {input_id(p) for p in inputs}  # by id: the stored spelling may differ
        err.print("failed inputs:", style="red")
        failed = [r for r in failed if r["id"] in wanted]
        for r in failed[:20]:
            err.print(f"  {r['path']}: {r['error']}")
        if len(failed) > 20:
            err.print(f"  and {len(failed) - 20} more (all in {out / 'manifest.sqlite'})")
    if frameless:
        err.print(
            f"{plural(len(frameless), 'input')} gave no frame and no row (e.g. {frameless[0]}): "
            "a video with no frame between --start and --end?",
            style="yellow",
        )
    _warn_foreign_parts(out, inputs)
    err.print(
        f"{counts.get('done', 0)} done, {counts.get('failed', 0)} failed, "
        f"{plural(stats['frames'], 'frame')} this run in {elapsed:.1f} s → {out}"
    )
    if unreadable:  # files are missing from the batch: a failure, as in analyze
        err.print(
            f"{plural(len(unreadable), 'folder')} could not be read (above): their files are "
            "not in this batch",
            style="red",
        )
    raise typer.Exit(1 if counts.get("failed") or unreadable else 0)


def _warn_foreign_parts(out: Path, inputs: list[Path]) -> None:
    """Say when ``out/parts`` also holds files of inputs not given this time (kept, never
    deleted: a folder of parts is read whole, so the user must know)."""
    from mien.batch.manifest import input_id
    from mien.batch.work import output_name

    expected = {
        output_name(str(p), input_id(p), legacy=legacy) for p in inputs for legacy in (False, True)
    }
    foreign = sorted(f.name for f in (out / "parts").glob("*.parquet") if f.name not in expected)
    if foreign:
        err.print(
            f"{len(foreign)} file(s) in {out / 'parts'} belong to inputs not given this time "
            f"(e.g. {foreign[0]}); reading the folder whole includes them. They were kept: "
            "delete them, or use a new --out.",
            style="yellow",
        )
