"""Keeping MediaPipe/TFLite's C++ start-up log lines off the terminal.

They are written straight to file descriptor 2 by native code, so Python's logging and
warnings cannot filter them. Used around the creation of each MediaPipe graph (so the Python
API is quiet in a notebook too), at the CLI boundary and in batch worker processes (never on
import, never globally). Other threads' writes to stderr are lost for those moments.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator


@contextlib.contextmanager
def quiet_native_stderr() -> Iterator[None]:
    """Point file descriptor 2 at /dev/null for the duration (no-op without a real stderr)."""
    try:
        fd = sys.stderr.fileno()
    except (OSError, ValueError):  # no real stderr (e.g. under a test runner): nothing to hide
        yield
        return
    sys.stderr.flush()
    saved = os.dup(fd)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fd)
        yield
    finally:
        os.dup2(saved, fd)
        os.close(devnull)
        os.close(saved)
