"""``run_batch``: process every input not yet done, with a local process pool or Ray.

Both engines run the same :func:`mien.batch.work.process` per input and report back to the
parent, which alone writes the manifest, so the outputs are identical whichever engine ran.

What a Ray cluster gets: each actor receives the input *path* (workers must see the same
files, e.g. a shared file system) and the options; it loads the model once from its own
installed mien (the weights ship inside the package) and writes its Parquet file to the shared
output folder. Per-worker state is only the loaded analyzer.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from mien.batch.manifest import Manifest
from mien.batch.work import init_worker, process_in_worker
from mien.io import DEFAULT_MAX_PIXELS
from mien.weights import DEFAULT_MODEL


@dataclass(frozen=True)
class BatchOptions:
    """Options that define a batch's outputs (stored in its manifest).

    Attributes:
        model: bundled expression model name.
        weights: path of your own export (``.onnx`` with its spec ``.json`` beside it) instead
            of the bundled weights. Ray workers must see the same path.
        detector: BlazeFace mode.
        every, fps, start_s, end_s: video sampling (as ``mien analyze``).
        tau: smoothing time constant, seconds.
        min_confidence: detector score threshold in [0, 1].
        max_pixels: images with more pixels are refused (an ``error`` row).
        pose: measure head pose (FaceMesh); ``False`` leaves the pose columns empty.
        pose_interval_s: videos: each track's head pose at most once per this many seconds.
    """

    model: str = DEFAULT_MODEL
    weights: str | None = None
    detector: str = "auto"
    every: int = 1
    fps: float | None = None
    start_s: float = 0.0
    end_s: float | None = None
    tau: float = 0.5
    min_confidence: float = 0.5
    max_pixels: int = DEFAULT_MAX_PIXELS
    pose: bool = True
    pose_interval_s: float = 0.2

    def analyzer_kwargs(self) -> dict[str, Any]:
        """The :class:`~mien.pipeline.Analyzer` arguments each worker loads its model with."""
        return {
            "model": self.model,
            "weights": self.weights,
            "detector": self.detector,
            "min_confidence": self.min_confidence,
            "max_pixels": self.max_pixels,
            "pose": self.pose,
            "pose_interval_s": self.pose_interval_s,
        }

    def config(self) -> dict[str, Any]:
        """What the manifest keeps to refuse resuming with other options: the options, the
        model's name and sha256 (an export is known by these, not by its path) and the row
        schema.

        Raises:
            ValueError: unknown bundled ``model``.
            WeightsError: ``weights`` is not an export with its spec beside it.
        """
        from mien.export.rows import SCHEMA_VERSION
        from mien.registry import get_spec
        from mien.weights import WeightSpec, check_export, sha256_of

        config = {
            k: v
            for k, v in asdict(self).items()
            if k != "weights" and not (k in _LATER_FIELDS and v == _LATER_FIELDS[k])
        }  # options added in 0.2.5 are kept only when set, so older folders stay resumable
        if not self.pose:  # the interval means nothing without pose
            config.pop("pose_interval_s", None)
        if self.weights is None:
            sha256 = get_spec(self.model).sha256
        else:
            path = check_export(self.weights)
            config["model"] = WeightSpec.from_json(path.with_suffix(".json")).name
            sha256 = sha256_of(path)
        return {**config, "weights_sha256": sha256, "schema": SCHEMA_VERSION}


_LATER_FIELDS = {
    "min_confidence": 0.5,
    "max_pixels": DEFAULT_MAX_PIXELS,
    "pose": True,
    "pose_interval_s": 0.2,
}
"""Options added after folders were first written, with the value those folders used."""


def run_batch(
    inputs: list[Path],
    out_dir: Path,
    options: BatchOptions,
    *,
    workers: int = 1,
    engine: str = "local",
    ray_address: str | None = None,
    retry_failed: bool = False,
    on_result: Callable[[dict[str, Any]], None] | None = None,
    on_warning: Callable[[str], None] | None = None,
) -> dict[str, int]:
    """Process the inputs that are not done yet; returns the state counts of ``inputs``.

    Finished inputs whose Parquet file was deleted or damaged are redone; finished inputs whose
    file is missing now keep their rows. ``on_warning`` is told about both.

    Raises:
        ValueError: unknown engine.
        ManifestError: ``out_dir`` was made with other options.
    """
    if engine not in ("local", "ray"):
        raise ValueError(f"engine must be one of ['local', 'ray']; got {engine!r}")
    with Manifest(out_dir, options.config()) as manifest:
        scratch = Path(out_dir) / ".tmp"  # leftovers of a killed run: never published
        if scratch.is_dir():
            for leftover in scratch.iterdir():
                leftover.unlink(missing_ok=True)
        gone = manifest.add(inputs)
        lost = manifest.redo_lost_outputs(inputs)
        gone = sorted(set(gone) - set(lost))  # a lost part leaves nothing to keep: redone
        if on_warning is not None and gone:
            on_warning(
                f"{len(gone)} finished input(s) are missing now (e.g. {gone[0]}); their rows "
                "were kept"
            )
        if on_warning is not None and lost:
            on_warning(
                f"{len(lost)} input(s) had a missing or damaged Parquet file in parts/ (e.g. "
                f"{lost[0]}); they are redone"
            )
        todo = manifest.todo(retry_failed=retry_failed)
        for id_, _ in todo:
            manifest.mark(id_, "running")
        opts = {
            "every": options.every,
            "fps": options.fps,
            "start_s": options.start_s,
            "end_s": options.end_s,
            "tau": options.tau,
        }

        def record(res: dict[str, Any]) -> None:
            manifest.mark(
                res["id"], res["state"], rows=res["rows"], error=res["error"], output=res["output"]
            )
            if on_result is not None:
                on_result(res)

        if todo:
            threads = max(1, (os.cpu_count() or 1) // max(1, workers))
            if engine == "local":
                _local(todo, out_dir, options, opts, workers, threads, record)
            else:
                _ray(todo, out_dir, options, opts, workers, threads, ray_address, record)
        return manifest.counts(inputs)


def _crashed(id_: str, err: BaseException) -> dict[str, Any]:
    """The result recorded for an input whose worker died."""
    error = f"worker crashed: {type(err).__name__}: {err}"
    return {
        "id": id_,
        "state": "failed",
        "rows": 0,
        "output": None,
        "error": error,
        "frames": 0,
        "seconds": 0.0,
    }


def _local(
    todo: list[tuple[str, str]],
    out_dir: Path,
    options: BatchOptions,
    opts: dict[str, Any],
    workers: int,
    threads: int,
    record: Callable[[dict[str, Any]], None],
) -> None:
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed

    ctx = mp.get_context("spawn")  # MediaPipe graphs must not be forked
    pool = ProcessPoolExecutor(
        workers,
        mp_context=ctx,
        initializer=init_worker,
        initargs=(options.analyzer_kwargs(), threads, os.getpid()),
    )
    futures = {
        pool.submit(process_in_worker, path, id_, str(out_dir), opts): id_ for id_, path in todo
    }
    recorded: set[Any] = set()
    try:
        for future in as_completed(futures):
            recorded.add(future)
            try:
                record(future.result())
            except Exception as err:
                record(_crashed(futures[future], err))
    except KeyboardInterrupt:
        # Stop now: record what already finished, drop the queue, end the workers. Inputs in
        # flight stay "running" and are redone on resume (their temp files are cleared then).
        for future in futures:
            if future not in recorded and future.done() and not future.cancelled():
                with contextlib.suppress(Exception):
                    record(future.result())
        procs = list((getattr(pool, "_processes", None) or {}).values())
        pool.shutdown(wait=False, cancel_futures=True)
        for proc in procs:
            proc.terminate()
        raise
    pool.shutdown(wait=True)


def _ray(
    todo: list[tuple[str, str]],
    out_dir: Path,
    options: BatchOptions,
    opts: dict[str, Any],
    workers: int,
    threads: int,
    address: str | None,
    record: Callable[[dict[str, Any]], None],
) -> None:
    try:
        import ray
    except ImportError as err:
        raise RuntimeError(
            "the ray engine needs the optional extra: pip install 'mien[ray]'"
        ) from err

    started_here = not ray.is_initialized()
    if started_here:
        ray.init(
            address=address,
            num_cpus=None if address else max(workers, 1),
            include_dashboard=False,
            log_to_driver=False,
            ignore_reinit_error=True,
        )

    @ray.remote(num_cpus=1)
    class Worker:
        def __init__(self) -> None:
            from mien.batch import work

            work.init_worker(options.analyzer_kwargs(), threads)

        def process(self, path: str, id_: str) -> dict[str, Any]:
            from mien.batch import work

            return work.process(path, id_, str(out_dir), opts)

    actors = [Worker.remote() for _ in range(max(1, workers))]
    pending: dict[Any, str] = {}
    queue = list(todo)
    try:
        for actor in actors:  # two inputs in flight per actor keeps it busy
            for _ in range(2):
                if queue:
                    id_, path = queue.pop(0)
                    pending[actor.process.remote(path, id_)] = (id_, actor)  # type: ignore[assignment]
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            ref = done[0]
            id_, actor = pending.pop(ref)  # type: ignore[misc]
            try:
                record(ray.get(ref))
            except Exception as err:
                record(_crashed(id_, err))
            if queue:
                nid, path = queue.pop(0)
                pending[actor.process.remote(path, nid)] = (nid, actor)  # type: ignore[assignment]
    finally:
        for actor in actors:
            ray.kill(actor)
        if started_here:
            ray.shutdown()
