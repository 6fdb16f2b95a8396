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
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from mien.batch.manifest import Manifest
from mien.batch.work import init_worker, process_in_worker, write_failure
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
        min_upright: faces whose upright check is below this abstain (``0``: the check off;
            :attr:`mien.quality.QualityThresholds.min_upright`).
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
    min_upright: float = 0.5

    def check(self) -> None:
        """Raise ``ValueError`` naming the first option a worker could not load a model with
        (checked before a batch folder is made, so that a typo leaves nothing behind)."""
        from mien.detection.mediapipe import DETECTOR_MODELS

        if self.detector not in DETECTOR_MODELS:
            raise ValueError(
                f"--detector must be one of {', '.join(DETECTOR_MODELS)}; got {self.detector!r}"
            )
        if not 0.0 <= self.min_confidence <= 1.0:
            raise ValueError(f"--min-confidence must be in [0, 1]; got {self.min_confidence}")
        if not 0.0 <= self.min_upright <= 1.0:
            raise ValueError(f"--min-upright must be in [0, 1]; got {self.min_upright}")

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
            "thresholds": {"min_upright": self.min_upright},
        }

    def config(self) -> dict[str, Any]:
        """What the manifest keeps to refuse resuming with other options: the options, the
        model's name and sha256 (an export is known by these, not by its path), the row
        schema and the upright check's sha256.

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
        from mien.quality.orientation import bundled_weights

        # the upright check decides quality_ok (and with it abstained): another check, other rows
        upright = bundled_weights()[1]["sha256"]
        return {
            **config,
            "weights_sha256": sha256,
            "schema": SCHEMA_VERSION,
            "upright_sha256": upright,
        }


_LATER_FIELDS = {
    "min_confidence": 0.5,
    "max_pixels": DEFAULT_MAX_PIXELS,
    "pose": True,
    "pose_interval_s": 0.2,
    "min_upright": 0.5,
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
    on_start: Callable[[int], None] | None = None,
    quiet: bool = False,
) -> dict[str, int]:
    """Process the inputs that are not done yet; returns the state counts of ``inputs``.

    Finished inputs whose Parquet file was deleted or damaged are redone; finished inputs whose
    file is missing now keep their rows. ``on_warning`` is told about both; ``on_start`` gets
    the number of inputs to do this run (fewer than ``inputs`` on resume) before any starts,
    and ``on_result`` each one's result as it finishes. ``quiet``: a Ray started here logs
    only its errors (not its start-up lines).

    A worker that dies (out of memory, a signal, a crash in native code) takes only its own
    input down: the inputs it may have been running are retried one at a time in a fresh
    worker, and the one that kills that worker too is recorded as failed ("worker crashed");
    the others go on. When a fresh worker dies before it gets its input (loading the model),
    workers cannot run here at all: :class:`WorkersFailing` is raised, and the inputs not
    finished stay to do on the next run.

    Raises:
        ValueError: unknown engine, or options a worker could not load a model with
            (:meth:`BatchOptions.check`).
        RuntimeError: the ray engine without Ray installed, or a ``ray_address`` where
            nothing answers.
        ManifestError: ``out_dir`` was made with other options.
        WorkersFailing: workers keep dying.
    """
    if engine not in ("local", "ray"):
        raise ValueError(f"engine must be one of ['local', 'ray']; got {engine!r}")
    options.check()
    if engine == "ray":
        check_ray(ray_address)
    names, model = _expression_names(options)
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
        with manifest.transaction():
            for id_, _ in todo:
                manifest.mark(id_, "running")
        if on_start is not None:
            on_start(len(todo))
        opts = {
            "every": options.every,
            "fps": options.fps,
            "start_s": options.start_s,
            "end_s": options.end_s,
            "tau": options.tau,
        }

        def record(res: dict[str, Any]) -> None:
            if res["state"] == "failed" and res["output"] is None:  # its worker died on it
                res["output"] = write_failure(
                    res["path"], res["id"], str(out_dir), res["error"], names, model
                )
                res["rows"] = 1
            manifest.mark(
                res["id"], res["state"], rows=res["rows"], error=res["error"], output=res["output"]
            )
            if on_result is not None:
                on_result(res)

        started: set[str] = set()  # handed to a worker
        try:
            if todo:
                threads = max(1, (os.cpu_count() or 1) // max(1, workers))
                if engine == "local":
                    _local(todo, out_dir, options, opts, workers, threads, record, on_warning,
                           started=started)  # fmt: skip
                else:
                    _ray(todo, out_dir, options, opts, workers, threads, ray_address, record,
                         on_warning, quiet=quiet, started=started)  # fmt: skip
        except KeyboardInterrupt:  # those never handed to a worker are pending, not running
            with manifest.transaction():
                manifest.unstart(id_ for id_, _ in todo if id_ not in started)
            raise
        with contextlib.suppress(OSError):  # every worker has ended: what is left is a dead one's
            for leftover in scratch.iterdir():
                leftover.unlink(missing_ok=True)
            scratch.rmdir()
        return manifest.counts(inputs)


def _name_unfinished(paths: list[str], warn: Callable[[str], None] | None) -> None:
    """Tell ``warn`` which inputs an interrupt caught before they finished: each is redone from
    its start on resume (a video is analysed whole or not at all), so a time limit shorter
    than one video never gets it done. (27 interrupts in a row each said "0 done".)"""
    if warn is not None and paths:
        from mien.io import IMAGE_SUFFIXES

        more = f" and {len(paths) - 5} more" if len(paths) > 5 else ""
        videos = any(Path(p).suffix.lower() not in IMAGE_SUFFIXES for p in paths)
        why = " (a video is analysed whole or not at all)" if videos else ""
        warn(f"not finished, redone from its start next run: {', '.join(paths[:5])}{more}{why}")


def _expression_names(options: BatchOptions) -> tuple[tuple[str, ...], str]:
    """The model's labels and name, as a worker's rows carry them, read from its spec
    without loading it (for the error row of an input whose worker died)."""
    from mien.registry import get_spec
    from mien.weights import WeightSpec

    if options.weights:
        spec = WeightSpec.from_json(Path(options.weights).with_suffix(".json"))
    else:
        spec = get_spec(options.model)
    return tuple(spec.names), spec.name


class WorkersFailing(RuntimeError):
    """A fresh worker dies before it is given an input (while loading the model, e.g. for
    lack of memory): workers cannot run here. Unfinished inputs stay to do."""


def _first_line(err: BaseException) -> str:
    """``Type: first line of the message`` (Ray's messages run to pages)."""
    return f"{type(err).__name__}: {(str(err).strip().splitlines() or [''])[0][:300]}"


def _crashed(id_: str, path: str, err: BaseException) -> dict[str, Any]:
    """The result recorded for an input whose worker died while running it alone."""
    return _failed(
        id_,
        path,
        "worker crashed on this input, also when retried alone (out of memory, a signal, or a "
        f"crash in native code): {_first_line(err)}",
    )


def _failed(id_: str, path: str, error: str) -> dict[str, Any]:
    """The result recorded for an input that produced no file."""
    return {
        "id": id_,
        "path": path,
        "state": "failed",
        "rows": 0,
        "output": None,
        "error": error,
        "frames": 0,
        "seconds": 0.0,
    }


def _retry_alone(
    suspects: list[tuple[str, str]],
    start: Callable[[], Any],
    run: Callable[[Any, str, str], dict[str, Any]],
    stop: Callable[[Any], None],
    record: Callable[[dict[str, Any]], None],
    warn: Callable[[str], None] | None = None,
) -> None:
    """Retry the inputs a dead worker may have been running, one at a time, each in a fresh
    worker, so that one bad input does not fail the others; ``warn`` is told first (a run
    that lost a worker said nothing, and took twice as long).

    ``start()`` makes a worker and returns once it has loaded the model (a worker that dies
    there means workers cannot run here: :class:`WorkersFailing`); ``run(worker, path, id_)``
    gives it the input; ``stop(worker)`` ends it.
    """
    if warn is not None and suspects:
        names = ", ".join(Path(p).name for _, p in suspects[:3])
        more = f" and {len(suspects) - 3} more" if len(suspects) > 3 else ""
        warn(
            f"a worker died (out of memory, a signal, a crash in native code); the "
            f"{len(suspects)} input(s) it may have been running ({names}{more}) are retried "
            "one at a time in a fresh worker"
        )
    for id_, path in suspects:
        try:
            worker = start()
        except KeyboardInterrupt:
            raise
        except Exception as err:
            raise WorkersFailing(
                f"a fresh worker died while loading the model ({_first_line(err)}); the "
                "unfinished inputs stay to do: free memory or use fewer --workers, then run "
                "the same command again"
            ) from err
        try:
            record(run(worker, path, id_))
        except KeyboardInterrupt:
            raise
        except Exception as err:
            record(_crashed(id_, path, err))
        finally:
            stop(worker)


def _local(
    todo: list[tuple[str, str]],
    out_dir: Path,
    options: BatchOptions,
    opts: dict[str, Any],
    workers: int,
    threads: int,
    record: Callable[[dict[str, Any]], None],
    warn: Callable[[str], None] | None = None,
    *,
    started: set[str] | None = None,
) -> None:
    import multiprocessing as mp
    from collections import deque
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    ctx = mp.get_context("spawn")  # MediaPipe graphs must not be forked

    def new_pool(n: int) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            n,
            mp_context=ctx,
            initializer=init_worker,
            initargs=(options.analyzer_kwargs(), threads, os.getpid()),
        )

    def stop(pool: ProcessPoolExecutor) -> None:
        procs = list((getattr(pool, "_processes", None) or {}).values())
        pool.shutdown(wait=False, cancel_futures=True)
        for proc in procs:
            proc.terminate()

    def start_alone() -> ProcessPoolExecutor:
        pool = new_pool(1)
        try:
            pool.submit(os.getpid).result()  # returns once the initializer has run
        except BaseException:
            stop(pool)
            raise
        return pool

    def run_alone(pool: ProcessPoolExecutor, path: str, id_: str) -> dict[str, Any]:
        return pool.submit(process_in_worker, path, id_, str(out_dir), opts).result()

    queue = deque(todo)
    while queue:
        pool = new_pool(workers)
        # At most one input more than workers is submitted (one queued keeps each worker
        # busy), so that when a worker dies the inputs it may have been running are known.
        in_flight: dict[Any, tuple[str, str]] = {}
        suspects: list[tuple[str, str]] = []
        broken = False
        try:
            while (queue or in_flight) and not broken:
                while queue and len(in_flight) < workers + 1:
                    id_, path = queue.popleft()
                    try:
                        future = pool.submit(process_in_worker, path, id_, str(out_dir), opts)
                    except BrokenProcessPool:  # a worker died since the last result
                        queue.appendleft((id_, path))
                        broken = True
                        break
                    in_flight[future] = (id_, path)
                    if started is not None:
                        started.add(id_)
                if broken:
                    break
                done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                for future in done:
                    item = in_flight.pop(future)
                    try:
                        res = future.result()
                    except BrokenProcessPool:
                        broken = True
                        suspects.append(item)
                    except Exception as err:  # the call itself failed (not a dead worker)
                        record(_failed(*item, _first_line(err)))
                    else:
                        record(res)
        except KeyboardInterrupt:
            # Stop now: record what already finished, drop the queue, end the workers. Inputs
            # in flight stay "running" and are redone on resume (their temp files are cleared).
            for future in in_flight:
                if future.done() and not future.cancelled():
                    with contextlib.suppress(Exception):
                        record(future.result())
            _name_unfinished([p for f, (_, p) in in_flight.items() if not f.done()], warn)
            stop(pool)
            raise
        if not broken:
            pool.shutdown(wait=True)
            return
        for future, item in in_flight.items():  # the pool is broken: every one is a suspect
            try:
                record(future.result(timeout=0))
            except Exception:
                suspects.append(item)
        stop(pool)
        _retry_alone(suspects, start_alone, run_alone, stop, record, warn)


def check_ray(address: str | None) -> None:
    """Fail at once, before a batch folder is touched, where Ray is missing or ``address``
    (``host:port`` or ``ray://host:port``) does not answer: ``ray.init`` would retry for
    minutes.

    Raises:
        RuntimeError: naming the problem.
    """
    import importlib.util
    import socket

    if importlib.util.find_spec("ray") is None:
        raise RuntimeError("the ray engine needs the optional extra: pip install 'mien[ray]'")
    if not address or address == "local":
        return
    given = address
    if address == "auto":  # as Ray finds it: RAY_ADDRESS, else the last cluster started here
        current = Path(os.environ.get("RAY_TMPDIR", "/tmp")) / "ray" / "ray_current_cluster"
        found = os.environ.get("RAY_ADDRESS") or (
            current.read_text().strip().splitlines()[0] if current.is_file() else ""
        )
        if not found or found == "auto":
            raise RuntimeError(
                "--ray-address auto: no Ray cluster found (RAY_ADDRESS is unset and none was "
                "started on this machine)"
            )
        address = found
    hostport = address.removeprefix("ray://").rsplit("/", 1)[0]
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        raise RuntimeError(f"--ray-address {address!r}: give host:port or ray://host:port")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=5).close()
    except OSError as err:
        raise RuntimeError(
            f"--ray-address {given}: nothing answers at {host}:{port} ({err.strerror or err})"
        ) from None


CLOSED_PROXY = "http://127.0.0.1:9"
"""Where the processes of a Ray started here send plain HTTP: a closed port on this machine
(9, discard), so a request meant for another machine fails at once and goes nowhere."""


@contextlib.contextmanager
def _no_cloud_probes() -> Iterator[None]:
    """While a local Ray starts, plain HTTP from its processes goes to :data:`CLOSED_PROXY`.

    Ray's dashboard process (started even with ``include_dashboard=False``, for its usage
    statistics) asks the cloud metadata services which cloud it runs on (HTTP to
    169.254.169.254 for Azure and AWS, DNS and HTTP for metadata.google.internal) before it
    reads that statistics are off (Ray 2.60, ``usage_lib.get_cluster_config_to_report``).
    Ray's processes take this environment when they start; its own traffic (gRPC, between
    them on this machine) does not use the proxy. This process's environment is restored.
    """
    names = ("http_proxy", "HTTP_PROXY", "no_proxy", "NO_PROXY")
    saved = {name: os.environ.get(name) for name in names}
    os.environ["http_proxy"] = os.environ["HTTP_PROXY"] = CLOSED_PROXY
    os.environ.pop("no_proxy", None)  # a cloud machine's no_proxy often names 169.254.169.254
    os.environ.pop("NO_PROXY", None)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _ray(
    todo: list[tuple[str, str]],
    out_dir: Path,
    options: BatchOptions,
    opts: dict[str, Any],
    workers: int,
    threads: int,
    address: str | None,
    record: Callable[[dict[str, Any]], None],
    warn: Callable[[str], None] | None = None,
    *,
    quiet: bool = False,
    started: set[str] | None = None,
) -> None:
    import logging
    import signal
    import threading
    from collections import deque

    import ray
    from ray.exceptions import RayActorError

    started_here = not ray.is_initialized()
    if started_here:
        main = threading.current_thread() is threading.main_thread()
        on_term = signal.getsignal(signal.SIGTERM) if main else None
        local = not address or address == "local"
        try:
            with _no_cloud_probes() if local else contextlib.nullcontext():
                ray.init(
                    # "local": a Ray of its own, not one another program left running here
                    address=address or "local",
                    num_cpus=max(workers, 1) if local else None,
                    include_dashboard=False,
                    log_to_driver=False,
                    ignore_reinit_error=True,
                    logging_level=logging.ERROR if quiet else logging.INFO,
                )
        except (ConnectionError, RuntimeError, ValueError) as err:
            raise RuntimeError(f"Ray did not start at {address or 'local'}: {err}") from None
        finally:
            if main and on_term is not None:  # Ray takes SIGTERM; the caller's handler stays
                signal.signal(signal.SIGTERM, on_term)
    # An actor waits for a free CPU: more actors than the cluster has CPUs would wait for ever.
    cpus = int(ray.cluster_resources().get("CPU", workers))
    if workers > max(cpus, 1) and warn is not None:
        warn(f"the Ray cluster has {cpus} CPU(s): {max(cpus, 1)} worker(s), not {workers}")
    workers = max(1, min(workers, cpus))

    @ray.remote(num_cpus=1)
    class Worker:
        def __init__(self) -> None:
            from mien.batch import work

            work.init_worker(options.analyzer_kwargs(), threads)

        def process(self, path: str, id_: str) -> dict[str, Any]:
            from mien.batch import work

            return work.process(path, id_, str(out_dir), opts)

        def ready(self) -> bool:
            return True

    def start_alone() -> Any:
        actor = Worker.remote()
        try:
            ray.get(actor.ready.remote())  # returns once the model has loaded
        except BaseException:
            ray.kill(actor)
            raise
        return actor

    def run_alone(actor: Any, path: str, id_: str) -> dict[str, Any]:
        return ray.get(actor.process.remote(path, id_))

    actors = [Worker.remote() for _ in range(max(1, workers))]
    pending: dict[Any, tuple[str, str, int]] = {}
    queue = deque(todo)

    def submit(slot: int) -> None:
        if queue:
            id_, path = queue.popleft()
            pending[actors[slot].process.remote(path, id_)] = (id_, path, slot)
            if started is not None:
                started.add(id_)

    try:
        for slot in range(len(actors)):  # two inputs in flight per actor keeps it busy
            submit(slot)
            submit(slot)
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            id_, path, slot = pending.pop(done[0])
            try:
                res = ray.get(done[0])
            except RayActorError:
                # The actor died: this input and the others sent to it are suspects.
                suspects = [(id_, path)]
                for ref, (i2, p2, s2) in list(pending.items()):
                    if s2 == slot:
                        del pending[ref]
                        try:  # finished before the actor died: keep it
                            record(ray.get(ref, timeout=0))
                        except Exception:
                            suspects.append((i2, p2))
                # Its CPU is free again: each suspect runs alone on a fresh actor there (a
                # replacement made first would hold that CPU, and the retry would wait for
                # ever on a cluster of `workers` CPUs); then the slot gets a new actor.
                ray.kill(actors[slot])
                _retry_alone(suspects, start_alone, run_alone, ray.kill, record, warn)
                actors[slot] = Worker.remote()
                submit(slot)
            except Exception as err:
                record(_failed(id_, path, _first_line(err)))
            else:
                record(res)
            submit(slot)
    except KeyboardInterrupt:
        # as the local engine does: what already finished is recorded, not redone on resume
        unfinished = []
        for ref, (_, path, _) in pending.items():
            try:
                record(ray.get(ref, timeout=0))
            except Exception:  # not finished (GetTimeoutError), or its actor is gone
                unfinished.append(path)
        _name_unfinished(unfinished, warn)
        raise
    finally:
        for actor in actors:
            ray.kill(actor)
        if started_here:
            ray.shutdown()
