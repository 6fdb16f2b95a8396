"""Muting native stderr: overlapping users across threads leave it restored."""

from __future__ import annotations

import subprocess
import sys

CODE = """
import os, sys, threading
from mien.logs import quiet_native_stderr

a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()

def a():
    with quiet_native_stderr():
        a_in.set(); b_in.wait()
    a_out.set()

def b():
    a_in.wait()
    with quiet_native_stderr():
        b_in.set(); a_out.wait()  # A leaves first, B last: the order that used to stay muted
        os.write(2, b"hidden\\n")

threads = [threading.Thread(target=f) for f in (a, b)]
for t in threads: t.start()
for t in threads: t.join()
os.write(2, b"visible\\n")
"""


def test_overlapping_threads_leave_stderr_restored():
    done = subprocess.run([sys.executable, "-c", CODE], capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stderr == b"visible\n"
