"""Where a Go pclntab lives in a binary, and its bytes as the loader leaves them.

Found by named section, then ``runtime.pclntab``/``runtime.epclntab`` symbols, then a scan for the
magic whose header validates structurally (``parse_header_candidate``). A header that validates but
whose tables run past the end of the file is a truncated file (:class:`FormatError`), not a binary
without Go metadata.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Literal

from symkeep.binfmt.base import Binary
from symkeep.errors import FormatError, NotGoError
from symkeep.golang.pcln_constants import (
    HEADER_TABLE_OFFSETS,
    HEADER_WORDS,
    MAGIC_TO_GENERATION,
    VALID_PTRSIZES,
    VALID_QUANTA,
)

__all__ = ["PCLNTAB_SECTIONS", "PclnLocation", "find_pclntab", "parse_header_candidate", "pclntab_bytes"]

Source = Literal["section", "symbols", "scan"]

PCLNTAB_SECTIONS = (".gopclntab", ".data.rel.ro.gopclntab", "__gopclntab")


@dataclass(frozen=True)
class PclnLocation:
    """Where the pclntab lives: file offset, link-time address (0 if unknown), size, how it was found."""

    offset: int
    vaddr: int
    size: int
    source: Source
    section: str = ""


# -- locating ----------------------------------------------------------------------------------------

_MAGIC_PREFIXES: list[tuple[bytes, int]] = []
for _m in MAGIC_TO_GENERATION:
    _MAGIC_PREFIXES.append((struct.pack("<I", _m) + b"\0\0", _m))
    _MAGIC_PREFIXES.append((struct.pack(">I", _m) + b"\0\0", _m))


def parse_header_candidate(
    buf: bytes | memoryview, off: int, limit: int, ptrsize_hint: int | None = None
) -> int | None:
    """Structurally validate a pclntab candidate at ``buf[off:]``; returns a size bound or None.

    Checks: quantum in {1,2,4}, ptr size in {4,8} (matching the binary), offsets inside ``limit``
    and in the order the linker writes them, nfunc bounded by the size, the first functab entries
    monotonic and the first _func record's entry consistent with the functab.
    """
    if off + 16 > limit:
        return None
    q = buf[off + 6]
    ps = buf[off + 7]
    if q not in VALID_QUANTA or ps not in VALID_PTRSIZES:
        return None
    if ptrsize_hint is not None and ps != ptrsize_hint:
        return None
    head = bytes(buf[off : off + 4])
    if struct.unpack("<I", head)[0] in MAGIC_TO_GENERATION:
        e = "<"
    elif struct.unpack(">I", head)[0] in MAGIC_TO_GENERATION:
        e = ">"
    else:
        return None
    magic = struct.unpack(e + "I", head)[0]
    gen = MAGIC_TO_GENERATION[magic]
    wf = e + ("Q" if ps == 8 else "I")
    size = limit - off
    fields = HEADER_WORDS[gen]
    hdr = 8 + len(fields) * ps
    if hdr > size:
        return None
    words = dict(zip(fields, (struct.unpack_from(wf, buf, off + 8 + i * ps)[0] for i in range(len(fields))),
                     strict=True))
    nfunc = words["nfunc"]
    if nfunc == 0 or nfunc > size // 8:
        return None
    offs = [words[k] for k in HEADER_TABLE_OFFSETS if k in words] or [hdr]
    prev = hdr
    for o in offs:
        if o < prev or o > size:
            return None
        prev = o
    ftab = offs[-1]
    esize = 4 if gen in ("1.18", "1.20") else ps
    if ftab + (2 * nfunc + 1) * esize > size:
        return None
    k = min(nfunc, 16)
    ef = e + ("I" if esize == 4 else ("Q" if ps == 8 else "I"))
    ents = [struct.unpack_from(ef, buf, off + ftab + 2 * i * esize)[0] for i in range(k + 1)]
    if any(b < a for a, b in zip(ents, ents[1:], strict=False)):
        return None
    # the last entry (end of text) must not precede the first
    last = struct.unpack_from(ef, buf, off + ftab + 2 * nfunc * esize)[0]
    if last < ents[0]:
        return None
    fo = struct.unpack_from(ef, buf, off + ftab + esize)[0]
    rec = (ftab if gen != "1.2" else 0) + fo
    if rec + 8 > size:
        return None
    first_entry = struct.unpack_from(ef if esize == 4 else wf, buf, off + rec)[0]
    if first_entry != ents[0]:
        return None
    return size


def _cut_candidate(buf: bytes, off: int, ptrsize: int | None) -> bool:
    """A well-formed header at ``buf[off:]`` whose tables run past the end of ``buf``: a pclntab that
    was cut short (a truncated file), not a chance match of the magic."""
    size = len(buf) - off
    if size < 16 or buf[off + 6] not in VALID_QUANTA or buf[off + 7] not in VALID_PTRSIZES:
        return False
    ps = buf[off + 7]
    if ptrsize is not None and ps != ptrsize:
        return False
    for e in ("<", ">"):
        magic = struct.unpack_from(e + "I", buf, off)[0]
        if magic in MAGIC_TO_GENERATION:
            break
    else:
        return False
    fields = HEADER_WORDS[MAGIC_TO_GENERATION[magic]]
    if 8 + len(fields) * ps > size:
        return True
    words = dict(zip(fields, struct.unpack_from(f"{e}{len(fields)}{'Q' if ps == 8 else 'I'}", buf, off + 8),
                     strict=True))
    offs = [words[k] for k in HEADER_TABLE_OFFSETS if k in words]
    if words["nfunc"] == 0 or any(b < a for a, b in zip(offs, offs[1:], strict=False)):
        return False
    hdr = 8 + len(fields) * ps
    if offs and (offs[0] < hdr or offs[-1] > 1 << 32):
        return False
    esize = 4 if "text_start" in words else ps
    ftab = int(offs[-1]) if offs else hdr
    return ftab + (2 * int(words["nfunc"]) + 1) * esize > size


def _scan_region(bin: Binary, file_off: int, length: int, vaddr: int, cut: list[int]) -> PclnLocation | None:
    if length <= 16:
        return None
    try:
        buf = bin.view(file_off, length, what="pclntab scan")
    except FormatError:
        return None
    raw = bytes(buf) if length < (1 << 31) else bytes(buf)
    hits: list[int] = []
    for prefix, _m in _MAGIC_PREFIXES:
        start = 0
        while True:
            i = raw.find(prefix, start)
            if i < 0:
                break
            hits.append(i)
            start = i + 1
    for i in sorted(hits):
        if parse_header_candidate(raw, i, length, bin.ptr_size) is not None:
            return PclnLocation(file_off + i, vaddr + i if vaddr else 0, length - i, "scan")
        if file_off + length >= bin.length and _cut_candidate(raw, i, bin.ptr_size):
            cut.append(file_off + i)
    return None


def find_pclntab(bin: Binary) -> PclnLocation:
    """Find the pclntab: named section, then runtime.pclntab/epclntab symbols, then a magic scan.

    Raises :class:`NotGoError` when none is found.
    """
    for name in PCLNTAB_SECTIONS:
        sec = bin.section(name)
        if sec is not None and sec.file_size >= 16:
            return PclnLocation(sec.offset, sec.addr, sec.file_size, "section", name)
    try:
        start = bin.symbol_go("runtime.pclntab") or bin.symbol_go("runtime.pcheader")
        end = bin.symbol_go("runtime.epclntab")
    except FormatError:
        start = end = None
    if start is not None and end is not None and end.value > start.value:
        off = bin.vaddr_to_offset(start.value)
        if off is not None and end.value - start.value <= bin.length - off:
            return PclnLocation(off, start.value, end.value - start.value, "symbols")
    # magic scan: non-executable loaded segments, then likely sections
    regions: list[tuple[int, int, int]] = []
    for sec in bin.sections():
        if sec.name in (".rdata", ".data.rel.ro", "__rodata", ".rodata", "__const") and sec.file_size:
            regions.append((sec.offset, sec.file_size, sec.addr))
    for seg in bin.segments():
        if seg.load and not seg.execute and seg.filesz:
            regions.append((seg.offset, seg.filesz, seg.vaddr))
    if not regions:
        regions.append((0, bin.length, 0))
    seen: set[tuple[int, int]] = set()
    cut: list[int] = []
    for off, ln, va in regions:
        if (off, ln) in seen or off >= bin.length:
            continue
        seen.add((off, ln))
        ln = min(ln, bin.length - off)
        loc = _scan_region(bin, off, ln, va, cut)
        if loc is not None:
            return loc
    if cut:
        raise FormatError(f"{bin.path}: the Go pclntab at file offset {cut[0]:#x} is cut short by the end of "
                          f"the file ({bin.length} bytes): truncated", cut[0], what="pclntab")
    raise NotGoError(f"{bin.path}: no Go pclntab found (no section, no symbols, no magic)")


def pclntab_bytes(bin: Binary, loc: PclnLocation) -> bytes:
    """The table's bytes as the loader leaves them in memory: Mach-O chained fixups inside it decoded.

    Go 1.16/1.17 (and older) tables hold absolute, pointer-sized entry PCs and funcdata pointers. An
    externally linked darwin binary (ld64 or ld64.lld with chained fixups) stores them encoded (target
    in the low bits, the chain's next link above): decode them as dyld would, or the function table
    reads as unsorted garbage. Newer tables hold offsets only, so nothing changes for them."""
    data = bytes(bin.view(loc.offset, loc.size, what="pclntab"))
    if not loc.vaddr or bin.format != "macho":
        return data
    ps = bin.ptr_size
    lo, hi = loc.vaddr, loc.vaddr + len(data)
    try:
        fixups = bin.fixup_pointers(lo, hi)
    except FormatError:
        return data  # unreadable chains: read the words as stored
    inside = [(a - lo, v) for a, v in fixups.items() if lo <= a and a + ps <= hi]
    if not inside:
        return data
    buf = bytearray(data)
    fmt = bin.endian_prefix + ("Q" if ps == 8 else "I")
    for off, v in inside:
        struct.pack_into(fmt, buf, off, v & ((1 << (8 * ps)) - 1))
    return bytes(buf)


