"""Add a `.gnu_debuglink` section to a copy of an ELF binary, like `objcopy --add-gnu-debuglink`.

Done by appending bytes (no objcopy at runtime): the section's data, then a new section-name table and
section header table (``elfwriter.append_section_table``); loaded bytes are untouched, so the copy runs
the same. An existing ``.gnu_debuglink`` is replaced.
"""

from __future__ import annotations

import os
import struct
import zlib

from symkeep.binfmt.elf import ELFFile
from symkeep.binfmt.elf_constants import SHT_PROGBITS
from symkeep.binfmt.elfstructs import Shdr
from symkeep.errors import InputError, LimitError, NotABinaryError
from symkeep.fsio import OutputTarget, check_input_file
from symkeep.restore.elfwriter import NULL_SHDR, append_section_table, section_rows

__all__ = ["MAX_BINARY", "add_debuglink", "debuglink_payload", "read_binary", "write_debuglinked_copy"]

MAX_BINARY = 1 << 33
SECTION = ".gnu_debuglink"


def debuglink_payload(debug_name: str, debug_data: bytes, endian: str) -> bytes:
    """Name, NUL, zero padding to 4 bytes, then the CRC32 of the debug file (target byte order)."""
    name = debug_name.encode("utf-8") + b"\0"
    name += b"\0" * ((-len(name)) % 4)
    return name + struct.pack(endian + "I", zlib.crc32(debug_data) & 0xFFFFFFFF)


def add_debuglink(binary: bytes, debug_name: str, debug_data: bytes) -> bytes:
    """Return ``binary`` with a .gnu_debuglink section naming ``debug_name`` (replaces an old one)."""
    elf = ELFFile("<binary>", binary)
    payload = debuglink_payload(debug_name, debug_data, elf.ident.endian)
    out = bytearray(binary)
    out += b"\0" * ((-len(out)) % 4)
    link = Shdr(0, SHT_PROGBITS, 0, 0, len(out), len(payload), 0, 0, 4, 0)
    out += payload
    rows = section_rows(elf) or [("", NULL_SHDR)]
    old = next((i for i, (n, _s) in enumerate(rows) if i and n == SECTION), None)
    if old is None:
        rows.append((SECTION, link))
    else:  # in place: section indices (sh_link of others) stay valid
        rows[old] = (SECTION, link)
    append_section_table(out, elf, rows)
    return bytes(out)


def read_binary(path: str | os.PathLike[str]) -> tuple[bytes, int]:
    """The bytes and permission bits of a binary to copy (bounded by ``MAX_BINARY``)."""
    p = check_input_file(path)
    try:
        st = os.stat(p)
        if st.st_size > MAX_BINARY:
            raise LimitError(f"{p}: too large ({st.st_size} bytes; the cap is {MAX_BINARY})")
        with open(p, "rb") as fh:
            return fh.read(), st.st_mode & 0o777
    except OSError as e:
        raise InputError(f"cannot read {p}: {e.strerror or e}") from e


def write_debuglinked_copy(binary_path: str | os.PathLike[str], out: OutputTarget, debug_name: str,
                           debug_data: bytes) -> None:
    """Copy ``binary_path`` to ``out`` with a debuglink naming ``debug_name``."""
    data, mode = read_binary(binary_path)
    if data[:4] != b"\x7fELF":
        raise NotABinaryError(f"{binary_path}: not an ELF file")
    out.write(add_debuglink(data, debug_name, debug_data), mode=mode | 0o100)
