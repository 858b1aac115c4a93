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

import hashlib
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from symkeep.errors import SymkeepError
from symkeep.golang.bulk import BucketIndex
from symkeep.symbolize.cache import EngineCache
from symkeep.symbolize.columns import ChainColumns, RangeTable
from symkeep.symbolize.frames import Frame
from symkeep.symbolize.indexcache import index_path, index_root, write_memo
from symkeep.symbolize.indexfile import FORMAT, IndexCorrupt, IndexFile, encode_index
from symkeep.symbolize.opened import OpenedBinary, functions_of
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


def _arr(ix: IndexFile, name: str, dtype: type[np.generic]) -> npt.NDArray[Any]:
    _code, off, count = ix.span(name)
    return np.frombuffer(ix.buffer, dtype=np.dtype(dtype).newbyteorder("<"), count=count, offset=off)


def load_table(ix: IndexFile, state: OpenedBinary | None = None, key: str | None = None) -> WholeTable:
    """The whole table saved in ``ix`` (zero-copy views of the mapping). With ``state``/``key``, the
    index must be the one of that binary. Every array's length and value range is checked: a file that
    passed its CRC but was written wrong is refused too (``IndexCorrupt``)."""
    m = ix.meta

    def bad(why: str) -> IndexCorrupt:
        return IndexCorrupt(f"{ix.path}: {why}", what="symbol index")

    if key is not None and m.get("key") != key:
        raise bad("belongs to another binary (key mismatch)")
    try:
        starts = _arr(ix, "starts", np.uint64)
        chain = _arr(ix, "chain", np.int64)
        first = _arr(ix, "bucket", np.int64)
        ff = _arr(ix, "func_first", np.int64)
        off = _arr(ix, "off", np.int64)
        rows = {c: _arr(ix, c, np.int64) for c in ("name", "file", "line", "start_line")}
        inlined = _arr(ix, "inlined", np.uint8).view(np.bool_)
        names, files = ix.strings("names"), ix.strings("files")
        nfunc = int(m["nfunc"])
        nr, nc = len(starts), len(off) - 1
        nrows = len(inlined)
        if state is not None and (state.nfunc != nfunc or len(state.entries) != nfunc + 1):
            raise bad("was built for another function table")
        if len(chain) != nr or nc < 0 or any(len(r) != nrows for r in rows.values()) or len(ff) != nfunc + 1:
            raise bad("has arrays of inconsistent lengths")
        if nr and (bool(np.any(starts[1:] < starts[:-1])) or int(chain.min()) < -1 or int(chain.max()) >= nc):
            raise bad("has unsorted ranges or chain ids out of range")
        if int(off[0]) != 0 or int(off[-1]) != nrows or bool(np.any(off[1:] < off[:-1])):
            raise bad("has chain offsets out of order")
        if nrows and (int(rows["name"].min()) < 0 or int(rows["name"].max()) >= len(names)
                      or int(rows["file"].min()) < 0 or int(rows["file"].max()) >= len(files)):
            raise bad("has string ids out of range")
        if nfunc and (int(ff.min()) < 0 or int(ff.max()) > nr):
            raise bad("has function positions out of range")
        index = BucketIndex.from_parts(starts, int(m["bucket_lo"]), int(m["bucket_shift"]), first)
        end = int(m["end"])
    except IndexCorrupt:
        raise
    except (KeyError, TypeError, ValueError, OverflowError) as e:
        raise bad(f"is unreadable: {e}") from e
    cols = ChainColumns(off, rows["name"], rows["file"], rows["line"], rows["start_line"], inlined, names, files)
    return WholeTable(state, RangeTable(starts, chain, end, cols), "index", index=index, func_first=ff)


def open_index(path: str | os.PathLike[str]) -> IndexFile:
    """Map and check an index file (OSError if missing, IndexCorrupt if damaged)."""
    return IndexFile.open(path)


class IndexCache:
    """A directory of symbol indexes (default :func:`~symkeep.symbolize.indexcache.index_root`)."""

    def __init__(self, root: str | os.PathLike[str] | None = None, write: bool = True) -> None:
        self.root = Path(root) if root is not None else index_root()
        self.write = write
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
        self.remember(state, key)
        return wt

    def save(self, state: OpenedBinary, wt: WholeTable, key: str) -> Path | None:
        """Write ``wt`` as ``key``'s index (atomically), and remember the binary's path."""
        if not self.write:
            return None
        from symkeep.fsio import atomic_write

        path = self.path_for(key)
        try:
            atomic_write(path, encode(state, wt, key))
        except (OSError, SymkeepError) as e:
            self.events.append(f"unsaved: {e}")
            return None
        self.events.append("saved")
        self.remember(state, key)
        return path

    def remember(self, state: OpenedBinary, key: str) -> None:
        path = getattr(state.binary, "path", None)
        if self.write and path and os.path.isfile(path):
            write_memo(self.root, str(path), key, getattr(state, "opened_stat", None))


class IndexedLookups:
    """Lookups from a symbol index alone (no binary): the ``Lookups`` contract, answers identical to
    the engine that built the index. Thread-safe like the engine (the cache is the engine's)."""

    def __init__(self, ix: IndexFile, cache_bytes: int | None = None) -> None:
        self.file = ix
        self.meta = ix.meta
        self.table = load_table(ix)
        self.entries = _arr(ix, "entries", np.uint64)
        self.ends = _arr(ix, "ends", np.uint64)
        if len(self.entries) != len(self.ends) + 1 or len(self.ends) != int(self.meta["nfunc"]):
            raise IndexCorrupt(f"{ix.path}: symbol index function table is inconsistent", what="symbol index")
        self.cache = EngineCache(cache_bytes)

    @property
    def go_version(self) -> str | None:
        v = self.meta.get("go_version")
        return v if isinstance(v, str) else None

    @property
    def ptr_bits(self) -> int:
        return int(self.meta.get("ptr_bits", 64))

    def _adjust(self, arr: npt.NDArray[np.uint64], return_address: bool) -> npt.NDArray[np.uint64]:
        return functions_of(self.entries, self.ends, arr, True)[0] if return_address else arr

    def lookup(self, pc: int, return_address: bool = False) -> list[Frame]:
        return list(self.lookup_chains([pc], return_address)[0])

    def lookup_chains(self, pcs: Iterable[int] | npt.NDArray[np.uint64], return_address: bool = False
                      ) -> list[tuple[Frame, ...]]:
        ids, chains = self.lookup_chain_ids(pcs, return_address)
        return [chains[i] for i in ids.tolist()]

    def lookup_chain_ids(self, pcs: Iterable[int] | npt.NDArray[np.uint64], return_address: bool = False
                         ) -> tuple[I64, list[tuple[Frame, ...]]]:
        from symkeep.symbolize.gobinary import _as_pcs

        arr = _as_pcs(pcs)
        return self.table.chain_ids(self._adjust(arr, return_address), self.cache)

    def lookup_columns(self, pcs: Iterable[int] | npt.NDArray[np.uint64], return_address: bool = False
                       ) -> tuple[I64, ChainColumns]:
        from symkeep.symbolize.gobinary import _as_pcs

        arr = _as_pcs(pcs)
        if not len(arr):
            return np.full(0, -1, dtype=np.int64), ChainColumns.empty()
        t = self.table
        return t.columns(t.ids(self._adjust(arr, return_address)))

    def close(self) -> None:
        self.cache.clear()
        del self.table, self.entries, self.ends
        self.file.close()
