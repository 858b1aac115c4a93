"""The per-build symbol index: the engine's whole-binary table saved once, loaded in milliseconds.

Decoding a binary's pclntab into its whole table costs ~0.6 s for a 20k-function program; the index
keeps the result (range starts, chain ids, chain columns, string tables, the bucket index, function
entries and range ends) in one :mod:`~symkeep.symbolize.indexfile` file that numpy maps without
copying, so every later lookup of that build, in any process (CLI runs, server workers sharing pages
through the page cache), starts from the table.

- :func:`index_key`: a hash of what determines every answer: ``.gopclntab`` as loaded, the text start
  and text sections, the Go version and the index format. A binary rebuilt with a reused build ID gets
  another key, so it never meets a stale index.
- :func:`encode` / :func:`load_table`: table <-> file. Loading checks the CRC (in
  :class:`~symkeep.symbolize.indexfile.IndexFile`), the key, and every array bound, so a damaged file is
  refused (:class:`~symkeep.symbolize.indexfile.IndexCorrupt`) and rebuilt by the caller.
- :class:`IndexCache`: the directory of indexes (``GoBinary(index=IndexCache())`` loads or builds and
  saves through it; best effort: an unwritable cache only costs speed).
- :class:`IndexedLookups`: lookups from an index alone, without the binary (the warm ``addr2line`` path,
  a server that holds the index of an archived build).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from symkeep.errors import SymkeepError
from symkeep.symbolize.cache import env_bytes
from symkeep.symbolize.indexcache import SUFFIX, index_path, index_root, write_memo
from symkeep.symbolize.indexfile import FORMAT, IndexCorrupt, IndexFile, encode_index
from symkeep.symbolize.indexload import IndexedLookups, load_arrays
from symkeep.symbolize.opened import OpenedBinary
from symkeep.symbolize.wholetable import WholeTable

__all__ = ["IndexCache", "IndexedLookups", "encode", "index_key", "load_table", "open_index"]


I64 = npt.NDArray[np.int64]
_DOMAIN = b"symkeep symbol index\0"


def index_key(state: OpenedBinary) -> str:
    """The key of ``state``'s index (hex sha256; see the module docstring)."""
    h = hashlib.sha256(_DOMAIN)
    sects = state.moduledata.textsectmap if state.moduledata is not None else None
    sect_key = [(s.vaddr, s.end, s.baseaddr) for s in sects] if sects else []
    h.update(f"{FORMAT}|{state.go_version}|{state.text_start}|{sect_key}|{state.binary.bits}|".encode())
    h.update(state.pclntab.data)
    return h.hexdigest()


def _strings(items: list[str]) -> tuple[npt.NDArray[np.int64], bytes]:
    enc = [s.encode("utf-8", "surrogateescape") for s in items]
    off = np.zeros(len(enc) + 1, dtype=np.int64)
    np.cumsum([len(e) for e in enc], out=off[1:])
    return off, b"".join(enc)


def encode(state: OpenedBinary, wt: WholeTable, key: str | None = None) -> list[bytes | memoryview]:
    """The index file of ``wt`` (pieces to write in order)."""
    from symkeep.golang.buildid import build_ids

    t, cols = wt.table, wt.table.cols
    lo, shift, first = wt.index.parts()
    names_off, names_blob = _strings(cols.names)
    files_off, files_blob = _strings(cols.files)
    ids = build_ids(state.binary)

    def q(a: npt.NDArray[Any]) -> npt.NDArray[np.int64]:
        return np.ascontiguousarray(a, dtype="<i8")

    def u(a: npt.NDArray[Any]) -> npt.NDArray[np.uint64]:
        return np.ascontiguousarray(a, dtype="<u8")

    arrays: dict[str, tuple[str, Any]] = {
        "starts": ("Q", u(t.starts)), "chain": ("q", q(t.chain)), "bucket": ("q", q(first)),
        "func_first": ("q", q(wt.func_first)), "entries": ("Q", u(state.entries)), "ends": ("Q", u(state.ends)),
        "off": ("q", q(cols.off)), "name": ("q", q(cols.name)), "file": ("q", q(cols.file)),
        "line": ("q", q(cols.line)), "start_line": ("q", q(cols.start_line)),
        "inlined": ("B", np.ascontiguousarray(cols.inlined, dtype=np.uint8)),
        "names_off": ("q", names_off), "names_blob": ("B", names_blob),
        "files_off": ("q", files_off), "files_blob": ("B", files_blob),
    }
    meta = {
        "key": key or index_key(state), "kind": wt.kind, "end": int(t.end), "bucket_lo": lo, "bucket_shift": shift,
        "go_version": state.go_version, "ptr_bits": state.binary.bits, "text_start": state.text_start,
        "text_start_source": state.text_start_source, "nfunc": state.nfunc, "gnu_build_id": ids.gnu,
        "go_build_id": ids.go, "pclntab_sha256": hashlib.sha256(state.pclntab.data).hexdigest(),
    }
    return encode_index(meta, arrays)


def load_table(ix: IndexFile, state: OpenedBinary, key: str | None = None) -> WholeTable:
    """The whole table of ``state`` from its index ``ix`` (checked: :func:`load_arrays`)."""
    got = load_arrays(ix, state.nfunc, key)
    if not np.array_equal(got.entries, state.entries):
        raise IndexCorrupt(f"{ix.path}: was built for other function addresses", what="symbol index")
    return WholeTable(state, got.table, "index", index=got.index, func_first=got.func_first)


def open_index(path: str | os.PathLike[str]) -> IndexFile:
    """Map and check an index file (OSError if missing, IndexCorrupt if damaged)."""
    return IndexFile.open(path)


class IndexCache:
    """A directory of symbol indexes (default :func:`~symkeep.symbolize.indexcache.index_root`)."""

    def __init__(self, root: str | os.PathLike[str] | None = None, write: bool = True,
                 max_bytes: int | None = None) -> None:
        self.root = Path(root) if root is not None else index_root()
        self.write = write
        self.max_bytes = max_bytes if max_bytes is not None else env_bytes("SYMKEEP_INDEX_CACHE_BYTES", 2 << 30)
        self.events: list[str] = []  # "hit", "miss", "corrupt: ...", "saved", "unsaved: ..." (tests, --json)

    def path_for(self, key: str) -> Path:
        return index_path(self.root, key)

    def load(self, state: OpenedBinary, key: str) -> WholeTable | None:
        """The table of ``state`` from its index file, or None (missing or damaged: rebuild)."""
        path = self.path_for(key)
        try:
            ix = IndexFile.open(path)
        except OSError:
            self.events.append("miss")
            return None
        except IndexCorrupt as e:
            self.events.append(f"corrupt: {e}")
            return None
        try:
            wt = load_table(ix, state, key)
        except IndexCorrupt as e:
            ix.close()
            self.events.append(f"corrupt: {e}")
            return None
        self.events.append("hit")
        with contextlib.suppress(OSError):  # recently used: pruned last
            os.utime(path)
        self.remember(state, key)
        return wt

    def save(self, state: OpenedBinary, wt: WholeTable, key: str) -> Path | None:
        """Write ``wt`` as ``key``'s index (atomically), and remember the binary's path."""
        if not self.write:
            return None
        from symkeep.fsio import atomic_write

        path = self.path_for(key)
        try:
            atomic_write(path, encode(state, wt, key), durable=False)  # verified on every read (CRC)
        except (OSError, SymkeepError) as e:
            self.events.append(f"unsaved: {e}")
            return None
        self.events.append("saved")
        self.remember(state, key)
        self.prune(keep=path)
        return path

    def prune(self, keep: Path | None = None) -> int:
        """Remove the least recently used indexes until the directory holds at most ``max_bytes``
        (``$SYMKEEP_INDEX_CACHE_BYTES``, default 2 GiB; K/M/G suffixes); returns how many went."""
        files = []
        for p in self.root.glob(f"*{SUFFIX}"):
            try:
                st = p.stat()
            except OSError:
                continue
            files.append((st.st_mtime, st.st_size, p))
        total = sum(f[1] for f in files)
        removed = 0
        for _mtime, size, p in sorted(files, key=lambda f: f[0]):
            if total <= self.max_bytes:
                break
            if p == keep:
                continue
            with contextlib.suppress(OSError):
                p.unlink()
                total -= size
                removed += 1
        return removed

    def remember(self, state: OpenedBinary, key: str) -> None:
        path = getattr(state.binary, "path", None)
        if self.write and path and os.path.isfile(path):
            write_memo(self.root, str(path), key, getattr(state, "opened_stat", None))


