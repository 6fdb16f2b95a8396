"""The batch manifest: one SQLite row per input with its state, row count and error.

States: ``pending`` → ``running`` → ``done`` | ``failed``; an input whose file changed since
(size or modification time) is ``pending`` again. Every change is one SQLite
transaction, and an input's Parquet file is renamed into place *before* its row says ``done``,
so a run killed at any moment leaves either a finished file marked done, or an input that a
resumed run redoes from scratch (its output is overwritten, never appended): no duplicates, no
gaps. The run's configuration is stored too; another configuration is refused.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from mien.errors import MienError


class ManifestError(MienError, ValueError):
    """The output folder belongs to another configuration, or its manifest is unreadable."""


def _whole_parquet(path: Path) -> bool:
    """Whether ``path`` reads whole as Parquet, its page checksums (where written) right."""
    from mien.export.sinks import read_parquet_whole

    try:
        read_parquet_whole(path)
    except (OSError, ValueError):  # missing, not Parquet, cut short or overwritten
        return False
    return True


def _shown(config: dict[str, Any], key: str) -> str:
    """A setting as the refusal names it: an option left at its default is not stored."""
    return repr(config[key]) if key in config else "its default"


def _take_lock(path: Path) -> IO[bytes] | None:
    """Open ``path`` and hold an exclusive, non-blocking ``flock`` on it.

    Raises:
        ManifestError: another process holds it.
    """
    try:
        import fcntl
    except ImportError:  # Windows: no flock; runs are not guarded against each other
        return None
    handle = open(path, "ab")  # held open until Manifest.close
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        raise ManifestError(
            f"{path.parent}: another mien batch is writing to this folder (it holds {path.name});"
            " wait for it to finish, or give another --out"
        ) from None
    return handle


def _stamp(path: str | Path) -> str:
    """``size:mtime_ns`` of a file (``missing`` when it cannot be read)."""
    try:
        st = Path(path).stat()
    except OSError:
        return "missing"
    return f"{st.st_size}:{st.st_mtime_ns}"


def _stored_path(path: str | Path) -> str | bytes:
    """A path as SQLite can hold it: text, or the raw bytes of a name that is not UTF-8."""
    text = str(path)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return os.fsencode(text)
    return text


def _loaded_path(value: str | bytes) -> str:
    return os.fsdecode(value) if isinstance(value, bytes) else value


def _text(value: str | None) -> str | None:
    """Text safe for SQLite: undecodable file-name bytes written as escapes."""
    if value is None:
        return None
    return value.encode("utf-8", "backslashreplace").decode("utf-8")


def input_id(path: str | Path) -> str:
    """A stable id of an input: the first 16 hex digits of sha256 of its absolute path, with
    ``..`` folded where that names the same file (``small/../small/a.jpg`` and a list's
    ``../photos/a.jpg`` are one input; ``link/../x.jpg`` through a linked folder is not
    ``x.jpg``); links are not followed, so ids of earlier folders stay valid."""
    folded = folded_path(path)
    return hashlib.sha256(folded.encode("utf-8", "surrogateescape")).hexdigest()[:16]


def folded_path(path: str | Path) -> str:
    """``path`` made absolute, with ``..`` folded where that names the same file
    (:func:`fold_dots`). Links are not followed."""
    return fold_dots(str(Path(path).absolute()))


def fold_dots(path: str) -> str:
    """``path`` (relative or absolute, kept so) with ``.`` and ``..`` folded where that names
    the same file: ``lists/../photos/a.jpg`` is ``photos/a.jpg``, but ``link/../x.jpg`` through
    a linked folder is kept as it is (it is not ``x.jpg``)."""
    folded = os.path.normpath(path)
    if folded != path:
        try:  # link/../x.jpg is not ./x.jpg when link is a linked folder: keep it apart
            same = os.path.samefile(folded, path)
        except OSError:  # missing: nothing to tell them apart by
            same = True
        folded = folded if same else path
    return folded


def _continues(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """Whether a folder made with ``old`` may be continued with ``new``: the same options, and
    a row schema that only adds to the old one (:data:`mien.export.rows.CONTINUES`)."""
    from mien.export.rows import CONTINUES

    same = {**old, "schema": new.get("schema")} == new
    return same and old.get("schema") in CONTINUES


class Manifest:
    """``DIR/manifest.sqlite`` for one batch configuration.

    Args:
        out_dir: the batch output folder (created).
        config: what defines the outputs (model, sampling, schema); stored on first use and
            compared on every later open.
        lock: hold ``DIR/.lock`` (an exclusive ``flock``) until :meth:`close`, so that two
            runs never write one folder at once (they would redo each other's inputs and
            record false failures). The OS drops the lock when a process dies, so a killed
            run leaves none behind. Not taken on systems without ``fcntl`` (Windows).

    Raises:
        ManifestError: the folder was made with a different ``config``, or another process
            holds its lock.
    """

    def __init__(self, out_dir: str | Path, config: dict[str, Any], *, lock: bool = True) -> None:
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self._lock = _take_lock(self.out_dir / ".lock") if lock else None
        self.path = self.out_dir / "manifest.sqlite"
        self._db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            # One transaction: a reader sees both tables or neither, never half a schema.
            self._db.executescript(
                "BEGIN; "
                "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT); "
                "CREATE TABLE IF NOT EXISTS inputs (id TEXT PRIMARY KEY, path TEXT, state TEXT, "
                "rows INTEGER, error TEXT, output TEXT, updated REAL, stamp TEXT); "
                # each output's size and modification time when it was last known whole
                "CREATE TABLE IF NOT EXISTS parts (id TEXT PRIMARY KEY, size INTEGER, "
                "mtime_ns INTEGER); "
                "COMMIT;"
            )
        except sqlite3.DatabaseError as e:
            if isinstance(e, sqlite3.OperationalError):  # locked, disk full: not the file's fault
                raise
            self.close()
            raise ManifestError(
                f"{self.path} is not a readable manifest ({e}): it was damaged; use a new "
                "--out folder (the Parquet files in parts/ are whole and can still be read)"
            ) from None
        wanted = json.dumps(config, sort_keys=True)
        row = self._db.execute("SELECT value FROM meta WHERE key = 'config'").fetchone()
        if row is None:
            self._db.execute("INSERT INTO meta VALUES ('config', ?)", (wanted,))
        elif row[0] != wanted and _continues(json.loads(row[0]), config):
            self._db.execute("UPDATE meta SET value = ? WHERE key = 'config'", (wanted,))
        elif row[0] != wanted:
            old, new = json.loads(row[0]), config
            diff = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
            self.close()  # let go of the lock before refusing
            said = "; ".join(f"{k}: {_shown(old, k)} then, {_shown(new, k)} now" for k in diff[:4])
            raise ManifestError(
                f"{self.out_dir} holds a batch made with another configuration "
                f"(differs in {diff}: {said}); use a new --out folder or the same options"
            )

    def add(self, paths: Iterable[str | Path]) -> list[str]:
        """Register inputs as ``pending``. A known input keeps its state unless its file changed
        (size or modification time) since it was processed: then it is ``pending`` again. A
        ``done`` input whose file is missing now (a share that went away) stays ``done``: its
        finished rows are kept, not replaced by an error.

        Returns:
            The paths of ``done`` inputs whose file is missing now.
        """
        now = time.time()
        gone = []
        with self.transaction():
            for p in paths:
                id_, stamp = input_id(p), _stamp(p)
                row = self._db.execute(
                    "SELECT stamp, state FROM inputs WHERE id = ?", (id_,)
                ).fetchone()
                if row is None:
                    self._db.execute(
                        "INSERT INTO inputs VALUES (?, ?, 'pending', NULL, NULL, NULL, ?, ?)",
                        (id_, _stored_path(p), now, stamp),
                    )
                    continue
                # this run's spelling of the path: a run resumed from another working
                # directory opens the files from there (the stored relative path failed)
                self._db.execute("UPDATE inputs SET path = ? WHERE id = ?", (_stored_path(p), id_))
                if stamp == "missing" and row[1] == "done":
                    gone.append(str(p))
                elif row[0] != stamp:
                    self._db.execute(
                        "UPDATE inputs SET state = 'pending', stamp = ?, updated = ? WHERE id = ?",
                        (stamp, now, id_),
                    )
        return gone

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """Statements inside are one transaction: one disk sync, not one per statement (the
        connection autocommits, and ``with connection`` alone opens no transaction; 20,000
        inputs took 6 s to register, with 2 syncs each)."""
        self._db.execute("BEGIN")
        try:
            yield
        except BaseException:
            if self._db.in_transaction:  # SQLite has rolled back itself on a full disk
                self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def redo_lost_outputs(self, paths: Iterable[str | Path]) -> list[str]:
        """Set those of ``paths`` that are ``done`` or ``failed`` but whose Parquet file in
        ``parts/`` is missing or damaged (deleted, cut short, overwritten) back to
        ``pending``. (A worker that crashed wrote no file: its input stays ``failed``, for
        ``--retry-failed``.)

        A file whose size and modification time are those recorded when it was written is
        taken as whole without being opened (a resume over 4,000 parts read every footer);
        any other is read whole, its page checksums verified, and recorded if it passes.

        Returns:
            Their paths, as given.
        """
        given = {input_id(p): str(p) for p in paths}
        lost = []
        rows = self._db.execute(
            "SELECT inputs.id, output, size, mtime_ns FROM inputs LEFT JOIN parts "
            "ON parts.id = inputs.id "
            "WHERE state IN ('done', 'failed') AND output IS NOT NULL"
        ).fetchall()
        with self.transaction():
            for id_, output, size, mtime_ns in rows:
                if id_ not in given:
                    continue
                part = self.out_dir / "parts" / _loaded_path(output)
                try:
                    st = part.stat()
                except OSError:
                    st = None
                if st is not None and (st.st_size, st.st_mtime_ns) == (size, mtime_ns):
                    continue
                if st is not None and _whole_parquet(part):
                    self._record_part(id_, part)
                    continue
                lost.append(given[id_])
                self._db.execute(
                    "UPDATE inputs SET state = 'pending', updated = ? WHERE id = ?",
                    (time.time(), id_),
                )
                self._db.execute("DELETE FROM parts WHERE id = ?", (id_,))
        return lost

    def _record_part(self, id_: str, part: Path) -> None:
        """Remember ``part``'s size and modification time as those of a whole file."""
        try:
            st = part.stat()
        except OSError:
            return
        self._db.execute(
            "INSERT OR REPLACE INTO parts VALUES (?, ?, ?)", (id_, st.st_size, st.st_mtime_ns)
        )

    def todo(self, *, retry_failed: bool = False) -> list[tuple[str, str]]:
        """``(id, path)`` of inputs to (re)do: pending, running (killed), and failed if asked."""
        states = ("pending", "running", "failed") if retry_failed else ("pending", "running")
        marks = ",".join("?" * len(states))
        cur = self._db.execute(
            f"SELECT id, path FROM inputs WHERE state IN ({marks}) ORDER BY path", states
        )
        return [(id_, _loaded_path(path)) for id_, path in cur]

    def mark(
        self,
        id_: str,
        state: str,
        *,
        rows: int | None = None,
        error: str | None = None,
        output: str | None = None,
    ) -> None:
        self._db.execute(
            "UPDATE inputs SET state = ?, rows = ?, error = ?, output = ?, updated = ? "
            "WHERE id = ?",
            (state, rows, _text(error), _text(output), time.time(), id_),
        )
        if output is not None:
            self._record_part(id_, self.out_dir / "parts" / output)

    def unstart(self, ids: Iterable[str]) -> None:
        """Inputs of ``ids`` still ``running`` back to ``pending``: an interrupted run marks
        those it never handed to a worker so, not as if caught half done."""
        self._db.executemany(
            "UPDATE inputs SET state = 'pending', updated = ? WHERE id = ? AND state = 'running'",
            [(time.time(), id_) for id_ in ids],
        )

    def counts(self, paths: Iterable[str | Path] | None = None) -> dict[str, int]:
        """Inputs per state: all of them, or only ``paths``."""
        wanted = None if paths is None else {input_id(p) for p in paths}
        out: dict[str, int] = {}
        for id_, state in self._db.execute("SELECT id, state FROM inputs"):
            if wanted is None or id_ in wanted:
                out[state] = out.get(state, 0) + 1
        return out

    def rows(self) -> list[dict[str, Any]]:
        cur = self._db.execute(
            "SELECT id, path, state, rows, error, output FROM inputs ORDER BY path"
        )
        keys = ("id", "path", "state", "rows", "error", "output")
        return [
            dict(zip(keys, (r[0], _text(_loaded_path(r[1])), *r[2:]), strict=True)) for r in cur
        ]

    def close(self) -> None:
        self._db.close()
        if self._lock is not None:
            self._lock.close()  # closing the file releases the flock
            self._lock = None

    def __enter__(self) -> Manifest:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
