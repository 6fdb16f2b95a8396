"""`import mien`: light, and its subpackages reachable as attributes (as the README uses them)."""

from __future__ import annotations

import subprocess
import sys


def test_subpackages_load_on_first_use_and_import_mien_stays_light():
    code = (
        "import sys, mien\n"
        "heavy = [m for m in ('matplotlib', 'pandas', 'fastapi', 'torch') if m in sys.modules]\n"
        "print(heavy)\n"
        "print(mien.annotate.ExpressionAnnotator.__name__, mien.export.open_sink.__name__,\n"
        "      mien.summary.track_summary.__name__, mien.plots.plot_tracks.__name__)\n"
        "try:\n"
        "    mien.no_such_thing\n"
        "except AttributeError as e:\n"
        "    print(e)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert out == [
        "[]",
        "ExpressionAnnotator open_sink track_summary plot_tracks",
        "module 'mien' has no attribute 'no_such_thing'",
    ]
