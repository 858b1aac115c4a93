"""Profiles uploaded through the web UI: a bounded, content-addressed area outside the store.

Why not a store artifact kind: the store is write-once and audit-logged (nothing is ever deleted),
while uploaded profiles must expire. So they live in a directory of their own (``--ui-profiles``),
named by the sha256 of the uploaded bytes (the shareable link is ``/ui/p/SHA256``), with a retention
limit on count, bytes and age, enforced on every upload and checked on every read:

- ``ab/<sha256>.prof``: the bytes as uploaded (0444); ``ab/<sha256>.json``: name, size, time;
- ``tmp/``: staging (written, fsynced, renamed: a reader never sees half a file);
- ``.lock``: ``flock`` held while adding and pruning, so several workers (or servers sharing the
  directory) agree on what is evicted.

Age counts from the last upload of the same bytes (an upload refreshes it); past ``keep_seconds`` an
entry is gone (a read answers 404 and removes it). Past ``keep_count`` entries or ``keep_bytes``,
the least recently uploaded go first. One profile larger than ``keep_bytes`` is refused (413).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from symkeep.errors import LimitError, NotFoundError, OutputError, UsageError

__all__ = ["Entry", "ProfileArea", "check_sha"]

_SHA = re.compile(r"^[0-9a-f]{64}$")
_STALE_TMP = 3600.0  # staging files older than this are leftovers of a killed writer


def check_sha(text: str) -> str:
    if not _SHA.match(text):
        raise UsageError("bad profile id: 64 lower-case hex digits (the sha256 of the upload)")
    return text


@dataclass(frozen=True)
class Entry:
    sha256: str
    size: int  # bytes on disk (profile + metadata)
    mtime: float


class ProfileArea:
    def __init__(self, root: str | os.PathLike[str], *, keep_count: int, keep_bytes: int,
                 keep_seconds: float, clock: Any = time.time) -> None:
        self.root = Path(root)
        self.keep_count = keep_count
        self.keep_bytes = keep_bytes
        self.keep_seconds = keep_seconds
        self.clock = clock  # tests move time forward
        try:
            (self.root / "tmp").mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise OutputError(f"cannot create the UI profile directory {self.root}: {e.strerror or e}") from e

    # -- paths ------------------------------------------------------------------------------------
    def _prof(self, sha: str) -> Path:
        return self.root / sha[:2] / f"{sha}.prof"

    def _meta(self, sha: str) -> Path:
        return self.root / sha[:2] / f"{sha}.json"

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        fd = os.open(self.root / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # releases the lock

    def _write(self, dest: Path, data: bytes, mode: int) -> None:
        tmp = self.root / "tmp" / f"{os.getpid()}-{uuid.uuid4().hex}"
        try:
            with open(tmp, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, mode)
            dest.parent.mkdir(exist_ok=True)
            os.replace(tmp, dest)
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()

    # -- API --------------------------------------------------------------------------------------
    def put(self, data: bytes, meta: dict[str, Any]) -> str:
        """Keep ``data`` (refreshing its age if it is already here); returns its sha256."""
        sha = hashlib.sha256(data).hexdigest()
        mbytes = json.dumps({**meta, "sha256": sha, "size": len(data)}, sort_keys=True).encode()
        if len(data) + len(mbytes) > self.keep_bytes:
            raise LimitError(f"profile of {len(data)} bytes is larger than the UI's retention limit of "
                             f"{self.keep_bytes} bytes (--ui-keep-bytes)")
        now = self.clock()
        with self._locked():
            prof = self._prof(sha)
            if prof.is_file():
                os.utime(prof, (now, now))
            else:
                self._write(self._meta(sha), mbytes, 0o644)
                self._write(prof, data, 0o444)
                os.utime(prof, (now, now))
            self._prune_locked(now)
        return sha

    def check(self, sha: str) -> None:
        """NotFoundError unless the profile is kept (one stat): a cached drawing of an evicted or
        expired profile is never served."""
        check_sha(sha)
        try:
            st = self._prof(sha).stat()
        except FileNotFoundError:
            raise NotFoundError(f"profile {sha} is not here (never uploaded, or evicted by the retention limit)") \
                from None
        if self.clock() - st.st_mtime > self.keep_seconds:
            self._expire(sha)

    def _expire(self, sha: str) -> None:
        with self._locked():
            self._remove(sha)
        raise NotFoundError(f"profile {sha} expired (kept {self.keep_seconds / 86400:g} days)")

    def get(self, sha: str) -> tuple[bytes, dict[str, Any]]:
        """The bytes and metadata of a kept profile; NotFoundError when it is not (or no longer) here."""
        check_sha(sha)
        prof = self._prof(sha)
        try:
            st = prof.stat()
            if self.clock() - st.st_mtime > self.keep_seconds:
                self._expire(sha)
            data = prof.read_bytes()
        except FileNotFoundError:
            raise NotFoundError(f"profile {sha} is not here (never uploaded, or evicted by the retention limit)") \
                from None
        try:
            meta = json.loads(self._meta(sha).read_text())
            if not isinstance(meta, dict):
                meta = {}
        except (OSError, ValueError):
            meta = {}
        return data, meta

    def entries(self) -> list[Entry]:
        out: list[Entry] = []
        for sub in self.root.iterdir():
            if len(sub.name) != 2 or not sub.is_dir():
                continue
            for p in sub.iterdir():
                if not p.name.endswith(".prof") or not _SHA.match(p.name[:-5]):
                    continue
                sha = p.name[:-5]
                try:
                    st = p.stat()
                except FileNotFoundError:
                    continue
                try:
                    msize = self._meta(sha).stat().st_size
                except FileNotFoundError:
                    msize = 0
                out.append(Entry(sha, st.st_size + msize, st.st_mtime))
        return out

    def prune(self) -> list[str]:
        """Enforce the limits now; returns the evicted ids."""
        with self._locked():
            return self._prune_locked(self.clock())

    def usage(self) -> tuple[int, int]:
        es = self.entries()
        return len(es), sum(e.size for e in es)

    # -- inside the lock --------------------------------------------------------------------------
    def _remove(self, sha: str) -> None:
        for p in (self._prof(sha), self._meta(sha)):
            with contextlib.suppress(FileNotFoundError):
                p.unlink()

    def _prune_locked(self, now: float) -> list[str]:
        gone: list[str] = []
        keep: list[Entry] = []
        for e in self.entries():
            if now - e.mtime > self.keep_seconds:
                self._remove(e.sha256)
                gone.append(e.sha256)
            else:
                keep.append(e)
        keep.sort(key=lambda e: (e.mtime, e.sha256))
        total = sum(e.size for e in keep)
        i = 0
        while len(keep) - i > self.keep_count or total > self.keep_bytes:
            e = keep[i]
            self._remove(e.sha256)
            gone.append(e.sha256)
            total -= e.size
            i += 1
        for sub in self.root.iterdir():  # metadata whose profile never arrived (a writer killed between the two)
            if len(sub.name) == 2 and sub.is_dir():
                for p in sub.glob("*.json"):
                    if not p.with_suffix(".prof").exists():
                        with contextlib.suppress(OSError):
                            if now - p.stat().st_mtime > _STALE_TMP:
                                p.unlink()
        for p in (self.root / "tmp").iterdir():  # leftovers of a writer killed mid-write
            with contextlib.suppress(OSError):
                if now - p.stat().st_mtime > _STALE_TMP:
                    p.unlink()
        return gone
