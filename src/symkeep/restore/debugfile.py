"""Synthesize an ELF debug companion (symtab + DWARF 4 + .debug_frame) from a Go binary's .gopclntab.

``restore_result(gobin)`` is what the CLI and archive-time synthesis call for a stripped binary: pure
(no file is written), deterministic (same input, byte-identical output). The layout mirrors
``objcopy --only-keep-debug``: same class/byte order/machine/type, every input section header kept at
the same index (loadable ones as NOBITS with the input's sh_offset, so ``sh_addr - sh_offset`` is what
perf expects), note sections copied with their bytes (GNU and Go build IDs), then .symtab/.strtab and
the DWARF sections.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from symkeep.binfmt.elf import ELFFile
from symkeep.binfmt.elf_constants import (
    PF_W,
    PF_X,
    PT_GNU_RELRO,
    PT_GNU_STACK,
    PT_LOAD,
    PT_NOTE,
    PT_TLS,
    SHF_ALLOC,
    SHF_EXECINSTR,
    SHF_WRITE,
    SHT_NOBITS,
    SHT_NOTE,
    SHT_NULL,
    SHT_PROGBITS,
    SHT_STRTAB,
    SHT_SYMTAB,
    STB_GLOBAL,
    STB_LOCAL,
    STT_FUNC,
    STT_NOTYPE,
)
from symkeep.binfmt.elfstructs import Shdr, Sym
from symkeep.binfmt.notes import NT_GNU_BUILD_ID, OWNER_GNU, note_bytes, walk_notes
from symkeep.errors import NotABinaryError
from symkeep.golang.buildid import gnu_build_id, go_build_id
from symkeep.restore.cfi import arch_regs, write_debug_frame
from symkeep.restore.dwarf_writer import write_dwarf
from symkeep.restore.elfwriter import NULL_SHDR, OutSection, StrTab, pack_symbols, write_elf
from symkeep.restore.model import FunctionLike, SourceLike, elf_of, format_errors
from symkeep.restore.source import EngineSource
from symkeep.restore.symtab import (
    BOUNDARY_SYMBOLS,
    SectionIndex,
    elf_symbol_name,
    go_version_tuple,
    is_local,
    linker_names,
)
from symkeep.symbolize import GoEngine

__all__ = ["DWARF_VERSION", "RestoreResult", "restore_result"]

DWARF_VERSION = 4
MAX_NOTE_SIZE = 1 << 20
KEEP_PHDRS = {PT_LOAD, PT_TLS, PT_GNU_STACK, PT_GNU_RELRO}
DEBUG_SECTIONS = (".debug_abbrev", ".debug_info", ".debug_str", ".debug_line", ".debug_ranges", ".debug_aranges")
SHF_MERGE_STRINGS = 0x30  # SHF_MERGE | SHF_STRINGS (.debug_str)


@dataclass
class RestoreResult:
    """The debug file's bytes plus what went into it (for --json and the debuginfod server)."""

    data: bytes
    arch: str
    bits: int
    byteorder: str
    functions: int
    symbols: int
    line_rows: int
    inlined: int
    units: int
    gnu_build_id: str | None
    go_build_id: str | None
    sections: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "size": len(self.data), "arch": self.arch, "bits": self.bits, "byteorder": self.byteorder,
            "functions": self.functions, "symbols": self.symbols, "line_rows": self.line_rows,
            "inlined_subroutines": self.inlined, "compile_units": self.units, "dwarf_version": DWARF_VERSION,
            "gnu_build_id": self.gnu_build_id, "go_build_id": self.go_build_id, "sections": self.sections,
        }


def restore_result(gobin: GoEngine, source: SourceLike | None = None) -> RestoreResult:
    """Build the debug file for ``gobin`` (``source`` overrides where functions and ranges come from)."""
    elf = elf_of(gobin, "restore")
    with format_errors("the debug file"):
        return _restore(gobin, elf, source if source is not None else EngineSource(gobin))


def _input_sections(elf: ELFFile) -> list[tuple[str, Shdr]]:
    """(name, header) per input section; without section headers, one NOBITS-to-be section per
    PT_LOAD and a note section per PT_NOTE (names ``.loadN``/``.note.N``)."""
    rows = [(s.name, h) for s, h in zip(elf.sections(), elf.section_headers(), strict=True)]
    if rows:
        return rows
    rows = [("", NULL_SHDR)]
    for i, p in enumerate(elf.program_headers()):
        if p.type == PT_LOAD and p.memsz:
            fl = SHF_ALLOC | (SHF_EXECINSTR if p.flags & PF_X else 0) | (SHF_WRITE if p.flags & PF_W else 0)
            rows.append((f".load{i}", Shdr(0, SHT_PROGBITS, fl, p.vaddr, p.offset, p.memsz, 0, 0, max(1, p.align), 0)))
        elif p.type == PT_NOTE and 0 < p.filesz <= MAX_NOTE_SIZE:
            rows.append((f".note.{i}", Shdr(0, SHT_NOTE, SHF_ALLOC, p.vaddr, p.offset, p.filesz, 0, 0, 4, 0)))
    return rows


def _etext(gobin: GoEngine) -> int:
    """``moduledata.etext`` (runtime.etext) when the engine found the module data, else 0.

    Not in the GoEngine Protocol yet: read defensively so another engine simply omits the symbol."""
    md = getattr(gobin, "moduledata", None)
    return int(getattr(md, "etext", 0) or 0)


def _restore(gobin: GoEngine, elf: ELFFile, src: SourceLike) -> RestoreResult:
    rows = _input_sections(elf)
    arch_regs(elf.machine)  # unsupported machine -> clean error before any work
    funcs: list[FunctionLike] = sorted(src.functions(), key=lambda f: (f.entry, f.name))
    if not funcs:
        raise NotABinaryError(f"{elf.path}: no functions in .gopclntab")
    ident = elf.ident
    ps, en = ident.bits // 8, ident.endian
    go_version = str(gobin.go_version or "")
    producer = "symkeep restore from .gopclntab" + (f" ({go_version})" if go_version else "")
    names = linker_names(gobin, funcs, elf)
    dw = write_dwarf(src, funcs, ps, en, producer, names)
    frame = write_debug_frame(src, funcs, dw.ends, elf.machine, ps, en)

    # -- sections copied from the input (same indices).
    out: list[OutSection] = [OutSection("", SHT_NULL)]
    by_name: dict[str, int] = {}
    note_owners: set[tuple[str, int]] = set()
    for i, (name, s) in enumerate(rows):
        if i == 0:
            continue
        if s.type == SHT_NOTE and s.offset + s.size <= elf.length and s.size <= MAX_NOTE_SIZE:
            data = elf.read(s.offset, s.size)
            note_owners.update((n.owner, n.type) for n in walk_notes(data, 0, len(data), en, s.addralign)[0])
            out.append(OutSection(name, SHT_NOTE, s.flags, s.addr, data, addralign=s.addralign, entsize=s.entsize))
        elif s.flags & SHF_ALLOC and s.type != SHT_NULL:
            out.append(OutSection(name, SHT_NOBITS, s.flags, s.addr, size=s.size, offset=s.offset,
                                  link=s.link if s.link < len(rows) else 0, info=s.info,
                                  addralign=s.addralign, entsize=s.entsize))
        else:
            out.append(OutSection("", SHT_NULL))
            continue
        by_name.setdefault(name, i)
    gnu_id = gnu_build_id(elf)
    if gnu_id and (OWNER_GNU, NT_GNU_BUILD_ID) not in note_owners:
        # Found by scanning (Go 1.24+ without section headers: PT_NOTE covers only the Go note); gdb
        # checks the debug file's own note against the binary's, so the file must carry it.
        out.append(OutSection(".note.gnu.build-id", SHT_NOTE, 0, 0,
                              note_bytes([(OWNER_GNU, NT_GNU_BUILD_ID, bytes.fromhex(gnu_id))], en), addralign=4))

    # -- symbols.
    strtab = StrTab()
    index = SectionIndex([(n, s.type, s.flags, s.addr, s.size) for n, s in rows])
    syms: list[Sym] = [Sym(0, 0, 0, 0, 0, 0)]
    local_notype = (STB_LOCAL << 4) | STT_NOTYPE
    for name, secnames, where in BOUNDARY_SYMBOLS:
        idx = next((by_name[n] for n in secnames if n in by_name), 0)
        if not idx:
            continue
        s = rows[idx][1]
        value = s.addr if where == "start" else s.addr + s.size
        if name == "runtime.text" and gobin.text_start:
            value = gobin.text_start  # external linking: C code precedes the Go text in .text
        syms.append(Sym(strtab.add(name), local_notype, 0, idx, value, 0))
    etext, text_idx = _etext(gobin), by_name.get(".text", 0)
    if text_idx and etext:
        syms.append(Sym(strtab.add("runtime.etext"), local_notype, 0, text_idx, etext, 0))
    version = go_version_tuple(gobin.go_version)
    local = [is_local(f.name, version) for f in funcs]
    first_global = 0
    for binding in (STB_LOCAL, STB_GLOBAL):  # ELF: every local symbol before the first global one
        if binding == STB_GLOBAL:
            first_global = len(syms)
        info = (binding << 4) | STT_FUNC
        for i, f in enumerate(funcs):
            if local[i] == (binding == STB_LOCAL):
                syms.append(Sym(strtab.add(elf_symbol_name(names[i])), info, 0, index.index_of(f.entry), f.entry,
                                max(0, dw.ends[i] - f.entry)))
    symtab_idx = len(out)
    out.append(OutSection(".symtab", SHT_SYMTAB, 0, data=pack_symbols(ident, syms), link=symtab_idx + 1,
                          info=first_global, addralign=ps, entsize=elf.layout.sym.size))
    out.append(OutSection(".strtab", SHT_STRTAB, 0, data=strtab.bytes()))
    for name in DEBUG_SECTIONS:
        out.append(OutSection(name, SHT_PROGBITS, SHF_MERGE_STRINGS if name == ".debug_str" else 0,
                              data=dw.sections[name], entsize=1 if name == ".debug_str" else 0))
    out.append(OutSection(".debug_frame", SHT_PROGBITS, 0, data=frame, addralign=ps))
    out.append(OutSection(".shstrtab", SHT_STRTAB, 0))

    # Loadable segments only (no file bytes behind them here): PHDR/INTERP/NOTE/DYNAMIC would point
    # at bytes this file does not have.
    phdrs = [dataclasses.replace(p, filesz=0) for p in elf.program_headers() if p.type in KEEP_PHDRS]
    data = write_elf(ident, elf.ehdr, out, phdrs)
    return RestoreResult(
        data=data, arch=elf.arch, bits=ident.bits, byteorder="little" if en == "<" else "big",
        functions=len(funcs), symbols=len(syms) - 1, line_rows=dw.n_rows, inlined=dw.n_inlined,
        units=dw.n_units, gnu_build_id=gnu_id, go_build_id=go_build_id(elf),
        sections={s.name: len(s.data) for s in out if s.name and s.type != SHT_NOBITS},
    )
