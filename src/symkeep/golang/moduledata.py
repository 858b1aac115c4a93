"""Find runtime.firstmoduledata and read the fields symbolization needs (text, etext, gofunc, textsectmap).

moduledata is found by scanning writable data (and ``.go.module`` on Go 1.26+) for a word equal to the
pclntab's address, then confirmed structurally: the slice fields must point at the pclntab's own
sub-tables. The field layout changed in 1.18, 1.20, 1.26 and 1.27; each candidate layout is tried
(the one matching the Go version first) and accepted only when its ``textsectmap`` slice is
well formed, so a wrong version guess cannot produce wrong addresses.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

import numpy as np

from symkeep.binfmt.base import Binary
from symkeep.errors import FormatError
from symkeep.golang.pcln_constants import (
    MAX_TEXT_SECTIONS,
    MD12_ETEXT,
    MD12_FTAB,
    MD12_TEXT,
    MD_CUTAB,
    MD_ETEXT,
    MD_FILETAB,
    MD_FINDFUNCTAB,
    MD_FTAB,
    MD_FUNCNAMETAB,
    MD_MAXPC,
    MD_MINPC,
    MD_PCLNTABLE,
    MD_PCTAB,
    MD_TEXT,
    MODULE_LAYOUTS,
    ModuleLayout,
)
from symkeep.golang.pclntab import PclnTab

__all__ = ["ModuleData", "TextSect", "find_moduledata", "resolve_text_start"]


@dataclass(frozen=True)
class TextSect:
    """runtime.textsect: [vaddr, end) in the concatenated text "offset space", loaded at baseaddr."""

    vaddr: int
    end: int
    baseaddr: int


@dataclass
class ModuleData:
    address: int  # link-time address of the moduledata struct
    layout: str  # "1.27", "1.26", "1.20", "1.18", "1.16" or "1.2"
    text: int
    etext: int
    minpc: int
    maxpc: int
    findfunctab: int = 0
    gofunc: int | None = None
    epclntab: int | None = None
    textsectmap: list[TextSect] = field(default_factory=list)


def _scan_regions(bin: Binary) -> list[tuple[int, int, int]]:
    """(file offset, size, vaddr) of the places moduledata can live, most specific first."""
    out: list[tuple[int, int, int]] = []
    names = (".go.module", "__go_module", ".noptrdata", "__noptrdata", ".data", "__data")
    for n in names:
        s = bin.section(n)
        if s is not None and s.file_size:
            out.append((s.offset, s.file_size, s.addr))
    for seg in bin.segments():
        if seg.load and seg.write and seg.filesz:
            out.append((seg.offset, seg.filesz, seg.vaddr))
    if not out:
        for sec in bin.sections():
            if sec.alloc and sec.write and sec.file_size:
                out.append((sec.offset, sec.file_size, sec.addr))
    return out


class _Words:
    """Word reader at a link-time address (Mach-O pointers go through read_pointer for chained fixups)."""

    def __init__(self, bin: Binary, addr: int, ptrsize: int) -> None:
        self.bin = bin
        self.addr = addr
        self.ps = ptrsize

    def __call__(self, i: int) -> int:
        a = self.addr + i * self.ps
        if self.bin.format == "macho":
            return self.bin.read_pointer(a)
        raw = self.bin.read_vaddr(a, self.ps, what="moduledata")
        return int.from_bytes(raw, self.bin.byteorder)

    def raw(self, i: int) -> int:
        raw = self.bin.read_vaddr(self.addr + i * self.ps, self.ps, what="moduledata")
        return int.from_bytes(raw, self.bin.byteorder)


def _candidates(bin: Binary, target: int, ps: int) -> list[int]:
    """Addresses of aligned words equal to ``target`` (or its chained-fixup form on Mach-O)."""
    dt = np.dtype(("<" if bin.byteorder == "little" else ">") + ("u8" if ps == 8 else "u4"))
    found: list[int] = []
    seen: set[tuple[int, int]] = set()
    for off, size, vaddr in _scan_regions(bin):
        if (off, size) in seen or not vaddr:
            continue
        seen.add((off, size))
        size = min(size, bin.length - off)
        start_pad = (-vaddr) % ps
        n = (size - start_pad) // ps
        if n <= 0:
            continue
        try:
            arr = np.frombuffer(bin.view(off + start_pad, n * ps), dtype=dt)
        except (FormatError, ValueError):
            continue
        hits = np.nonzero(arr == target)[0]
        if bin.format == "macho" and not len(hits):
            rel = target - bin.image_base
            if rel > 0:
                hits = np.nonzero((arr & np.uint64(0xFFFFFFFFF)) == rel)[0] if ps == 8 else hits
        for h in hits[:64]:
            found.append(vaddr + start_pad + int(h) * ps)
    return found


def _textsectmap(w: _Words, idx: int, text: int, etext: int) -> list[TextSect] | None:
    ptr, n, cap = w(idx), w.raw(idx + 1), w.raw(idx + 2)
    if n != cap or not 1 <= n <= MAX_TEXT_SECTIONS or ptr == 0:
        return None
    ps = w.ps
    try:
        raw = w.bin.read_vaddr(ptr, 3 * ps * n, what="textsectmap")
    except FormatError:
        return None
    fmt = ("<" if w.bin.byteorder == "little" else ">") + ("Q" if ps == 8 else "I")
    out = []
    for i in range(n):
        a, b, c = (struct.unpack_from(fmt, raw, (3 * i + k) * ps)[0] for k in range(3))
        out.append(TextSect(int(a), int(b), int(c)))
    if out[0].vaddr != 0 or out[0].baseaddr != text:
        return None
    for s in out:
        if s.end < s.vaddr:
            return None
    # the linker records the section length, which can exceed etext - text by a byte or so
    if n == 1 and not 0 <= out[0].end - (etext - text) <= 64:
        return None
    return out


def _layout_order(go_minor: int | None) -> list[ModuleLayout]:
    layouts = list(MODULE_LAYOUTS)
    if go_minor is not None:
        layouts.sort(key=lambda lo: 0 if lo.min_minor <= go_minor <= lo.max_minor else 1)
    return layouts


def _try_at(bin: Binary, tab: PclnTab, addr: int, go_minor: int | None) -> ModuleData | None:
    ps = tab.ptrsize
    w = _Words(bin, addr, ps)
    base = tab.vaddr
    try:
        if tab.generation == "1.2":
            if w(MD12_FTAB) != base + tab.pcln_offset or w.raw(MD12_FTAB + 1) != tab.nfunc + 1:
                return None
            text, etext = w(MD12_TEXT), w(MD12_ETEXT)
            if not text <= etext:
                return None
            return ModuleData(addr, "1.2", text, etext, w(10), w(11), w(9))
        if w(MD_FUNCNAMETAB) != base + tab.funcname_offset:
            return None
        if w(MD_CUTAB) != base + tab.cu_offset or w(MD_FILETAB) != base + tab.filetab_offset:
            return None
        if w(MD_PCTAB) != base + tab.pctab_offset or w(MD_PCLNTABLE) != base + tab.pcln_offset:
            return None
        if w(MD_FTAB) != base + tab.pcln_offset or w.raw(MD_FTAB + 1) != tab.nfunc + 1:
            return None
        text, etext = w(MD_TEXT), w(MD_ETEXT)
        minpc, maxpc = w(MD_MINPC), w(MD_MAXPC)
        if not text <= etext or not minpc <= maxpc:
            return None
        for lo in _layout_order(go_minor):
            if tab.generation == "1.16" and lo.name != "1.16":
                continue
            if tab.generation == "1.18" and lo.name != "1.18":
                continue
            if tab.generation == "1.20" and lo.name in ("1.16", "1.18"):
                continue
            sects = _textsectmap(w, lo.textsectmap, text, etext)
            if sects is None:
                continue
            gofunc = w(lo.gofunc) if lo.gofunc is not None else None
            epcln = w(lo.epclntab) if lo.epclntab is not None else None
            if epcln is not None and not (base < epcln <= base + tab.size + (1 << 20)):
                continue
            if gofunc is not None and gofunc == 0:
                continue
            return ModuleData(
                addr, lo.name, text, etext, minpc, maxpc, w(MD_FINDFUNCTAB), gofunc, epcln, sects
            )
    except FormatError:
        return None
    return None


def find_moduledata(
    bin: Binary, tab: PclnTab, go_minor: int | None = None, use_symbols: bool = True
) -> ModuleData | None:
    """Find and validate runtime.firstmoduledata; None when it cannot be found or confirmed.

    ``go_minor`` (e.g. 27) only orders the layouts tried; ``use_symbols=False`` forces the scan.
    """
    if not tab.vaddr:
        return None
    sym = None
    try:
        sym = bin.symbol_go("runtime.firstmoduledata") if use_symbols else None
    except FormatError:
        sym = None
    if sym is not None and sym.value:
        md = _try_at(bin, tab, sym.value, go_minor)
        if md is not None:
            return md
    for addr in _candidates(bin, tab.vaddr, tab.ptrsize):
        md = _try_at(bin, tab, addr, go_minor)
        if md is not None:
            return md
    return None


def resolve_text_start(bin: Binary, tab: PclnTab, md: ModuleData | None) -> tuple[int, str]:
    """Text start used to turn functab offsets into PCs, and which source gave it.

    Chain: ``runtime.text`` symbol -> moduledata.text -> pclntab header textStart (only before
    Go 1.26, where it is still written) -> ``.text``/``__text`` section -> 0.
    """
    try:
        sym = bin.symbol_go("runtime.text")
    except FormatError:
        sym = None
    if sym is not None and sym.value:
        return sym.value, "symbol runtime.text"
    if md is not None and md.text:
        return md.text, "moduledata.text"
    if tab.text_start_header:
        return tab.text_start_header, "pclntab header"
    for name in (".text", "__text"):
        sec = bin.section(name)
        if sec is not None and sec.addr:
            return sec.addr, f"section {name}"
    return 0, "none"
