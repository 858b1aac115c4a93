"""Synthesize an ELF debug companion (symtab + DWARF 4 + .debug_frame) from a Go binary's .gopclntab.

``restore(gobin) -> bytes`` is what a debuginfod server calls for a stripped binary: pure, fast and
deterministic (same input, byte-identical output). The layout mirrors ``objcopy --only-keep-debug``:
same class/byte order/machine/type, every input section header kept at the same index (loadable ones
as NOBITS with the input's sh_offset, so ``sh_addr - sh_offset`` is what perf expects), note sections
copied with their bytes (GNU and Go build IDs), then .symtab/.strtab and the DWARF sections.
"""

from __future__ import annotations

import bisect
import contextlib
import os
import struct
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from symkeep.binfmt.elf import Phdr
from symkeep.binfmt.elf_constants import (
    PT_GNU_RELRO,
    PT_GNU_STACK,
    PT_LOAD,
    PT_NOTE,
    PT_TLS,
    SHF_ALLOC,
    SHF_EXECINSTR,
    SHF_WRITE,
    SHN_ABS,
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
from symkeep.errors import (
    FormatError,
    NotABinaryError,
    OutputError,
    SymkeepError,
    UnsupportedError,
)
from symkeep.restore.cfi import arch_regs, write_debug_frame
from symkeep.restore.dwarf_writer import write_dwarf
from symkeep.restore.elfwriter import (
    ElfHeader,
    OutSection,
    StrTab,
    pack_symbols,
    read_elf_header,
    write_elf,
)
from symkeep.restore.model import FunctionLike, SourceLike

__all__ = ["RestoreResult", "restore", "restore_result", "restore_to_file", "parse_notes"]

MAX_NOTE_SIZE = 1 << 20
KEEP_PHDRS = {PT_LOAD, PT_TLS, PT_GNU_STACK, PT_GNU_RELRO}

# Go's section-boundary symbols: (symbol, section names, 'start' | 'end').
BOUNDARY_SYMBOLS: list[tuple[str, tuple[str, ...], str]] = [
    ("runtime.text", (".text",), "start"),
    ("runtime.rodata", (".rodata",), "start"),
    ("runtime.erodata", (".rodata",), "end"),
    ("runtime.pclntab", (".gopclntab", ".data.rel.ro.gopclntab"), "start"),
    ("runtime.epclntab", (".gopclntab", ".data.rel.ro.gopclntab"), "end"),
    ("runtime.noptrdata", (".noptrdata",), "start"),
    ("runtime.enoptrdata", (".noptrdata",), "end"),
    ("runtime.data", (".data",), "start"),
    ("runtime.edata", (".data",), "end"),
    ("runtime.bss", (".bss",), "start"),
    ("runtime.ebss", (".bss",), "end"),
    ("runtime.noptrbss", (".noptrbss",), "start"),
    ("runtime.enoptrbss", (".noptrbss",), "end"),
    ("runtime.end", (".noptrbss",), "end"),
]


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
            "inlined_subroutines": self.inlined, "compile_units": self.units, "dwarf_version": 4,
            "gnu_build_id": self.gnu_build_id, "go_build_id": self.go_build_id, "sections": self.sections,
        }


def parse_notes(data: bytes, endian: str) -> list[tuple[str, int, bytes]]:
    """(owner, type, desc) of each ELF note in ``data`` (4-byte aligned, bounds-checked)."""
    out: list[tuple[str, int, bytes]] = []
    off = 0
    while off + 12 <= len(data):
        namesz, descsz, typ = struct.unpack_from(endian + "III", data, off)
        off += 12
        nend = off + namesz
        dstart = off + ((namesz + 3) & ~3)
        dend = dstart + descsz
        if nend > len(data) or dend > len(data):
            break
        owner = data[off:nend].rstrip(b"\0").decode("latin-1")
        out.append((owner, typ, data[dstart:dend]))
        off = (dend + 3) & ~3
    return out


def _section_index(hdr: ElfHeader) -> tuple[list[int], list[tuple[int, int, int]]]:
    """Sorted (start, end, index) of allocated sections with a size, executable ones first on ties."""
    rows = []
    for i, s in enumerate(hdr.shdrs):
        if i and s.flags & SHF_ALLOC and s.size and s.type != SHT_NULL:
            rows.append((s.addr, s.addr + s.size, i, 0 if s.flags & SHF_EXECINSTR else 1))
    rows.sort(key=lambda r: (r[0], r[3], r[2]))
    return [r[0] for r in rows], [(r[0], r[1], r[2]) for r in rows]


def _shndx_for(addr: int, starts: list[int], rows: list[tuple[int, int, int]]) -> int:
    k = bisect.bisect_right(starts, addr) - 1
    while k >= 0:
        s, e, idx = rows[k]
        if s <= addr < e:
            return idx
        if addr >= e and k > 0 and rows[k - 1][1] > addr:
            k -= 1
            continue
        break
    return SHN_ABS


def _synthesize_sections(hdr: ElfHeader, read: Any) -> None:
    """Binaries without section headers: one NOBITS section per PT_LOAD, notes from PT_NOTE."""
    from symkeep.restore.elfwriter import Shdr

    hdr.shdrs = [Shdr("", 0, 0, 0, 0, 0, 0, 0, 0, 0)]
    for i, p in enumerate(hdr.phdrs):
        if p.type == PT_LOAD and p.memsz:
            fl = SHF_ALLOC | (SHF_EXECINSTR if p.flags & 1 else 0) | (SHF_WRITE if p.flags & 2 else 0)
            hdr.shdrs.append(Shdr(f".load{i}", SHT_PROGBITS, fl, p.vaddr, p.offset, p.memsz, 0, 0,
                                  max(1, p.align), 0))
        elif p.type == PT_NOTE and 0 < p.filesz <= MAX_NOTE_SIZE:
            hdr.shdrs.append(Shdr(f".note.{i}", SHT_NOTE, SHF_ALLOC, p.vaddr, p.offset, p.filesz, 0, 0, 4, 0))


def restore_result(gobin: Any, source: SourceLike | None = None) -> RestoreResult:
    """Build the debug file for ``gobin`` (a ``symkeep.symbolize.GoBinary``)."""
    binary = gobin.binary
    if getattr(binary, "format", "elf") != "elf":
        raise UnsupportedError(f"restore writes ELF debug files; {binary.path} is {binary.format.upper()} "
                         "(Mach-O/PE debug companions are not supported)")
    src: SourceLike = source if source is not None else gobin
    try:
        return _restore(gobin, binary, src)
    except SymkeepError:
        raise
    except (IndexError, struct.error, ValueError, OverflowError, KeyError) as e:
        raise FormatError(f"cannot restore debug info: {type(e).__name__}: {e}", what="restore") from e


# Arches whose Go toolchains use ABI wrappers (internal/buildcfg regabiSupported; s390x and loong64
# only in recent toolchains, where the heuristic below is checked against nm by the tests).
REGABI_MACHINES = {62, 183, 21, 243, 258, 22}
FUNC_FLAG_ASM = 4


def linker_names(gobin: Any, funcs: list[FunctionLike], machine: int) -> list[str]:
    """The names the Go linker gives functions in .symtab/DWARF.

    pclntab keeps the bare name of an ABI0 assembly function, but when the function also has a Go
    declaration (so an ABIInternal symbol of the same name exists) the linker's mangleABIName
    (cmd/link/internal/ld/symtab.go) spells it ``name.abi0``. A Go declaration is visible in pclntab
    as the args pointer-map funcdata (FUNCDATA_ArgsPointerMaps, index 0) that the assembler adds to
    bodies of Go-declared functions; the flag FuncFlagAsm marks assembly.
    """
    names = [f.name for f in funcs]
    if machine not in REGABI_MACHINES:
        return names
    groups: dict[str, list[int]] = {}
    for i, f in enumerate(funcs):
        groups.setdefault(f.name, []).append(i)

    def is_asm(f: FunctionLike) -> bool:
        return bool(getattr(f, "flags", 0) & FUNC_FLAG_ASM) or f.file.endswith(".s")

    tab = getattr(gobin, "pclntab", None)
    for name, idxs in groups.items():
        if len(idxs) == 2:
            # A function and its ABI wrapper: the ABI0 one is the assembly body (its wrapper is
            # ABIInternal), or else the autogenerated ABI0 wrapper of a Go function called from asm.
            a, b = (funcs[k] for k in idxs)
            if is_asm(a) != is_asm(b):
                k = idxs[0] if is_asm(a) else idxs[1]
            elif (a.file == "<autogenerated>") != (b.file == "<autogenerated>"):
                k = idxs[0] if a.file == "<autogenerated>" else idxs[1]
            else:
                continue
            names[k] = name + ".abi0"
            continue
        if len(idxs) != 1 or tab is None or not hasattr(tab, "read_func"):
            continue
        i = idxs[0]
        f = funcs[i]
        if not is_asm(f):
            continue
        try:
            rf = tab.read_func(getattr(f, "index", i))
            if rf.nfuncdata > 0 and tab.funcdata_word(rf, 0) is not None:
                names[i] = name + ".abi0"
        except (SymkeepError, IndexError, ValueError, struct.error):
            continue
    return names


def _restore(gobin: Any, binary: Any, src: SourceLike) -> RestoreResult:
    read = binary.read
    hdr = read_elf_header(read, binary.length)
    if not hdr.shdrs:
        _synthesize_sections(hdr, read)
    regs_machine = hdr.machine
    arch_regs(regs_machine)  # unsupported machine -> clean error before any work
    funcs: list[FunctionLike] = sorted(src.functions(), key=lambda f: (f.entry, f.name))
    if not funcs:
        raise NotABinaryError(f"{binary.path}: no functions in .gopclntab")
    ps, en = hdr.ptr_size, hdr.endian
    go_version = str(getattr(gobin, "go_version", "") or "")
    producer = "symkeep restore from .gopclntab" + (f" ({go_version})" if go_version else "")
    names = linker_names(gobin, funcs, hdr.machine)
    dw = write_dwarf(src, funcs, ps, en, producer, names)
    frame = write_debug_frame(src, funcs, dw.ends, hdr.machine, ps, en)

    # -- sections copied from the input (same indices).
    out: list[OutSection] = [OutSection("", SHT_NULL)]
    gnu_id: str | None = None
    go_id: str | None = None
    by_name: dict[str, int] = {}
    for i, s in enumerate(hdr.shdrs):
        if i == 0:
            continue
        if s.type == SHT_NOTE and s.offset + s.size <= hdr.file_size and s.size <= MAX_NOTE_SIZE:
            data = read(s.offset, s.size)
            for owner, typ, desc in parse_notes(data, en):
                if owner == "GNU" and typ == 3 and gnu_id is None:
                    gnu_id = desc.hex()
                elif owner == "Go" and typ == 4 and go_id is None:
                    go_id = desc.decode("latin-1")
            out.append(OutSection(s.name, SHT_NOTE, s.flags, s.addr, data, link=0, info=0,
                                  addralign=s.addralign, entsize=s.entsize))
        elif s.flags & SHF_ALLOC and s.type != SHT_NULL:
            out.append(OutSection(s.name, SHT_NOBITS, s.flags, s.addr, size=s.size, offset=s.offset,
                                  link=s.link if s.link < len(hdr.shdrs) else 0, info=s.info,
                                  addralign=s.addralign, entsize=s.entsize))
        else:
            out.append(OutSection("", SHT_NULL))
            continue
        by_name.setdefault(s.name, i)

    # -- symbols.
    strtab = StrTab()
    starts, rows = _section_index(hdr)
    syms: list[tuple[int, int, int, int, int, int]] = [(0, 0, 0, 0, 0, 0)]
    for name, secnames, where in BOUNDARY_SYMBOLS:
        idx = next((by_name[n] for n in secnames if n in by_name), 0)
        if not idx:
            continue
        s = hdr.shdrs[idx]
        value = s.addr if where == "start" else s.addr + s.size
        syms.append((strtab.add(name), value, 0, (STB_LOCAL << 4) | STT_NOTYPE, 0, idx))
    md = getattr(gobin, "moduledata", None)
    etext = int(getattr(md, "etext", 0) or 0) if md is not None else 0
    text_idx = by_name.get(".text", 0)
    if text_idx and etext:
        syms.append((strtab.add("runtime.etext"), etext, 0, (STB_LOCAL << 4) | STT_NOTYPE, 0, text_idx))
    first_global = len(syms)
    for i, f in enumerate(funcs):
        size = max(0, dw.ends[i] - f.entry)
        # cmd/link's putelfsym rewrites "·" to "." in ELF symbol names (DWARF keeps "·").
        syms.append((strtab.add(names[i].replace("\u00b7", ".")), f.entry, size, (STB_GLOBAL << 4) | STT_FUNC, 0,
                     _shndx_for(f.entry, starts, rows)))
    symtab_idx = len(out)
    out.append(OutSection(".symtab", SHT_SYMTAB, 0, data=pack_symbols(hdr, syms), link=symtab_idx + 1,
                          info=first_global, addralign=ps, entsize=24 if ps == 8 else 16))
    out.append(OutSection(".strtab", SHT_STRTAB, 0, data=strtab.bytes()))
    for name in (".debug_abbrev", ".debug_info", ".debug_str", ".debug_line", ".debug_ranges",
                 ".debug_aranges"):
        out.append(OutSection(name, SHT_PROGBITS, 0x30 if name == ".debug_str" else 0,
                              data=dw.sections[name], entsize=1 if name == ".debug_str" else 0))
    out.append(OutSection(".debug_frame", SHT_PROGBITS, 0, data=frame, addralign=ps))
    out.append(OutSection(".shstrtab", SHT_STRTAB, 0))
    if len(out) >= 0xFF00:
        raise FormatError("too many sections for a debug file", None, len(out), what="restore")

    # Loadable segments only (no file bytes behind them here): PHDR/INTERP/NOTE/DYNAMIC would point
    # at bytes this file does not have.
    phdrs = [Phdr(p.type, p.flags, p.offset, p.vaddr, p.paddr, 0, p.memsz, p.align)
             for p in hdr.phdrs if p.type in KEEP_PHDRS]
    data = write_elf(hdr, out, phdrs)
    arch = str(getattr(binary, "arch", "") or hdr.machine)
    return RestoreResult(
        data=data, arch=arch, bits=hdr.bits, byteorder="little" if en == "<" else "big",
        functions=len(funcs), symbols=len(syms) - 1, line_rows=dw.n_rows, inlined=dw.n_inlined,
        units=dw.n_units, gnu_build_id=gnu_id, go_build_id=go_id,
        sections={s.name: len(s.data) for s in out if s.name and s.type != SHT_NOBITS},
    )


def restore(gobin: Any) -> bytes:
    """The debug file's bytes (deterministic)."""
    return restore_result(gobin).data


def write_atomic(path: str | os.PathLike[str], data: bytes, mode: int = 0o644) -> None:
    p = Path(path)
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=f".{p.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.chmod(tmp, mode)
            os.replace(tmp, p)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
    except OSError as e:
        raise OutputError(f"cannot write {p}: {e.strerror or e}") from e


def restore_to_file(gobin: Any, path: str | os.PathLike[str]) -> RestoreResult:
    """Write the debug file to ``path`` atomically; returns what was written."""
    res = restore_result(gobin)
    write_atomic(path, res.data)
    return res
