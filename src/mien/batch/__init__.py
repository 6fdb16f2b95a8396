"""Resumable batch runs over large archives: a manifest, one Parquet file per input, and two
engines (a local process pool, or Ray)."""

from mien.batch.manifest import Manifest
from mien.batch.run import BatchOptions, WorkersFailing, run_batch

__all__ = ["BatchOptions", "Manifest", "WorkersFailing", "run_batch"]
