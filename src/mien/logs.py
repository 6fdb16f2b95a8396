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
import threading
from collections.abc import Iterator

_lock = threading.Lock()
_depth = 0  # nested or overlapping users (threads) of the redirection
_saved: int | None = None


@contextlib.contextmanager
def quiet_native_stderr() -> Iterator[None]:
    """Point file descriptor 2 at /dev/null for the duration (no-op without a real stderr).

    Safe across threads: the first user redirects, the last one restores, so overlapping uses
    never leave stderr muted.
    """
    global _depth, _saved
    try:
        fd = sys.stderr.fileno()
    except (OSError, ValueError):  # no real stderr (e.g. under a test runner): nothing to hide
        yield
        return
    with _lock:
        if _depth == 0:
            sys.stderr.flush()
            _saved = os.dup(fd)
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, fd)
            os.close(devnull)
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _saved is not None:
                os.dup2(_saved, fd)
                os.close(_saved)
                _saved = None


PROTOBUF_DEPRECATION = r"SymbolDatabase\.GetPrototype\(\) is deprecated"
"""The start of protobuf's deprecation warning that MediaPipe 0.10 triggers on every graph call
(nothing a user of mien can act on)."""


def ignore_protobuf_deprecation() -> None:
    """Filter out that one warning, process-wide, by its message (called where MediaPipe is
    imported). A ``warnings.catch_warnings`` block per call instead is not thread-safe: blocks
    entered and left by two threads (an image decoded in a reader thread while a frame is
    analysed) restore each other's saved filters and can leave every ``UserWarning`` ignored
    for good."""
    import warnings

    warnings.filterwarnings("ignore", message=PROTOBUF_DEPRECATION, category=UserWarning)
