"""Parse the Go pclntab (runtime.pcHeader and the tables it points to; locating it: golang.pcln_locate).

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
from symkeep.errors import FormatError
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
from symkeep.golang.pcln_locate import PclnLocation, find_pclntab, parse_header_candidate, pclntab_bytes

# Where the table is lives in golang.pcln_locate; re-exported here, where callers import it from.
__all__ = [
    "PclnLocation", "PclnTab", "RawFunc", "find_pclntab", "load_pclntab", "parse_header_candidate", "pclntab_bytes",
]


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


def load_pclntab(bin: Binary, loc: PclnLocation | None = None) -> PclnTab:
    """Find (unless given) and parse the pclntab of ``bin``."""
    loc = loc or find_pclntab(bin)
    return PclnTab(pclntab_bytes(bin, loc), loc.vaddr, loc)
