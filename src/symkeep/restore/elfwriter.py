"""Writing ELF files: a debug companion from scratch, or a new section table for a patched copy.

The input is read by ``binfmt.elf.ELFFile`` (raw section and program headers included) and every
record is packed by ``binfmt.elfstructs``: no ELF layout is spelled here. ``write_elf`` lays sections
out back to back (headers at the end); ``append_section_table`` appends a new section-name table and
section header table to a copy of a binary and points its ELF header at them, leaving every loaded
byte where it was (what ``objcopy --add-gnu-debuglink`` and the unwindable copy need).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

from symkeep.binfmt.elf import ELFFile
from symkeep.binfmt.elf_constants import SHN_LORESERVE, SHT_NOBITS, SHT_NOTE, SHT_NULL, SHT_STRTAB, SHT_SYMTAB
from symkeep.binfmt.elfstructs import Ehdr, Ident, Phdr, Shdr, Sym, layout
from symkeep.errors import FormatError

__all__ = [
    "NULL_SHDR", "OutSection", "StrTab", "append_section_table", "pack_symbols", "section_rows", "write_elf",
]

NULL_SHDR = Shdr(0, SHT_NULL, 0, 0, 0, 0, 0, 0, 0, 0)


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


def _check_count(n: int, what: str) -> None:
    if n >= SHN_LORESERVE:  # no extended section numbering in what we write
        raise FormatError(f"too many sections ({n})", None, n, what=what)


def write_elf(ident: Ident, template: Ehdr, sections: list[OutSection], phdrs: Sequence[Phdr],
              e_type: int | None = None) -> bytes:
    """Serialize: ELF header (type/machine/version/entry/flags from ``template``), program headers,
    section data, section header table. ``sections[0]`` must be the null section; a section named
    ``.shstrtab`` is filled in here."""
    _check_count(len(sections), "debug file")
    lay = layout(ident.bits, ident.endian)
    shstr = StrTab()
    names = [shstr.add(s.name) for s in sections]
    shstrndx = next((i for i, s in enumerate(sections) if s.name == ".shstrtab"), 0)
    if shstrndx:
        sections[shstrndx].data = shstr.bytes()
    out = bytearray(lay.ehdr_size)
    phoff = lay.ehdr_size if phdrs else 0
    for p in phdrs:
        out += lay.pack_phdr(p)
    offsets: list[int] = []
    for s in sections:
        if s.type in (SHT_NOBITS, SHT_NULL):
            offsets.append(s.offset if s.offset is not None else len(out))
            continue
        align = max(1, s.addralign)
        if s.type == SHT_NOTE:
            align = max(align, 4)
        elif s.type == SHT_SYMTAB:
            align = max(align, ident.bits // 8)
        out += b"\0" * ((-len(out)) % min(align, 4096))
        offsets.append(len(out))
        out += s.data
    out += b"\0" * ((-len(out)) % 8)
    shoff = len(out)
    for i, s in enumerate(sections):
        if i == 0:
            out += lay.pack_shdr(NULL_SHDR)
            continue
        size = s.size if s.type == SHT_NOBITS and s.size is not None else len(s.data)
        out += lay.pack_shdr(Shdr(names[i], s.type, s.flags, s.addr, offsets[i], size, s.link, s.info,
                                  s.addralign, s.entsize))
    h = dataclasses.replace(
        template, type=template.type if e_type is None else e_type, phoff=phoff, shoff=shoff,
        ehsize=lay.ehdr_size, phentsize=lay.phdr.size if phdrs else 0, phnum=len(phdrs),
        shentsize=lay.shdr.size, shnum=len(sections), shstrndx=shstrndx)
    out[0 : lay.ehdr_size] = lay.pack_ehdr(ident, h)
    return bytes(out)


def pack_symbols(ident: Ident, syms: Sequence[Sym]) -> bytes:
    """An Elf32_Sym/Elf64_Sym table."""
    lay = layout(ident.bits, ident.endian)
    return b"".join(lay.pack_sym(s) for s in syms)


def append_section_table(data: bytearray, elf: ELFFile, rows: Sequence[tuple[str, Shdr]]) -> None:
    """Append a new ``.shstrtab`` and a section header table listing ``rows`` (name, header; the
    headers' name offsets are recomputed; row 0 is the null section) to ``data`` (a copy of ``elf``'s
    bytes), and rewrite the ELF header's e_shoff/e_shentsize/e_shnum/e_shstrndx. A ``.shstrtab``
    row is pointed at the new table (one is added when ``rows`` has none)."""
    lay = elf.layout
    if not rows or rows[0][1].type != SHT_NULL:
        raise ValueError("append_section_table: row 0 must be the null section")
    strs = StrTab()
    named = [(strs.add(n) if i else 0, n, s) for i, (n, s) in enumerate(rows)]
    shstrndx = next((i for i, (_o, n, s) in enumerate(named) if i and n == ".shstrtab" and s.type == SHT_STRTAB),
                    None)
    if shstrndx is None:
        named.append((strs.add(".shstrtab"), ".shstrtab", dataclasses.replace(NULL_SHDR, type=SHT_STRTAB)))
        shstrndx = len(named) - 1
    _check_count(len(named), "section table")
    table = strs.bytes()
    data += b"\0" * ((-len(data)) % 8)
    str_off = len(data)
    data += table
    data += b"\0" * ((-len(data)) % 8)
    shoff = len(data)
    for i, (name_off, _n, s) in enumerate(named):
        if i == 0:  # keeps sh_info: the real e_phnum under extended numbering (PN_XNUM)
            data += lay.pack_shdr(dataclasses.replace(s, name=0, size=0, link=0))
        elif i == shstrndx:
            data += lay.pack_shdr(Shdr(name_off, SHT_STRTAB, 0, 0, str_off, len(table), 0, 0, 1, 0))
        else:
            data += lay.pack_shdr(dataclasses.replace(s, name=name_off))
    h = dataclasses.replace(elf.ehdr, shoff=shoff, shentsize=lay.shdr.size, shnum=len(named), shstrndx=shstrndx)
    data[0 : lay.ehdr_size] = lay.pack_ehdr(elf.ident, h)


def section_rows(elf: ELFFile) -> list[tuple[str, Shdr]]:
    """(name, raw header) of every section of ``elf``, index for index (``[]`` without a usable table)."""
    return [(s.name, h) for s, h in zip(elf.sections(), elf.section_headers(), strict=True)]
