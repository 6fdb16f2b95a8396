"""Stand-ins for the batch worker's functions, for tests of dead workers (imported by name in
the spawned worker processes, so they must live in a module)."""

from __future__ import annotations

import os
from typing import Any


def init(*args: Any) -> None:
    """A worker initializer that loads nothing."""


def process(path: str, id_: str, out_dir: str, options: dict[str, Any]) -> dict[str, Any]:
    """Kill this worker process on a path containing "poison"; else a result without a file."""
    if "poison" in path:
        os._exit(9)
    return {
        "id": id_,
        "path": path,
        "state": "done",
        "rows": 1,
        "error": None,
        "output": None,
        "frames": 1,
        "seconds": 0.0,
    }


def init_dies(*args: Any) -> None:
    """A worker initializer that dies, as one out of memory while loading the model would."""
    os._exit(9)
