"""Add a `.gnu_debuglink` section to a copy of an ELF binary, like `objcopy --add-gnu-debuglink`.

Done by appending bytes (no objcopy at runtime): the section's data, a new section-name string table
(the old one plus ".gnu_debuglink") and a new section header table go after the existing bytes; the ELF
header's e_shoff/e_shnum/e_shstrndx are rewritten. Loaded bytes are untouched, so the binary runs the same.
"""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

from symkeep.binfmt.elf_constants import SHT_PROGBITS, SHT_STRTAB
from symkeep.errors import FormatError, InputError, LimitError
from symkeep.restore.elfwriter import read_elf_header

MAX_BINARY = 1 << 33


def debuglink_payload(debug_name: str, debug_data: bytes, endian: str) -> bytes:
    """Name, NUL, zero padding to 4 bytes, then the CRC32 of the debug file (target byte order)."""
    name = debug_name.encode("utf-8") + b"\0"
    name += b"\0" * ((-len(name)) % 4)
    return name + struct.pack(endian + "I", zlib.crc32(debug_data) & 0xFFFFFFFF)


def add_debuglink(binary: bytes, debug_name: str, debug_data: bytes) -> bytes:
    """Return ``binary`` with a .gnu_debuglink section naming ``debug_name`` (replaces an old one)."""
    hdr = read_elf_header(lambda off, n: _slice(binary, off, n), len(binary))
    e = hdr.endian
    is64 = hdr.bits == 64
    payload = debuglink_payload(debug_name, debug_data, e)
    shdrs = list(hdr.shdrs)
    out = bytearray(binary)

    def align(n: int) -> None:
        out.extend(b"\0" * ((-len(out)) % n))

    # Section name table: the old one (if any) plus our name.
    from symkeep.restore.elfwriter import Shdr

    if not shdrs:
        shdrs = [Shdr("", 0, 0, 0, 0, 0, 0, 0, 0, 0)]
        old_names = b"\0"
        shstrndx = 0
    else:
        shstrndx = hdr.shstrndx
        st = shdrs[shstrndx] if shstrndx else None
        old_names = _slice(binary, st.offset, st.size) if st and st.type == SHT_STRTAB else b"\0"
    names = bytearray(old_names if old_names.endswith(b"\0") else old_names + b"\0")
    link_name_off = len(names)
    names += b".gnu_debuglink\0"
    existing = next((i for i, s in enumerate(shdrs) if i and s.name == ".gnu_debuglink"), None)

    align(4)
    data_off = len(out)
    out += payload
    if existing is not None:
        s = shdrs[existing]
        shdrs[existing] = Shdr(s.name, SHT_PROGBITS, 0, 0, data_off, len(payload), 0, 0, 4, 0, s.name_off)
    else:
        shdrs.append(Shdr(".gnu_debuglink", SHT_PROGBITS, 0, 0, data_off, len(payload), 0, 0, 4, 0,
                          link_name_off))
    names_off = len(out)
    if not shstrndx:
        names += b".shstrtab\0"
        shdrs.append(Shdr(".shstrtab", SHT_STRTAB, 0, 0, names_off, 0, 0, 0, 1, 0, len(names) - 10))
        shstrndx = len(shdrs) - 1
    out += names
    s = shdrs[shstrndx]
    shdrs[shstrndx] = Shdr(s.name, SHT_STRTAB, s.flags, 0, names_off, len(names), 0, 0, 1, 0, s.name_off)
    if len(shdrs) >= 0xFF00:
        raise FormatError("too many sections to add .gnu_debuglink", None, len(shdrs), what="e_shnum")
    align(8)
    shoff = len(out)
    sfmt = e + ("IIQQQQIIQQ" if is64 else "IIIIIIIIII")
    for i, s in enumerate(shdrs):
        if i == 0:
            out += b"\0" * (64 if is64 else 40)
            continue
        out += struct.pack(sfmt, s.name_off, s.type, s.flags, s.addr, s.offset, s.size, s.link, s.info,
                           s.addralign, s.entsize)
    if is64:
        struct.pack_into(e + "Q", out, 0x28, shoff)
        struct.pack_into(e + "HHH", out, 0x3A, 64, len(shdrs), shstrndx)
    else:
        struct.pack_into(e + "I", out, 0x20, shoff)
        struct.pack_into(e + "HHH", out, 0x2E, 40, len(shdrs), shstrndx)
    return bytes(out)


def _slice(buf: bytes, off: int, n: int) -> bytes:
    if off < 0 or n < 0 or off + n > len(buf):
        raise FormatError(f"read of {n} bytes past end of file (size {len(buf):#x})", off, what="ELF")
    return buf[off : off + n]


def write_debuglinked_copy(binary_path: str | os.PathLike[str], out_path: str | os.PathLike[str],
                           debug_path: str | os.PathLike[str], debug_data: bytes) -> None:
    """Copy ``binary_path`` to ``out_path`` with a debuglink to ``basename(debug_path)``."""
    from symkeep.restore import write_atomic

    try:
        size = os.path.getsize(binary_path)
        if size > MAX_BINARY:
            raise LimitError(f"{binary_path}: too large ({size} bytes)")
        data = Path(binary_path).read_bytes()
        mode = os.stat(binary_path).st_mode & 0o777
    except OSError as e:
        raise InputError(f"cannot read {binary_path}: {e.strerror or e}") from e
    linked = add_debuglink(data, os.path.basename(os.fspath(debug_path)), debug_data)
    write_atomic(out_path, linked, mode=mode | 0o100)
