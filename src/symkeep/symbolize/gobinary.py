"""GoBinary: symbolize PCs of a Go binary from its pclntab alone (works on fully stripped binaries).

Per function, the pcfile / pcln / inline-index tables are decoded once into a list of maximal PC
ranges with a constant frame chain (cached, LRU); a lookup is then a binary search for the function
(numpy ``searchsorted`` in batches) and one for the range.

Return addresses: ``return_address=True`` follows runtime.CallersFrames: when the PC is past its
function's entry it looks up ``pc - 1`` (the call instruction), otherwise ``pc`` itself.
"""

from __future__ import annotations

import gc
import os
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any, cast

import numpy as np
import numpy.typing as npt

from symkeep.binfmt import open_binary
from symkeep.binfmt.base import Binary
from symkeep.errors import FormatError, SymkeepError, UsageError
from symkeep.golang.bulk import BulkUnsupported, PcTables
from symkeep.golang.functab import Function, FunctionList, entries_to_pcs
from symkeep.golang.inline import InlineRecords, InlineTree
from symkeep.golang.moduledata import ModuleData, find_moduledata, resolve_text_start
from symkeep.golang.pcln_constants import (
    FUNCDATA_INL_TREE,
    FUNCDATA_INL_TREE_OLD,
    MAX_INLINE_DEPTH,
    PCDATA_INL_TREE_INDEX,
)
from symkeep.golang.pclntab import PclnLocation, PclnTab, RawFunc, find_pclntab
from symkeep.golang.pcvalue import PCTable, decode_pcvalue, decode_pcvalue_lists
from symkeep.symbolize.bulkchains import expand_slots
from symkeep.symbolize.columns import ChainColumns, RangeTable
from symkeep.symbolize.frames import Frame, PCRange

__all__ = ["GoBinary", "open_go_binary"]

_INFO_CACHE = 1 << 15
# Batches at least this large use the whole-pctab numpy decoder (golang.bulk) once built; smaller ones
# decode only the functions they touch (~0.3 ms each).
_BULK_MIN = 20_000
_BULK_REUSE_MIN = 512  # once the bulk tables exist, batches this large use them too
_EMPTY_LISTS: tuple[list[int], list[int]] = ([], [])
# Frozen slots dataclasses: building them through the slot descriptors skips the frozen __setattr__
# detour (millions of PCRange/Frame objects in a full decode). Same objects, same eq/hash.
_new = object.__new__


def _slot_setter(cls: type, name: str) -> Callable[[object, Any], None]:
    return cast("Callable[[object, Any], None]", cls.__dict__[name].__set__)


_PR_START, _PR_END, _PR_FRAMES = (_slot_setter(PCRange, n) for n in ("start", "end", "frames"))
_FR_FUNCTION, _FR_FILE, _FR_LINE, _FR_START_LINE, _FR_INLINED = (
    _slot_setter(Frame, n) for n in ("function", "file", "line", "start_line", "inlined")
)


@dataclass(slots=True)
class _FuncInfo:
    starts: list[int]  # range starts; the last range may be an "unknown" tail with frames ()
    starts_np: npt.NDArray[np.uint64]
    frames: list[tuple[Frame, ...]]
    end: int  # end of the last range


def _go_minor(version: str | None) -> int | None:
    if not version:
        return None
    try:
        from symkeep.golang.goversion import GoVersion

        return GoVersion.parse(version).minor
    except (SymkeepError, ImportError, ValueError):
        return None


class GoBinary:
    """A Go binary opened for symbolization. See HACKING.md for the contract."""

    def __init__(
        self, binary: Binary, go_version: str | None = None, location: PclnLocation | None = None
    ) -> None:
        self.binary = binary
        if go_version is None:
            try:
                from symkeep.golang.buildinfo import go_version as _gv

                go_version = _gv(binary)[0]
            except (SymkeepError, ImportError):
                go_version = None
        self.go_version: str | None = go_version
        self.location = location or find_pclntab(binary)
        view = binary.view(self.location.offset, self.location.size, what="pclntab")
        self.pclntab = PclnTab(view, self.location.vaddr, self.location)
        tab = self.pclntab
        self.moduledata: ModuleData | None = None
        if tab.generation != "1.2" or tab.vaddr:
            try:
                self.moduledata = find_moduledata(binary, tab, _go_minor(go_version))
            except SymkeepError:
                self.moduledata = None
        self.text_start, self.text_start_source = resolve_text_start(binary, tab, self.moduledata)
        sects = self.moduledata.textsectmap if self.moduledata else None
        ents = entries_to_pcs(tab.entries_raw, self.text_start, sects, tab.has_entry_offsets)
        self._entries: npt.NDArray[np.uint64] = ents
        self._entries_list: list[int] = [int(x) for x in ents.tolist()]
        self._nfunc = tab.nfunc
        self._raw_cache: dict[int, RawFunc] = {}
        self._info_cache: dict[int, _FuncInfo] = {}
        self._functions = FunctionList(tab.nfunc, self._make_function)
        self.gofunc = self._find_gofunc()
        self._frames: dict[tuple[str, str, int, int, bool], Frame] = {}
        self._chains: dict[tuple[int, ...], tuple[Frame, ...]] = {}
        self._inl_fd: int | None = None  # FUNCDATA index of the inline tree (3 or 4, see _inl_funcdata)
        self._bulk: PcTables | None = None
        self._bulk_failed = False
        self._bulk_slot_chains: list[tuple[Frame, ...] | None] | None = None
        self._bulk_built: npt.NDArray[np.bool_] = np.zeros(0, dtype=np.bool_)
        self._bulk_files: dict[tuple[int, int], str] = {}
        self._records: InlineRecords | None = None
        self._bulk_trees: dict[int, InlineTree | None] = {}
        self._names: dict[int, str] = {}  # nameOff -> function name (inline records repeat them)

    # -- setup -------------------------------------------------------------------------------------
    def _find_gofunc(self) -> int | None:
        if self.pclntab.generation not in ("1.18", "1.20"):
            return None  # older funcdata are absolute pointers
        if self.moduledata is not None and self.moduledata.gofunc:
            return self.moduledata.gofunc
        for name in ("go:func.*", "go.func.*"):
            try:
                s = self.binary.symbol_go(name)
            except SymkeepError:
                s = None
            if s is not None and s.value:
                return s.value
        return None

    @property
    def nfunc(self) -> int:
        return self._nfunc

    @property
    def entries(self) -> npt.NDArray[np.uint64]:
        """Sorted entry PCs (nfunc + 1 values; the last is the end of the last function)."""
        return self._entries

    def close(self) -> None:
        self.binary.close()

    def __enter__(self) -> GoBinary:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- functions ---------------------------------------------------------------------------------
    def _raw(self, i: int) -> RawFunc:
        r = self._raw_cache.get(i)
        if r is None:
            r = self.pclntab.read_func(i)
            self._raw_cache[i] = r
        return r

    def _table(self, raw: RawFunc, off: int, entry: int, limit: int) -> PCTable:
        if off == 0:
            return PCTable(entry, (), ())
        tab = self.pclntab
        try:
            return decode_pcvalue(tab.data, tab.pctab_base + off, entry, tab.quantum, limit)
        except FormatError:
            return PCTable(entry, (), ())

    def _make_function(self, i: int) -> Function:
        raw = self._raw(i)
        tab = self.pclntab
        entry = self._entries_list[i]
        end = self._entries_list[i + 1]
        try:
            name = tab.funcname(raw.name_off)
        except FormatError:
            name = "?"
        fno = self._table(raw, raw.pcfile, entry, entry + 1).value_at(entry)
        file = tab.file_name(raw.cu_offset, fno) if fno >= 0 else "?"
        return Function(i, name, entry, end, file, raw.start_line, raw.func_id, raw.flag)

    def functions(self) -> Sequence[Function]:
        """All functions sorted by entry (decoded lazily)."""
        return self._functions

    def function_index(self, pc: int) -> int:
        """Index of the function whose [entry, end) holds ``pc``, or -1."""
        i = bisect_right(self._entries_list, pc) - 1
        if 0 <= i < self._nfunc and pc < self._entries_list[i + 1]:
            return i
        return -1

    def function_at(self, pc: int) -> Function | None:
        i = self.function_index(pc)
        return self._functions[i] if i >= 0 else None

    # -- per-function decoding -----------------------------------------------------------------------
    def _inline_tree(self, raw: RawFunc) -> InlineTree | None:
        tab = self.pclntab
        if raw.npcdata <= PCDATA_INL_TREE_INDEX or raw.pcdata[PCDATA_INL_TREE_INDEX] == 0:
            return None
        fd = tab.funcdata_word(raw, self._inl_funcdata())
        if fd is None:
            return None
        if tab.generation in ("1.18", "1.20"):
            if self.gofunc is None:
                return None
            addr = self.gofunc + fd
        else:
            addr = fd
        return InlineTree(self.binary, addr, tab.generation == "1.20", tab.vaddr, tab.data)

    def _inl_funcdata(self) -> int:
        """FUNCDATA_InlTree: 4 for Go 1.12-1.15 (FUNCDATA_RegPointerMaps = 2 came first), 3 from 1.16.

        Measured on Go 1.16.3 release binaries: their inline records sit at funcdata[3]."""
        if self._inl_fd is None:
            self._inl_fd = FUNCDATA_INL_TREE_OLD if self.pclntab.generation == "1.2" else FUNCDATA_INL_TREE
        return self._inl_fd

    def _info(self, i: int) -> _FuncInfo:
        cache = self._info_cache
        info = cache.get(i)
        if info is not None:
            return info
        info = self._build_info(i)
        cache[i] = info
        if len(cache) > _INFO_CACHE:
            del cache[next(iter(cache))]  # evict the oldest (insertion order)
        return info

    def _frame(self, function: str, file: str, line: int, start_line: int, inlined: bool) -> Frame:
        """Interned Frame (identical frames are shared: less memory, cheaper equality)."""
        key = (function, file, line, start_line, inlined)
        f = self._frames.get(key)
        if f is None:
            f = _make_frame(function, file, line, start_line, inlined)
            self._frames[key] = f
        return f

    def _lists(self, off: int, entry: int, limit: int) -> tuple[list[int], list[int]]:
        """(ends, values) of the pcvalue table at pctab offset ``off``; empty when absent or unreadable."""
        if off == 0:
            return _EMPTY_LISTS
        tab = self.pclntab
        try:
            return decode_pcvalue_lists(tab.data, tab.pctab_base + off, entry, tab.quantum, limit)
        except FormatError:
            return _EMPTY_LISTS

    def _build_info(self, i: int) -> _FuncInfo:
        """Decode pcfile/pcln/pcinline of function ``i`` into maximal ranges with constant frame chains."""
        starts, frames, end = self._build_ranges(i)
        return _FuncInfo(starts, np.array(starts, dtype=np.uint64), frames, end)

    def _build_ranges(self, i: int) -> tuple[list[int], list[tuple[Frame, ...]], int]:
        """The merge behind :meth:`_build_info`: (range starts, frame chains, end of the last range).

        One walk over the line table's ranges, split where the file or inline index changes; chains
        are cached per (file, line, inline index) and the caller part of a chain per inline index.
        Frames and chains are interned across functions."""
        tab = self.pclntab
        fn = self._functions[i]
        raw = self._raw(i)
        entry, limit = fn.entry, fn.end
        fe, fv = self._lists(raw.pcfile, entry, limit)
        le, lv = self._lists(raw.pcln, entry, limit)
        tree = self._inline_tree(raw)
        if tree is not None:
            ie, iv = self._lists(raw.pcdata[PCDATA_INL_TREE_INDEX], entry, limit)
        else:
            ie, iv = _EMPTY_LISTS
        if raw.pcfile == 0 or raw.pcln == 0:
            # no line table at all (go:buildid, go:textfipsstart, ...): the function's name alone
            return [entry], [(self._frame(fn.name, "?", 0, fn.start_line, False),)], limit
        starts: list[int] = []
        frames: list[tuple[Frame, ...]] = []
        cover = entry if not fe or not le else min(fe[-1], le[-1])
        if cover > entry:
            fname, fstart = fn.name, fn.start_line
            cu = raw.cu_offset
            file_names: dict[int, str] = {}
            frames_d = self._frames
            chains_d = self._chains

            def frame(function: str, file: str, line: int, start_line: int, inlined: bool) -> Frame:
                key = (function, file, line, start_line, inlined)
                f = frames_d.get(key)
                if f is None:
                    f = _make_frame(function, file, line, start_line, inlined)
                    frames_d[key] = f
                return f

            def file_of(fno: int) -> str:
                name = file_names.get(fno)
                if name is None:
                    name = tab.file_name(cu, fno) if fno >= 0 else "?"
                    file_names[fno] = name
                return name

            def value_at(ends: list[int], vals: list[int], pc: int) -> int:
                if pc < entry:
                    return -1
                k = bisect_right(ends, pc)
                return vals[k] if k < len(ends) else -1

            outer_cache: dict[int, tuple[Frame, ...]] = {}

            def outer(ix: int) -> tuple[Frame, ...]:
                """Caller frames of inline record ``ix`` (everything above the innermost frame)."""
                got = outer_cache.get(ix)
                if got is not None:
                    return got
                out: list[Frame] = []
                seen = {ix}
                cur = ix
                while True:
                    rec = tree.get(cur) if tree is not None else None
                    pc = entry + rec.parent_pc if rec is not None else -1
                    if rec is None or not entry <= pc < limit:
                        # unreadable record or parent outside the function: end with the physical frame
                        out.append(frame(fname, "?", -1, fstart, False))
                        break
                    nix = value_at(ie, iv, pc)
                    file, line = file_of(value_at(fe, fv, pc)), value_at(le, lv, pc)
                    if nix < 0 or nix in seen or len(out) >= MAX_INLINE_DEPTH:
                        out.append(frame(fname, file, line, fstart, False))
                        break
                    seen.add(nix)
                    nrec = tree.get(nix) if tree is not None else None
                    if nrec is None:
                        out.append(frame(fname, file, line, fstart, False))
                        break
                    out.append(frame(self._name(nrec.name_off), file, line, nrec.start_line, True))
                    cur = nix
                res = tuple(out)
                outer_cache[ix] = res
                return res

            chain_cache: dict[tuple[int, int, int], tuple[Frame, ...]] = {}
            sa = starts.append
            fa = frames.append
            last: tuple[Frame, ...] | None = None
            nfe, nie = len(fe), len(ie)
            jf, ji = 0, 0
            f_end, f_val = fe[0], fv[0]
            if nie:
                i_end, i_val = ie[0], iv[0]
            else:
                i_end, i_val = cover, -1
            a = entry
            for l_end, l_val in zip(le, lv, strict=True):
                if l_end > cover:
                    l_end = cover
                while a < l_end:
                    e = l_end
                    if f_end < e:
                        e = f_end
                    if i_end < e:
                        e = i_end
                    key = (f_val, l_val, i_val)
                    ch = chain_cache.get(key)
                    if ch is None:
                        file = file_of(f_val)
                        rec = tree.get(i_val) if (i_val >= 0 and tree is not None) else None
                        if rec is None:
                            ch = (frame(fname, file, l_val, fstart, False),)
                        else:
                            inner = frame(self._name(rec.name_off), file, l_val, rec.start_line, True)
                            ch = (inner, *outer(i_val))
                        # intern chains: frames are interned, so equal chains have identical members
                        ch = chains_d.setdefault(tuple(map(id, ch)), ch)
                        chain_cache[key] = ch
                    if ch is not last:
                        sa(a)
                        fa(ch)
                        last = ch
                    a = e
                    if a >= f_end:
                        jf += 1
                        if jf < nfe:
                            f_end, f_val = fe[jf], fv[jf]
                        else:
                            f_end = cover
                    if a >= i_end:
                        ji += 1
                        if ji < nie:
                            i_end, i_val = ie[ji], iv[ji]
                        else:
                            i_end, i_val = cover, -1
                if a >= cover:
                    break
        if cover < limit:
            starts.append(max(cover, entry))
            frames.append(())
        if not starts:
            starts.append(entry)
            frames.append(())
        return starts, frames, limit

    def _names_of(self, name_offs: list[int]) -> list[str]:
        """:meth:`_name` of many offsets (the unknown ones decoded in one pass)."""
        cache = self._names
        missing = [o for o in name_offs if o not in cache]
        if missing:
            cache.update(zip(missing, self.pclntab.funcnames(missing), strict=True))
        return [cache[o] for o in name_offs]

    def _name(self, name_off: int) -> str:
        got = self._names.get(name_off)
        if got is not None:
            return got
        try:
            name = self.pclntab.funcname(name_off)
        except FormatError:
            name = "?"
        self._names[name_off] = name
        return name

    # -- lookups -----------------------------------------------------------------------------------
    def lookup(self, pc: int, return_address: bool = False) -> list[Frame]:
        """Frames at ``pc``, innermost first; [] when no function covers it (padding, data, ...).

        ``return_address=True``: ``pc`` is a return address (runtime.Callers, profiles); like
        runtime.CallersFrames, look up ``pc - 1`` when ``pc`` is past its function's entry.
        """
        ents = self._entries_list
        i = bisect_right(ents, pc) - 1
        if i < 0 or i >= self._nfunc or pc >= ents[i + 1]:
            return []
        if return_address and pc > ents[i]:
            pc -= 1
        info = self._info_cache.get(i) or self._info(i)
        return list(info.frames[bisect_right(info.starts, pc) - 1])

    def lookup_many(
        self, pcs: Iterable[int] | npt.NDArray[np.uint64], return_address: bool = False
    ) -> list[list[Frame]]:
        """Vectorized :meth:`lookup`: one ``searchsorted`` for the functions, then per-function ranges."""
        return list(map(list, self.lookup_chains(pcs, return_address)))

    def lookup_chains(
        self, pcs: Iterable[int] | npt.NDArray[np.uint64], return_address: bool = False
    ) -> list[tuple[Frame, ...]]:
        """Like :meth:`lookup_many` but returns the engine's shared (interned) chain tuples.

        Equal chains are the *same* object, so callers can cache per-chain work (formatting) by
        identity; ``()`` for unknown PCs. Do not mutate (tuples cannot be)."""
        ids, table = self.lookup_chain_ids(pcs, return_address)
        n = len(ids)
        if n == 0:
            return []
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            if n == 1:
                return [table[int(ids[0])]]
            return list(itemgetter(*ids.tolist())(table))
        finally:
            if was_enabled:
                gc.enable()

    def lookup_chain_ids(
        self, pcs: Iterable[int] | npt.NDArray[np.uint64], return_address: bool = False
    ) -> tuple[npt.NDArray[np.int64], list[tuple[Frame, ...]]]:
        """:meth:`lookup_chains` as ``(ids, table)``: the chain of ``pcs[k]`` is ``table[ids[k]]``.

        ``table[-1]`` is ``()`` and id -1 means unknown. Lets bulk callers work per distinct chain
        (``np.unique(ids)``) without materializing one Python reference per PC. Do not mutate ``table``."""
        arr = _as_pcs(pcs)
        # Millions of small objects would trigger the cyclic GC over and over (quadratic-looking slowdown).
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            return self._lookup_ids(arr, return_address)
        finally:
            if was_enabled:
                gc.enable()

    def lookup_columns(
        self, pcs: Iterable[int] | npt.NDArray[np.uint64], return_address: bool = False
    ) -> tuple[npt.NDArray[np.int64], ChainColumns]:
        """The distinct chains of ``pcs`` as columns: ``(ids, cols)``, the chain of ``pcs[k]`` is
        ``cols`` chain ``ids[k]`` (-1: unknown). Same frames as :meth:`lookup_chains`, without building
        Frame objects on the bulk path: for formatting hundreds of thousands of distinct chains."""
        arr = _as_pcs(pcs)
        n = len(arr)
        if n == 0 or self._nfunc == 0:
            return np.full(n, -1, dtype=np.int64), ChainColumns.empty()
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            if self._use_bulk(n):
                try:
                    bt = self._bulk_tables()
                    slot = self._slots_of(bt, arr, return_address)
                    return _slot_columns(slot, len(bt.slot_keys[0]), lambda u: self._expand(bt, u))
                except (SymkeepError, IndexError, ValueError, OverflowError, MemoryError):
                    self._bulk_failed = True
                    self._bulk = None
            arr, idx, valid = self._functions_of(arr, return_address)
            ids, table = self._lookup_ids_functions(arr, idx, valid)
            return _columns_of(
                ids,
                lambda u: ChainColumns.from_chains([table[i] for i in u.tolist()]),
                lambda u: np.array([bool(table[i]) for i in u.tolist()], dtype=np.bool_),
            )
        finally:
            if was_enabled:
                gc.enable()

    def _functions_of(
        self, arr: npt.NDArray[np.uint64], return_address: bool
    ) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
        """(pcs to look up, function index, inside a function) of every PC (one ``searchsorted``)."""
        ents = self._entries
        idx = np.searchsorted(ents, arr, side="right").astype(np.int64) - 1
        valid = (idx >= 0) & (idx < self._nfunc)
        valid &= arr < ents[np.clip(idx + 1, 0, self._nfunc)]
        if return_address:
            start = ents[np.clip(idx, 0, self._nfunc)]
            arr = np.where(valid & (arr > start), arr - np.uint64(1), arr)
        return arr, idx, valid

    def _use_bulk(self, n: int) -> bool:
        return (n >= _BULK_MIN or (self._bulk is not None and n >= _BULK_REUSE_MIN)) and not self._bulk_failed

    def _lookup_ids(
        self, arr: npt.NDArray[np.uint64], return_address: bool
    ) -> tuple[npt.NDArray[np.int64], list[tuple[Frame, ...]]]:
        n = len(arr)
        if n == 0 or self._nfunc == 0:
            return np.full(n, -1, dtype=np.int64), [()]
        if self._use_bulk(n):
            try:
                return self._lookup_bulk(arr, return_address)
            except (SymkeepError, IndexError, ValueError, OverflowError, MemoryError):
                # irregular tables (BulkUnsupported) or anything unexpected: the exact per-function path
                self._bulk_failed = True
                self._bulk = None
        arr, idx, valid = self._functions_of(arr, return_address)
        return self._lookup_ids_functions(arr, idx, valid)

    def _lookup_ids_functions(
        self, arr: npt.NDArray[np.uint64], idx: npt.NDArray[np.int64], valid: npt.NDArray[np.bool_]
    ) -> tuple[npt.NDArray[np.int64], list[tuple[Frame, ...]]]:
        """The per-function path: decode (and cache) only the functions the PCs touch."""
        touched = np.unique(idx[valid]).tolist()
        # One global range table over the touched functions: starts (sorted, since functions are
        # sorted and each function's ranges lie inside it) and their frame chains.
        starts_parts: list[npt.NDArray[np.uint64]] = []
        chains: list[tuple[Frame, ...]] = []
        info_of = self._info
        for i in touched:
            info = info_of(i)
            starts_parts.append(info.starts_np)
            chains.extend(info.frames)
        chains.append(())  # sentinel for PCs outside every function
        gstarts = np.concatenate(starts_parts) if starts_parts else np.zeros(0, dtype=np.uint64)
        ridx = np.searchsorted(gstarts, arr, side="right").astype(np.int64) - 1
        ridx = np.where(valid & (ridx >= 0), ridx, -1)
        return ridx, chains

    # -- bulk lookups (golang.bulk) -------------------------------------------------------------------
    def _bulk_tables(self) -> PcTables:
        if self._bulk is None:
            if self._bulk_failed:
                raise BulkUnsupported("bulk decoding already failed for this binary")
            self._bulk = PcTables(self.pclntab, self._entries)
        return self._bulk

    def _lookup_bulk(
        self, arr: npt.NDArray[np.uint64], return_address: bool
    ) -> tuple[npt.NDArray[np.int64], list[tuple[Frame, ...]]]:
        """:meth:`_lookup_ids` over the bulk-decoded tables: the slot of every PC, then one chain per
        distinct (function, file, line, inline) slot, kept across calls."""
        bt = self._bulk_tables()
        slot = self._slots_of(bt, arr, return_address)
        chains = self._bulk_slot_chains
        if chains is None:
            chains = [None] * (len(bt.slot_keys[0]) + 1)
            chains[-1] = ()  # slot -1: unknown
            self._bulk_slot_chains = chains
            self._bulk_built = np.zeros(len(chains), dtype=np.bool_)
            self._bulk_built[-1] = True
        built = self._bulk_built
        todo = slot[~built[slot]]
        if len(todo):
            todo = np.sort(todo)
            todo = todo[np.concatenate(([True], todo[1:] != todo[:-1]))]
            self._bulk_fill(bt, chains, todo.tolist())
            built[todo] = True
        return slot, cast("list[tuple[Frame, ...]]", chains)

    def _bulk_slots(
        self,
        bt: PcTables,
        arr: npt.NDArray[np.uint64],
        idx: npt.NDArray[np.int64] | None,
        valid: npt.NDArray[np.bool_] | None,
    ) -> npt.NDArray[np.int64]:
        """Slot of every PC (-1: unknown): one ``searchsorted`` over the global range table
        (``valid``: PCs inside a function; None = checked by the caller)."""
        r = bt.find(arr)
        ok = (r >= 0) if valid is None else (valid & (r >= 0))
        slot: npt.NDArray[np.int64] = np.where(ok, bt.slot[np.maximum(r, 0)], -1)
        return slot

    def _slots_of(self, bt: PcTables, arr: npt.NDArray[np.uint64], return_address: bool) -> npt.NDArray[np.int64]:
        """Slot of every PC (-1: unknown). Return addresses need the function first (pc - 1 only past
        its entry); plain PCs skip that search (:meth:`_bulk_slots_direct`)."""
        if return_address:
            arr, idx, valid = self._functions_of(arr, True)
            return self._bulk_slots(bt, arr, idx, valid)
        return self._bulk_slots_direct(bt, arr)

    def _bulk_slots_direct(self, bt: PcTables, arr: npt.NDArray[np.uint64]) -> npt.NDArray[np.int64]:
        """:meth:`_bulk_slots` without the function search: a slot names its function, and a PC
        belongs to it when it lies in [entry, end) (functions are contiguous, so this is exact)."""
        slot = self._bulk_slots(bt, arr, None, None)
        known = slot >= 0
        f = bt.slot_keys[0][np.maximum(slot, 0)]
        ents = self._entries
        inside = (arr >= ents[f]) & (arr < ents[f + 1])
        return np.where(known & inside, slot, -1)

    def _bulk_fill(self, bt: PcTables, chains: list[tuple[Frame, ...] | None], missing: list[int]) -> None:
        """Frame chains of the slots ``missing`` from :meth:`_expand` (interned like the per-function path)."""
        cols = self._expand(bt, np.asarray(missing, dtype=np.int64))
        frames_d = self._frames
        frames_get = frames_d.get
        chains_sd = self._chains.setdefault
        names, files = cols.names, cols.files
        rows: list[Frame] = []
        add = rows.append
        for n, f, ln, sl, il in zip(cols.name.tolist(), cols.file.tolist(), cols.line.tolist(),
                                    cols.start_line.tolist(), cols.inlined.tolist(), strict=True):
            key = (names[n], files[f], ln, sl, il)
            fr = frames_get(key)
            if fr is None:
                fr = _make_frame(*key)
                frames_d[key] = fr
            add(fr)
        offs = cols.off.tolist()
        for u, a, b in zip(missing, offs, offs[1:], strict=False):
            ch = tuple(rows[a:b])
            chains[u] = chains_sd(tuple(map(id, ch)), ch)

    def _expand(self, bt: PcTables, slots: npt.NDArray[np.int64]) -> ChainColumns:
        if self._records is None:
            loc = self.location
            self._records = InlineRecords(
                self.binary, self.pclntab.generation == "1.20", self.pclntab.vaddr, len(self.pclntab.data), loc.offset
            )
        files = self._bulk_files
        tab_file_name = self.pclntab.file_name

        def file_of(cu: int, fno: int) -> str:
            got = files.get((cu, fno))
            if got is None:
                got = tab_file_name(cu, fno) if fno >= 0 else "?"
                files[(cu, fno)] = got
            return got

        return expand_slots(bt, slots, self._tree_addrs, self._records, self._names_of, file_of)

    def _tree_addrs(self, funcs: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        """Inline tree address of each function (-1: none): gofunc + funcdata from the bulk tables'
        vectorized read (Go 1.18+), else :meth:`_inline_tree` per function."""
        bt = self._bulk
        if bt is not None and self.pclntab.generation in ("1.18", "1.20"):
            if self.gofunc is None:
                return np.full(len(funcs), -1, dtype=np.int64)
            fd = bt.inl_funcdata[funcs]
            return np.where(fd >= 0, fd + self.gofunc, -1)
        out = np.full(len(funcs), -1, dtype=np.int64)
        for k, f in enumerate(funcs.tolist()):
            tree = self._bulk_tree(f)
            if tree is not None:
                out[k] = tree.addr
        return out

    def _bulk_tree(self, f: int) -> InlineTree | None:
        if f in self._bulk_trees:
            return self._bulk_trees[f]
        try:
            tree = self._inline_tree(self._raw(f))
        except FormatError:
            tree = None
        self._bulk_trees[f] = tree
        return tree

    def ranges(self, func: Function | int) -> list[PCRange]:
        """Maximal [start, end) ranges of ``func`` with a constant frame chain (unknown parts omitted)."""
        i = func if isinstance(func, int) else func.index
        info = self._info(i)
        return _to_ranges(info.starts, info.frames, info.end)

    def iter_all_ranges(
        self, sp_deltas: bool = False, start: int = 0, stop: int | None = None
    ) -> Iterator[tuple[Function, list[PCRange], list[tuple[int, int, int]] | None]]:
        """Bulk decode: ``(function, ranges(function), sp_deltas(function) or None)`` for functions
        ``start..stop`` in entry order, without filling the per-function LRU cache.

        Memory stays bounded by one function's tables plus the interned frames/chains; meant for
        whole-binary consumers (restore, funcs --lines, benchmarks)."""
        n = self._nfunc
        stop = n if stop is None else min(stop, n)
        funcs = self._functions
        build = self._build_ranges
        for i in range(max(start, 0), stop):
            st, fr, end = build(i)
            yield funcs[i], _to_ranges(st, fr, end), (self.sp_deltas(i) if sp_deltas else None)

    def decode_all(self) -> RangeTable:
        """Decode everything at once: every function's line, file and inline tables and every inline
        chain, as one :class:`RangeTable` (numpy; the bulk decoder, or the per-function path for
        formats it declines)."""
        if not self._bulk_failed and self._nfunc:
            try:
                bt = self._bulk_tables()
                cols = self._expand(bt, np.arange(len(bt.slot_keys[0]), dtype=np.int64))
                keep = np.ones(len(bt.slot), dtype=np.bool_)  # maximal ranges: merge equal neighbours
                keep[1:] = bt.slot[1:] != bt.slot[:-1]
                return RangeTable(bt.starts[keep], bt.slot[keep], int(self._entries[-1]), cols)
            except (SymkeepError, IndexError, ValueError, OverflowError, MemoryError):
                self._bulk_failed = True
                self._bulk = None
        starts: list[int] = []
        chain_of: dict[int, int] = {}
        chains: list[tuple[Frame, ...]] = []
        ids: list[int] = []
        for i in range(self._nfunc):  # each function's ranges start at its entry: no gaps between
            st, fr, _end = self._build_ranges(i)
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
        return RangeTable(
            np.array(starts, dtype=np.uint64), np.array(ids, dtype=np.int64),
            int(self._entries[-1]) if self._nfunc else 0, ChainColumns.from_chains(chains),
        )

    def sp_deltas(self, func: Function | int) -> list[tuple[int, int, int]]:
        """(start, end, sp delta) ranges from the function's pcsp table."""
        i = func if isinstance(func, int) else func.index
        ents = self._entries_list
        if not 0 <= i < self._nfunc:
            raise IndexError(i)
        entry = ents[i]
        ends, vals = self._lists(self._raw(i).pcsp, entry, ents[i + 1])
        starts = [entry, *ends]
        starts.pop()  # a range starts at the entry or where the previous one ended
        return list(zip(starts, ends, vals, strict=True))


def _as_pcs(pcs: Iterable[int] | npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    try:
        arr = np.asarray(pcs if isinstance(pcs, np.ndarray) else list(pcs), dtype=np.uint64)
    except (OverflowError, ValueError, TypeError) as e:
        raise UsageError(f"PCs must be unsigned 64-bit integers: {e}") from e
    if arr.ndim != 1:
        raise UsageError("PCs must be a flat sequence")
    return arr


def _columns_of(
    ids: npt.NDArray[np.int64],
    build: Callable[[npt.NDArray[np.int64]], ChainColumns],
    known_chain: Callable[[npt.NDArray[np.int64]], npt.NDArray[np.bool_]] | None = None,
) -> tuple[npt.NDArray[np.int64], ChainColumns]:
    """Renumber chain ids to the distinct known ones and build their columns (``build(distinct ids)``).

    ``known_chain(distinct ids)``: False for ids whose chain is empty (unknown; they become -1)."""
    u = np.unique(ids[ids >= 0])
    if known_chain is not None:
        u = u[known_chain(u)]
    pos = np.searchsorted(u, ids)
    hit = (ids >= 0) & (pos < len(u))
    hit[hit] = u[pos[hit]] == ids[hit]
    out = np.where(hit, pos, -1).astype(np.int64)
    return out, build(u.astype(np.int64))


def _slot_columns(
    slot: npt.NDArray[np.int64], nslot: int, build: Callable[[npt.NDArray[np.int64]], ChainColumns]
) -> tuple[npt.NDArray[np.int64], ChainColumns]:
    """:func:`_columns_of` for bulk slots: a presence table instead of a sort (slots are dense)."""
    known = slot >= 0
    present = np.zeros(nslot + 1, dtype=np.bool_)
    present[slot[known]] = True
    present[-1] = False
    rank = np.cumsum(present, dtype=np.int64) - 1
    out = np.where(known, rank[slot], -1)
    return out, build(np.flatnonzero(present[:-1]).astype(np.int64))


def _to_ranges(starts: list[int], frames: list[tuple[Frame, ...]], end: int) -> list[PCRange]:
    """PCRange objects for the non-empty, known ranges of one function."""
    out: list[PCRange] = []
    add = out.append
    ends = starts[1:]
    ends.append(end)
    new, set_s, set_e, set_f = _new, _PR_START, _PR_END, _PR_FRAMES
    for a, b, ch in zip(starts, ends, frames, strict=True):
        if ch and b > a:
            r = new(PCRange)
            set_s(r, a)
            set_e(r, b)
            set_f(r, ch)
            add(r)
    return out


def _make_frame(function: str, file: str, line: int, start_line: int, inlined: bool) -> Frame:
    """``Frame(...)`` without the frozen dataclass' per-field ``object.__setattr__`` (2x faster)."""
    f = _new(Frame)
    _FR_FUNCTION(f, function)
    _FR_FILE(f, file)
    _FR_LINE(f, line)
    _FR_START_LINE(f, start_line)
    _FR_INLINED(f, inlined)
    return f


def open_go_binary(path: str | os.PathLike[str], arch: str | None = None) -> GoBinary:
    """Open ``path`` and prepare it for symbolization (raises NotGoError without a pclntab)."""
    b = open_binary(path, arch)
    try:
        return GoBinary(b)
    except BaseException:
        b.close()
        raise
