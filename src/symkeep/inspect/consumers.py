"""Which tools still name functions and lines for this exact binary, and why.

Each verdict is derived from what the binary holds (symbol table, DWARF and its version, where the
pclntab lives, build IDs) and from how each tool looks for symbols. The rules were established by
running the tools on real builds; ``tests/inspect/test_consumers_real.py`` re-checks each verdict
against the real tool on every fixture variant.
"""

from __future__ import annotations

import shlex
from dataclasses import asdict, dataclass

from symkeep.golang.goversion import go_minor


@dataclass(frozen=True)
class BinaryFacts:
    """What the verdicts depend on, measured from the binary's bytes."""

    format: str
    kind: str
    go_version: str | None
    has_section_headers: bool
    has_symtab: bool
    has_dynsym: bool
    pclntab_found: bool
    pclntab_section: str | None  # section name holding the pclntab, if it has its own
    pclntab_symbols: bool  # runtime.pclntab / runtime.epclntab symbols present
    dwarf: bool
    dwarf_version: int | None
    dwarf_line: bool
    gnu_build_id: str | None
    dwarf_compressed: bool = False
    # Where the Go code starts (symkeep: runtime.text symbol, moduledata.text, ...), and where
    # cmd/internal/objfile thinks it starts: the runtime.text symbol of .symtab, else the .text
    # section. Function entries in 1.18+ tables are offsets from it (``entry_offsets``).
    text_start: int | None = None
    go_tool_text_start: int | None = None
    go_tool_text_source: str = ""
    entry_offsets: bool = False


@dataclass(frozen=True)
class Verdict:
    name: str
    works: bool  # the tool names Go functions (for debuginfod: the binary can be indexed)
    lines: bool | None  # the tool also gives file:line; None where the tool shows no lines at all
    reason: str

    def to_json(self) -> dict[str, object]:
        return asdict(self)


def go_tool_finds_pclntab(f: BinaryFacts) -> tuple[bool, str]:
    """cmd/internal/objfile's lookup, as in the toolchain that built the binary."""
    minor = go_minor(f.go_version)
    if f.format == "elf":
        if not f.has_section_headers:
            return False, "no section headers: go tool looks the pclntab up by section name"
        if f.pclntab_section == ".gopclntab":
            return True, "reads .gopclntab"
        if f.pclntab_section == ".data.rel.ro.gopclntab":
            if minor is not None and minor < 20:
                if f.pclntab_symbols:
                    return False, f"go{minor} tools look only for a .gopclntab section"
                return False, f"go1.{minor} tools look only for a .gopclntab section (PIE names it .data.rel.ro.gopclntab)"
            return True, "reads .data.rel.ro.gopclntab"
        if f.pclntab_symbols and (minor is None or minor >= 20):
            return True, "reads the pclntab via runtime.pclntab symbols"
        return False, "pclntab has no section of its own and no runtime.pclntab symbols"
    if f.format == "macho":
        if f.pclntab_section == "__gopclntab":
            return True, "reads __gopclntab"
        return False, "no __gopclntab section"
    if f.format == "pe":
        if f.pclntab_symbols:
            return True, "finds the pclntab through COFF runtime.pclntab symbols"
        return False, "stripped PE: the pclntab is only found through COFF symbols, which -s removed"
    return False, "unknown format"


def go_tool_text_shift(f: BinaryFacts) -> int:
    """How many bytes before the real start of the Go code the go tools place it (0: they are right).

    Externally linked ELF binaries carry C code (crt, cgo, static C libraries) at the start of .text,
    before runtime.text. Without .symtab, cmd/internal/objfile takes the .text section address as the
    text start, and debug/gosym adds every 1.18+ function entry offset to it: every function moves
    down by this many bytes, so every PC gets a neighbouring function's name or a wrong line.
    """
    if f.format != "elf" or not f.entry_offsets:
        return 0
    if f.text_start is None or f.go_tool_text_start is None:
        return 0
    return f.text_start - f.go_tool_text_start


def verdicts(f: BinaryFacts) -> list[Verdict]:
    out: list[Verdict] = []
    minor = go_minor(f.go_version)
    pcln_reason = "symbolized in-process from .gopclntab, which no link flag or strip removes"
    out.append(Verdict("runtime/pprof (in-process)", f.pclntab_found, f.pclntab_found,
                       pcln_reason if f.pclntab_found else "no pclntab found"))

    ok, why = go_tool_finds_pclntab(f)
    shift = go_tool_text_shift(f) if ok else 0
    if shift:
        where = "before" if shift > 0 else "after"
        why = (f"misattributes every PC: takes the text start from {f.go_tool_text_source}, {abs(shift):,} "
               f"bytes {where} runtime.text ({f.go_tool_text_start:#x} instead of {f.text_start:#x}), so it "
               f"answers for the code {abs(shift):,} bytes away (wrong function or line); C code precedes "
               "the Go code and no .symtab says where it starts")
        out.append(Verdict("go tool pprof / go tool addr2line", False, False, why))
    else:
        out.append(Verdict("go tool pprof / go tool addr2line", ok, ok,
                           (why + "; one frame per PC (no inline frames)") if ok else why))

    names = f.has_symtab or f.dwarf
    lines = f.dwarf and f.dwarf_line
    if names:
        src = "symbol table" if f.has_symtab else "DWARF"
        r = f"names from the {src}" + ("; lines from DWARF" if lines else "; no DWARF, so no file:line")
    else:
        r = "no symbol table and no DWARF: prints ?? (it never reads .gopclntab)"
    out.append(Verdict("google/pprof + llvm-symbolizer", names, lines, r))

    dwarf5_blind = f.dwarf_version is not None and f.dwarf_version >= 5
    # Measured with binutils 2.40: with no .symtab, BFD fails to inflate SHF_COMPRESSED .debug_info
    # ("unable to get decompressed section") and addr2line prints ?? ??:0.
    zlib_blind = f.dwarf_compressed and not f.has_symtab
    bnames = f.has_symtab or (f.dwarf and not dwarf5_blind and not zlib_blind)
    blines = lines and not dwarf5_blind and not zlib_blind
    if not (f.has_symtab or f.dwarf):
        r = "no symbol table and no DWARF: prints ?? ??:0"
    elif zlib_blind:
        r = ("compressed DWARF without a symbol table: binutils 2.40 cannot inflate .debug_info "
             "(\"unable to get decompressed section\") and prints ?? ??:0")
    elif dwarf5_blind:
        r = ("names from the symbol table; " if f.has_symtab else "") + \
            "DWARF 5 (Go 1.25+): binutils 2.40 addr2line prints no line numbers for it"
    else:
        r = "names and lines from DWARF" if blines else "names from the symbol table; no DWARF, so ??:0"
    out.append(Verdict("binutils addr2line", bnames, blines, r))

    if f.format == "elf":
        pr = "names from .symtab" if f.has_symtab else "no .symtab: samples show as hex addresses"
        out.append(Verdict("perf report", f.has_symtab, None, pr))
    else:
        out.append(Verdict("perf report", False, None, "perf profiles ELF binaries on Linux only"))

    if f.has_symtab or f.dwarf:
        gr = ("names from the symbol table" if f.has_symtab else "names from DWARF") + \
             ("; lines from DWARF" if lines else "; no DWARF: no lines, no variables")
    else:
        gr = "no symbol table and no DWARF: 'No symbol table is loaded'"
    out.append(Verdict("gdb", f.has_symtab or f.dwarf, lines, gr))

    out.append(Verdict("delve", f.dwarf and f.dwarf_line, f.dwarf and f.dwarf_line,
                       "reads DWARF" if f.dwarf else "needs DWARF: 'could not open debug info'"))

    out.append(Verdict("nm / objdump", f.has_symtab, None,
                       "symbol table present" if f.has_symtab else "no symbol table: 'no symbols'"))

    if f.format == "elf":
        if f.gnu_build_id:
            dr = "has a GNU build-id, so debuginfod/perf/gdb can look up a debug file by it"
        else:
            hint = ("link with -ldflags=-B gobuildid" if (minor is None or minor >= 22)
                    else "upgrade to Go 1.22+ and link with -ldflags=-B gobuildid, or link externally")
            dr = f"no GNU build-id: debuginfod servers cannot index it ({hint})"
        out.append(Verdict("debuginfod indexing", bool(f.gnu_build_id), None, dr))
    else:
        out.append(Verdict("debuginfod indexing", False, None, "debuginfod indexes ELF files only"))

    out.append(Verdict("symkeep", f.pclntab_found, f.pclntab_found,
                       "function, file:line and inline frames from .gopclntab" if f.pclntab_found
                       else "no pclntab found"))
    return out


def advice(f: BinaryFacts, dwarf_bytes: int, symtab_bytes: int, file_size: int, path: str = "BIN") -> list[str]:
    """Concrete next steps for this binary; commands name ``path`` (shell-quoted) so they can be pasted."""
    tips: list[str] = []
    minor = go_minor(f.go_version)
    stripped = not f.has_symtab and not f.dwarf
    q = shlex.quote(path)
    dbg = shlex.quote(path + ".debug")
    if stripped and f.format == "elf":
        tips.append(f"perf/gdb/addr2line are blind on this binary: `symkeep restore {q} -o {dbg} "
                    "--install ~/.debug-symkeep` writes a debug file from .gopclntab that they can read.")
    shift = go_tool_text_shift(f) if go_tool_finds_pclntab(f)[0] else 0
    if shift:
        tips.append(f"`go tool pprof`/`go tool addr2line` put every function {abs(shift):,} bytes off on this "
                    f"binary (wrong names and lines, silently): symbolize its profiles with `symkeep symbolize "
                    f"PROFILE --binary {q}` and its addresses with `symkeep addr2line -e {q}`, or keep .symtab "
                    "(link without -s) so the go tools find runtime.text.")
    if not stripped and file_size:
        saved = dwarf_bytes + symtab_bytes
        pct = 100.0 * saved / file_size
        tips.append(f"-ldflags='-s -w' would save about {saved:,} bytes ({pct:.0f}%); "
                    "keep the unstripped build (or `symkeep restore` output) in a symbol store for perf/gdb.")
    if f.format == "elf" and not f.gnu_build_id:
        if minor is not None and minor < 22:
            tips.append("No GNU build-id: Go < 1.22 has no -B gobuildid; link with -linkmode=external "
                        "or pass -ldflags=-B 0x<hex> so debuginfod and perf can match debug files.")
        else:
            tips.append("No GNU build-id: add -ldflags=-B gobuildid (Go 1.22+; default from Go 1.24) so "
                        "debuginfod and perf can match debug files to this binary.")
    if f.dwarf and f.dwarf_version is not None and f.dwarf_version >= 5:
        tips.append("DWARF 5 (Go 1.25+): binutils 2.40 addr2line prints no lines; use llvm-symbolizer, "
                    "gdb, or `symkeep addr2line`.")
    if f.format == "pe" and not f.pclntab_symbols:
        tips.append("Stripped PE: `go tool addr2line/pprof` cannot find the pclntab; `symkeep addr2line` can.")
    if f.format == "elf" and not f.has_section_headers:
        tips.append("Section headers are gone: most tools give up; symkeep reads the program headers.")
    return tips
