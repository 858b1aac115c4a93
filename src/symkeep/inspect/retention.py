"""Group sections into retention classes: what a strip flag can remove and what it never can."""

from __future__ import annotations

from dataclasses import dataclass

from symkeep.binfmt import Binary, Section

CODE = "code"
DATA = "data"
GO_TABLES = "go-runtime-tables"
SYMTAB = "symtab"
DWARF = "dwarf"
NOTES = "notes-buildinfo"
OTHER = "other"

CLASSES = (CODE, DATA, GO_TABLES, SYMTAB, DWARF, NOTES, OTHER)

CLASS_HELP = {
    CODE: "machine code",
    DATA: "data, read-only data",
    GO_TABLES: "Go runtime tables (.gopclntab & co: never stripped)",
    SYMTAB: "ELF/COFF symbol table (removed by -s / strip)",
    DWARF: "DWARF debug info (removed by -w, and by -s)",
    NOTES: "notes and build info (build IDs, .go.buildinfo)",
    OTHER: "headers, dynamic linking, padding, other",
}

_GO_TABLE_NAMES = {
    ".gopclntab", ".data.rel.ro.gopclntab", "__gopclntab", ".gosymtab", "__gosymtab", ".go.module",
    "__go_module", ".typelink", "__typelink", ".itablink", "__itablink", ".go.fipsinfo", ".go.fuzzcntrs",
    ".go.func", ".gofunc", "__go_func",
}
_SYMTAB_NAMES = {".symtab", ".strtab"}


def classify(sec: Section) -> str:
    name = sec.name
    low = name.lower()
    if name in _GO_TABLE_NAMES or low.endswith("gopclntab"):
        return GO_TABLES
    if low.startswith((".debug_", ".zdebug_", "__debug_", "__zdebug_", "__apple_")) or sec.segment == "__DWARF":
        return DWARF
    if name in _SYMTAB_NAMES:
        return SYMTAB
    if low.startswith(".note") or name in (".go.buildinfo", "__go_buildinfo", ".buildid", ".gnu_debuglink"):
        return NOTES
    if sec.execute or name in (".text", "__text"):
        return CODE
    if sec.alloc and (sec.write or low.startswith((".rodata", ".data", ".noptr", ".bss", ".tbss", "__rodata",
                                                    "__data", "__noptrdata", "__bss", "__noptrbss", ".rdata"))):
        return DATA
    return OTHER


@dataclass(frozen=True)
class ClassTotal:
    name: str
    bytes: int
    percent: float


def totals(bin: Binary, file_size: int) -> list[ClassTotal]:
    """Bytes per class as stored in the file; what no section covers counts as 'other'."""
    acc = dict.fromkeys(CLASSES, 0)
    covered = 0
    for sec in bin.sections():
        acc[classify(sec)] += sec.file_size
        covered += sec.file_size
    extra = symbol_table_bytes(bin)
    acc[SYMTAB] += extra
    covered += extra
    if not bin.sections():
        # No section headers: attribute loaded segments by permission, the rest is 'other'.
        for seg in bin.segments():
            if seg.load:
                acc[CODE if seg.execute else DATA] += seg.filesz
                covered += seg.filesz
    acc[OTHER] += max(0, file_size - covered)
    return [ClassTotal(c, acc[c], (100.0 * acc[c] / file_size) if file_size else 0.0) for c in CLASSES]


def symbol_table_bytes(bin: Binary) -> int:
    """Symbol tables that live outside sections (PE COFF symbols, Mach-O LC_SYMTAB)."""
    n = getattr(bin, "symtab_file_bytes", 0)
    return int(n) if isinstance(n, int) else 0


def has_symtab(bin: Binary) -> bool:
    if bin.format == "elf":
        return bin.section(".symtab") is not None
    return any(s.kind == "func" or s.value for s in bin.symbols())


def dwarf_sections(bin: Binary) -> list[Section]:
    return [s for s in bin.sections() if classify(s) == DWARF]


def has_dwarf(bin: Binary) -> bool:
    names = {s.name.lstrip("._").replace("zdebug", "debug") for s in dwarf_sections(bin)}
    return "debug_info" in names or "debug_line" in names
