"""ELF notes (``SHT_NOTE`` sections, ``PT_NOTE`` segments): the record walk and the note types, once.

A note is ``namesz, descsz, type`` (target byte order) then the owner name and the descriptor, each
padded to the container's alignment (4, or 8 for ``PT_NOTE`` segments aligned to 8). The reader
(``binfmt.elf``) and the debug-file writer (``restore``) both walk notes through :func:`walk_notes`,
bounds-checked: a note that claims more bytes than its container is reported, never read past.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from symkeep.binfmt.elfstructs import layout

__all__ = [
    "NT_GNU_BUILD_ID",
    "NT_GO_BUILDID",
    "OWNER_GNU",
    "OWNER_GO",
    "RawNote",
    "note_bytes",
    "walk_notes",
]

OWNER_GNU = "GNU"
OWNER_GO = "Go"
NT_GNU_BUILD_ID = 3  # owner "GNU": the build-id debuggers and debuginfod key on (hex of desc)
NT_GO_BUILDID = 4  # owner "Go": the Go build ID string (``go tool buildid``)


@dataclass(frozen=True, slots=True)
class RawNote:
    offset: int  # of the note header, in the buffer walked
    owner: str  # NUL padding stripped
    type: int
    desc: bytes


def _pad(n: int, a: int) -> int:
    return (n + a - 1) & ~(a - 1)


def walk_notes(buf: Any, start: int, end: int, endian: str, align: int = 4) -> tuple[list[RawNote], int | None]:
    """The notes in ``buf[start:end]`` and, if one runs past ``end``, that note's offset (else None).

    ``align`` is the container's alignment; anything but 8 means 4 (as readelf treats it)."""
    a = 8 if align == 8 else 4
    hdr = layout(32, endian).nhdr
    out: list[RawNote] = []
    p = start
    end = min(end, len(buf))
    while p + hdr.size <= end:
        namesz, descsz, ntype = hdr.unpack_from(buf, p)
        doff = _pad(hdr.size + namesz, a)
        if p + doff + descsz > end:
            return out, p
        name = bytes(buf[p + hdr.size : p + hdr.size + namesz]).rstrip(b"\0")
        desc = bytes(buf[p + doff : p + doff + descsz])
        out.append(RawNote(p, name.decode("utf-8", "replace"), ntype, desc))
        p += _pad(doff + descsz, a)
    return out, None


def note_bytes(notes: Iterable[tuple[str, int, bytes]], endian: str) -> bytes:
    """Serialize (owner, type, desc) notes with 4-byte padding (what a ``.note.*`` section holds)."""
    hdr = layout(32, endian).nhdr
    out = bytearray()
    for owner, ntype, desc in notes:
        name = owner.encode() + b"\0"
        out += hdr.pack(len(name), len(desc), ntype)
        out += name + b"\0" * (_pad(len(name), 4) - len(name))
        out += desc + b"\0" * (_pad(len(desc), 4) - len(desc))
    return bytes(out)
