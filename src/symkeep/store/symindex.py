"""Symbol indexes of archived builds, kept in the store next to them (kind ``index``).

A server (or any number of stateless replicas on one S3 bucket) must never decode a binary twice: the
index is built once, when the executable is archived (``symkeep archive`` into a store, or the server
when a client uploads an executable), stored under the build's IDs like any other file (write-once
slot, sha256-verified on read), and mapped straight from the blob file by every worker that opens the
build (:class:`StoreIndexCache`, handed to ``open_go_binary(index=...)``).

Indexes are derived data: a client can never upload one (``PUT .../index`` is refused), so a store's
index is always symkeep's own encoding of a binary the store holds. A store without an index for a
build (archived before indexes existed, or by an older symkeep) gets one the first time a server opens
the build: built, then stored for the others.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from symkeep.errors import SymkeepError
from symkeep.store.record import Record
from symkeep.store.store import PutResult, Store
from symkeep.symbolize.indexfile import IndexCorrupt, IndexFile
from symkeep.symbolize.opened import OpenedBinary
from symkeep.symbolize.symindex import IndexCache, encode, load_table
from symkeep.symbolize.wholetable import WholeTable

__all__ = ["StoreIndexCache", "archive_index", "ingest_index"]


def ingest_index(store: Store, pieces: list[bytes | memoryview], keys: list[str], uploader: str,
                 file_name: str) -> list[PutResult]:
    """Store an encoded index under ``keys`` (staged, fsynced, then ingested: blob before record)."""
    stage = store.new_staging_path()
    try:
        with open(stage, "wb") as f:
            for p in pieces:
                f.write(p)
            f.flush()
            os.fsync(f.fileno())
        return store.ingest(stage, kind="index", keys=keys, uploader=uploader, file_name=file_name)
    finally:
        with contextlib.suppress(OSError):
            stage.unlink()


def archive_index(store: Store, binary: str | os.PathLike[str], keys: list[str], uploader: str) -> list[PutResult]:
    """Build the index of the Go binary at ``binary`` and store it under ``keys``."""
    from symkeep.symbolize import open_go_binary

    with open_go_binary(binary) as g:
        pieces = encode(g.state, g.whole_table(), g.index_key)
        return ingest_index(store, pieces, keys, uploader, os.path.abspath(binary) + ".symidx")


class StoreIndexCache(IndexCache):
    """The index cache of one archived build: its ``index`` record in the store (mapped from the
    verified blob file), else built and stored there for every other worker and replica."""

    def __init__(self, store: Store, build_ids: list[str], uploader: str = "symkeep-serve") -> None:
        super().__init__(root=None, write=False)
        self.store = store
        self.build_ids = [b for b in build_ids if b]
        self.uploader = uploader

    def _records(self) -> list[Record]:
        seen: dict[str, Record] = {}
        for bid in self.build_ids:
            with contextlib.suppress(SymkeepError):
                for r in self.store.records(bid):
                    if r.kind == "index":
                        seen.setdefault(r.sha256, r)
        return list(seen.values())

    def load(self, state: OpenedBinary, key: str) -> WholeTable | None:
        for rec in self._records():
            try:
                path = self.store.blob_file(rec)
                ix = IndexFile.open(path)
            except (OSError, SymkeepError) as e:
                self.events.append(f"corrupt: {e}")
                continue
            try:
                wt = load_table(ix, state, key)
            except IndexCorrupt as e:  # another build's index filed under this ID, or damaged
                ix.close()
                self.events.append(f"corrupt: {e}")
                continue
            self.events.append("hit")
            return wt
        self.events.append("miss")
        return None

    def save(self, state: OpenedBinary, wt: WholeTable, key: str) -> Path | None:
        try:
            ingest_index(self.store, encode(state, wt, key), self.build_ids, self.uploader,
                         str(getattr(state.binary, "path", "")) + ".symidx")
        except (OSError, SymkeepError) as e:
            self.events.append(f"unsaved: {e}")
            return None
        self.events.append("saved")
        return None
