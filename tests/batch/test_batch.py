"""Resumable batches: kill -9 then resume equals an uninterrupted run, failures, config guard,
and the Ray engine on a local instance."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mien.batch import BatchOptions, run_batch
from mien.batch.manifest import ManifestError
from mien.weights import DEFAULT_MODEL
from tests.helpers import SAMPLES, compose, face_patch, write_clip


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """Six short clips, two photos and one broken file."""
    root = tmp_path_factory.mktemp("inputs")
    face = face_patch("grace_hopper.jpg", 120)
    for k in range(6):
        frames = [
            (compose((320, 240), [(face, 20 + 5 * i + 10 * k, 50)] if i % 7 else []), i / 10)
            for i in range(12)
        ]
        write_clip(root / f"clip{k}.mp4", frames)
    for name in ("grace_hopper.jpg", "astronaut.jpg"):
        (root / name).write_bytes((SAMPLES / name).read_bytes())
    (root / "broken.jpg").write_bytes(b"not a picture")
    return sorted(root.iterdir())


def table(out) -> pd.DataFrame:
    parts = sorted((out / "parts").glob("*.parquet"))
    df = pd.concat([pd.read_parquet(p) for p in parts], ignore_index=True)
    return df.sort_values(["source", "frame_index", "face"], na_position="first").reset_index(
        drop=True
    )


def states(out) -> dict[str, str]:
    """Input name -> state; empty while the manifest is still being created."""
    if not (out / "manifest.sqlite").exists():
        return {}
    with sqlite3.connect(out / "manifest.sqlite") as db:
        try:
            rows = db.execute("SELECT path, state FROM inputs").fetchall()
        except sqlite3.OperationalError:  # the writer has made the file, not yet the tables
            return {}
        return {os.path.basename(p): s for p, s in rows}


@pytest.fixture(scope="module")
def reference(inputs, tmp_path_factory):
    out = tmp_path_factory.mktemp("reference")
    counts = run_batch(inputs, out, BatchOptions(), workers=1)
    assert counts == {"done": 8, "failed": 1}
    return out


def test_outputs_and_failures(reference, inputs):
    df = table(reference)
    assert states(reference)["broken.jpg"] == "failed"
    assert sorted(set(df["source"])) == sorted(str(p) for p in inputs)
    broken = df[df["source"].str.endswith("broken.jpg")]
    assert broken["status"].tolist() == ["error"] and "not a recognised" in broken["error"].iloc[0]
    assert set(df["model"]) == {DEFAULT_MODEL}
    clip = df[df["source"].str.endswith("clip0.mp4")]
    assert clip["frame_index"].tolist() == list(range(12))  # one row per frame (no_face included)
    assert not (reference / ".tmp").exists()  # the scratch folder goes once the parts are in place


def test_a_video_that_breaks_keeps_its_rows_and_a_changed_file_is_redone(tmp_path, inputs):
    clip = next(p for p in inputs if p.name == "clip0.mp4")
    frames = [(compose((320, 240), []), i / 10) for i in range(80)]
    full = write_clip(tmp_path / "long.mkv", frames)  # Matroska: playable up to a cut
    data = full.read_bytes()
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(data[: len(data) // 2])
    out = tmp_path / "out"
    assert run_batch([cut, clip], out, BatchOptions()) == {"done": 1, "failed": 1}
    rows = table(out)
    broken = rows[rows["source"] == str(cut)]
    assert broken["status"].value_counts().to_dict() == {"no_face": 16, "error": 1}
    assert "truncated or corrupt" in broken["error"].dropna().iloc[0]
    seen = []
    run_batch([cut, clip], out, BatchOptions(), on_result=seen.append)
    assert seen == []  # nothing changed: nothing redone
    time.sleep(0.01)
    cut.write_bytes(data)  # the file is replaced by a complete one
    run_batch([cut, clip], out, BatchOptions(), on_result=seen.append)
    assert [s["state"] for s in seen] == ["done"]
    again = table(out)
    assert (again[again["source"] == str(cut)]["status"] == "no_face").sum() == 80


def test_kill_minus_9_then_resume_matches(inputs, reference, tmp_path):
    out = tmp_path / "killed"
    code = (
        "import sys; from pathlib import Path; from mien.batch import BatchOptions, run_batch; "
        "run_batch([Path(p) for p in sys.argv[2:]], Path(sys.argv[1]), BatchOptions(), workers=1)"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(out), *map(str, inputs)], start_new_session=True
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if (out / "manifest.sqlite").exists() and list(states(out).values()).count("done") >= 2:
            break
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # the parent and its worker processes, mid-run
    proc.wait()
    before = states(out)
    assert 2 <= list(before.values()).count("done") < 9
    counts = run_batch(inputs, out, BatchOptions(), workers=1)
    assert counts == {"done": 8, "failed": 1}
    pd.testing.assert_frame_equal(table(out), table(reference))


def test_ctrl_c_stops_promptly_records_finished_inputs_and_resumes(inputs, reference, tmp_path):
    out = tmp_path / "interrupted"
    code = "import sys; from mien.cli.main import app; app(sys.argv[1:])"
    proc = subprocess.Popen(
        [sys.executable, "-c", code, "batch", *map(str, inputs), "--out", str(out), "-q"],
        start_new_session=True,
        stderr=subprocess.PIPE,
        text=True,
        # as from a terminal: a shell's background job (`pytest &`) passes SIGINT on ignored
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and list(states(out).values()).count("done") < 2:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C reaches the parent and its workers
    t0 = time.monotonic()
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert time.monotonic() - t0 < 10
    assert "interrupted" in stderr and "run the same command again to resume" in stderr
    after = states(out)
    # the counts said are the manifest's (the progress count could be one short)
    said = re.search(r"interrupted: (\d+) of 9 inputs done, (\d+) failed, (\d+) to do", stderr)
    assert said, stderr
    states_now = list(after.values())
    assert int(said.group(1)) == states_now.count("done")
    assert int(said.group(2)) == states_now.count("failed")
    # the inputs caught half-way are named (at most workers + 1: the pool's, not the queue)
    # (none when the interrupt fell between one input's end and the next one's start)
    named = re.search(r"not finished, redone from its start next run: (.*) \(a video", stderr)
    caught = named.group(1).split(", ") if named else []
    assert len(caught) <= 3 and all(after[os.path.basename(p)] == "running" for p in caught)
    # only those: the inputs never handed to a worker are pending again (all had said running)
    assert list(after.values()).count("running") == len(caught)
    assert list(after.values()).count("pending") == 9 - len(caught) - int(said.group(1)) - int(
        said.group(2)
    )
    assert list(after.values()).count("done") >= 2
    assert "failed" not in {s for name, s in after.items() if name != "broken.jpg"}
    counts = run_batch(inputs, out, BatchOptions(), workers=1)
    assert counts == {"done": 8, "failed": 1}
    pd.testing.assert_frame_equal(table(out), table(reference))


def test_non_utf8_input_name_is_processed_and_kept_apart(tmp_path):
    folder = tmp_path / "odd"
    folder.mkdir()
    (folder / os.fsdecode(b"bad\xffname.jpg")).write_bytes((SAMPLES / "astronaut.jpg").read_bytes())
    (folder / "z.jpg").write_bytes((SAMPLES / "grace_hopper.jpg").read_bytes())
    inputs = sorted(folder.iterdir())
    assert run_batch(inputs, tmp_path / "out", BatchOptions()) == {"done": 2}
    rows = table(tmp_path / "out")
    assert sorted(rows["source"].str.contains("\\\\udcff")) == [False, True]
    redone = []
    assert run_batch(inputs, tmp_path / "out", BatchOptions(), on_result=redone.append) == {
        "done": 2
    }
    assert redone == []  # found again in the manifest by its raw name


def test_resume_skips_done_and_retry_failed_retries(inputs, reference):
    seen = []
    run_batch(inputs, reference, BatchOptions(), workers=1, on_result=seen.append)
    assert seen == []
    run_batch(
        inputs, reference, BatchOptions(), workers=1, retry_failed=True, on_result=seen.append
    )
    assert [s["state"] for s in seen] == ["failed"] and "not a recognised image format" in seen[0][
        "error"
    ]


def test_other_configuration_is_refused(inputs, reference):
    with pytest.raises(
        ManifestError,
        match=r"another configuration \(differs in \['every'\]: every: 1 then, 2 now\)",
    ):  # the values say which option it is (`--every`)
        run_batch(inputs, reference, BatchOptions(every=2))


def test_ray_engine_gives_the_same_rows(inputs, reference, tmp_path):
    pytest.importorskip("ray")
    out = tmp_path / "ray"
    counts = run_batch(inputs, out, BatchOptions(), workers=1, engine="ray")
    assert counts == {"done": 8, "failed": 1}
    pd.testing.assert_frame_equal(table(out), table(reference))
    np.testing.assert_array_equal(
        sorted(p.name for p in (out / "parts").iterdir()),
        sorted(p.name for p in (reference / "parts").iterdir()),
    )


def test_a_local_ray_starts_with_plain_http_sent_to_a_closed_local_port(
    inputs, tmp_path, monkeypatch
):
    """Ray's dashboard asked the cloud metadata services (169.254.169.254) which cloud it runs
    on, at start, though its usage statistics are off; a privacy review saw the requests."""
    ray = pytest.importorskip("ray")
    from mien.batch.run import CLOSED_PROXY

    seen = {}

    def init(**kwargs):
        seen.update(http=os.environ.get("http_proxy"), no=os.environ.get("no_proxy"))
        raise RuntimeError("stop here")

    monkeypatch.setattr(ray, "init", init)
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setenv("no_proxy", "169.254.169.254")  # as cloud machines often have it
    monkeypatch.delenv("http_proxy", raising=False)
    with pytest.raises(RuntimeError, match="Ray did not start at local: stop here"):
        run_batch(inputs[:1], tmp_path / "o", BatchOptions(), engine="ray")
    assert seen == {"http": CLOSED_PROXY, "no": None}
    assert os.environ["no_proxy"] == "169.254.169.254" and "http_proxy" not in os.environ


def test_quiet_asks_ray_for_its_errors_only(inputs, tmp_path, monkeypatch):
    """`mien batch -q --engine ray` still printed Ray's start-up lines (its token warning,
    "Started a local Ray instance")."""
    import logging

    ray = pytest.importorskip("ray")
    levels = []

    def init(**kwargs):
        levels.append(kwargs["logging_level"])
        raise RuntimeError("stop here")

    monkeypatch.setattr(ray, "init", init)
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    for quiet in (False, True):
        with pytest.raises(RuntimeError, match="stop here"):
            run_batch(inputs[:1], tmp_path / str(quiet), BatchOptions(), engine="ray", quiet=quiet)
    assert levels == [logging.INFO, logging.ERROR]


def test_a_second_run_on_the_same_folder_is_refused_while_the_first_holds_it(inputs, tmp_path):
    from mien.batch.manifest import Manifest

    out = tmp_path / "busy"
    config = BatchOptions().config()
    with Manifest(out, config):  # a run in progress (any process: flock is per open file)
        with pytest.raises(ManifestError, match=r"another mien batch is writing to this folder"):
            run_batch(inputs[:1], out, BatchOptions())
        with Manifest(out, config, lock=False) as reader:  # reading the manifest is fine
            assert reader.rows() == []
    assert run_batch(inputs[-2:-1], out, BatchOptions()) == {"done": 1}  # free once it ends
    with pytest.raises(ManifestError, match="another configuration"):
        Manifest(out, BatchOptions(every=2).config())
    with Manifest(out, config):  # a refused configuration does not keep the lock
        pass


def test_analyzer_options_reach_the_workers_and_join_the_configuration(inputs, reference, tmp_path):
    photos = [p for p in inputs if p.name in ("grace_hopper.jpg", "astronaut.jpg")]
    old_keys = {"model", "detector", "every", "fps", "start_s", "end_s", "tau"}
    # schema 3 (0.2.16) made every older folder unresumable anyway; it added the upright check
    assert set(BatchOptions().config()) == old_keys | {"weights_sha256", "schema", "upright_sha256"}
    out = tmp_path / "no_pose"
    assert run_batch(photos, out, BatchOptions(pose=False)) == {"done": 2}
    no_pose, ref = table(out), table(reference)
    ref = ref[ref["source"].isin(no_pose["source"])].reset_index(drop=True)
    assert no_pose["yaw"].isna().all() and ref["yaw"].notna().all()
    pd.testing.assert_series_equal(no_pose["label"], ref["label"])  # same faces, same labels
    with pytest.raises(ManifestError, match=r"differs in \['pose'\]"):
        run_batch(photos, out, BatchOptions())
    capped = tmp_path / "capped"
    assert run_batch(photos, capped, BatchOptions(max_pixels=1000)) == {"failed": 2}
    assert table(capped)["error"].str.contains("pixels").all()


def test_lost_or_damaged_parts_are_redone_and_vanished_inputs_keep_their_rows(inputs, tmp_path):
    photos = [p for p in inputs if p.suffix == ".jpg" and p.name != "broken.jpg"]
    work = tmp_path / "in"
    work.mkdir()
    mine = []
    for p in photos:
        (work / p.name).write_bytes(p.read_bytes())
        mine.append(work / p.name)
    out = tmp_path / "out"
    assert run_batch(mine, out, BatchOptions()) == {"done": 2}
    first = table(out)
    parts = sorted((out / "parts").glob("*.parquet"))
    parts[0].unlink()  # deleted
    parts[1].write_bytes(parts[1].read_bytes()[:300])  # cut short

    def again() -> tuple[dict[str, int], list, list[str]]:
        warnings, redone = [], []
        counts = run_batch(
            mine, out, BatchOptions(), on_result=redone.append, on_warning=warnings.append
        )
        return counts, redone, warnings

    counts, redone, warnings = again()
    assert counts == {"done": 2} and len(redone) == 2
    assert "2 input(s) had a missing or damaged Parquet file" in warnings[0]
    pd.testing.assert_frame_equal(table(out), first)
    # damaged in its body, its footer whole: it was kept, and reading the folder failed
    # without naming the file
    data = bytearray(parts[0].read_bytes())
    data[100:400] = bytes(300)
    parts[0].write_bytes(bytes(data))
    from mien.errors import DatasetError
    from mien.plots import read_rows

    with pytest.raises(DatasetError, match=re.escape(parts[0].name) + ": a damaged Parquet part"):
        read_rows(out / "parts")
    counts, redone, warnings = again()
    assert counts == {"done": 2} and len(redone) == 1
    assert "1 input(s) had a missing or damaged Parquet file" in warnings[0]
    pd.testing.assert_frame_equal(table(out), first)
    # damaged in a column name of its footer's schema: it read as a table (so it was kept),
    # then pyarrow's schema and pandas failed with a Unicode error naming no file
    data = bytearray(parts[0].read_bytes())
    data[data.index(b"p_anger") + 2] = 0x96
    parts[0].write_bytes(bytes(data))
    with pytest.raises(DatasetError, match=re.escape(parts[0].name) + ": a damaged Parquet part"):
        read_rows(out / "parts")
    counts, redone, warnings = again()
    assert counts == {"done": 2} and len(redone) == 1
    pd.testing.assert_frame_equal(table(out), first)
    # a whole part that was merely touched is checked once, then known by its new stamp
    os.utime(parts[1])
    assert again()[:2] == ({"done": 2}, [])
    (work / photos[0].name).rename(tmp_path / "away.jpg")  # a share that went away
    counts, redone, warnings = again()
    assert counts == {"done": 2} and redone == []
    assert "1 finished input(s) are missing now" in warnings[0] and "rows were kept" in warnings[0]
    pd.testing.assert_frame_equal(table(out), first)


def test_pose_interval_is_no_setting_without_pose():
    assert "pose_interval_s" not in BatchOptions(pose=False, pose_interval_s=1.0).config()
    assert BatchOptions(pose_interval_s=1.0).config()["pose_interval_s"] == 1.0


@pytest.fixture(scope="module")
def long_inputs(tmp_path_factory):
    """Twelve 60-frame clips: seconds of work for two workers, so a signal lands mid-run."""
    root = tmp_path_factory.mktemp("long")
    face = face_patch("grace_hopper.jpg", 100)
    for k in range(12):
        frames = [(compose((320, 240), [(face, 20 + i, 50)]), i / 25) for i in range(60)]
        write_clip(root / f"long{k:02d}.mp4", frames)
    return sorted(root.iterdir())


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_workers_end_when_the_parent_is_killed(long_inputs, tmp_path, sig):
    """Only the parent gets the signal (kill PID, timeout, a scheduler): its workers must not
    live on as orphans; SIGTERM stops the CLI like Ctrl-C."""
    out = tmp_path / "orphans"
    code = "import sys; from mien.cli.main import app; app(sys.argv[1:])"
    proc = subprocess.Popen(
        [sys.executable, "-c", code, "batch", *map(str, long_inputs), "--out", str(out), "-q",
         "--workers", "2"],
        start_new_session=True,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and "done" not in states(out).values():
        time.sleep(0.05)
    children = subprocess.run(
        ["pgrep", "-P", str(proc.pid)], capture_output=True, text=True
    ).stdout.split()
    workers = [int(c) for c in children]
    assert workers
    os.kill(proc.pid, sig)
    _, stderr = proc.communicate(timeout=60)
    assert "done" in states(out).values() and "running" in states(out).values()  # mid-run
    if sig == signal.SIGTERM:
        assert proc.returncode == 130 and "run the same command again to resume" in stderr
    deadline = time.monotonic() + 15
    alive = workers
    while alive and time.monotonic() < deadline:
        time.sleep(0.2)
        alive = [w for w in alive if _alive(w)]
    assert alive == [], f"orphaned workers {alive}"
    os.killpg(proc.pid, signal.SIGKILL) if _alive_group(proc.pid) else None


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except OSError:
        return False


def _alive_group(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except OSError:
        return False
    return True


def test_workers_name_a_huge_image_without_pillows_warning(tmp_path, capfd):
    """`mien batch` printed Pillow's DecompressionBombWarning from its workers for a 108 MP
    image that mien's own cap then refused with a clear error (`analyze` did not)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 10_400, 10_400, 8, 0, 0, 0, 0)  # 108 M grey pixels
    big = tmp_path / "big.png"
    big.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b""))
    out = tmp_path / "out"
    assert run_batch([big], out, BatchOptions()) == {"failed": 1}
    assert table(out)["error"].str.contains("exceeds the cap").all()
    assert "DecompressionBombWarning" not in capfd.readouterr().err


def _dead_worker_run(monkeypatch, tmp_path, paths, workers=2, init="init"):
    from mien.batch import run as batch_run
    from tests.batch import crashy

    monkeypatch.setattr(batch_run, "init_worker", getattr(crashy, init))
    monkeypatch.setattr(batch_run, "process_in_worker", crashy.process)
    results, warnings = [], []
    todo = [(f"id{i}", p) for i, p in enumerate(paths)]
    error = None
    try:
        batch_run._local(
            todo, tmp_path, BatchOptions(), {}, workers, 1, results.append, warnings.append
        )
    except batch_run.WorkersFailing as e:
        error = e
    return {r["id"]: r for r in results}, error, warnings


def test_a_dead_worker_fails_only_its_own_input(monkeypatch, tmp_path):
    paths = ["a.jpg", "b.jpg", "poison.jpg", "c.jpg", "d.jpg", "e.jpg", "f.jpg"]
    results, error, said = _dead_worker_run(monkeypatch, tmp_path, paths)
    assert error is None and len(results) == 7
    assert {r["path"] for r in results.values() if r["state"] == "done"} == set(paths) - {
        "poison.jpg"
    }
    crashed = results["id2"]
    assert crashed["state"] == "failed" and crashed["output"] is None
    # the run says so (it said nothing, and took twice as long)
    assert said and said[0].startswith("a worker died (out of memory, a signal, a crash in")
    assert "poison.jpg" in " ".join(said) and "retried one at a time" in said[0]
    assert crashed["error"].startswith(
        "worker crashed on this input, also when retried alone (out of memory, a signal, or "
        "a crash in native code): BrokenProcessPool: "
    )


def test_bad_inputs_in_a_row_do_not_stop_the_run(monkeypatch, tmp_path):
    paths = ["poison1.jpg", "poison2.jpg", "poison3.jpg", "poison4.jpg", "b.jpg", "c.jpg"]
    results, error, _ = _dead_worker_run(monkeypatch, tmp_path, paths, workers=1)
    assert error is None and len(results) == 6
    assert [results[f"id{i}"]["state"] for i in range(6)] == ["failed"] * 4 + ["done"] * 2
    assert results["id0"]["path"] == "poison1.jpg"


def test_workers_that_cannot_load_the_model_stop_the_run(monkeypatch, tmp_path):
    results, error, _ = _dead_worker_run(
        monkeypatch, tmp_path, ["a.jpg", "b.jpg"], init="init_dies"
    )
    assert error is not None and "a fresh worker died while loading the model" in str(error)
    assert results == {}  # nothing recorded: both stay to do


def test_options_a_worker_cannot_load_are_refused_before_the_folder_is_made(tmp_path, inputs):
    out = tmp_path / "never"
    with pytest.raises(
        ValueError, match="--detector must be one of short, full, auto, multi, tiled"
    ):
        run_batch(inputs, out, BatchOptions(detector="nope"))
    with pytest.raises(ValueError, match=r"--min-confidence must be in \[0, 1\]"):
        run_batch(inputs, out, BatchOptions(min_confidence=1.5))
    assert not out.exists()


def test_an_unreachable_ray_address_fails_at_once(tmp_path, inputs, monkeypatch):
    pytest.importorskip("ray")
    import socket
    import time

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = tmp_path / "never"
    t0 = time.monotonic()
    with pytest.raises(RuntimeError, match=f"nothing answers at 127.0.0.1:{port}"):
        run_batch(inputs, out, BatchOptions(), engine="ray", ray_address=f"127.0.0.1:{port}")
    assert time.monotonic() - t0 < 10 and not out.exists()
    with pytest.raises(RuntimeError, match="give host:port"):
        run_batch(inputs, out, BatchOptions(), engine="ray", ray_address="somewhere")
    # auto: RAY_ADDRESS, else the cluster last started on this machine (none here)
    monkeypatch.setenv("RAY_TMPDIR", str(tmp_path))
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    with pytest.raises(RuntimeError, match="auto: no Ray cluster found"):
        run_batch(inputs, out, BatchOptions(), engine="ray", ray_address="auto")
    monkeypatch.setenv("RAY_ADDRESS", f"127.0.0.1:{port}")
    with pytest.raises(RuntimeError, match=f"auto: nothing answers at 127.0.0.1:{port}"):
        run_batch(inputs, out, BatchOptions(), engine="ray", ray_address="auto")
    assert not out.exists()


def test_an_input_that_kills_its_worker_gets_an_error_row(monkeypatch, tmp_path):
    from mien.batch import run as batch_run
    from mien.plots import read_rows
    from tests.batch import crashy

    monkeypatch.setattr(batch_run, "init_worker", crashy.init)
    monkeypatch.setattr(batch_run, "process_in_worker", crashy.process)
    paths = []
    for name in ("a.jpg", "poison.jpg", "b.jpg"):
        (tmp_path / name).write_bytes(b"stand-in")
        paths.append(tmp_path / name)
    out = tmp_path / "out"
    counts = run_batch(paths, out, BatchOptions(), workers=2)
    assert counts == {"done": 2, "failed": 1}
    rows = read_rows(out / "parts")  # only the crashed input has a file (the stand-ins write none)
    assert len(rows) == 1 and rows["status"].tolist() == ["error"]
    assert rows["source"].iloc[0] == str(tmp_path / "poison.jpg")
    assert rows["error"].iloc[0].startswith("worker crashed on this input, also when retried")
    assert rows["model"].iloc[0] == "fer_resnet_v3"


def test_an_interrupt_names_the_inputs_it_caught_half_way():
    """27 interrupts in a row each said "0 done" while one 30 s video restarted every time."""
    from mien.batch.run import _name_unfinished

    said: list[str] = []
    _name_unfinished(["a/long.mp4"], said.append)
    _name_unfinished([], said.append)  # nothing caught: nothing said
    _name_unfinished([f"{i}.jpg" for i in range(7)], said.append)
    assert said == [
        "not finished, redone from its start next run: a/long.mp4 (a video is analysed whole "
        "or not at all)",
        "not finished, redone from its start next run: 0.jpg, 1.jpg, 2.jpg, 3.jpg, 4.jpg and 2 "
        "more",  # photos only: no word about videos
    ]


def test_a_video_input_is_never_read_whole_into_memory(inputs, monkeypatch):
    # the batch tried read_image first on every input, which reads the whole file (a 1.5 GB
    # recording took 3.2 GB in a worker); it now decides from the file's head
    import mien.io
    from mien.batch.video_or_image import analyze_input
    from mien.pipeline import Analyzer

    read = []
    real = mien.io.read_image
    monkeypatch.setattr(mien.io, "read_image", lambda p, **kw: read.append(p) or real(p, **kw))
    clip, photo = inputs[2], next(p for p in inputs if p.name == "grace_hopper.jpg")
    with Analyzer(pose=False) as analyzer:
        frames = list(analyze_input(analyzer, clip, {}))
        (rows,) = list(analyze_input(analyzer, photo, {}))
    assert read == [photo]
    assert len(frames) == 12 and [f[0]["frame_index"] for f in frames] == list(range(12))
    assert rows[0]["label"] == "neutral"


def test_a_run_resumed_from_another_working_directory_opens_its_files(tmp_path, monkeypatch):
    """Resumed from elsewhere, every unfinished input failed 'no such file': the manifest held
    the first run's relative spelling and the workers opened that from the new folder."""
    work = tmp_path / "study" / "photos"
    work.mkdir(parents=True)
    for name in ("grace_hopper.jpg", "astronaut.jpg"):
        (work / name).write_bytes((SAMPLES / name).read_bytes())
    out = tmp_path / "out"
    monkeypatch.chdir(tmp_path / "study")
    relative = sorted(Path("photos").iterdir())
    assert run_batch(relative, out, BatchOptions()) == {"done": 2}
    next((out / "parts").glob("*.parquet")).unlink()  # one input to redo
    monkeypatch.chdir(tmp_path)
    again = sorted(Path("study/photos").iterdir())  # the same files, spelled from here
    assert run_batch(again, out, BatchOptions()) == {"done": 2}
    assert set(table(out)["status"]) == {"ok"}


def test_a_hard_link_is_one_input_as_in_analyze(tmp_path):
    from typer.testing import CliRunner

    from mien.cli.main import app

    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.jpg").write_bytes((SAMPLES / "grace_hopper.jpg").read_bytes())
    os.link(folder / "a.jpg", folder / "b.jpg")
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["batch", str(folder), "--out", str(out), "-q"])
    assert result.exit_code == 0, result.output
    assert len(list((out / "parts").glob("*.parquet"))) == 1


def test_the_configuration_names_the_upright_check():
    from mien.quality.orientation import bundled_weights

    assert BatchOptions().config()["upright_sha256"] == bundled_weights()[1]["sha256"]


def test_one_file_spelled_with_dot_dot_is_one_input():
    from mien.batch.manifest import input_id

    assert input_id("small/../small/a.jpg") == input_id("small/a.jpg") == input_id("./small/a.jpg")
    assert input_id(Path.cwd() / "small" / "a.jpg") == input_id("small/a.jpg")


def test_a_full_disk_inside_a_transaction_surfaces_as_itself(tmp_path):
    """SQLite rolls back on its own when the disk fills; our ROLLBACK then raised 'no
    transaction is active' and hid the real error (a reviewer's finding)."""
    from mien.batch.manifest import Manifest

    with Manifest(tmp_path / "out", {"a": 1}) as manifest:
        manifest._db.execute("PRAGMA max_page_count = 8")  # a disk with no room left
        with pytest.raises(sqlite3.OperationalError, match="full"):
            manifest.add([tmp_path / f"{'x' * 200}{i}.jpg" for i in range(3000)])


def test_a_damaged_manifest_is_named_not_taken_for_a_full_disk(tmp_path):
    from mien.batch.manifest import Manifest

    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "manifest.sqlite").write_bytes(b"garbage " * 200)
    with pytest.raises(ManifestError, match="is not a readable manifest"):
        Manifest(tmp_path / "out", {"a": 1})


def test_dot_dot_through_a_linked_folder_is_another_file(tmp_path, monkeypatch):
    from mien.batch.manifest import input_id

    (tmp_path / "work").mkdir()
    (tmp_path / "elsewhere" / "deep").mkdir(parents=True)
    (tmp_path / "work" / "x.jpg").write_bytes(b"1")
    (tmp_path / "elsewhere" / "x.jpg").write_bytes(b"2")
    (tmp_path / "work" / "link").symlink_to(tmp_path / "elsewhere" / "deep")
    monkeypatch.chdir(tmp_path / "work")
    assert input_id("link/../x.jpg") != input_id("x.jpg")  # elsewhere/x.jpg, not work/x.jpg
    assert input_id("link/../../work/x.jpg") == input_id("x.jpg")  # the same file: folded


def test_batch_exits_1_when_a_folder_cannot_be_listed(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from mien.cli.main import app
    from tests.helpers import study_with_a_locked_folder

    folder = study_with_a_locked_folder(tmp_path, monkeypatch)
    result = CliRunner().invoke(app, ["batch", str(folder), "--out", str(tmp_path / "o"), "-q"])
    assert result.exit_code == 1, result.output
    assert (
        "could not read folder" in result.stderr and "1 folder could not be read" in result.stderr
    )


def test_a_long_name_of_four_byte_letters_is_analysed_not_the_end_of_the_batch(tmp_path):
    """60 letters of 4 bytes (bold maths letters, rare Han characters) made a part name over
    255 bytes: every run stopped at that input with "File name too long"."""
    import shutil

    from mien.batch.work import MAX_STEM_BYTES, output_name
    from tests.helpers import SAMPLES

    photos = tmp_path / "photos"
    photos.mkdir()
    long = photos / ("\U0001d400" * 62 + ".jpg")
    shutil.copy(SAMPLES / "grace_hopper.jpg", long)
    shutil.copy(SAMPLES / "astronaut.jpg", photos / "zz.jpg")
    assert run_batch(sorted(photos.iterdir()), tmp_path / "out", BatchOptions()) == {"done": 2}
    name = output_name(str(long), "0123456789abcdef")
    assert len(name.encode()) <= MAX_STEM_BYTES + 25 and name.startswith("\U0001d400" * 50)
    three = "\u6f22" * 60  # 3-byte letters: 180 bytes, named as before (folders resume)
    assert output_name(three + ".jpg", "ab") == three + "-ab.parquet"


def test_a_part_name_never_starts_with_what_pyarrow_skips(tmp_path, capsys):
    """A camera's _DSC0001.JPG was written as parts/_DSC0001-<id>.parquet, which pyarrow's
    dataset readers skip: pandas.read_parquet("results/parts") lost its rows, silently."""
    import shutil

    from mien.batch.manifest import input_id
    from mien.batch.work import output_name
    from mien.cli.batch import _warn_foreign_parts
    from mien.plots import read_rows
    from tests.helpers import SAMPLES

    photos = tmp_path / "photos"
    photos.mkdir()
    shutil.copy(SAMPLES / "grace_hopper.jpg", photos / "_DSC0001.JPG")
    shutil.copy(SAMPLES / "astronaut.jpg", photos / "#2.jpg")
    out = tmp_path / "out"
    run_batch(sorted(photos.iterdir()), out, BatchOptions())
    names = sorted(p.name.split("-")[0] for p in (out / "parts").iterdir())
    assert names == ["2", "DSC0001"]
    assert len(pd.read_parquet(out / "parts")) == len(read_rows(out / "parts")) == 2
    assert output_name("___.jpg", "ab") == "input-ab.parquet"
    # a folder written before keeps its parts' old names, which are not called foreign
    photo = photos / "_DSC0001.JPG"
    old = tmp_path / "old"
    (old / "parts").mkdir(parents=True)
    (old / "parts" / output_name(str(photo), input_id(photo), legacy=True)).touch()
    assert output_name(str(photo), input_id(photo), legacy=True).startswith("_DSC0001-")
    _warn_foreign_parts(old, [photo])
    assert "belong to inputs not given" not in capsys.readouterr().err
    _warn_foreign_parts(old, [photos / "#2.jpg"])
    assert "belong to inputs not given" in capsys.readouterr().err


def test_a_read_only_output_is_told_to_be_made_writable_not_to_free_space(tmp_path, monkeypatch):
    """A read-only manifest failed after work had started with "free space and run the same
    command again", and SQLite's read-only -shm file kept the folder blocked after a chmod."""
    import errno
    import os
    import sqlite3

    from typer.testing import CliRunner

    import mien.batch
    from mien.cli.main import app

    photo = tmp_path / "in" / "a.jpg"
    photo.parent.mkdir()
    photo.write_bytes((SAMPLES / "astronaut.jpg").read_bytes())
    out = tmp_path / "out"
    out.mkdir()
    (out / "manifest.sqlite-shm").write_bytes(b"")
    real = os.access
    monkeypatch.setattr(  # as a user other than root sees a read-only file
        os, "access", lambda p, mode: not str(p).endswith("-shm") and real(p, mode)
    )
    args = ["batch", str(photo), "--out", str(out), "-q"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2
    assert "manifest.sqlite-shm is not writable; make it writable" in result.stderr
    monkeypatch.setattr(os, "access", real)
    for err, fix in [
        (sqlite3.OperationalError("attempt to write a readonly database"), "make it writable"),
        (OSError(errno.EACCES, "Permission denied"), "make it writable"),
        (OSError(errno.ENOSPC, "No space left on device"), "free space"),
    ]:

        def failing(*a, _err=err, **k):
            raise _err

        monkeypatch.setattr(mien.batch, "run_batch", failing)
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 1 and f"{fix} and run the same command" in result.stderr


def test_min_upright_is_a_batch_option_kept_in_its_configuration(tmp_path):
    from mien.batch.manifest import ManifestError

    photo = tmp_path / "in" / "a.jpg"
    photo.parent.mkdir()
    photo.write_bytes((SAMPLES / "astronaut.jpg").read_bytes())
    assert "min_upright" not in BatchOptions().config()  # older folders stay resumable
    assert BatchOptions(min_upright=0.0).config()["min_upright"] == 0.0
    out = tmp_path / "out"
    assert run_batch([photo], out, BatchOptions(min_upright=0.0)) == {"done": 1}
    with pytest.raises(ManifestError, match="min_upright"):
        run_batch([photo], out, BatchOptions())
    with pytest.raises(ValueError, match="--min-upright must be in"):
        BatchOptions(min_upright=2.0).check()


def test_a_folder_of_schema_3_rows_is_continued_and_older_ones_are_refused(tmp_path):
    """Schema 4 only adds rows of a new status ("damaged"): a folder begun by 0.2.16-0.2.19
    goes on; one of schema 2 (0.2.15 and before, no upright column) is still refused."""
    from mien.batch.manifest import Manifest, ManifestError

    photo = tmp_path / "in" / "a.jpg"
    photo.parent.mkdir()
    photo.write_bytes((SAMPLES / "astronaut.jpg").read_bytes())
    config = BatchOptions().config()
    assert config["schema"] == "4"
    for old, allowed in (("3", True), ("2", False)):
        out = tmp_path / f"schema{old}"
        with Manifest(out, {**config, "schema": old}):
            pass
        if allowed:
            assert run_batch([photo], out, BatchOptions()) == {"done": 1}
            with Manifest(out, config):  # the folder now says schema 4
                pass
        else:
            with pytest.raises(ManifestError, match=r"differs in \['schema'\]"):
                run_batch([photo], out, BatchOptions())
