"""Executable containers (ELF, Mach-O, PE): sections, segments, symbols, notes, address maps."""

from __future__ import annotations

import os

from symkeep.binfmt.base import Binary, FatSlice, Note, Section, Segment, Symbol, map_file
from symkeep.errors import NotABinaryError

__all__ = ["Binary", "FatSlice", "Note", "Section", "Segment", "Symbol", "open_binary", "detect_format"]


def detect_format(head: bytes) -> str | None:
    """'elf', 'macho', 'macho-fat', 'pe' or None, from the first bytes of a file."""
    if head[:4] == b"\x7fELF":
        return "elf"
    if head[:4] in (b"\xfe\xed\xfa\xce", b"\xce\xfa\xed\xfe", b"\xfe\xed\xfa\xcf", b"\xcf\xfa\xed\xfe"):
        return "macho"
    if head[:4] in (b"\xca\xfe\xba\xbe", b"\xca\xfe\xba\xbf"):
        return "macho-fat"
    if head[:2] == b"MZ":
        return "pe"
    return None


def open_binary(path: str | os.PathLike[str], arch: str | None = None) -> Binary:
    """Open an executable lazily. ``arch`` picks a slice of a universal Mach-O (default: first)."""
    f = map_file(path)
    head = bytes(f.data[:4]) if f.size else b""
    fmt = detect_format(head)
    if f.size == 0:
        raise NotABinaryError(f"{f.path}: empty file")
    if fmt == "elf":
        from symkeep.binfmt.elf import ELFFile

        return ELFFile(f.path, f.data)
    if fmt in ("macho", "macho-fat"):
        from symkeep.binfmt.macho import open_macho

        return open_macho(f.path, f.data, arch)
    if fmt == "pe":
        from symkeep.binfmt.pe import PEFile

        return PEFile(f.path, f.data)
    raise NotABinaryError(f"{f.path}: not an executable (no ELF, Mach-O or PE header)")
