"""Just enough DWARF sniffing to judge consumers: is there DWARF, which version, does it have lines."""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

from symkeep.binfmt import Binary, Section
from symkeep.inspect.retention import dwarf_sections


@dataclass(frozen=True)
class DwarfSummary:
    present: bool
    version: int | None  # version of the first compile unit in .debug_info
    has_info: bool
    has_line: bool
    has_frame: bool
    compressed: bool
    bytes: int


def _norm(name: str) -> str:
    return name.lstrip("._").replace("zdebug", "debug")


def _head(bin: Binary, sec: Section, n: int = 64) -> bytes:
    """The first ``n`` decompressed bytes of a section (zlib only; enough for a unit header)."""
    raw = bin.section_data(sec)
    if not raw:
        return b""
    data = bytes(raw[: 4096])
    try:
        if sec.name.startswith((".zdebug", "__zdebug")) and data[:4] == b"ZLIB":
            return zlib.decompressobj().decompress(data[12:], n)
        if sec.compressed and bin.format == "elf":
            hdr = 24 if bin.bits == 64 else 12
            (ch_type,) = struct.unpack(bin.endian_prefix + "I", data[:4])
            if ch_type != 1:  # zstd or unknown: version stays unknown
                return b""
            return zlib.decompressobj().decompress(bytes(raw[hdr : hdr + 65536]), n)
    except zlib.error:
        return b""
    return data[:n]


def summarize(bin: Binary) -> DwarfSummary:
    secs = dwarf_sections(bin)
    names = {_norm(s.name): s for s in secs}
    version: int | None = None
    info = names.get("debug_info")
    if info is not None:
        head = _head(bin, info)
        if len(head) >= 6:
            e = bin.endian_prefix
            (length,) = struct.unpack(e + "I", head[:4])
            off = 12 if length == 0xFFFFFFFF else 4
            if len(head) >= off + 2:
                (v,) = struct.unpack(e + "H", head[off : off + 2])
                version = v if 2 <= v <= 5 else None
    return DwarfSummary(
        present=bool(secs),
        version=version,
        has_info="debug_info" in names,
        has_line="debug_line" in names,
        has_frame="debug_frame" in names,
        compressed=any(s.compressed or s.name.startswith((".zdebug", "__zdebug")) for s in secs),
        bytes=sum(s.file_size for s in secs),
    )
