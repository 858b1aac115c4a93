"""OpenedBinary: what an engine fixes once at open time and never changes (safe to share across threads).

Opening finds the pclntab, the Go version, moduledata and the text start, turns the function table
into PCs, and validates the result in one place for every command (funcs, addr2line, restore,
inspect, symbolize), so a malformed binary gets the same answer (:class:`FormatError`, exit 6)
everywhere:

- a truncated file (headers that point past its end) is refused, as ``inspect`` always did;
- a header with no functions is refused: every Go binary has some;
- a text start that could not be determined is refused: Go 1.18+ function entries are offsets from
  it, so guessing 0 would shift every answer (the 1.26+ header leaves it 0 on purpose; moduledata,
  ``runtime.text`` or ``.text`` must give it).

The function *range* of function ``i`` is ``[entries[i], ends[i])``: ``ends[i]`` is the next entry,
except where the function is the last one of a text section followed by a gap (several text
sections, ``moduledata.textsectmap``): the gap belongs to no function.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from symkeep.binfmt.base import Binary
from symkeep.errors import FormatError, SymkeepError
from symkeep.golang.functab import entries_to_pcs
from symkeep.golang.goversion import go_minor
from symkeep.golang.moduledata import ModuleData, TextSect, find_moduledata, resolve_text_start
from symkeep.golang.pcln_constants import FUNCDATA_INL_TREE, FUNCDATA_INL_TREE_OLD
from symkeep.golang.pcln_locate import PclnLocation, find_pclntab, pclntab_bytes
from symkeep.golang.pclntab import PclnTab
from symkeep.symbolize.retaddr import functions_of

__all__ = ["OpenedBinary", "functions_of"]


_TRUNCATED = ("past end of file", "beyond end of file")


def _detect_go_version(binary: Binary) -> str | None:
    try:
        from symkeep.golang.buildinfo import go_version

        return go_version(binary)[0]
    except SymkeepError:
        return None


class OpenedBinary:
    """The immutable state of an opened Go binary (see the module docstring)."""

    def __init__(self, binary: Binary, go_version: str | None = None, location: PclnLocation | None = None) -> None:
        self.binary = binary
        self.opened_stat: list[int] | None = None  # (dev, ino, size, mtime, ctime) before reading, when indexed
        binary.segments()  # headers are read lazily: their warnings exist only once read
        binary.sections()
        cut = next((w for w in getattr(binary, "warnings", ()) if any(t in w for t in _TRUNCATED)), None)
        if cut is not None:
            raise FormatError(f"{binary.path}: file is truncated ({binary.length} bytes): {cut}")
        self.go_version: str | None = go_version if go_version is not None else _detect_go_version(binary)
        self.location: PclnLocation = location or find_pclntab(binary)
        self.pclntab = PclnTab(pclntab_bytes(binary, self.location), self.location.vaddr, self.location)
        tab = self.pclntab
        if tab.nfunc == 0:
            raise FormatError(f"{binary.path}: the pclntab lists no functions (nfunc = 0)", 8, 0, what="pclntab")
        self.moduledata: ModuleData | None = None
        if tab.generation != "1.2" or tab.vaddr:
            try:
                self.moduledata = find_moduledata(binary, tab, go_minor(self.go_version))
            except SymkeepError:
                self.moduledata = None
        self.text_start, self.text_start_source = resolve_text_start(binary, tab, self.moduledata)
        if tab.has_entry_offsets and self.text_start_source == "none":
            raise FormatError(
                f"{binary.path}: cannot determine the text start (no runtime.text symbol, no moduledata, "
                "no text start in the pclntab header, no .text section): function addresses would be wrong",
                what="text start",
            )
        sects = self.moduledata.textsectmap if self.moduledata else None
        ents = entries_to_pcs(tab.entries_raw, self.text_start, sects, tab.has_entry_offsets)
        self._check_entries(ents)
        self.entries: npt.NDArray[np.uint64] = ents
        self.entries_list: list[int] = [int(x) for x in ents.tolist()]
        self.nfunc: int = tab.nfunc
        self.ends: npt.NDArray[np.uint64] = self._range_ends(sects)
        self.ends_list: list[int] = [int(x) for x in self.ends.tolist()]
        self.gofunc: int | None = self._find_gofunc()
        # FUNCDATA_InlTree: 4 for Go 1.12-1.15 (FUNCDATA_RegPointerMaps = 2 came first), 3 from 1.16
        # (measured on Go 1.16.3 release binaries: their inline records sit at funcdata[3]).
        self.inl_funcdata: int = FUNCDATA_INL_TREE_OLD if tab.generation == "1.2" else FUNCDATA_INL_TREE
        self.new_inline_layout: bool = tab.generation == "1.20"

    def _check_entries(self, ents: npt.NDArray[np.uint64]) -> None:
        """The function table in PC space must be sorted (no wrap-around past the address space) and
        lie in the binary's executable segments: a wrong text start is refused, never used."""
        b = self.binary
        limit = 1 << (8 * self.pclntab.ptrsize)
        first, last = int(ents[0]), int(ents[-1])
        raw_max = int(self.pclntab.entries_raw.max()) if self.pclntab.has_entry_offsets else 0
        if self.text_start + raw_max >= limit or last >= limit or bool(np.any(ents[1:] < ents[:-1])):
            raise FormatError(f"{b.path}: function addresses run past the address space (text start "
                              f"{self.text_start:#x} from {self.text_start_source})", what="function table")
        text = [s for s in b.segments() if s.load and s.execute and s.memsz]
        ends = (first, max(last - 1, first))  # the first and the last byte of the text
        if text and not all(any(s.vaddr <= x < s.vaddr + s.memsz for s in text) for x in ends):
            raise FormatError(
                f"{b.path}: functions at {first:#x}..{last:#x} lie outside the executable segments "
                f"(text start {self.text_start:#x} from {self.text_start_source})", what="function table")

    def _range_ends(self, sects: list[TextSect] | None) -> npt.NDArray[np.uint64]:
        """End of each function's range: the next entry, or the end of its text section when a gap
        between sections follows (the gap is no function's)."""
        ents = self.entries
        ends = ents[1:].copy()
        if sects and len(sects) > 1 and self.pclntab.has_entry_offsets:
            sect_end = np.array([s.end - s.vaddr + s.baseaddr for s in sects], dtype=np.uint64)
            sect_base = np.array([s.baseaddr for s in sects], dtype=np.uint64)
            which = np.clip(np.searchsorted(sect_base, ents[:-1], side="right").astype(np.int64) - 1, 0, None)
            lim = sect_end[which]
            ends = np.where((lim > ents[:-1]) & (lim < ends), lim, ends)
        return ends.astype(np.uint64)

    def _find_gofunc(self) -> int | None:
        if not self.pclntab.has_entry_offsets:
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

    def function_index(self, pc: int) -> int:
        """Index of the function whose range holds ``pc``, or -1."""
        from bisect import bisect_right

        i = bisect_right(self.entries_list, pc) - 1
        if 0 <= i < self.nfunc and pc < self.ends_list[i]:
            return i
        return -1

    def functions_of(
        self, pcs: npt.NDArray[np.uint64], return_address: bool
    ) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
        """(PCs to look up, function index, inside a function's range) of every PC; with
        ``return_address`` a PC past its function's entry becomes ``pc - 1`` (runtime.CallersFrames)."""
        return functions_of(self.entries, self.ends, pcs, return_address)
