"""Stand-ins for the batch worker's functions, for tests of dead workers (imported by name in
the spawned worker processes, so they must live in a module)."""

from __future__ import annotations

import os
from typing import Any


def init(*args: Any) -> None:
    """A worker initializer that loads nothing."""


def process(task: list[tuple[str, str]], out_dir: str, options: dict[str, Any]) -> list[dict]:
    """Kill this worker process on a path containing "poison"; else results without a file."""
    if any("poison" in path for _, path in task):
        os._exit(9)
    return [
        {
            "id": id_,
            "path": path,
            "state": "done",
            "rows": 1,
            "error": None,
            "output": None,
            "frames": 1,
            "seconds": 0.0,
        }
        for id_, path in task
    ]


def init_dies(*args: Any) -> None:
    """A worker initializer that dies, as one out of memory while loading the model would."""
    os._exit(9)
