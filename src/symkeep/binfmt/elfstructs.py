"""ELF on-disk records (System V gABI): each layout written once, for the reader and the writers.

Why one module: the ELF reader (``binfmt.elf``), the debug-file writer (``restore.elfwriter``), the
``.gnu_debuglink`` adder and the unwindable copy all read or write the same headers; a field order
spelled in four places drifts (Elf32_Phdr and Elf32_Sym order their fields differently from the
64-bit records). ``ElfLayout(bits, endian)`` holds the ``struct`` formats of one ELF class and byte
order and converts records to and from the frozen dataclasses below, in the 64-bit field order.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from functools import cache
from typing import Any

from symkeep.binfmt import elf_constants as C

__all__ = ["Ehdr", "ElfLayout", "Ident", "Phdr", "Shdr", "Sym", "layout", "parse_ident"]


@dataclass(frozen=True, slots=True)
class Ident:
    """The ``e_ident`` fields that decide every other layout."""

    bits: int  # 32 | 64
    endian: str  # struct prefix: '<' | '>'
    osabi: int = 0
    abiversion: int = 0

    def pack(self) -> bytes:
        ident = C.ELF_MAGIC + bytes([
            C.ELFCLASS64 if self.bits == 64 else C.ELFCLASS32,
            C.ELFDATA2LSB if self.endian == "<" else C.ELFDATA2MSB,
            1,  # EV_CURRENT
            self.osabi,
            self.abiversion,
        ])
        return ident + b"\0" * (C.EI_NIDENT - len(ident))


def parse_ident(ident: bytes) -> Ident | None:
    """``Ident`` of 16 bytes that start with the ELF magic and name a valid class and byte order."""
    if len(ident) < C.EI_NIDENT or ident[:4] != C.ELF_MAGIC:
        return None
    if ident[4] not in (C.ELFCLASS32, C.ELFCLASS64) or ident[5] not in (C.ELFDATA2LSB, C.ELFDATA2MSB):
        return None
    return Ident(64 if ident[4] == C.ELFCLASS64 else 32, "<" if ident[5] == C.ELFDATA2LSB else ">",
                 ident[7], ident[8])


@dataclass(frozen=True, slots=True)
class Ehdr:
    """Elf_Ehdr after ``e_ident``."""

    type: int
    machine: int
    version: int
    entry: int
    phoff: int
    shoff: int
    flags: int
    ehsize: int
    phentsize: int
    phnum: int
    shentsize: int
    shnum: int
    shstrndx: int


@dataclass(frozen=True, slots=True)
class Shdr:
    """Elf_Shdr (``name`` is the offset into the section-name string table)."""

    name: int
    type: int
    flags: int
    addr: int
    offset: int
    size: int
    link: int
    info: int
    addralign: int
    entsize: int


@dataclass(frozen=True, slots=True)
class Phdr:
    """Elf_Phdr, in the Elf64 field order."""

    type: int
    flags: int
    offset: int
    vaddr: int
    paddr: int
    filesz: int
    memsz: int
    align: int


@dataclass(frozen=True, slots=True)
class Sym:
    """Elf_Sym, in the Elf64 field order (``info`` = bind << 4 | type)."""

    name: int
    info: int
    other: int
    shndx: int
    value: int
    size: int


class ElfLayout:
    """The record formats of one ELF class and byte order."""

    def __init__(self, bits: int, endian: str) -> None:
        if bits not in (32, 64) or endian not in ("<", ">"):
            raise ValueError(f"no ELF layout for {bits}-bit {endian!r}")
        self.bits = bits
        self.endian = endian
        self.is64 = bits == 64
        e = endian
        w = "Q" if self.is64 else "I"
        self.ehdr = struct.Struct(e + "HHI" + w * 3 + "IHHHHHH")  # from offset EI_NIDENT
        self.shdr = struct.Struct(e + ("IIQQQQIIQQ" if self.is64 else "IIIIIIIIII"))
        self.phdr = struct.Struct(e + ("IIQQQQQQ" if self.is64 else "IIIIIIII"))
        self.sym = struct.Struct(e + ("IBBHQQ" if self.is64 else "IIIBBH"))
        self.chdr = struct.Struct(e + ("IIQQ" if self.is64 else "III"))
        self.dyn = struct.Struct(e + ("qQ" if self.is64 else "iI"))
        self.nhdr = struct.Struct(e + "III")
        self.word = struct.Struct(e + w)
        self.ehdr_size = C.EI_NIDENT + self.ehdr.size

    # -- headers -------------------------------------------------------------------------------------
    def unpack_ehdr(self, buf: Any, off: int = 0) -> Ehdr:
        """The header of a file whose ``e_ident`` starts at ``off`` (raises struct.error if short)."""
        return Ehdr(*self.ehdr.unpack_from(buf, off + C.EI_NIDENT))

    def pack_ehdr(self, ident: Ident, h: Ehdr) -> bytes:
        return ident.pack() + self.ehdr.pack(
            h.type, h.machine, h.version, h.entry, h.phoff, h.shoff, h.flags, h.ehsize, h.phentsize,
            h.phnum, h.shentsize, h.shnum, h.shstrndx)

    def unpack_shdr(self, buf: Any, off: int) -> Shdr:
        return Shdr(*self.shdr.unpack_from(buf, off))

    def pack_shdr(self, s: Shdr) -> bytes:
        return self.shdr.pack(s.name, s.type, s.flags, s.addr, s.offset, s.size, s.link, s.info,
                              s.addralign, s.entsize)

    def unpack_phdr(self, buf: Any, off: int) -> Phdr:
        if self.is64:
            return Phdr(*self.phdr.unpack_from(buf, off))
        t, o, va, pa, fs, ms, fl, al = self.phdr.unpack_from(buf, off)
        return Phdr(t, fl, o, va, pa, fs, ms, al)

    def pack_phdr(self, p: Phdr) -> bytes:
        if self.is64:
            return self.phdr.pack(p.type, p.flags, p.offset, p.vaddr, p.paddr, p.filesz, p.memsz, p.align)
        return self.phdr.pack(p.type, p.offset, p.vaddr, p.paddr, p.filesz, p.memsz, p.flags, p.align)

    # -- symbols -------------------------------------------------------------------------------------
    def unpack_sym(self, buf: Any, off: int) -> Sym:
        if self.is64:
            return Sym(*self.sym.unpack_from(buf, off))
        n, v, sz, i, o, x = self.sym.unpack_from(buf, off)
        return Sym(n, i, o, x, v, sz)

    def pack_sym(self, s: Sym) -> bytes:
        if self.is64:
            return self.sym.pack(s.name, s.info, s.other, s.shndx, s.value, s.size)
        return self.sym.pack(s.name, s.value & 0xFFFFFFFF, s.size & 0xFFFFFFFF, s.info, s.other, s.shndx)

    def sym_dtype_fields(self) -> list[tuple[str, str]]:
        """(name, numpy format) of Elf_Sym in file order, for ``numpy.frombuffer`` over a whole table."""
        e = self.endian
        if self.is64:
            return [("name", e + "u4"), ("info", "u1"), ("other", "u1"), ("shndx", e + "u2"),
                    ("value", e + "u8"), ("size", e + "u8")]
        return [("name", e + "u4"), ("value", e + "u4"), ("size", e + "u4"), ("info", "u1"),
                ("other", "u1"), ("shndx", e + "u2")]


@cache
def layout(bits: int, endian: str) -> ElfLayout:
    """The shared ``ElfLayout`` of a class and byte order."""
    return ElfLayout(bits, endian)
