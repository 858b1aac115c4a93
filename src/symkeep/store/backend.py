"""The one interface both store backends implement, and the URL that picks one.

Contract (every method is safe under concurrent callers, threads and processes):
- ``put_blob(src, sha256)``: make the blob ``sha256`` hold the bytes of file ``src`` (already hashed
  by the caller); atomic (readers never see a partial blob) and idempotent (content-addressed).
- ``blob_file(sha256)``: a local, readable path holding the blob's bytes (local: the blob itself; S3: a
  read-through cache file, verified against the sha256 when fetched). NotFoundError if absent.
- ``open_blob(sha256)``: a binary stream (for ``verify``).
- ``add_record(rec, uploader)``: file ``rec`` under its (build_id, kind, path, rank) slot if that slot is
  empty, and append the audit entry; returns the record now in the slot (ours, or the earlier winner's).
  The blob must already be stored.
- ``records(build_id)``: every record filed under one build ID (all kinds and ranks).
- ``iter_records()``, ``iter_blobs()``, ``audit_entries()``: full scans, for ``verify`` and ``/metadata``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, Protocol

from symkeep.errors import UsageError
from symkeep.store.record import Record

__all__ = ["Backend", "default_store_url", "open_backend"]


class Backend(Protocol):
    url: str

    def put_blob(self, src: Path, sha256: str) -> None: ...

    def has_blob(self, sha256: str) -> bool: ...

    def blob_file(self, sha256: str) -> Path: ...

    def open_blob(self, sha256: str) -> IO[bytes]: ...

    def add_record(self, rec: Record) -> Record: ...

    def records(self, build_id: str) -> list[Record]: ...

    def iter_records(self) -> Iterator[Record]: ...

    def iter_blobs(self) -> Iterator[str]: ...

    def audit_entries(self) -> Iterator[dict[str, Any]]: ...

    def staging_dir(self) -> Path: ...

    def close(self) -> None: ...


def default_store_url() -> str:
    """``$XDG_DATA_HOME/symkeep/store`` (``~/.local/share/symkeep/store``)."""
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return os.path.join(base, "symkeep", "store")


def open_backend(url: str | None, *, cache_dir: str | None = None) -> Backend:
    """``./dir``, ``file:///abs/dir`` (directory + SQLite) or ``s3://bucket/prefix`` (S3-compatible)."""
    u = url or default_store_url()
    if u.startswith("s3://"):
        from symkeep.store.s3 import S3Backend

        return S3Backend(u, cache_dir=cache_dir)
    if u.startswith("file://"):
        u = u[len("file://"):]
        if not u.startswith("/"):
            raise UsageError(f"bad store URL {url!r}: file:// needs an absolute path (file:///dir)")
    elif "://" in u:
        raise UsageError(f"bad store URL {url!r}: use a directory, file:///dir or s3://bucket/prefix")
    from symkeep.store.local import LocalBackend

    return LocalBackend(Path(u))
