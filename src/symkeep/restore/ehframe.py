"""An unwindable copy of a Go ELF binary for perf's build-id cache: ``.eh_frame_hdr`` + ``.eh_frame``.

Why a copy and why inside ``.text``: perf 6.1 unwinds ``--call-graph=dwarf`` samples with libunwind, and
Debian's x86_64 libunwind has no ``.debug_frame`` support (no ``dwarf_find_debug_frame``), so perf only
uses ``.eh_frame_hdr`` (tools/perf/util/unwind-libunwind-local.c). It finds that section by *section
header* in the file it opens for the DSO's data (the cache's ``elf``), reads its header at ``sh_offset``,
and then lets libunwind read the search table and the FDEs as *memory*: ``access_mem`` ->
``access_dso_mem`` only serves addresses inside a mapping perf recorded (by default only the executable
PT_LOAD mapping) and reads the file at ``addr - map.start + map.pgoff``. So both sections must live at
file offsets inside the executable segment's file range, with ``sh_addr - sh_offset`` equal to the
segment's ``p_vaddr - p_offset`` (newer perfs compute the address from ``sh_addr``, 6.1 from the offset).

Unwinding never reads code bytes (CFI + the sampled stack are enough; libunwind only peeks at the PC for
the sigreturn trampoline), so the tables overwrite the bodies of a window of consecutive functions
chosen to contain as few functions as possible, never the signal trampolines, ``go:buildid`` or code of
the main package/module. What is lost: ``perf annotate`` of the overwritten functions (see
``UnwindCopy.overwritten``). The FDEs still describe those functions' real code, so samples in them unwind.
Alternative (``place="rodata"``): with ``--call-graph=dwarf`` perf 6.1 also records data mappings
(``mmap_data``, measured with ``perf evlist -v``), so the tables can overwrite ``.gopclntab`` in the
read-only segment instead, keeping every code byte (and ``perf annotate``) intact; it relies on that
recording detail, hence not the default.

CFI rules are cmd/link's (``cfi.fde_program``): amd64 CFA = rsp + spdelta + 8, return address at CFA-8;
like Go's own ``.debug_frame`` nothing is said about rbp.
"""

from __future__ import annotations

import bisect
import dataclasses
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from symkeep.binfmt.elf import ELFFile
from symkeep.binfmt.elf_constants import PF_X, PT_LOAD, SHF_ALLOC, SHT_NOBITS, SHT_PROGBITS
from symkeep.binfmt.elfstructs import Phdr
from symkeep.errors import FormatError, SymkeepError, UnsupportedError, UsageError
from symkeep.restore.cfi import DATA_ALIGN, arch_regs, cie_instructions, fde_program
from symkeep.restore.elfwriter import NULL_SHDR, append_section_table, section_rows
from symkeep.restore.leb import sleb, uleb
from symkeep.restore.model import FunctionLike, SourceLike, elf_of, format_errors
from symkeep.restore.source import EngineSource
from symkeep.symbolize import GoEngine

__all__ = ["UnwindCopy", "build_eh_frame", "build_eh_frame_hdr", "choose_window", "unwindable_copy"]

DW_EH_PE_udata4 = 0x03
DW_EH_PE_sdata4 = 0x0B
DW_EH_PE_pcrel = 0x10
DW_EH_PE_datarel = 0x30
HDR_FIXED = 12  # version, 3 encodings, eh_frame_ptr (sdata4), fde_count (udata4)

# Never overwritten: the Go build ID string at the start of text and the code libunwind reads to
# recognise signal frames (``mov $15,%rax; syscall`` in the rt_sigreturn restorer).
PRESERVE = frozenset({
    "go:buildid", "runtime.sigreturn__sigaction", "runtime.sigreturn", "runtime.sigtramp",
    "runtime.cgoSigtramp", "runtime.sigtrampgo", "runtime.sigtramp.abi0",
})


@dataclass
class UnwindCopy:
    """The bytes of the unwindable copy plus where the tables went."""

    data: bytes
    eh_frame_hdr_addr: int
    eh_frame_addr: int
    eh_frame_hdr_size: int
    eh_frame_size: int
    fdes: int
    region: tuple[int, int]  # [start, end) of the overwritten text addresses
    overwritten: list[str] = field(default_factory=list)  # functions whose code bytes were replaced
    overwritten_section: str = ""  # placement "rodata": the data section whose bytes were replaced

    def as_dict(self) -> dict[str, Any]:
        return {
            "eh_frame_hdr": {"addr": self.eh_frame_hdr_addr, "size": self.eh_frame_hdr_size},
            "eh_frame": {"addr": self.eh_frame_addr, "size": self.eh_frame_size},
            "fdes": self.fdes, "region": list(self.region), "overwritten_functions": self.overwritten,
            "overwritten_section": self.overwritten_section,
        }


def _cie(machine: int, ptr_size: int, endian: str) -> bytes:
    """``zR`` CIE, FDE pointers pcrel|sdata4 (what gcc/ld emit), padded to the pointer size."""
    regs = arch_regs(machine)
    if regs.lr > 0xFF:
        raise UnsupportedError(f"return-address column {regs.lr} does not fit a version-1 CIE")
    body = bytearray(struct.pack(endian + "I", 0) + bytes([1]) + b"zR\0" + uleb(1) + sleb(DATA_ALIGN))
    body += bytes([regs.lr]) + uleb(1) + bytes([DW_EH_PE_pcrel | DW_EH_PE_sdata4])
    body += cie_instructions(regs, ptr_size)
    body += b"\0" * ((-(len(body) + 4)) % ptr_size)  # DW_CFA_nop padding
    return struct.pack(endian + "I", len(body)) + bytes(body)


def fde_programs(src: SourceLike, funcs: Sequence[FunctionLike], machine: int, ptr_size: int,
                 endian: str) -> list[tuple[int, int, bytes]]:
    """(start, end, CFA program) per function with code, sorted by start; end is the pcsp table's end."""
    regs = arch_regs(machine)
    out: list[tuple[int, int, bytes]] = []
    for f in sorted(funcs, key=lambda f: f.entry):
        end = max((e for _, e, _ in src.sp_deltas(f)), default=f.entry)
        if end <= f.entry:
            end = max(f.end, f.entry)
        if out and f.entry < out[-1][1]:
            continue  # overlapping duplicate (hostile table): keep the first
        if end > f.entry:
            out.append((f.entry, end, fde_program(src, f, end, regs, ptr_size, endian)))
    return out


def _fde_len(prog: bytes) -> int:
    return (4 + 4 + 4 + 4 + 1 + len(prog) + 3) & ~3


def eh_frame_size(programs: Sequence[tuple[int, int, bytes]], machine: int, ptr_size: int, endian: str) -> int:
    return len(_cie(machine, ptr_size, endian)) + sum(_fde_len(p) for _, _, p in programs) + 4


def build_eh_frame(programs: Sequence[tuple[int, int, bytes]], addr: int, machine: int, ptr_size: int,
                   endian: str) -> tuple[bytes, list[tuple[int, int]]]:
    """``.eh_frame`` placed at ``addr``: the CIE, one FDE per program, a zero terminator.

    Returns the bytes and (function start, FDE address) for the search table."""
    s32 = struct.Struct(endian + "i")
    u32 = struct.Struct(endian + "I")
    out = bytearray(_cie(machine, ptr_size, endian))
    table: list[tuple[int, int]] = []
    for start, end, prog in programs:
        fde_addr = addr + len(out)
        n = _fde_len(prog)
        rec = bytearray(u32.pack(n - 4))
        rec += u32.pack(len(out) + 4)  # CIE pointer: back from this field to the CIE at offset 0
        rel = start - (fde_addr + 8)
        rng = end - start
        if not (-(1 << 31) <= rel < (1 << 31)) or rng >= (1 << 32):
            raise FormatError("function too far from its FDE for pcrel|sdata4", fde_addr, start, what="eh_frame")
        rec += s32.pack(rel) + u32.pack(rng) + uleb(0) + prog
        rec += b"\0" * (n - len(rec))
        out += rec
        table.append((start, fde_addr))
    out += b"\0" * 4
    return bytes(out), table


def build_eh_frame_hdr(hdr_addr: int, eh_frame_addr: int, table: Sequence[tuple[int, int]], endian: str) -> bytes:
    """``.eh_frame_hdr`` at ``hdr_addr``: pcrel eh_frame pointer, udata4 count, datarel|sdata4 sorted table."""
    out = bytearray([1, DW_EH_PE_pcrel | DW_EH_PE_sdata4, DW_EH_PE_udata4, DW_EH_PE_datarel | DW_EH_PE_sdata4])
    out += struct.pack(endian + "iI", eh_frame_addr - (hdr_addr + 4), len(table))
    pair = struct.Struct(endian + "ii")
    for start, fde in sorted(table):
        a, b = start - hdr_addr, fde - hdr_addr
        if not (-(1 << 31) <= a < (1 << 31) and -(1 << 31) <= b < (1 << 31)):
            raise FormatError("eh_frame_hdr entry out of datarel|sdata4 range", hdr_addr, start, what="eh_frame_hdr")
        out += pair.pack(a, b)
    return bytes(out)


def _package(f: FunctionLike) -> str:
    try:
        return f.package
    except (AttributeError, SymkeepError):
        return ""


def choose_window(funcs: Sequence[FunctionLike], need: int, lo: int, hi: int,
                  keep: Callable[[FunctionLike], bool]) -> tuple[int, int, list[str]]:
    """The window of consecutive functions (with their padding) of at least ``need`` bytes inside
    ``[lo, hi)`` holding the fewest functions, none of which ``keep`` protects; lowest address on ties.

    Returns (start, end, names). Raises InputError if no window fits."""
    fs = sorted((f for f in funcs if lo <= f.entry < hi), key=lambda f: f.entry)
    n = len(fs)
    bounds = [f.entry for f in fs] + [hi]
    prot = [0]
    for f in fs:
        prot.append(prot[-1] + (1 if keep(f) else 0))
    best: tuple[int, int, int] | None = None  # (count, i, j): functions [i, j) span bounds[i]..bounds[j]
    j = 0
    for i in range(n):
        j = max(j, i)
        while j < n and bounds[j] - bounds[i] < need:
            j += 1
        if bounds[j] - bounds[i] < need:
            break
        if prot[j] - prot[i]:
            continue
        if best is None or j - i < best[0]:
            best = (j - i, i, j)
    if best is None:
        raise UnsupportedError(f"no run of unprotected functions can hold {need} bytes of unwind tables")
    _, i, j = best
    return bounds[i], bounds[i] + need, [f.name for f in fs[i:j]]


def _exec_segment(phdrs: Sequence[Phdr]) -> tuple[int, int, int]:
    """(p_vaddr, p_offset, p_filesz) of the executable PT_LOAD segment holding the code."""
    for p in phdrs:
        if p.type == PT_LOAD and p.flags & PF_X and p.filesz:
            return p.vaddr, p.offset, p.filesz
    raise UnsupportedError("no executable PT_LOAD segment: perf maps nothing to unwind through")


def unwindable_copy(gobin: GoEngine, source: SourceLike | None = None,
                    keep: Callable[[FunctionLike], bool] | None = None, place: str = "text") -> UnwindCopy:
    """The binary's bytes with ``.eh_frame_hdr``/``.eh_frame`` written into a loaded segment and an
    appended section header table that lists them (plus every original section).

    ``place="text"`` (default) writes over function bodies in the executable segment: works whatever
    mappings perf recorded. ``place="rodata"`` writes over ``.gopclntab`` (which perf never reads; the
    debug file carries its content) and keeps every code byte, but needs perf to have recorded the
    read-only data mapping: perf 6.1 does for ``--call-graph=dwarf`` (it sets ``mmap_data``; measured)."""
    elf = elf_of(gobin, "an unwindable copy")
    with format_errors(".eh_frame"):
        return _unwindable_copy(gobin, elf, source if source is not None else EngineSource(gobin), keep, place)


def default_keep(gobin: GoEngine) -> Callable[[FunctionLike], bool]:
    """Protect package main, the main module's packages and ``PRESERVE``."""
    prefixes: list[str] = []
    try:
        from symkeep.golang.buildinfo import read_buildinfo

        bi = read_buildinfo(gobin.binary)
        mod = bi.main.path if bi is not None and bi.main is not None else ""
        if mod and mod != "command-line-arguments":
            prefixes = [mod + "/", mod + "."]
    except (SymkeepError, AttributeError):
        pass

    def keep(f: FunctionLike) -> bool:
        if f.name in PRESERVE or f.name.startswith("main."):
            return True
        pkg = _package(f)
        return pkg == "main" or any(f.name.startswith(p) for p in prefixes)

    return keep


def _original_table(elf: ELFFile, programs: Sequence[tuple[int, int, bytes]]) -> list[tuple[int, int]]:
    """(start, FDE address) of an existing ``.eh_frame_hdr`` (external linking: the C objects' CFI), minus
    entries inside functions we describe, so the merged table still covers the C code. Only the usual
    encodings (4-byte eh_frame_ptr and count, datarel|sdata4 table) are read; others are dropped."""
    sec = next((s for s in elf.sections() if s.name == ".eh_frame_hdr" and s.raw_type != SHT_NOBITS), None)
    if sec is None or sec.size < HDR_FIXED or sec.offset + sec.size > elf.length:
        return []
    raw = elf.read(sec.offset, sec.size)
    if raw[0] != 1 or raw[1] & 0x0F not in (DW_EH_PE_udata4, DW_EH_PE_sdata4) or raw[2] != DW_EH_PE_udata4 \
            or raw[3] != (DW_EH_PE_datarel | DW_EH_PE_sdata4):
        return []
    en = elf.ident.endian
    (count,) = struct.unpack_from(en + "I", raw, 8)
    count = min(count, (len(raw) - HDR_FIXED) // 8)
    starts = [p[0] for p in programs]
    out = []
    for i in range(count):
        a, b = struct.unpack_from(en + "ii", raw, HDR_FIXED + 8 * i)
        start = sec.addr + a
        k = bisect.bisect_right(starts, start) - 1
        if k >= 0 and programs[k][0] <= start < programs[k][1]:
            continue
        out.append((start, sec.addr + b))
    return out


def _rodata_region(elf: ELFFile, need: int) -> tuple[int, int, int, str]:
    """(segment vaddr, segment offset, start address, section name) for tables placed over .gopclntab."""
    for s in elf.sections():
        if s.name not in (".gopclntab", ".data.rel.ro.gopclntab") or s.raw_type == SHT_NOBITS or s.size < need + 8:
            continue
        for p in elf.program_headers():
            if p.type == PT_LOAD and not p.flags & PF_X and p.vaddr <= s.addr and s.addr + need + 8 <= p.vaddr + p.filesz:
                return p.vaddr, p.offset, s.addr, s.name
    raise UnsupportedError("no .gopclntab in a non-executable PT_LOAD segment large enough for the unwind tables; "
                     "place them in text instead")


def _unwindable_copy(gobin: GoEngine, elf: ELFFile, src: SourceLike, keep: Callable[[FunctionLike], bool] | None,
                     place: str) -> UnwindCopy:
    machine, ps, en = elf.machine, elf.ptr_size, elf.ident.endian
    funcs = list(src.functions())
    if not funcs:
        raise UnsupportedError(f"{elf.path}: no functions to describe")
    programs = fde_programs(src, funcs, machine, ps, en)
    extra = _original_table(elf, programs)
    hdr_size = HDR_FIXED + 8 * (len(programs) + len(extra))
    eh_off = (hdr_size + 7) & ~7
    need = eh_off + eh_frame_size(programs, machine, ps, en)
    names: list[str] = []
    section = ""
    if place == "text":
        vaddr, foff, fsz = _exec_segment(elf.program_headers())
        # +8: room to align the header if functions are less aligned than that.
        start, _, names = choose_window(funcs, need + 8, vaddr, vaddr + fsz, keep or default_keep(gobin))
    elif place == "rodata":
        vaddr, foff, start, section = _rodata_region(elf, need)
    else:
        raise UsageError(f"unknown placement {place!r} (text or rodata)")
    hdr_addr = (start + 7) & ~7
    eh_addr = hdr_addr + eh_off
    eh, table = build_eh_frame(programs, eh_addr, machine, ps, en)
    ehh = build_eh_frame_hdr(hdr_addr, eh_addr, table + extra, en)
    blob = ehh + b"\0" * (eh_off - len(ehh)) + eh
    blob_off = hdr_addr - vaddr + foff
    if blob_off < 0 or blob_off + len(blob) > elf.length:
        raise UnsupportedError("unwind tables do not fit the file")

    data = bytearray(elf.read(0, elf.length))
    data[blob_off : blob_off + len(blob)] = blob
    _add_sections(data, elf, [
        (".eh_frame_hdr", hdr_addr, blob_off, len(ehh), 4),
        (".eh_frame", eh_addr, blob_off + eh_off, len(eh), 8),
    ])
    return UnwindCopy(bytes(data), hdr_addr, eh_addr, len(ehh), len(eh), len(table),
                      (hdr_addr, hdr_addr + len(blob)), names, section)


def _add_sections(data: bytearray, elf: ELFFile, extra: list[tuple[str, int, int, int, int]]) -> None:
    """Give ``data`` a new section table: the original sections at the same indices (an existing
    ``.eh_frame``/``.eh_frame_hdr`` renamed ``*.orig``), then ``extra`` (name, addr, offset, size, align)
    as allocated PROGBITS."""
    rows = [(n + ".orig" if n in (".eh_frame_hdr", ".eh_frame") else n, h) for n, h in section_rows(elf)]
    rows = rows or [("", NULL_SHDR)]
    for name, addr, off, size, align in extra:
        rows.append((name, dataclasses.replace(NULL_SHDR, type=SHT_PROGBITS, flags=SHF_ALLOC, addr=addr, offset=off,
                                               size=size, addralign=align)))
    append_section_table(data, elf, rows)
