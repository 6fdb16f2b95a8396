"""prefetch: order, errors after the items before them, early close, eager checks."""

from __future__ import annotations

import pytest

from mien.io import prefetch


def test_items_come_in_order_and_an_error_after_the_items_before_it():
    def items():
        yield from range(5)
        raise OSError("broke off")

    got = []
    with pytest.raises(OSError, match="broke off"):
        for item in prefetch(items(), size=2):
            got.append(item)
    assert got == [0, 1, 2, 3, 4]


def test_closing_early_closes_the_source_and_a_bad_size_fails_at_the_call():
    closed = []

    def items():
        try:
            yield from range(100)
        finally:
            closed.append(True)

    it = prefetch(items(), size=3)
    assert next(it) == 0
    it.close()
    assert closed == [True]
    with pytest.raises(ValueError, match="size must be >= 1; got 0"):
        prefetch(range(3), size=0)  # was raised only at the first next()
