"""What a worker does for one input: analyse it and write its rows to a Parquet file atomically.

Each worker process (or Ray actor) loads one :class:`~mien.pipeline.Analyzer` and keeps it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

_ANALYZER: Any = None


def init_worker(model: str, detector: str, threads: int) -> None:
    """Process-pool initializer: load the analyzer once per worker process."""
    global _ANALYZER
    os.environ.setdefault("GLOG_minloglevel", "2")
    from mien.logs import quiet_native_stderr
    from mien.pipeline import Analyzer

    with quiet_native_stderr():
        _ANALYZER = Analyzer(model, detector=detector, threads=threads)  # type: ignore[arg-type]
        _ANALYZER.warm_up()


def output_name(path: str, id_: str) -> str:
    stem = "".join(c if c.isalnum() or c in "-_" else "_" for c in Path(path).stem)[:60]
    return f"{stem}-{id_}.parquet"


def process(
    path: str, id_: str, out_dir: str, options: dict[str, Any], analyzer: Any = None
) -> dict[str, Any]:
    """Analyse one image or video and write ``out_dir/parts/<name>.parquet``.

    Returns ``{"id", "state": "done"|"failed", "rows", "error", "output", "frames", "seconds"}``.
    A video that breaks off keeps the rows before the break and is marked ``failed`` with the
    reason (its partial rows are not published).
    """
    import time

    from mien.batch.video_or_image import analyze_input
    from mien.export import ParquetSink, column_types

    analyzer = analyzer or _ANALYZER
    parts = Path(out_dir) / "parts"
    parts.mkdir(parents=True, exist_ok=True)
    final = parts / output_name(path, id_)
    tmp = final.with_suffix(f".tmp{os.getpid()}")
    t0 = time.perf_counter()
    rows = frames = 0
    error = None
    try:
        with ParquetSink(tmp, column_types(analyzer.expression_names)) as sink:
            for result_rows in analyze_input(analyzer, Path(path), options):
                frames += 1
                for row in result_rows:
                    sink.append(row)
                    rows += 1
    except Exception as err:
        error = getattr(err, "problem", None) or f"{type(err).__name__}: {err}"
    if error is not None:
        tmp.unlink(missing_ok=True)
        return {
            "id": id_,
            "state": "failed",
            "rows": rows,
            "error": error,
            "output": None,
            "frames": frames,
            "seconds": time.perf_counter() - t0,
        }
    os.replace(tmp, final)  # atomic: the file appears whole or not at all
    return {
        "id": id_,
        "state": "done",
        "rows": rows,
        "error": None,
        "output": final.name,
        "frames": frames,
        "seconds": time.perf_counter() - t0,
    }


def process_in_worker(path: str, id_: str, out_dir: str, options: dict[str, Any]) -> dict[str, Any]:
    return process(path, id_, out_dir, options)
