"""The whole-binary table: every PC range of a binary with its frame chain, built once per engine.

It is the one whole-binary decode: large lookup batches (addr2line, symbolize), ``ranges()`` when a
caller walks every function (restore), ``decode_all()`` and the per-build symbol index all read this
table. Built by the numpy decoder (``golang.bulk`` + ``symbolize.bulkchains``, ~1 s for a 20k-function
binary) or, when that declines an irregular or pre-1.16 table, from the exact per-function decoder;
both give the same ranges and chains.

:class:`TableHolder` is the small state machine around it: build at most once (one thread builds,
the others wait), remember that the numpy decoder declined, and fall back to the exact decoder only
where a caller needs the whole table (not for a lookup batch, which can decode just the functions it
touches).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Literal

import numpy as np
import numpy.typing as npt

from symkeep.errors import SymkeepError
from symkeep.golang.bulk import BucketIndex, PcTables
from symkeep.golang.inline import InlineRecords
from symkeep.symbolize.bulkchains import expand_slots
from symkeep.symbolize.cache import EngineCache
from symkeep.symbolize.columns import ChainColumns, RangeTable
from symkeep.symbolize.frames import Frame, PCRange, to_ranges
from symkeep.symbolize.funcdecode import FunctionDecoder
from symkeep.symbolize.opened import OpenedBinary
from symkeep.symbolize.tablelookup import TableLookups

__all__ = ["TableHolder", "TableKind", "WholeTable", "build_bulk", "build_exact"]

I64 = npt.NDArray[np.int64]
TableKind = Literal["none", "bulk", "exact", "index", "declined"]
# What an irregular table can raise inside the numpy decoder besides BulkUnsupported.
_DECLINE = (SymkeepError, IndexError, ValueError, OverflowError, MemoryError)


class WholeTable(TableLookups):
    """A :class:`RangeTable` plus what lookups need (:class:`TableLookups`: a bucket index over its
    starts, chain objects), the first range of every function (``ranges()``), and (exact build) the
    chains as Frame objects."""

    def __init__(self, state: OpenedBinary | None, table: RangeTable, kind: Literal["bulk", "exact", "index"],
                 objects: list[tuple[Frame, ...]] | None = None, index: BucketIndex | None = None,
                 func_first: I64 | None = None) -> None:
        super().__init__(table, index, objects)
        self.state = state  # None: a table loaded from a symbol index alone (lookups only, no ranges())
        self.kind = kind
        if func_first is None:
            func_first = (np.searchsorted(table.starts, state.entries, side="left").astype(np.int64)
                          if state is not None else np.zeros(0, dtype=np.int64))
        self.func_first: I64 = func_first

    @property
    def nbytes(self) -> int:
        t = self.table
        return int(t.starts.nbytes + t.chain.nbytes + self.func_first.nbytes) + self.index.nbytes + t.cols.nbytes

    def ranges(self, i: int, cache: EngineCache) -> list[PCRange]:
        """Maximal ranges of function ``i`` (equal neighbouring chains merged), like the per-function
        decoder's."""
        t = self.table
        assert self.state is not None, "ranges() needs the opened binary"
        a, b = int(self.func_first[i]), int(self.func_first[i + 1])
        if i + 1 >= self.state.nfunc:
            b = max(b, len(t.starts))
        starts = t.starts[a:b].tolist()
        chains = self.chain_objects(t.chain[a:b].tolist(), cache, keep=False)
        keep_s: list[int] = []
        keep_c: list[tuple[Frame, ...]] = []
        last: tuple[Frame, ...] | None = None
        for s, ch in zip(starts, chains, strict=True):
            if ch is not last:
                keep_s.append(s)
                keep_c.append(ch)
                last = ch
        return to_ranges(keep_s, keep_c, self.state.entries_list[i + 1])


def build_bulk(state: OpenedBinary, dec: FunctionDecoder) -> WholeTable:
    """The table from the numpy decoder (raises BulkUnsupported, or anything an irregular table
    provokes, when it declines)."""
    tab = state.pclntab
    bt = PcTables(tab, state.entries, state.ends)
    loc = state.location
    records = InlineRecords(state.binary, state.new_inline_layout, tab.vaddr, len(tab.data), loc.offset)

    def tree_addrs(funcs: I64) -> I64:
        """Inline tree address of each function (-1: none): gofunc + funcdata (Go 1.18+, read in
        bulk), else through the per-function record."""
        if tab.has_entry_offsets:
            if state.gofunc is None:
                return np.full(len(funcs), -1, dtype=np.int64)
            fd = bt.inl_funcdata[funcs]
            return np.where(fd >= 0, fd + state.gofunc, -1)
        out = np.full(len(funcs), -1, dtype=np.int64)
        for k, f in enumerate(funcs.tolist()):
            try:
                tree = dec.inline_tree(dec.raw(f))
            except SymkeepError:
                tree = None
            if tree is not None:
                out[k] = tree.addr
        return out

    files: dict[tuple[int, int], str] = {}

    def file_of(cu: int, fno: int) -> str:
        got = files.get((cu, fno))
        if got is None:
            got = files[(cu, fno)] = tab.file_name(cu, fno) if fno >= 0 else "?"
        return got

    cols = expand_slots(bt, np.arange(len(bt.slot_keys[0]), dtype=np.int64), tree_addrs, records,
                        tab.funcnames, file_of)
    keep = np.ones(len(bt.slot), dtype=np.bool_)  # maximal ranges: merge equal neighbours
    keep[1:] = bt.slot[1:] != bt.slot[:-1]
    table = RangeTable(bt.starts[keep], bt.slot[keep], int(state.entries[-1]), cols)
    return WholeTable(state, table, "bulk")


def build_exact(state: OpenedBinary, dec: FunctionDecoder) -> WholeTable:
    """The table from the per-function decoder (every function decoded once, not cached)."""
    starts: list[int] = []
    chain_of: dict[int, int] = {}
    chains: list[tuple[Frame, ...]] = []
    ids: list[int] = []
    for i in range(state.nfunc):  # each function's ranges start at its entry: no gaps between
        st, fr, _end = dec.build(i)
        for a, ch in zip(st, fr, strict=True):
            starts.append(a)
            if not ch:
                ids.append(-1)
                continue
            c = chain_of.get(id(ch))
            if c is None:
                c = chain_of[id(ch)] = len(chains)
                chains.append(ch)
            ids.append(c)
    table = RangeTable(np.array(starts, dtype=np.uint64), np.array(ids, dtype=np.int64),
                       int(state.entries[-1]), ChainColumns.from_chains(chains))
    return WholeTable(state, table, "exact", chains)


class TableHolder:
    """Builds the :class:`WholeTable` at most once, thread-safe (see the module docstring)."""

    def __init__(self, bulk: Callable[[], WholeTable], exact: Callable[[], WholeTable],
                 load: Callable[[], WholeTable | None] | None = None,
                 save: Callable[[WholeTable], None] | None = None) -> None:
        self._bulk, self._exact = bulk, exact
        self._load, self._save = load, save
        self._lock = threading.Lock()
        self._table: WholeTable | None = None
        self._declined: str | None = None

    @property
    def table(self) -> WholeTable | None:
        """The table if it was built already."""
        return self._table

    @property
    def kind(self) -> TableKind:
        if self._table is not None:
            return self._table.kind
        return "declined" if self._declined is not None else "none"

    @property
    def declined(self) -> str | None:
        """Why the numpy decoder declined this binary (None: it did not, or was not tried)."""
        return self._declined

    def get(self, exact: bool) -> WholeTable | None:
        """The table, building it now if needed. ``exact=False``: only the numpy decoder is tried
        (None when it declines); ``exact=True``: fall back to the per-function decoder."""
        t = self._table
        if t is not None or (self._declined is not None and not exact):
            return t
        with self._lock:
            if self._table is None and self._load is not None:
                self._table = self._load()  # a symbol index: no decoding at all
                load, self._load = self._load, None
                if self._table is not None:
                    return self._table
                del load
            built = False
            if self._table is None and self._declined is None:
                try:
                    self._table = self._bulk()
                    built = True
                except _DECLINE as e:
                    self._declined = str(e) or type(e).__name__
            if self._table is None and exact:
                self._table = self._exact()
                built = True
            if built and self._table is not None and self._save is not None:
                self._save(self._table)
            return self._table
