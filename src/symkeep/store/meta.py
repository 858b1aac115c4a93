"""What an artifact is, read from its bytes: build IDs, build info and quality flags.

Used by ``archive`` (to decide what a file is and where it goes) and by the server's upload handler
(to check that an uploaded file really carries the build ID in its URL). Only headers, notes and the
build info are read (lazy over mmap), so describing a 100 MB binary costs milliseconds.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field

from symkeep.binfmt import Binary, Section, open_binary
from symkeep.errors import SymkeepError
from symkeep.golang.buildid import gnu_build_id, go_build_id, is_redacted
from symkeep.golang.buildinfo import read_buildinfo

__all__ = ["ArtifactInfo", "describe", "describe_binary"]

_DWARF_NAMES = {"debug_info", "debug_line", "debug_abbrev", "debug_frame", "debug_str", "debug_ranges",
                "debug_loc", "debug_aranges", "debug_rnglists", "debug_loclists", "debug_line_str"}


@dataclass
class ArtifactInfo:
    format: str
    arch: str
    gnu_build_id: str | None
    go_build_id: str | None
    has_dwarf: bool
    has_symtab: bool
    has_pclntab: bool
    has_code: bool  # .text has bytes in the file (an executable, not an --only-keep-debug file)
    dwarf_version: int | None
    go_version: str | None = None
    module: str | None = None
    module_version: str | None = None
    vcs_revision: str | None = None
    vcs_modified: bool | None = None
    settings: dict[str, str] = field(default_factory=dict)

    @property
    def ids(self) -> list[str]:
        """Every key this artifact is filed under (GNU build-id first)."""
        out = [i for i in (self.gnu_build_id, self.go_build_id) if i]
        return out

    @property
    def natural_kind(self) -> str:
        """'executable' when it carries code, else 'debuginfo' (an objcopy --only-keep-debug file)."""
        return "executable" if self.has_code else "debuginfo"


def _dwarf_sections(b: Binary) -> list[Section]:
    return [s for s in b.sections() if s.name.lstrip("._").replace("zdebug", "debug") in _DWARF_NAMES
            and s.file_size > 0]


def _dwarf_version(b: Binary, sec: Section) -> int | None:
    """Version of the first unit of .debug_info (zlib-compressed sections included)."""
    try:
        raw = bytes(b.section_data(sec)[:65536])
        if sec.name.startswith(".zdebug") and raw[:4] == b"ZLIB":
            head = zlib.decompressobj().decompress(raw[12:], 16)
        elif sec.compressed:
            hdr = 24 if b.bits == 64 else 12
            if struct.unpack(b.endian_prefix + "I", raw[:4])[0] != 1:
                return None
            head = zlib.decompressobj().decompress(raw[hdr:], 16)
        else:
            head = raw[:16]
        (length,) = struct.unpack(b.endian_prefix + "I", head[:4])
        off = 12 if length == 0xFFFFFFFF else 4
        (v,) = struct.unpack(b.endian_prefix + "H", head[off:off + 2])
        return v if 2 <= v <= 5 else None
    except (zlib.error, struct.error, SymkeepError):
        return None


def describe_binary(b: Binary) -> ArtifactInfo:
    dwarf = _dwarf_sections(b)
    info = next((s for s in dwarf if s.name.endswith("debug_info")), None)
    text = b.section(".text") or b.section("__text")
    if text is not None:
        has_code = text.file_size > 0
    else:  # no section headers: any executable PT_LOAD with file bytes
        has_code = any(s.execute and s.filesz > 0 for s in b.segments())
    try:
        symtab = any(s.name in (".symtab", "__symbol_table") and s.file_size > 0 for s in b.sections()) \
            or (b.format != "elf" and bool(b.symbols()))
    except SymkeepError:
        symtab = False
    pcln = any(s.name in (".gopclntab", ".data.rel.ro.gopclntab", "__gopclntab") and s.file_size > 0
               for s in b.sections())
    go_id = go_build_id(b)
    if go_id is not None and is_redacted(go_id):
        go_id = None
    ai = ArtifactInfo(
        format=b.format, arch=b.arch, gnu_build_id=gnu_build_id(b), go_build_id=go_id or None,
        has_dwarf=bool(dwarf), has_symtab=symtab, has_pclntab=pcln, has_code=has_code,
        dwarf_version=_dwarf_version(b, info) if info is not None else None,
    )
    if has_code:
        try:
            bi = read_buildinfo(b)
        except SymkeepError:
            bi = None
        if bi is not None:
            ai.go_version = bi.go_version or None
            ai.module = (bi.main.path if bi.main is not None and bi.main.path else bi.path) or None
            ai.module_version = bi.main.version if bi.main is not None and bi.main.version else None
            ai.settings = dict(bi.settings)
            ai.vcs_revision = ai.settings.get("vcs.revision")
            mod = ai.settings.get("vcs.modified")
            ai.vcs_modified = None if mod is None else mod == "true"
            if not pcln and bi.go_version:
                ai.has_pclntab = True  # PE / no section headers: pclntab has no section of its own
    return ai


def describe(path: str) -> ArtifactInfo:
    """Open ``path`` (ELF, Mach-O or PE) and describe it; NotABinaryError etc. for anything else."""
    b = open_binary(path)
    try:
        return describe_binary(b)
    finally:
        b.close()
