"""Build IDs: the GNU build-id note (debuginfod key) and the Go build ID (``go tool buildid``).

ELF keeps the Go build ID in a note (owner "Go", type 4); Mach-O and PE keep it as the string
``\\xff Go build ID: "..."\\n \\xff`` at the start of the text, which ``go tool buildid`` looks for in
the first 32 KiB of the file (and, for Mach-O, of ``__text``). Bazel replaces it by ``redacted``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from symkeep.binfmt.base import Binary
from symkeep.errors import SymkeepError
from symkeep.golang.buildinfo import unquote

__all__ = ["BuildIDs", "build_ids", "gnu_build_id", "go_build_id", "is_redacted", "split_go_build_id"]

NT_GNU_BUILD_ID = 3
NT_GO_BUILD_ID = 4
GO_BUILD_PREFIX = b'\xff Go build ID: "'
GO_BUILD_END = b'"\n \xff'
READ_SIZE = 32 * 1024
SCAN_GNU = 64 * 1024
MAX_ID = 1024  # a Go build ID is 83 bytes today; anything this long is not one


@dataclass(frozen=True)
class BuildIDs:
    gnu: str | None
    go: str | None
    go_redacted: bool

    def to_json(self) -> dict[str, object]:
        return {"gnu": self.gnu, "go": self.go, "go_redacted": self.go_redacted}

    def matches(self, build_id: str) -> bool:
        """Whether a recorded build ID (a profile mapping's, perf's) names this file: the GNU
        build-id in any case, or the exact Go build ID (never Bazel's ``redacted`` placeholder).
        An empty recorded ID matches anything (nothing to check)."""
        b = build_id.strip()
        if not b:
            return True
        if self.gnu and self.gnu.lower() == b.lower():
            return True
        return bool(self.go) and not self.go_redacted and self.go == b

    def describe(self) -> str:
        parts = [f"GNU build-id {self.gnu}"] if self.gnu else []
        if self.go:
            parts.append(f"Go build ID {self.go}")
        return ", ".join(parts) or "no build ID"


def is_redacted(build_id: str | None) -> bool:
    """True for the placeholder Bazel (rules_go) writes instead of a real Go build ID."""
    return build_id is not None and build_id.strip() == "redacted"


def split_go_build_id(build_id: str) -> list[str]:
    """The '/'-separated hashes: actionID/contentID for packages, four parts for executables."""
    return build_id.split("/")


def _notes(b: Binary) -> list[tuple[str, int, bytes]]:
    try:
        return [(n.owner.rstrip("\x00"), n.type, n.desc) for n in b.notes()]
    except SymkeepError:
        return []


def gnu_build_id(b: Binary, scan: bool = True) -> str | None:
    """Hex of the NT_GNU_BUILD_ID note, as ``readelf -n`` prints it; None when absent (or not ELF).

    Go's internal linker (1.24+) covers only the Go note with PT_NOTE, so once the section headers
    are gone ``readelf -n`` no longer sees the GNU note. With ``scan`` we then look for the note's
    fixed header (namesz 4, type 3, "GNU") in the ELF headers' neighbourhood (first 64 KiB).
    """
    for owner, typ, desc in _notes(b):
        if owner == "GNU" and typ == NT_GNU_BUILD_ID and desc:
            return desc.hex()
    if scan and b.format == "elf" and not b.has_section_headers:
        return _scan_gnu_note(b)
    return None


def _scan_gnu_note(b: Binary) -> str | None:
    try:
        head = b.read(0, min(SCAN_GNU, b.length), what="GNU build-id scan")
    except SymkeepError:
        return None
    e = b.endian_prefix
    tail = struct.pack(e + "I", NT_GNU_BUILD_ID) + b"GNU\x00"
    pos = head.find(tail)
    while pos >= 0:
        start = pos - 8
        if start >= 0 and start % 4 == 0:
            namesz, descsz = struct.unpack_from(e + "II", head, start)
            end = pos + len(tail) + descsz
            if namesz == 4 and 8 <= descsz <= 64 and end <= len(head):
                return head[pos + len(tail) : end].hex()
        pos = head.find(tail, pos + 1)
    return None


def _raw_scan(data: bytes) -> str | None:
    i = data.find(GO_BUILD_PREFIX)
    if i < 0:
        return None
    start = i + len(GO_BUILD_PREFIX) - 1  # keep the opening quote
    j = data.find(GO_BUILD_END, start + 1, start + 1 + MAX_ID + len(GO_BUILD_END))
    if j < 0:
        return None
    quoted = data[start : j + 1]
    try:
        return unquote(quoted.decode("utf-8", errors="surrogateescape"))
    except (ValueError, UnicodeError):
        return None


def go_build_id(b: Binary) -> str | None:
    """The Go build ID (what ``go tool buildid FILE`` prints), or None when there is none."""
    for owner, typ, desc in _notes(b):
        if owner == "Go" and typ == NT_GO_BUILD_ID:
            return desc.rstrip(b"\x00").decode("utf-8", errors="replace")
    try:
        head = b.read(0, min(READ_SIZE, b.length), what="build ID search")
        found = _raw_scan(head)
        if found is not None:
            return found
        for name in ("__text", ".text"):
            sec = b.section(name)
            if sec is not None and sec.file_size:
                n = min(READ_SIZE, sec.file_size, max(0, b.length - sec.offset))
                if n > 0:
                    found = _raw_scan(b.read(sec.offset, n, what="build ID search"))
                    if found is not None:
                        return found
    except SymkeepError:
        return None
    return None


def build_ids(b: Binary) -> BuildIDs:
    go = go_build_id(b)
    return BuildIDs(gnu=gnu_build_id(b), go=go, go_redacted=is_redacted(go))
