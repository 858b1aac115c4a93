"""GoBinary: symbolize PCs of a Go binary from its pclntab alone (works on fully stripped binaries).

The engine is three parts, each in its own module:
- :class:`~symkeep.symbolize.opened.OpenedBinary`: what opening fixes (binary, pclntab, text start,
  moduledata, function entries), validated once, immutable;
- :class:`~symkeep.symbolize.funcdecode.FunctionDecoder`: one function's ranges and chains, exact,
  cached per function in the byte-bounded :class:`~symkeep.symbolize.cache.EngineCache`;
- :class:`~symkeep.symbolize.wholetable.WholeTable`: every range of the binary, built once (numpy),
  shared by large lookup batches, whole-binary walks of ``ranges()`` (restore) and ``decode_all()``.

This module routes each call: single PCs and small batches go through the per-function decoder,
batches of at least :data:`BULK_MIN` PCs (or :data:`BULK_REUSE_MIN` once the table exists) through
the table; ``ranges()`` switches to the table once a caller has asked for more than
:func:`ranges_switch` functions. All methods may be called concurrently from several threads.

Return addresses: ``return_address=True`` follows runtime.CallersFrames: when the PC is past its
function's entry it looks up ``pc - 1`` (the call instruction), otherwise ``pc`` itself.
"""

from __future__ import annotations

import os
import threading
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from operator import itemgetter
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from symkeep.binfmt import open_binary
from symkeep.binfmt.base import Binary
from symkeep.golang.functab import Function, FunctionList
from symkeep.golang.moduledata import ModuleData
from symkeep.golang.pclntab import PclnLocation, PclnTab
from symkeep.symbolize.cache import CacheStats, EngineCache
from symkeep.symbolize.columns import ChainColumns, RangeTable
from symkeep.symbolize.engine import GoEngine
from symkeep.symbolize.frames import Frame, PCRange
from symkeep.symbolize.funcdecode import FunctionDecoder
from symkeep.symbolize.opened import OpenedBinary
from symkeep.symbolize.tablelookup import as_pcs as _as_pcs
from symkeep.symbolize.wholetable import TableHolder, TableKind, WholeTable, build_bulk, build_exact

if TYPE_CHECKING:
    from symkeep.symbolize.symindex import IndexCache

__all__ = ["BULK_MIN", "BULK_REUSE_MIN", "GoBinary", "open_go_binary", "ranges_switch"]

# Batches at least this large use the whole-binary table (built once, ~0.5-1 s for 20k functions);
# smaller ones decode only the functions they touch (~0.3 ms each).
BULK_MIN = 20_000
BULK_REUSE_MIN = 512  # once the table exists, batches this large use it too

I64 = npt.NDArray[np.int64]


def ranges_switch(nfunc: int) -> int:
    """After this many functions' ``ranges()`` decoded one by one, build the whole table instead."""
    return max(256, nfunc // 16)


class GoBinary:
    """A Go binary opened for symbolization. See HACKING.md for the contract.

    ``cache_bytes`` bounds what the engine remembers (see :mod:`symkeep.symbolize.cache`)."""

    def __init__(self, binary: Binary, go_version: str | None = None, location: PclnLocation | None = None,
                 cache_bytes: int | None = None, index: IndexCache | None = None) -> None:
        opened_stat = _stat_or_none(getattr(binary, "path", None)) if index is not None else None
        self.state = OpenedBinary(binary, go_version, location)
        self.state.opened_stat = opened_stat
        self.cache = EngineCache(cache_bytes)
        self.decoder = FunctionDecoder(self.state, self.cache)
        self.index = index
        self._index_key: str | None = None
        self._holder = TableHolder(lambda: build_bulk(self.state, self.decoder),
                                   lambda: build_exact(self.state, self.decoder),
                                   load=self._load_index if index is not None else None,
                                   save=self._save_index if index is not None else None)
        self._functions = FunctionList(self.state.nfunc, self.decoder.function)
        self._ranges_decoded = 0
        self._count_lock = threading.Lock()

    # -- the symbol index --------------------------------------------------------------------------
    @property
    def index_key(self) -> str:
        """This binary's symbol index key (:func:`symkeep.symbolize.symindex.index_key`)."""
        if self._index_key is None:
            from symkeep.symbolize.symindex import index_key

            self._index_key = index_key(self.state)
        return self._index_key

    def _load_index(self) -> WholeTable | None:
        assert self.index is not None
        return self.index.load(self.state, self.index_key)

    def _save_index(self, table: WholeTable) -> None:
        assert self.index is not None
        self.index.save(self.state, table, self.index_key)

    # -- identity (OpenedBinary) -----------------------------------------------------------------
    @property
    def binary(self) -> Binary:
        return self.state.binary

    @property
    def go_version(self) -> str | None:
        return self.state.go_version

    @property
    def location(self) -> PclnLocation:
        return self.state.location

    @property
    def pclntab(self) -> PclnTab:
        return self.state.pclntab

    @property
    def moduledata(self) -> ModuleData | None:
        return self.state.moduledata

    @property
    def text_start(self) -> int:
        return self.state.text_start

    @property
    def text_start_source(self) -> str:
        return self.state.text_start_source

    @property
    def gofunc(self) -> int | None:
        return self.state.gofunc

    @property
    def nfunc(self) -> int:
        return self.state.nfunc

    @property
    def entries(self) -> npt.NDArray[np.uint64]:
        """Sorted entry PCs (nfunc + 1 values; the last is the end of the last function)."""
        return self.state.entries

    def close(self) -> None:
        self.cache.clear()
        self.binary.close()

    def __enter__(self) -> GoBinary:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- memory and the whole table --------------------------------------------------------------
    def cache_stats(self) -> CacheStats:
        """What the byte-bounded cache holds (the whole table is counted by :meth:`table_bytes`)."""
        return self.cache.stats()

    def table_bytes(self) -> int:
        """Size of the whole-binary table (0 before it is built): O(pctab), built at most once."""
        t = self._holder.table
        return t.nbytes if t is not None else 0

    @property
    def table_kind(self) -> TableKind:
        """How the whole-binary table was built: "none" yet, "bulk" (numpy), "exact" (per-function
        decoder), or "declined" (the numpy decoder refused this binary; lookups stay per-function)."""
        return self._holder.kind

    def whole_table(self) -> WholeTable:
        """The whole-binary table, built now if needed."""
        t = self._holder.get(exact=True)
        assert t is not None
        return t

    def decode_all(self) -> RangeTable:
        """Every function's line, file and inline tables and every inline chain, as one
        :class:`RangeTable` (the shared whole-binary table)."""
        return self.whole_table().table

    # -- functions -------------------------------------------------------------------------------
    def functions(self) -> Sequence[Function]:
        """All functions sorted by entry (decoded lazily)."""
        return self._functions

    def function_index(self, pc: int) -> int:
        """Index of the function whose range holds ``pc``, or -1."""
        return self.state.function_index(pc)

    def function_at(self, pc: int) -> Function | None:
        i = self.state.function_index(pc)
        return self._functions[i] if i >= 0 else None

    def ranges(self, func: Function | int) -> list[PCRange]:
        """Maximal [start, end) ranges of ``func`` with a constant frame chain (unknown parts omitted)."""
        i = func if isinstance(func, int) else func.index
        if not 0 <= i < self.state.nfunc:
            raise IndexError(i)
        t = self._holder.table
        if t is None and self.index is not None:
            t = self._holder.get(exact=True)  # the index loads in milliseconds, or is built once
        if t is None:
            with self._count_lock:
                self._ranges_decoded += 1
                switch = self._ranges_decoded > ranges_switch(self.state.nfunc)
            if switch:
                t = self._holder.get(exact=True)
        if t is not None:
            return t.ranges(i, self.cache)
        return self.decoder.ranges(i)

    def sp_deltas(self, func: Function | int) -> list[tuple[int, int, int]]:
        """(start, end, sp delta) ranges from the function's pcsp table."""
        return self.decoder.sp_deltas(func if isinstance(func, int) else func.index)

    # -- lookups ---------------------------------------------------------------------------------
    def lookup(self, pc: int, return_address: bool = False) -> list[Frame]:
        """Frames at ``pc``, innermost first; [] when no function covers it (padding, data, ...).

        ``return_address=True``: ``pc`` is a return address (runtime.Callers, profiles); like
        runtime.CallersFrames, look up ``pc - 1`` when ``pc`` is past its function's entry.
        """
        st = self.state
        i = st.function_index(pc)
        if i < 0:
            return []
        if return_address and pc > st.entries_list[i]:
            pc -= 1
        info = self.decoder.info(i)
        return list(info.frames[bisect_right(info.starts, pc) - 1])

    def lookup_many(
        self, pcs: Iterable[int] | npt.NDArray[np.uint64], return_address: bool = False
    ) -> list[list[Frame]]:
        """Vectorized :meth:`lookup`."""
        return list(map(list, self.lookup_chains(pcs, return_address)))

    def lookup_chains(
        self, pcs: Iterable[int] | npt.NDArray[np.uint64], return_address: bool = False
    ) -> list[tuple[Frame, ...]]:
        """Like :meth:`lookup_many` but returns the engine's shared (interned) chain tuples: equal
        chains of one answer are the *same* object; ``()`` for unknown PCs. Do not mutate."""
        ids, table = self.lookup_chain_ids(pcs, return_address)
        n = len(ids)
        if n == 0:
            return []
        if n == 1:
            return [table[int(ids[0])]]
        return list(itemgetter(*ids.tolist())(table))

    def lookup_chain_ids(
        self, pcs: Iterable[int] | npt.NDArray[np.uint64], return_address: bool = False
    ) -> tuple[I64, list[tuple[Frame, ...]]]:
        """:meth:`lookup_chains` as ``(ids, table)``: the chain of ``pcs[k]`` is ``table[ids[k]]``.

        ``table[-1]`` is ``()`` and id -1 means unknown. Lets bulk callers work per distinct chain
        (``np.unique(ids)``) without one Python reference per PC. Do not mutate ``table``."""
        arr = _as_pcs(pcs)
        n = len(arr)
        if n == 0:
            return np.full(0, -1, dtype=np.int64), [()]
        t = self._table_for(n)
        if t is not None:
            return t.chain_ids(self._adjust(arr, return_address), self.cache)
        return self._lookup_functions(arr, return_address)

    def lookup_columns(
        self, pcs: Iterable[int] | npt.NDArray[np.uint64], return_address: bool = False
    ) -> tuple[I64, ChainColumns]:
        """The distinct chains of ``pcs`` as columns: ``(ids, cols)``, the chain of ``pcs[k]`` is
        ``cols`` chain ``ids[k]`` (-1: unknown). Same frames as :meth:`lookup_chains`, without building
        Frame objects on the table path: for formatting hundreds of thousands of distinct chains."""
        arr = _as_pcs(pcs)
        n = len(arr)
        if n == 0:
            return np.full(0, -1, dtype=np.int64), ChainColumns.empty()
        t = self._table_for(n)
        if t is not None:
            return t.columns(t.ids(self._adjust(arr, return_address)))
        ids, table = self._lookup_functions(arr, return_address)
        u = np.unique(ids[ids >= 0])
        u = u[np.array([bool(table[i]) for i in u.tolist()], dtype=np.bool_)] if len(u) else u
        pos = np.searchsorted(u, ids)
        hit = (ids >= 0) & (pos < len(u))
        hit[hit] = u[pos[hit]] == ids[hit]
        out = np.where(hit, pos, -1).astype(np.int64)
        return out, ChainColumns.from_chains([table[i] for i in u.tolist()])

    def _table_for(self, n: int) -> WholeTable | None:
        """The whole table when a batch of ``n`` PCs should use it (None: per-function path)."""
        t = self._holder.table
        if t is not None:
            return t if n >= BULK_REUSE_MIN or t.kind == "index" else None
        if self.index is not None:  # load the index (or build and save it): then every batch uses it
            return self._holder.get(exact=True)
        if n >= BULK_MIN:
            return self._holder.get(exact=False)
        return None

    def _adjust(self, arr: npt.NDArray[np.uint64], return_address: bool) -> npt.NDArray[np.uint64]:
        """Return addresses past their function's entry become ``pc - 1``."""
        if not return_address:
            return arr
        return self.state.functions_of(arr, True)[0]

    def _lookup_functions(self, arr: npt.NDArray[np.uint64], return_address: bool) -> tuple[I64, list[tuple[Frame, ...]]]:
        """The per-function path: decode (and cache) only the functions the PCs touch."""
        arr, idx, valid = self.state.functions_of(arr, return_address)
        touched = np.unique(idx[valid]).tolist()
        # One range table over the touched functions: starts (sorted, since functions are sorted and
        # each function's ranges lie inside it) and their frame chains.
        parts: list[npt.NDArray[np.uint64]] = []
        chains: list[tuple[Frame, ...]] = []
        info_of = self.decoder.info
        for i in touched:
            info = info_of(i)
            parts.append(info.starts_np)
            chains.extend(info.frames)
        chains.append(())  # sentinel for PCs outside every function
        gstarts = np.concatenate(parts) if parts else np.zeros(0, dtype=np.uint64)
        ridx = np.searchsorted(gstarts, arr, side="right").astype(np.int64) - 1
        ridx = np.where(valid & (ridx >= 0), ridx, -1)
        return ridx, chains


def _stat_or_none(path: object) -> list[int] | None:
    from symkeep.symbolize.indexcache import stat_of

    try:
        return stat_of(str(path)) if path else None
    except OSError:
        return None


def open_go_binary(path: str | os.PathLike[str], arch: str | None = None, cache_bytes: int | None = None,
                   index: IndexCache | None = None) -> GoBinary:
    """Open ``path`` and prepare it for symbolization (raises NotGoError without a pclntab). ``index``:
    load the whole table from that symbol index cache, or build it once and save it there."""
    b = open_binary(path, arch)
    try:
        return GoBinary(b, cache_bytes=cache_bytes, index=index)
    except BaseException:
        b.close()
        raise


def _satisfies_protocol(g: GoBinary) -> GoEngine:
    """Never called: mypy --strict checks here that GoBinary implements the GoEngine contract."""
    return g
