"""Raw ELF header reading and a small ELF writer for debug companions.

We read the input's ELF headers ourselves (not through ``binfmt``'s neutral model) because the debug
file must copy raw fields (sh_link, sh_info, alignment, entsize, program headers) that the neutral
model does not keep. The writer lays sections out back to back, 8-aligned, headers at the end.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, field

from symkeep.binfmt.elf import Phdr
from symkeep.binfmt.elf_constants import SHT_NOBITS, SHT_NOTE, SHT_NULL, SHT_SYMTAB
from symkeep.errors import FormatError, NotABinaryError

MAX_SECTIONS = 65000  # we keep indices below SHN_LORESERVE; no extended numbering
MAX_PHDRS = 4096

Reader = Callable[[int, int], bytes]


@dataclass
class Shdr:
    name: str
    type: int
    flags: int
    addr: int
    offset: int
    size: int
    link: int
    info: int
    addralign: int
    entsize: int
    name_off: int = 0


@dataclass
class ElfHeader:
    """The input binary's raw identity and tables."""

    bits: int
    endian: str  # '<' or '>'
    osabi: int
    abiversion: int
    e_type: int
    machine: int
    version: int
    entry: int
    flags: int
    shdrs: list[Shdr] = field(default_factory=list)
    phdrs: list[Phdr] = field(default_factory=list)
    shstrndx: int = 0
    file_size: int = 0

    @property
    def ptr_size(self) -> int:
        return self.bits // 8


def read_elf_header(read: Reader, file_size: int) -> ElfHeader:
    """Parse the ELF header, section headers and program headers, bounds-checked."""
    try:
        ident = read(0, 16)
    except FormatError as ex:
        raise NotABinaryError(f"not an ELF file (too short: {ex})") from ex
    if ident[:4] != b"\x7fELF":
        raise NotABinaryError("not an ELF file (restore writes ELF debug files for ELF binaries only)")
    cls, data = ident[4], ident[5]
    if cls not in (1, 2) or data not in (1, 2):
        raise FormatError("bad ELF class or data encoding", 4, (cls, data), what="ELF header")
    bits = 32 if cls == 1 else 64
    e = "<" if data == 1 else ">"
    hfmt = e + ("HHIIIIIHHHHHH" if bits == 32 else "HHIQQQIHHHHHH")
    hsize = struct.calcsize(hfmt)
    try:
        (e_type, machine, version, entry, phoff, shoff, flags, _ehsize, phentsize, phnum, shentsize, shnum,
         shstrndx) = struct.unpack(hfmt, read(16, hsize))
    except struct.error as ex:
        raise FormatError(f"truncated ELF header: {ex}", 16, what="ELF header") from ex
    hdr = ElfHeader(bits, e, ident[7], ident[8], e_type, machine, version, entry, flags, file_size=file_size)
    # Section headers.
    if shoff and shnum:
        want = 40 if bits == 32 else 64
        if shentsize < want:
            raise FormatError("section header entry too small", 0, shentsize, what="e_shentsize")
        if shnum > MAX_SECTIONS or shoff + shnum * shentsize > file_size:
            raise FormatError("section header table past end of file", shoff, shnum, what="e_shnum")
        sfmt = e + ("IIIIIIIIII" if bits == 32 else "IIQQQQIIQQ")
        raw = read(shoff, shnum * shentsize)
        for i in range(shnum):
            t = struct.unpack_from(sfmt, raw, i * shentsize)
            name_off, typ, fl, addr, off, size, link, info, align, ent = t
            hdr.shdrs.append(Shdr("", typ, fl, addr, off, size, link, info, align, ent, name_off))
        if shstrndx >= shnum:
            raise FormatError("e_shstrndx out of range", 0, shstrndx, what="e_shstrndx")
        hdr.shstrndx = shstrndx
        strsec = hdr.shdrs[shstrndx]
        if strsec.type != SHT_NOBITS and strsec.offset + strsec.size <= file_size and strsec.size < (1 << 26):
            strs = read(strsec.offset, strsec.size)
            for s in hdr.shdrs:
                if s.name_off < len(strs):
                    end = strs.find(b"\0", s.name_off)
                    s.name = strs[s.name_off : end if end >= 0 else len(strs)].decode("utf-8", "replace")
    # Program headers.
    if phoff and phnum:
        want = 32 if bits == 32 else 56
        if phentsize < want or phnum > MAX_PHDRS or phoff + phnum * phentsize > file_size:
            raise FormatError("program header table malformed", phoff, phnum, what="e_phnum")
        raw = read(phoff, phnum * phentsize)
        for i in range(phnum):
            if bits == 32:
                typ, off, va, pa, fsz, msz, fl, al = struct.unpack_from(e + "IIIIIIII", raw, i * phentsize)
            else:
                typ, fl, off, va, pa, fsz, msz, al = struct.unpack_from(e + "IIQQQQQQ", raw, i * phentsize)
            hdr.phdrs.append(Phdr(typ, fl, off, va, pa, fsz, msz, al))
    return hdr


@dataclass
class OutSection:
    name: str
    type: int
    flags: int = 0
    addr: int = 0
    data: bytes = b""
    size: int | None = None  # NOBITS size (data ignored)
    offset: int | None = None  # NOBITS: keep the input's file offset so sh_addr - sh_offset is unchanged
    link: int = 0
    info: int = 0
    addralign: int = 1
    entsize: int = 0


class StrTab:
    """An ELF/DWARF string table with de-duplication (offset 0 is the empty string)."""

    def __init__(self) -> None:
        self._buf = bytearray(b"\0")
        self._map: dict[str, int] = {"": 0}

    def add(self, s: str) -> int:
        off = self._map.get(s)
        if off is None:
            off = len(self._buf)
            self._buf += s.encode("utf-8", "surrogateescape") + b"\0"
            self._map[s] = off
        return off

    def bytes(self) -> bytes:
        return bytes(self._buf)


def write_elf(hdr: ElfHeader, sections: list[OutSection], phdrs: list[Phdr], e_type: int | None = None) -> bytes:
    """Serialize: ELF header, program headers, section data, section header table.

    ``sections[0]`` must be the null section; a section named ``.shstrtab`` is filled in here.
    """
    e = hdr.endian
    is64 = hdr.bits == 64
    ehsize = 64 if is64 else 52
    phentsize = 56 if is64 else 32
    shentsize = 64 if is64 else 40
    shstr = StrTab()
    names = [shstr.add(s.name) for s in sections]
    shstrndx = next((i for i, s in enumerate(sections) if s.name == ".shstrtab"), 0)
    if shstrndx:
        sections[shstrndx].data = shstr.bytes()
    out = bytearray(ehsize)
    phoff = ehsize if phdrs else 0
    pfmt = e + ("IIIIIIII" if not is64 else "IIQQQQQQ")
    for p in phdrs:
        if is64:
            out += struct.pack(pfmt, p.type, p.flags, p.offset, p.vaddr, p.paddr, p.filesz, p.memsz, p.align)
        else:
            out += struct.pack(pfmt, p.type, p.offset, p.vaddr, p.paddr, p.filesz, p.memsz, p.flags, p.align)
    offsets: list[int] = []
    for s in sections:
        if s.type in (SHT_NOBITS, SHT_NULL):
            offsets.append(s.offset if s.offset is not None else len(out))
            continue
        align = max(1, s.addralign)
        if s.type == SHT_NOTE or s.type == SHT_SYMTAB:
            align = max(align, 4 if s.type == SHT_NOTE else hdr.ptr_size)
        pad = (-len(out)) % min(align, 4096)
        out += b"\0" * pad
        offsets.append(len(out))
        out += s.data
    out += b"\0" * ((-len(out)) % 8)
    shoff = len(out)
    sfmt = e + ("IIIIIIIIII" if not is64 else "IIQQQQIIQQ")
    for i, s in enumerate(sections):
        size = s.size if s.type == SHT_NOBITS and s.size is not None else len(s.data)
        if i == 0:
            out += b"\0" * shentsize
            continue
        out += struct.pack(sfmt, names[i], s.type, s.flags, s.addr, offsets[i], size, s.link, s.info,
                           s.addralign, s.entsize)
    ident = b"\x7fELF" + bytes([1 if not is64 else 2, 1 if e == "<" else 2, 1, hdr.osabi, hdr.abiversion])
    ident += b"\0" * (16 - len(ident))
    hfmt = e + ("HHIIIIIHHHHHH" if not is64 else "HHIQQQIHHHHHH")
    out[0:ehsize] = ident + struct.pack(
        hfmt, hdr.e_type if e_type is None else e_type, hdr.machine, hdr.version, hdr.entry, phoff, shoff,
        hdr.flags, ehsize, phentsize if phdrs else 0, len(phdrs), shentsize, len(sections), shstrndx)
    return bytes(out)


def pack_symbols(hdr: ElfHeader, syms: list[tuple[int, int, int, int, int, int]]) -> bytes:
    """Pack (name_off, value, size, info, other, shndx) tuples as Elf32_Sym/Elf64_Sym."""
    e = hdr.endian
    if hdr.bits == 64:
        st = struct.Struct(e + "IBBHQQ")
        return b"".join(st.pack(n, i, o, x, v, sz) for n, v, sz, i, o, x in syms)
    st = struct.Struct(e + "IIIBBH")
    return b"".join(st.pack(n, v & 0xFFFFFFFF, sz & 0xFFFFFFFF, i, o, x) for n, v, sz, i, o, x in syms)
