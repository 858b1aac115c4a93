"""Locate and parse the Go pclntab (runtime.pcHeader and the tables it points to).

Every generation is supported: 1.2 (magic 0xfffffffb, Go 1.2-1.15), 1.16 (0xfffffffa), 1.18
(0xfffffff0) and 1.20 (0xfffffff1, Go 1.20-1.27), in both byte orders, 32- and 64-bit, with pc quantum
1, 2 or 4. The whole table is copied into one ``bytes`` object (fast indexing for the pure-Python
varint decoder; a pclntab is a few MB even for large programs). Counts are bounded by the table size
before anything is allocated, so a hostile header raises :class:`FormatError` instead of allocating.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import numpy as np
import numpy.typing as npt

from symkeep.binfmt.base import Binary
from symkeep.errors import FormatError, NotGoError
from symkeep.golang.pcln_constants import (
    HEADER_TABLE_OFFSETS,
    HEADER_WORDS,
    MAGIC_TO_GENERATION,
    NO_FILE,
    VALID_PTRSIZES,
    VALID_QUANTA,
    FuncLayout,
    Generation,
    func_layout,
)

__all__ = [
    "PclnLocation", "PclnTab", "RawFunc", "find_pclntab", "load_pclntab", "parse_header_candidate", "pclntab_bytes",
]

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


@dataclass(frozen=True, slots=True)
class RawFunc:
    """One runtime._func record, decoded (offsets still relative to their tables)."""

    offset: int  # offset of the record in the pclntab
    entry_raw: int  # entryOff (1.18+) or absolute entry PC (before)
    name_off: int
    args: int
    deferreturn: int
    pcsp: int
    pcfile: int
    pcln: int
    npcdata: int
    cu_offset: int
    start_line: int  # 0 before Go 1.20 (not recorded)
    func_id: int
    flag: int
    nfuncdata: int
    pcdata: tuple[int, ...]
    funcdata_off: int  # offset in the pclntab of the funcdata array


class PclnTab:
    """A parsed pclntab header plus accessors for the tables behind it."""

    def __init__(
        self, data: bytes | bytearray | memoryview, vaddr: int = 0, location: PclnLocation | None = None
    ):
        self.data: bytes = bytes(data)
        self.vaddr = vaddr
        self.location = location
        d = self.data
        n = len(d)
        if n < 16:
            raise FormatError("pclntab too short for its header", 0, n, what="pclntab")
        magic_le = struct.unpack_from("<I", d, 0)[0]
        magic_be = struct.unpack_from(">I", d, 0)[0]
        if magic_le in MAGIC_TO_GENERATION:
            self.byteorder: Literal["little", "big"] = "little"
            self.magic = magic_le
        elif magic_be in MAGIC_TO_GENERATION:
            self.byteorder = "big"
            self.magic = magic_be
        else:
            raise FormatError("bad pclntab magic", 0, magic_le, what="pclntab")
        self.generation: Generation = MAGIC_TO_GENERATION[self.magic]
        e = "<" if self.byteorder == "little" else ">"
        self._e = e
        if d[4] != 0 or d[5] != 0:
            raise FormatError("pclntab header pad bytes are not zero", 4, what="pclntab")
        self.quantum = d[6]
        self.ptrsize = d[7]
        if self.quantum not in VALID_QUANTA:
            raise FormatError("bad pc quantum", 6, self.quantum, what="pclntab")
        if self.ptrsize not in VALID_PTRSIZES:
            raise FormatError("bad pointer size", 7, self.ptrsize, what="pclntab")
        wfmt = e + ("Q" if self.ptrsize == 8 else "I")
        self._wfmt = wfmt
        ps = self.ptrsize
        gen = self.generation
        fields = HEADER_WORDS[gen]
        self.header_size = 8 + len(fields) * ps
        if self.header_size > n:
            raise FormatError("pclntab header truncated", n, what="pclntab")
        words = dict(zip(fields, struct.unpack_from(f"{e}{len(fields)}{wfmt[1]}", d, 8), strict=True))
        self.nfunc: int = int(words["nfunc"])
        self.nfiles: int = int(words.get("nfiles", 0))
        self.text_start_header: int | None = words.get("text_start")
        self.funcname_offset: int = int(words.get("funcname_offset", 0))
        self.cu_offset: int = int(words.get("cu_offset", 0))
        self.filetab_offset: int = int(words.get("filetab_offset", 0))
        self.pctab_offset: int = int(words.get("pctab_offset", 0))
        # 1.2: the functab follows the header
        self.pcln_offset: int = int(words.get("pcln_offset", self.header_size))
        self.func_layout: FuncLayout = func_layout(gen, ps)
        for name in HEADER_TABLE_OFFSETS:
            v = getattr(self, name)
            if v > n:
                raise FormatError(f"pclntab {name} past the end of the table", 8, v, what="pclntab")
        # functab: (2*nfunc + 1) entries of 4 bytes (1.18+) or one word (before).
        esize = 4 if gen in ("1.18", "1.20") else ps
        self.functab_esize = esize
        avail = n - self.pcln_offset
        if self.nfunc < 0 or (2 * self.nfunc + 1) * esize > avail:
            raise FormatError("nfunc larger than the table allows", 8, self.nfunc, what="pclntab")
        if gen == "1.2":
            ft_end = self.pcln_offset + (2 * self.nfunc + 1) * ps
            if ft_end + 4 > n:
                raise FormatError("pclntab truncated after the function table", ft_end, what="pclntab")
            self.filetab_offset = int(struct.unpack_from(e + "I", d, ft_end)[0])
            if self.filetab_offset + 4 > n:
                raise FormatError(
                    "file table offset past the end", ft_end, self.filetab_offset, what="pclntab"
                )
            self.nfiles = int(struct.unpack_from(e + "I", d, self.filetab_offset)[0])
            if self.filetab_offset + 4 * self.nfiles > n:
                raise FormatError("file table larger than the pclntab", self.filetab_offset, self.nfiles)
        dt = np.dtype(e + ("u4" if esize == 4 else "u8"))
        arr = np.frombuffer(d, dtype=dt, count=2 * self.nfunc + 1, offset=self.pcln_offset).astype(np.uint64)
        self.entries_raw: npt.NDArray[np.uint64] = arr[0::2].copy()  # nfunc + 1 values (last = end)
        self.funcoffs: npt.NDArray[np.uint64] = arr[1::2].copy()
        if self.nfunc > 1 and bool(np.any(np.diff(self.entries_raw.astype(np.int64)) < 0)):
            bad = int(np.argmax(np.diff(self.entries_raw.astype(np.int64)) < 0))
            raise FormatError(
                "function table is not sorted", self.pcln_offset + bad * 2 * esize, what="pclntab"
            )
        base = self.pcln_offset if gen != "1.2" else 0
        self._func_base = base
        if self.nfunc and int(self.funcoffs.max()) + base >= n:
            raise FormatError("function record offset past the end", self.pcln_offset, what="pclntab")
        self._pctab = self.pctab_offset
        self._nametab = self.funcname_offset
        self.funcname = lru_cache(maxsize=1 << 16)(self._funcname)  # type: ignore[method-assign]
        self._file_cache: dict[int, str] = {}

    # -- header summary ----------------------------------------------------------------------------
    @property
    def size(self) -> int:
        return len(self.data)

    def header(self) -> dict[str, int | str | None]:
        return {
            "magic": self.magic,
            "generation": self.generation,
            "byteorder": self.byteorder,
            "quantum": self.quantum,
            "ptrsize": self.ptrsize,
            "nfunc": self.nfunc,
            "nfiles": self.nfiles,
            "text_start": self.text_start_header,
            "funcname_offset": self.funcname_offset,
            "cu_offset": self.cu_offset,
            "filetab_offset": self.filetab_offset,
            "pctab_offset": self.pctab_offset,
            "pcln_offset": self.pcln_offset,
        }

    @property
    def has_entry_offsets(self) -> bool:
        """True when functab entries are offsets from the text start (1.18+), not absolute PCs."""
        return self.generation in ("1.18", "1.20")

    # -- records -----------------------------------------------------------------------------------
    def func_record_offset(self, i: int) -> int:
        return self._func_base + int(self.funcoffs[i])

    def read_func(self, i: int) -> RawFunc:
        """Decode the _func record of function ``i`` (fields where :class:`FuncLayout` puts them)."""
        if not 0 <= i < self.nfunc:
            raise FormatError("function index out of range", None, i, what="pclntab")
        off = self.func_record_offset(i)
        d = self.data
        e = self._e
        lay = self.func_layout
        try:
            entry = struct.unpack_from(e + "I" if lay.entry_size == 4 else self._wfmt, d, off)[0]
            nameoff, args = struct.unpack_from(e + "ii", d, off + lay.name)
            dr, pcsp, pcfile, pcln, npcdata = struct.unpack_from(e + "5I", d, off + lay.deferreturn)
            cuoff = struct.unpack_from(e + "I", d, off + lay.cu_offset)[0] if lay.cu_offset is not None else 0
            start_line = struct.unpack_from(e + "i", d, off + lay.start_line)[0] if lay.start_line is not None else 0
            func_id, flag, nfuncdata = d[off + lay.func_id], d[off + lay.flag], d[off + lay.nfuncdata]
            p = off + lay.fixed
            if npcdata > (len(d) - p) // 4:
                raise FormatError("npcdata past the end of the table", off, npcdata, what="_func")
            pcdata = struct.unpack_from(f"{e}{npcdata}I", d, p)
            p += 4 * npcdata
        except (struct.error, IndexError) as exc:
            raise FormatError("function record truncated", off, what="_func") from exc
        return RawFunc(
            off, int(entry), int(nameoff), int(args), int(dr), int(pcsp), int(pcfile), int(pcln), int(npcdata),
            int(cuoff), int(start_line), int(func_id), int(flag), int(nfuncdata), tuple(int(x) for x in pcdata), p,
        )

    def funcdata_word(self, f: RawFunc, index: int, vaddr_align: int | None = None) -> int | None:
        """funcdata[index]: a u32 offset from gofunc (1.18+), or an absolute pointer (before); None = absent."""
        if index >= f.nfuncdata:
            return None
        d = self.data
        try:
            if self.generation in ("1.18", "1.20"):
                v = int(struct.unpack_from(self._e + "I", d, f.funcdata_off + 4 * index)[0])
                return None if v == 0xFFFFFFFF else v
            p = f.funcdata_off
            if self.ptrsize == 8:
                # the runtime aligns the pointer array on the absolute address
                absolute = (self.vaddr if vaddr_align is None else vaddr_align) + p
                if absolute & 4:
                    p += 4
            v = int(struct.unpack_from(self._wfmt, d, p + self.ptrsize * index)[0])
        except struct.error:
            return None
        return v or None

    # -- strings -----------------------------------------------------------------------------------
    def cstring(self, off: int, what: str = "string") -> str:
        d = self.data
        if not 0 <= off < len(d):
            raise FormatError(f"{what} offset out of range", off, what="pclntab")
        end = d.find(b"\0", off, off + 65536)
        if end < 0:
            raise FormatError(f"unterminated {what}", off, what="pclntab")
        return d[off:end].decode("utf-8", "replace")

    def funcnames(self, name_offs: list[int]) -> list[str]:
        """Many function names at once (bulk symbolization); "?" where unreadable, like callers of
        :meth:`funcname` that catch its FormatError."""
        d = self.data
        n = len(d)
        base = self._nametab
        find = d.find
        out: list[str] = []
        add = out.append
        for o in name_offs:
            off = base + o
            end = find(b"\0", off, off + 65536) if 0 <= off < n else -1
            add(d[off:end].decode("utf-8", "replace") if end >= 0 else "?")
        return out

    def _funcname(self, name_off: int) -> str:
        return self.cstring(self._nametab + name_off, "function name")

    def file_name(self, cu_offset: int, fileno: int) -> str:
        """File name for file index ``fileno`` of a function (cutab for 1.16+, file table for 1.2)."""
        if fileno < 0:
            return "?"
        d = self.data
        e = self._e
        if self.generation == "1.2":
            if fileno == 0 or fileno >= self.nfiles:
                return "?"
            key = fileno
            cached = self._file_cache.get(key)
            if cached is not None:
                return cached
            o = self.filetab_offset + 4 * fileno
            if o + 4 > len(d):
                return "?"
            name = self.cstring(int(struct.unpack_from(e + "I", d, o)[0]), "file name")
        else:
            o = self.cu_offset + 4 * (cu_offset + fileno)
            key = cu_offset + fileno
            cached = self._file_cache.get(key)
            if cached is not None:
                return cached
            if o + 4 > self.filetab_offset and o + 4 > len(d):
                return "?"
            try:
                fo = int(struct.unpack_from(e + "I", d, o)[0])
            except struct.error:
                return "?"
            if fo == NO_FILE:
                return "?"
            try:
                name = self.cstring(self.filetab_offset + fo, "file name")
            except FormatError:
                return "?"
        self._file_cache[key] = name
        return name

    @property
    def pctab_base(self) -> int:
        return self._pctab


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
    try:
        fixups = bin.fixup_pointers()
    except FormatError:
        return data  # unreadable chains: read the words as stored
    ps = bin.ptr_size
    lo, hi = loc.vaddr, loc.vaddr + len(data)
    inside = [(a - lo, v) for a, v in fixups.items() if lo <= a and a + ps <= hi]
    if not inside:
        return data
    buf = bytearray(data)
    fmt = bin.endian_prefix + ("Q" if ps == 8 else "I")
    for off, v in inside:
        struct.pack_into(fmt, buf, off, v & ((1 << (8 * ps)) - 1))
    return bytes(buf)


def load_pclntab(bin: Binary, loc: PclnLocation | None = None) -> PclnTab:
    """Find (unless given) and parse the pclntab of ``bin``."""
    loc = loc or find_pclntab(bin)
    return PclnTab(pclntab_bytes(bin, loc), loc.vaddr, loc)
