"""What a worker does for one input: analyse it and write its rows to a Parquet file atomically.

Each worker process (or Ray actor) loads one :class:`~mien.pipeline.Analyzer` and keeps it.
"""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path
from typing import Any

_ANALYZER: Any = None


def init_worker(analyzer_kwargs: dict[str, Any], threads: int, parent: int | None = None) -> None:
    """Process-pool initializer: load the analyzer once per worker process.

    Args:
        analyzer_kwargs: :class:`~mien.pipeline.Analyzer`'s arguments
            (:meth:`~mien.batch.BatchOptions.analyzer_kwargs`).
        threads: onnxruntime threads per worker.
        parent: the pid of the process that started the pool (default: this one's parent);
            the worker ends when it is gone.

    Workers ignore SIGINT: Ctrl-C reaches the whole process group, and the parent alone decides
    what is recorded before it ends them (an interrupted input must stay unfinished, not fail).
    """
    global _ANALYZER
    with contextlib.suppress(ValueError):  # not the main thread (a Ray actor): nothing to do
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.environ.setdefault("GLOG_minloglevel", "2")
    import warnings

    from PIL import Image

    # as in the CLI's own process: mien's pixel cap decides, Pillow's warning would repeat it
    warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)
    from mien.logs import quiet_native_stderr
    from mien.pipeline import Analyzer

    _exit_with_parent(os.getppid() if parent is None else parent)
    kwargs = dict(analyzer_kwargs)
    with quiet_native_stderr():
        _ANALYZER = Analyzer(kwargs.pop("model"), threads=threads, **kwargs)
        _ANALYZER.warm_up()


def _exit_with_parent(parent: int, poll_s: float = 1.0) -> None:
    """End this worker within ``poll_s`` once ``parent`` (the process that started it) is gone,
    killed with SIGKILL or SIGTERM, which do not reach the workers: an orphan would keep its
    memory and could still publish an input's file after the run was stopped."""
    import threading
    import time

    if os.getppid() != parent:  # it died while this worker was starting
        os._exit(1)

    def watch() -> None:
        while True:
            time.sleep(poll_s)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


MAX_STEM_BYTES = 200
"""The most bytes (UTF-8) of a part name's stem: with ``-<id>.<pid>.parquet`` the scratch
name stays under the 255 bytes a file name may have (60 letters of 4 bytes, 𝐁𝐨𝐥𝐝 title text,
had made every run stop at that input with "File name too long")."""


def output_name(path: str, id_: str, *, legacy: bool = False) -> str:
    """The part file of one input: ``<stem>-<id>.parquet``, the stem's characters other than
    letters, digits, ``-`` and ``_`` made ``_``, at most 60 of them (and
    :data:`MAX_STEM_BYTES`), and none leading: pyarrow's
    dataset readers (``pandas.read_parquet("results/parts")``) skip a file whose name starts
    with ``_`` or ``.``, so a camera's ``_DSC0001.JPG`` vanished from that table. ``legacy``:
    the name before 0.2.19, which kept a leading ``_`` (for folders written then)."""
    stem = "".join(c if c.isalnum() or c in "-_" else "_" for c in Path(path).stem)[:60]
    while len(stem.encode("utf-8", "surrogateescape")) > MAX_STEM_BYTES:  # 4-byte letters
        stem = stem[:-1]
    if not legacy:
        stem = stem.lstrip("_") or "input"
    return f"{stem}-{id_}.parquet"


def process(
    path: str, id_: str, out_dir: str, options: dict[str, Any], analyzer: Any = None
) -> dict[str, Any]:
    """Analyse one image or video and write ``out_dir/parts/<name>.parquet``.

    The rows are the same as ``mien analyze`` writes: one per face per image or frame, a
    ``no_face`` row for an empty frame, and an ``error`` row when the input fails — after the
    rows of the frames before the break, for a video that breaks off. The file is written under
    ``out_dir/.tmp`` and renamed into ``parts`` only when complete.

    Returns ``{"id", "path", "state": "done"|"failed", "rows", "error", "output", "frames",
    "seconds"}``.
    """
    import time

    from mien.batch.video_or_image import analyze_input
    from mien.export import ParquetSink, column_types, error_row

    analyzer = analyzer or _ANALYZER
    final, tmp = _part_paths(path, id_, out_dir)
    t0 = time.perf_counter()
    rows = frames = 0
    error = None
    names = analyzer.expression_names
    with ParquetSink(tmp, column_types(names)) as sink:
        last_t = None
        try:
            for result_rows in analyze_input(analyzer, Path(path), options):
                frames += 1
                for row in result_rows:
                    sink.append(row)
                    rows += 1
                    last_t = row["timestamp_s"]
        except Exception as err:
            error = getattr(err, "problem", None) or f"{type(err).__name__}: {err}"
            where = getattr(err, "last_timestamp_s", last_t)
            sink.append(error_row(path, error, names, timestamp_s=where, model=analyzer.model_name))
            rows += 1
    os.replace(tmp, final)  # atomic: the file appears whole or not at all
    return {
        "id": id_,
        "path": path,
        "state": "failed" if error else "done",
        "rows": rows,
        "error": error,
        "output": final.name,
        "frames": frames,
        "seconds": time.perf_counter() - t0,
    }


def _part_paths(path: str, id_: str, out_dir: str) -> tuple[Path, Path]:
    """An input's Parquet file in ``out_dir/parts`` and the temporary file it is written to
    first (in ``out_dir/.tmp``; renamed into place only when complete)."""
    parts = Path(out_dir) / "parts"
    scratch = Path(out_dir) / ".tmp"
    parts.mkdir(parents=True, exist_ok=True)
    scratch.mkdir(parents=True, exist_ok=True)
    final = parts / output_name(path, id_)
    return final, scratch / f"{final.stem}.{os.getpid()}.parquet"


def write_failure(
    path: str, id_: str, out_dir: str, error: str, names: tuple[str, ...], model: str
) -> str:
    """Write the file of an input that produced none (its worker died on it): its one
    ``error`` row, as :func:`process` ends a failed input's file. Returns the file's name."""
    from mien.export import ParquetSink, column_types, error_row

    final, tmp = _part_paths(path, id_, out_dir)
    with ParquetSink(tmp, column_types(names)) as sink:
        sink.append(error_row(path, error, names, model=model))
    os.replace(tmp, final)
    return final.name


def process_in_worker(path: str, id_: str, out_dir: str, options: dict[str, Any]) -> dict[str, Any]:
    return process(path, id_, out_dir, options)
