"""Run an iterator in a background thread, a bounded number of items ahead of its consumer."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")
_DONE = object()


class _Raised:
    def __init__(self, error: BaseException) -> None:
        self.error = error


def prefetch(items: Iterable[T], size: int = 8) -> Iterator[T]:
    """Yield ``items`` in order while a thread produces up to ``size`` of them ahead.

    Decoding (PyAV, Pillow) releases the GIL, so it overlaps with detection and inference on
    the consumer's thread. An exception in the producer is re-raised in the consumer after the
    items produced before it. Closing the generator early stops the producer and closes
    ``items`` if it is a generator (so a video file is released).

    Raises:
        ValueError: ``size`` < 1, at the call (not at the first item).
    """
    if size < 1:
        raise ValueError(f"size must be >= 1; got {size}")
    return _prefetch(items, size)


def _prefetch(items: Iterable[T], size: int) -> Iterator[T]:
    buffer: queue.Queue[object] = queue.Queue(maxsize=size)
    stop = threading.Event()

    def produce() -> None:
        iterator = iter(items)
        try:
            for item in iterator:
                while not stop.is_set():
                    try:
                        buffer.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            _put(_DONE)
        except BaseException as err:
            _put(_Raised(err))
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                close()

    def _put(marker: object) -> None:
        while not stop.is_set():
            try:
                buffer.put(marker, timeout=0.1)
                return
            except queue.Full:
                continue

    thread = threading.Thread(target=produce, name="mien-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item = buffer.get()
            if item is _DONE:
                return
            if isinstance(item, _Raised):
                raise item.error
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        thread.join(timeout=5.0)
