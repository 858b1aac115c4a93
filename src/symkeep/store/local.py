"""The embedded backend: a directory of content-addressed blobs plus an SQLite index (WAL mode).

Layout under the store root::

    symkeep-store.json     marker (format version)
    index.sqlite           tables ``records`` and ``audit`` (WAL: readers never block the writer)
    blobs/ab/<sha256>      read-only blob files
    tmp/<pid>-<rand>       staging (uploads, copies); removed on failure, swept when its pid is gone

A blob is written to ``tmp/``, fsync'ed and hard-linked into ``blobs/`` (``link`` fails if it exists,
so two writers of the same content never clobber each other), then its record and audit entry are
inserted in one SQLite transaction: a crash at any point leaves either nothing or a complete blob
without a record (an orphan, harmless, listed by ``verify``).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sqlite3
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from symkeep.errors import NotFoundError, OutputError, UsageError
from symkeep.fsio import fsync_dir
from symkeep.store.audit import GENESIS, AuditEntry, now_rfc3339
from symkeep.store.record import Record

__all__ = ["LocalBackend", "sweep_staging"]

MARKER = "symkeep-store.json"
FORMAT = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS records(
  build_id TEXT NOT NULL, kind TEXT NOT NULL, path TEXT NOT NULL, rank INTEGER NOT NULL,
  sha256 TEXT NOT NULL, file TEXT NOT NULL, record TEXT NOT NULL,
  PRIMARY KEY(build_id, kind, path, rank));
CREATE INDEX IF NOT EXISTS records_file ON records(file);
CREATE TABLE IF NOT EXISTS audit(seq INTEGER PRIMARY KEY, entry TEXT NOT NULL);
"""


def sweep_staging(d: Path) -> None:
    """Remove staging files (``<pid>-<rand>``) left by processes that died (SIGKILL mid-upload)."""
    for p in d.iterdir():
        pid_s = p.name.split("-", 1)[0]
        if pid_s.isdigit() and int(pid_s) != os.getpid() and not _pid_alive(int(pid_s)):
            with contextlib.suppress(OSError):
                p.unlink()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class LocalBackend:
    """Directory + SQLite. One connection per thread; safe across processes (SQLite locking)."""

    def __init__(self, root: Path) -> None:
        self.root = root.expanduser().absolute()
        self.url = str(self.root)
        marker = self.root / MARKER
        try:
            if self.root.exists() and not self.root.is_dir():
                raise UsageError(f"store {self.root} is not a directory")
            if self.root.is_dir() and any(self.root.iterdir()) and not marker.exists():
                raise UsageError(f"{self.root} is a non-empty directory that is not a symkeep store "
                                 f"(no {MARKER}); refusing to use it")
            (self.root / "blobs").mkdir(parents=True, exist_ok=True)
            (self.root / "tmp").mkdir(exist_ok=True)
            if not marker.exists():
                from symkeep.fsio import atomic_write

                atomic_write(marker, json.dumps({"symkeep_store": FORMAT}).encode() + b"\n")
        except PermissionError as e:
            raise OutputError(f"store {self.root}: {e.strerror}") from e
        self._tls = threading.local()
        sweep_staging(self.root / "tmp")
        with self._db() as db:
            db.executescript(_SCHEMA)

    # -- plumbing ---------------------------------------------------------------------------------
    def _conn(self) -> sqlite3.Connection:
        c: sqlite3.Connection | None = getattr(self._tls, "conn", None)
        if c is None or getattr(self._tls, "pid", None) != os.getpid():
            c = sqlite3.connect(self.root / "index.sqlite", timeout=30.0, isolation_level=None,
                                check_same_thread=False)
            c.execute("PRAGMA journal_mode=WAL")
            c.execute("PRAGMA synchronous=FULL")
            c.execute("PRAGMA busy_timeout=30000")
            self._tls.conn = c
            self._tls.pid = os.getpid()
        return c

    @contextlib.contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        try:
            yield self._conn()
        except sqlite3.DatabaseError as e:
            raise OutputError(f"store index {self.root / 'index.sqlite'}: {e}") from e

    def staging_dir(self) -> Path:
        return self.root / "tmp"

    def new_staging_path(self) -> Path:
        return self.root / "tmp" / f"{os.getpid()}-{uuid.uuid4().hex}"

    def _blob_path(self, sha256: str) -> Path:
        return self.root / "blobs" / sha256[:2] / sha256

    # -- blobs ------------------------------------------------------------------------------------
    def put_blob(self, src: Path, sha256: str) -> None:
        dest = self._blob_path(sha256)
        if dest.exists():
            return
        dest.parent.mkdir(exist_ok=True)
        staged = src
        own = False
        if src.parent.resolve() != (self.root / "tmp").resolve():
            staged = self.new_staging_path()
            own = True
            with open(src, "rb") as fi, open(staged, "wb") as fo:
                shutil.copyfileobj(fi, fo, 1 << 20)
                fo.flush()
                os.fsync(fo.fileno())
        else:
            with open(staged, "rb+") as fo:
                os.fsync(fo.fileno())
        try:
            os.chmod(staged, 0o444)
            with contextlib.suppress(FileExistsError):
                os.link(staged, dest)
            fsync_dir(dest.parent)
        except OSError as e:
            raise OutputError(f"cannot store blob {sha256}: {e.strerror or e}") from e
        finally:
            if own:
                with contextlib.suppress(OSError):
                    staged.unlink()

    def has_blob(self, sha256: str) -> bool:
        return self._blob_path(sha256).is_file()

    def blob_file(self, sha256: str) -> Path:
        p = self._blob_path(sha256)
        if not p.is_file():
            raise NotFoundError(f"blob {sha256} is missing from the store")
        return p

    def open_blob(self, sha256: str) -> IO[bytes]:
        try:
            return open(self._blob_path(sha256), "rb")
        except FileNotFoundError:
            raise NotFoundError(f"blob {sha256} is missing from the store") from None

    def iter_blobs(self) -> Iterator[str]:
        for d in sorted((self.root / "blobs").iterdir()):
            if d.is_dir():
                for f in sorted(d.iterdir()):
                    yield f.name

    # -- index and audit --------------------------------------------------------------------------
    def add_record(self, rec: Record) -> Record:
        with self._db() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                row = db.execute("SELECT record FROM records WHERE build_id=? AND kind=? AND path=? AND rank=?",
                                 (rec.build_id, rec.kind, rec.path, rec.rank)).fetchone()
                if row is not None:
                    db.execute("COMMIT")
                    return Record.from_json(row[0])
                last = db.execute("SELECT seq, entry FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
                seq, prev = (0, GENESIS) if last is None else (last[0] + 1, json.loads(last[1])["hash"])
                entry = AuditEntry(seq=seq, time=rec.uploaded_at or now_rfc3339(), op="put",
                                   build_id=rec.build_id, kind=rec.kind, path=rec.path, rank=rec.rank,
                                   sha256=rec.sha256, size=rec.size, uploader=rec.uploader, prev=prev)
                rec.audit_seq = seq
                db.execute("INSERT INTO audit(seq, entry) VALUES(?, ?)",
                           (seq, json.dumps(entry.sealed(), sort_keys=True)))
                db.execute("INSERT INTO records(build_id, kind, path, rank, sha256, file, record) "
                           "VALUES(?,?,?,?,?,?,?)", (rec.build_id, rec.kind, rec.path, rec.rank, rec.sha256,
                                                     os.path.basename(rec.file), rec.to_json()))
                db.execute("COMMIT")
                return rec
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    db.execute("ROLLBACK")
                raise

    def records(self, build_id: str) -> list[Record]:
        with self._db() as db:
            rows = db.execute("SELECT record FROM records WHERE build_id=?", (build_id,)).fetchall()
        return [Record.from_json(r[0]) for r in rows]

    def iter_records(self) -> Iterator[Record]:
        with self._db() as db:
            rows = db.execute("SELECT record FROM records ORDER BY build_id, kind, path, rank").fetchall()
        for r in rows:
            yield Record.from_json(r[0])

    def audit_entries(self) -> Iterator[dict[str, Any]]:
        with self._db() as db:
            rows = db.execute("SELECT entry FROM audit ORDER BY seq").fetchall()
        for r in rows:
            yield json.loads(r[0])

    def close(self) -> None:
        c = getattr(self._tls, "conn", None)
        if c is not None:
            c.close()
            self._tls.conn = None
