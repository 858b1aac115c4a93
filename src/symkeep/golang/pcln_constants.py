"""Constants of the Go pclntab and moduledata formats (read from each toolchain's runtime source).

Kept apart so tests and other layers can name them without importing the parsers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

Generation = Literal["1.2", "1.16", "1.18", "1.20"]

MAGIC_12: Final = 0xFFFFFFFB  # Go 1.2 - 1.15
MAGIC_116: Final = 0xFFFFFFFA  # Go 1.16 - 1.17
MAGIC_118: Final = 0xFFFFFFF0  # Go 1.18 - 1.19
MAGIC_120: Final = 0xFFFFFFF1  # Go 1.20+ (unchanged through 1.27)

MAGIC_TO_GENERATION: Final[dict[int, Generation]] = {
    MAGIC_12: "1.2",
    MAGIC_116: "1.16",
    MAGIC_118: "1.18",
    MAGIC_120: "1.20",
}

VALID_QUANTA: Final = (1, 2, 4)
VALID_PTRSIZES: Final = (4, 8)

# internal/abi/symtab.go
PCDATA_UNSAFE_POINT: Final = 0
PCDATA_STACK_MAP_INDEX: Final = 1
PCDATA_INL_TREE_INDEX: Final = 2
FUNCDATA_INL_TREE: Final = 3  # Go 1.16+
FUNCDATA_INL_TREE_OLD: Final = 4  # Go 1.12-1.15 (FUNCDATA_RegPointerMaps = 2 came before it)

NO_FUNCDATA: Final = 0xFFFFFFFF  # funcdata offset meaning "none" (1.18+)
NO_FILE: Final = 0xFFFFFFFF  # cutab entry for a file the CU does not use

# pcHeader words after the 8 fixed bytes (magic, pad, minLC, ptrSize), per generation. The one
# definition of the header layout: the parser and the structural scan both read it.
HEADER_WORDS: Final[dict[Generation, tuple[str, ...]]] = {
    "1.20": ("nfunc", "nfiles", "text_start", "funcname_offset", "cu_offset", "filetab_offset",
             "pctab_offset", "pcln_offset"),
    "1.18": ("nfunc", "nfiles", "text_start", "funcname_offset", "cu_offset", "filetab_offset",
             "pctab_offset", "pcln_offset"),
    "1.16": ("nfunc", "nfiles", "funcname_offset", "cu_offset", "filetab_offset", "pctab_offset",
             "pcln_offset"),
    "1.2": ("nfunc",),  # the functab follows the header; names and tables are relative to the table
}
# Table offsets in the order the linker writes them (each header word that names one).
HEADER_TABLE_OFFSETS: Final = ("funcname_offset", "cu_offset", "filetab_offset", "pctab_offset", "pcln_offset")


@dataclass(frozen=True, slots=True)
class FuncLayout:
    """runtime._func of one pclntab generation: byte offsets of its fields from the record start.

    The one definition of the record: ``PclnTab.read_func`` reads records one at a time with it and
    ``golang.bulk`` gathers the same fields for every function at once. 4-byte fields unless noted;
    ``None`` = not in this generation."""

    entry_size: int  # entryOff u32 (1.18+) or an absolute, pointer-sized entry PC (before)
    name: int  # nameOff i32
    args: int  # i32
    deferreturn: int
    pcsp: int
    pcfile: int
    pcln: int
    npcdata: int
    cu_offset: int | None  # 1.16+
    start_line: int | None  # i32, 1.20+
    func_id: int  # u8
    flag: int  # u8 (a pad byte before Go 1.17)
    nfuncdata: int  # u8
    fixed: int  # size of the fixed part: pcdata[npcdata] u32 follow, then funcdata


def func_layout(generation: Generation, ptrsize: int) -> FuncLayout:
    """The _func layout of ``generation`` (pointer size matters only before 1.18)."""
    if generation in ("1.18", "1.20"):
        sl = 36 if generation == "1.20" else None
        b = 40 if generation == "1.20" else 36
        return FuncLayout(4, 4, 8, 12, 16, 20, 24, 28, 32, sl, b, b + 1, b + 3, b + 4)
    p = ptrsize
    if generation == "1.16":
        return FuncLayout(p, p, p + 4, p + 8, p + 12, p + 16, p + 20, p + 24, p + 28, None,
                          p + 32, p + 33, p + 35, p + 36)
    # 1.2 (as written by Go 1.12-1.15; 1.2-1.9 had an int32 nfuncdata where funcID/flag now are)
    return FuncLayout(p, p, p + 4, p + 8, p + 12, p + 16, p + 20, p + 24, None, None, p + 28, p + 29, p + 31, p + 32)


FUNC_FIXED_118: Final = func_layout("1.18", 8).fixed  # 40: 1.18/1.19, no startLine
FUNC_FIXED_120: Final = func_layout("1.20", 8).fixed  # 44


@dataclass(frozen=True, slots=True)
class InlineLayout:
    """One inline tree record: size and field offsets (i32 unless noted; ``None`` = not recorded)."""

    size: int
    func_id: int  # u8
    name: int  # nameOff
    parent_pc: int  # offset of the call instruction from the function entry
    start_line: int | None  # 1.20+
    call_file: int | None  # before 1.20: the call site's file index and line
    call_line: int | None


# 1.12 - 1.19: parent i16, funcID u8, pad, file i32, line i32, name i32, parentPc i32
INLINE_116: Final = InlineLayout(20, 2, 12, 16, None, 4, 8)
# 1.20+: funcID u8, pad[3], nameOff i32, parentPc i32, startLine i32
INLINE_120: Final = InlineLayout(16, 0, 4, 8, 12, None, None)
INLINE_REC_116: Final = INLINE_116.size
INLINE_REC_120: Final = INLINE_120.size

# Known funcIDs that matter for symbolization (cmd/internal/objabi/funcid.go / internal/abi).
FUNCID_WRAPPER_NAME: Final = "wrapper"

# moduledata layouts, as word indices (one word = pointer size; a slice is 3 words).
# Fields every layout since 1.16 shares: pcHeader 0, funcnametab 1-3, cutab 4-6, filetab 7-9,
# pctab 10-12, pclntable 13-15, ftab 16-18, findfunctab 19, minpc 20, maxpc 21, text 22, etext 23.


class ModuleLayout:
    """Word indices of the moduledata fields we read for one range of Go versions."""

    __slots__ = ("name", "min_minor", "max_minor", "gofunc", "textsectmap", "epclntab")

    def __init__(
        self,
        name: str,
        min_minor: int,
        max_minor: int,
        gofunc: int | None,
        textsectmap: int,
        epclntab: int | None,
    ) -> None:
        self.name = name
        self.min_minor = min_minor
        self.max_minor = max_minor
        self.gofunc = gofunc
        self.textsectmap = textsectmap
        self.epclntab = epclntab

    def __repr__(self) -> str:
        return f"ModuleLayout({self.name})"


MD_PCHEADER: Final = 0
MD_FUNCNAMETAB: Final = 1
MD_CUTAB: Final = 4
MD_FILETAB: Final = 7
MD_PCTAB: Final = 10
MD_PCLNTABLE: Final = 13
MD_FTAB: Final = 16
MD_FINDFUNCTAB: Final = 19
MD_MINPC: Final = 20
MD_MAXPC: Final = 21
MD_TEXT: Final = 22
MD_ETEXT: Final = 23

# 1.16/1.17: ... end/gcdata/gcbss 32-34, types/etypes 35-36, textsectmap 37 (no rodata, no gofunc)
# 1.18/1.19: ... types/etypes 35-36, rodata 37, gofunc 38, textsectmap 39
# 1.20-1.25: covctrs/ecovctrs 32-33 inserted: ... rodata 39, gofunc 40, textsectmap 41
# 1.26:      epclntab 41 after gofunc: textsectmap 42
# 1.27:      types/typedesclen/etypes 37-39, itaboffset/itabsize 40-41, rodata 42, gofunc 43,
#            epclntab 44, textsectmap 45
MODULE_LAYOUTS: Final = (
    ModuleLayout("1.27", 27, 10_000, gofunc=43, textsectmap=45, epclntab=44),
    ModuleLayout("1.26", 26, 26, gofunc=40, textsectmap=42, epclntab=41),
    ModuleLayout("1.20", 20, 25, gofunc=40, textsectmap=41, epclntab=None),
    ModuleLayout("1.18", 18, 19, gofunc=38, textsectmap=39, epclntab=None),
    ModuleLayout("1.16", 16, 17, gofunc=None, textsectmap=37, epclntab=None),
)

# Go 1.2 - 1.15 moduledata: pclntable 0-2, ftab 3-5, filetab 6-8, findfunctab 9, minpc 10, maxpc 11,
# text 12, etext 13.
MD12_PCLNTABLE: Final = 0
MD12_FTAB: Final = 3
MD12_TEXT: Final = 12
MD12_ETEXT: Final = 13

# Hard limits that keep hostile inputs bounded.
MAX_INLINE_DEPTH: Final = 1024
MAX_TEXT_SECTIONS: Final = 4096
