"""FunctionDecoder: one function's tables -> maximal PC ranges with their frame chains (exact, per function).

This is the reference decoder: it reads one ``_func`` record, decodes its pcfile / pcln / pcinline
programs (``golang.pcvalue``, bounded by the function's size) and walks its inline tree like
runtime.inlineUnwinder. Results are cached in the engine's byte-bounded :class:`EngineCache`, and
frames and chains are interned there, so equal frames of different functions are one object.

Answers over a function's range ``[entry, end)``:
- PCs covered by the line and file tables: their chain (innermost first);
- PCs past the tables (the alignment bytes at the end of the function): the function's name alone,
  ``Frame(name, "?", 0, ...)``, as for functions without tables (``go:buildid``) and as
  ``go tool addr2line`` answers (name, line -1);
- nothing outside any function's range.
The bulk decoder (``golang.bulk`` + ``symbolize.bulkchains``) gives the same answers for a whole
binary; ``tests/golang/test_bulk.py`` keeps the two equal frame for frame.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from symkeep.errors import FormatError
from symkeep.golang.functab import Function
from symkeep.golang.inline import InlineTree
from symkeep.golang.pcln_constants import MAX_INLINE_DEPTH, PCDATA_INL_TREE_INDEX
from symkeep.golang.pclntab import RawFunc
from symkeep.golang.pcvalue import PCTable, decode_pcvalue_lists
from symkeep.symbolize.cache import EngineCache
from symkeep.symbolize.frames import Frame, PCRange, to_ranges
from symkeep.symbolize.opened import OpenedBinary

__all__ = ["FuncRanges", "FunctionDecoder", "TableKind"]

TableKind = Literal["pcsp", "pcfile", "pcln", "pcinline"]
_EMPTY_LISTS: tuple[list[int], list[int]] = ([], [])


@dataclass(slots=True)
class FuncRanges:
    """One function decoded: ``starts[k]`` begins a range with chain ``frames[k]`` (``()`` = unknown),
    the last range ends at ``end`` (the next function's entry)."""

    starts: list[int]
    starts_np: npt.NDArray[np.uint64]
    frames: list[tuple[Frame, ...]]
    end: int

    @property
    def nbytes(self) -> int:
        """Estimated size (the lists, their ints and the array; chains are charged when interned)."""
        return 400 + 80 * len(self.starts)


class FunctionDecoder:
    """Per-function decoding over an :class:`OpenedBinary`, cached in an :class:`EngineCache`."""

    def __init__(self, state: OpenedBinary, cache: EngineCache) -> None:
        self.state = state
        self.cache = cache

    # -- records ---------------------------------------------------------------------------------
    def raw(self, i: int) -> RawFunc:
        """The ``_func`` record of function ``i`` (FormatError when unreadable)."""
        return self.state.pclntab.read_func(i)

    def function(self, i: int) -> Function:
        """Function ``i`` (cached)."""
        key = ("fn", i)
        got: Function | None = self.cache.get(key)
        if got is not None:
            return got
        st = self.state
        tab = st.pclntab
        entry, end = st.entries_list[i], st.entries_list[i + 1]
        try:
            raw = self.raw(i)
        except FormatError:
            return self.cache.put(key, Function(i, "?", entry, end, "?", 0, 0, 0), 200)
        try:
            name = tab.funcname(raw.name_off)
        except FormatError:
            name = "?"
        fe, fv = self._lists(raw.pcfile, entry, entry + 1)
        fno = fv[0] if fe else -1
        file = tab.file_name(raw.cu_offset, fno) if fno >= 0 else "?"
        fn = Function(i, name, entry, end, file, raw.start_line, raw.func_id, raw.flag)
        return self.cache.put(key, fn, 200 + len(name))

    def name(self, name_off: int) -> str:
        try:
            return self.state.pclntab.funcname(name_off)
        except FormatError:
            return "?"

    def inline_tree(self, raw: RawFunc) -> InlineTree | None:
        """The inline tree of a function (None: it has none, or it cannot be located)."""
        st = self.state
        tab = st.pclntab
        if raw.npcdata <= PCDATA_INL_TREE_INDEX or raw.pcdata[PCDATA_INL_TREE_INDEX] == 0:
            return None
        fd = tab.funcdata_word(raw, st.inl_funcdata)
        if fd is None:
            return None
        if tab.has_entry_offsets:
            if st.gofunc is None:
                return None
            addr = st.gofunc + fd
        else:
            addr = fd
        return InlineTree(st.binary, addr, st.new_inline_layout, tab.vaddr, tab.data)

    def table(self, i: int, kind: TableKind) -> PCTable:
        """One decoded pcvalue table of function ``i`` (empty when absent or unreadable)."""
        raw = self.raw(i)
        off = {"pcsp": raw.pcsp, "pcfile": raw.pcfile, "pcln": raw.pcln}.get(kind)
        if off is None:
            off = raw.pcdata[PCDATA_INL_TREE_INDEX] if raw.npcdata > PCDATA_INL_TREE_INDEX else 0
        entry, end = self.state.entries_list[i], self.state.entries_list[i + 1]
        ends, vals = self._lists(off, entry, end)
        return PCTable(entry, tuple(ends), tuple(vals))

    def _lists(self, off: int, entry: int, limit: int) -> tuple[list[int], list[int]]:
        """(ends, values) of the pcvalue table at pctab offset ``off``; empty when absent or unreadable."""
        if off == 0:
            return _EMPTY_LISTS
        tab = self.state.pclntab
        try:
            return decode_pcvalue_lists(tab.data, tab.pctab_base + off, entry, tab.quantum, limit)
        except FormatError:
            return _EMPTY_LISTS

    # -- ranges ----------------------------------------------------------------------------------
    def info(self, i: int) -> FuncRanges:
        """Function ``i`` decoded (cached)."""
        key = ("rng", i)
        got: FuncRanges | None = self.cache.get(key)
        if got is not None:
            return got
        starts, frames, end = self.build(i)
        info = FuncRanges(starts, np.array(starts, dtype=np.uint64), frames, end)
        return self.cache.put(key, info, info.nbytes)

    def ranges(self, i: int) -> list[PCRange]:
        info = self.info(i)
        return to_ranges(info.starts, info.frames, info.end)

    def sp_deltas(self, i: int) -> list[tuple[int, int, int]]:
        """(start, end, sp delta) ranges from the function's pcsp table."""
        st = self.state
        if not 0 <= i < st.nfunc:
            raise IndexError(i)
        entry = st.entries_list[i]
        try:
            off = self.raw(i).pcsp
        except FormatError:
            return []
        ends, vals = self._lists(off, entry, st.entries_list[i + 1])
        starts = [entry, *ends]
        starts.pop()  # a range starts at the entry or where the previous one ended
        return list(zip(starts, ends, vals, strict=True))

    def build(self, i: int) -> tuple[list[int], list[tuple[Frame, ...]], int]:
        """Decode pcfile/pcln/pcinline of function ``i``: (range starts, frame chains, end of the last).

        One walk over the line table's ranges, split where the file or inline index changes; chains
        are cached per (file, line, inline index) and the caller part of a chain per inline index.
        Frames and chains are interned in the engine cache."""
        st = self.state
        cache = self.cache
        entry, next_entry = st.entries_list[i], st.entries_list[i + 1]
        limit = st.ends_list[i]  # the function's range ends here (before a gap between text sections)
        fn = self.function(i)
        try:
            raw = self.raw(i)
        except FormatError:
            raw = None
        name_only = (cache.chain((cache.frame(fn.name, "?", 0, fn.start_line, False),)),)
        starts: list[int] = []
        frames: list[tuple[Frame, ...]] = []
        if raw is not None and raw.pcfile and raw.pcln:
            fe, fv = self._lists(raw.pcfile, entry, limit)
            le, lv = self._lists(raw.pcln, entry, limit)
            cover = entry if not fe or not le else min(fe[-1], le[-1])
            if cover > entry:
                tree = self.inline_tree(raw)
                if tree is not None:
                    ie, iv = self._lists(raw.pcdata[PCDATA_INL_TREE_INDEX], entry, limit)
                else:
                    ie, iv = _EMPTY_LISTS
                _Walk(self, fn, raw, tree, (fe, fv), (le, lv), (ie, iv), cover, limit).run(starts, frames)
        else:
            cover = entry  # no line table at all (go:buildid, go:textfipsstart, ...): the name alone
        if cover < limit:
            # past the tables (alignment bytes at the end): the function's name alone
            starts.append(max(cover, entry))
            frames.append(name_only[0])
        if limit < next_entry:
            starts.append(limit)  # a gap between text sections: no function's
            frames.append(())
        if not starts:
            starts.append(entry)
            frames.append(())
        return starts, frames, next_entry


class _Walk:
    """The merge behind :meth:`FunctionDecoder.build` for one function (state kept in locals)."""

    def __init__(self, dec: FunctionDecoder, fn: Function, raw: RawFunc, tree: InlineTree | None,
                 f: tuple[list[int], list[int]], ln: tuple[list[int], list[int]],
                 inl: tuple[list[int], list[int]], cover: int, limit: int) -> None:
        self.dec, self.fn, self.raw, self.tree = dec, fn, raw, tree
        self.fe, self.fv = f
        self.le, self.lv = ln
        self.ie, self.iv = inl
        self.cover, self.limit = cover, limit
        self.file_names: dict[int, str] = {}
        self.outer_cache: dict[int, tuple[Frame, ...]] = {}

    def file_of(self, fno: int) -> str:
        name = self.file_names.get(fno)
        if name is None:
            name = self.dec.state.pclntab.file_name(self.raw.cu_offset, fno) if fno >= 0 else "?"
            self.file_names[fno] = name
        return name

    def value_at(self, ends: list[int], vals: list[int], pc: int) -> int:
        if pc < self.fn.entry:
            return -1
        k = bisect_right(ends, pc)
        return vals[k] if k < len(ends) else -1

    def outer(self, ix: int) -> tuple[Frame, ...]:
        """Caller frames of inline record ``ix`` (everything above the innermost frame)."""
        got = self.outer_cache.get(ix)
        if got is not None:
            return got
        frame = self.dec.cache.frame
        fname, fstart, entry, tree = self.fn.name, self.fn.start_line, self.fn.entry, self.tree
        out: list[Frame] = []
        seen = {ix}
        cur = ix
        while True:
            rec = tree.get(cur) if tree is not None else None
            pc = entry + rec.parent_pc if rec is not None else -1
            if rec is None or not entry <= pc < self.limit:
                # unreadable record or parent outside the function: end with the physical frame
                out.append(frame(fname, "?", -1, fstart, False))
                break
            nix = self.value_at(self.ie, self.iv, pc)
            file, line = self.file_of(self.value_at(self.fe, self.fv, pc)), self.value_at(self.le, self.lv, pc)
            if nix < 0 or nix in seen or len(out) >= MAX_INLINE_DEPTH:
                out.append(frame(fname, file, line, fstart, False))
                break
            seen.add(nix)
            nrec = tree.get(nix) if tree is not None else None
            if nrec is None:
                out.append(frame(fname, file, line, fstart, False))
                break
            out.append(frame(self.dec.name(nrec.name_off), file, line, nrec.start_line, True))
            cur = nix
        res = tuple(out)
        self.outer_cache[ix] = res
        return res

    def run(self, starts: list[int], frames: list[tuple[Frame, ...]]) -> None:
        """Append the ranges over ``[entry, cover)`` to ``starts``/``frames``."""
        cache = self.dec.cache
        frame, intern = cache.frame, cache.chain
        fname, fstart, tree = self.fn.name, self.fn.start_line, self.tree
        fe, fv, ie, iv, cover = self.fe, self.fv, self.ie, self.iv, self.cover
        chain_cache: dict[tuple[int, int, int], tuple[Frame, ...]] = {}
        sa, fa = starts.append, frames.append
        last: tuple[Frame, ...] | None = None
        nfe, nie = len(fe), len(ie)
        jf, ji = 0, 0
        f_end, f_val = fe[0], fv[0]
        if nie:
            i_end, i_val = ie[0], iv[0]
        else:
            i_end, i_val = cover, -1
        a = self.fn.entry
        for l_end, l_val in zip(self.le, self.lv, strict=True):
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
                    file = self.file_of(f_val)
                    rec = tree.get(i_val) if (i_val >= 0 and tree is not None) else None
                    if rec is None:
                        ch = (frame(fname, file, l_val, fstart, False),)
                    else:
                        inner = frame(self.dec.name(rec.name_off), file, l_val, rec.start_line, True)
                        ch = (inner, *self.outer(i_val))
                    ch = intern(ch)  # frames are interned, so equal chains have identical members
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
