"""A symbol index as lookups: its arrays checked and mapped, and answers without the binary.

Only numpy and the table-lookup modules are imported here (no binary parsing), so the warm path of
``symkeep addr2line`` and server workers holding many builds' indexes load an index in milliseconds.
:func:`load_arrays` checks every array's length and value range; :class:`IndexedLookups` answers the
``Lookups`` contract from them, identically to the engine that built the index.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from symkeep.golang.bucketindex import BucketIndex
from symkeep.symbolize.cache import EngineCache
from symkeep.symbolize.columns import ChainColumns, RangeTable
from symkeep.symbolize.frames import Frame
from symkeep.symbolize.indexfile import IndexCorrupt, IndexFile
from symkeep.symbolize.retaddr import functions_of
from symkeep.symbolize.tablelookup import TableLookups, as_pcs

__all__ = ["IndexedLookups", "LoadedIndex", "load_arrays"]

I64 = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class LoadedIndex:
    """The checked arrays of an index file: the range table, its bucket index, each function's first
    range, function entries (nfunc + 1) and range ends (nfunc)."""

    table: RangeTable
    index: BucketIndex
    func_first: I64
    entries: npt.NDArray[np.uint64]
    ends: npt.NDArray[np.uint64]


def _arr(ix: IndexFile, name: str, dtype: type[np.generic]) -> npt.NDArray[Any]:
    _code, off, count = ix.span(name)
    return np.frombuffer(ix.buffer, dtype=np.dtype(dtype).newbyteorder("<"), count=count, offset=off)


def load_arrays(ix: IndexFile, nfunc: int | None = None, key: str | None = None) -> LoadedIndex:
    """The arrays saved in ``ix`` (zero-copy views of the mapping). With ``nfunc``/``key``, the index
    must be the one of that binary. Every array's length and value range is checked: a file that
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
        if nfunc is not None and nfunc != int(m["nfunc"]):
            raise bad("was built for another function table")
        nfunc = int(m["nfunc"])
        entries = _arr(ix, "entries", np.uint64)
        ends = _arr(ix, "ends", np.uint64)
        if len(entries) != nfunc + 1 or len(ends) != nfunc:
            raise bad("has a function table of the wrong length")
        nr, nc = len(starts), len(off) - 1
        nrows = len(inlined)
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
    return LoadedIndex(RangeTable(starts, chain, end, cols), index, ff, entries, ends)


class IndexedLookups:
    """Lookups from a symbol index alone (no binary): the ``Lookups`` contract, answers identical to
    the engine that built the index. Thread-safe like the engine (the cache is the engine's)."""

    def __init__(self, ix: IndexFile, cache_bytes: int | None = None) -> None:
        self.file = ix
        self.meta = ix.meta
        got = load_arrays(ix)
        self.table = TableLookups(got.table, got.index)
        self.entries, self.ends = got.entries, got.ends
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
        arr = as_pcs(pcs)
        return self.table.chain_ids(self._adjust(arr, return_address), self.cache)

    def lookup_columns(self, pcs: Iterable[int] | npt.NDArray[np.uint64], return_address: bool = False
                       ) -> tuple[I64, ChainColumns]:
        arr = as_pcs(pcs)
        if not len(arr):
            return np.full(0, -1, dtype=np.int64), ChainColumns.empty()
        t = self.table
        return t.columns(t.ids(self._adjust(arr, return_address)))

    def close(self) -> None:
        self.cache.clear()
        del self.table, self.entries, self.ends
        self.file.close()

    @property
    def nbytes(self) -> int:
        """Bytes mapped (shared through the page cache between processes)."""
        return self.file.nbytes
