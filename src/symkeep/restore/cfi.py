"""`.debug_frame` CFI from each function's pcsp table, following cmd/link's writeframes.

Facts from GOROOT/src/cmd/link/internal/ld/dwarf.go (writeframes) and */l.go (DWARF register numbers):
- x86 (no link register): CFA = SP + spdelta + ptrsize; the return address is at CFA - ptrsize.
- link-register arches: CFA = SP + spdelta; SP(caller) = CFA; LR is unchanged while spdelta == 0 and
  saved at CFA - spdelta (i.e. at 0(SP)) once a frame is allocated.
- functions flagged TopFrame (runtime.goexit, rt0_go, mstart...) mark the return address undefined so
  unwinders stop there (cmd/link does this for LR arches only; we do it on every arch).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

from symkeep.errors import UnsupportedError
from symkeep.restore.leb import sleb, uleb
from symkeep.restore.model import FUNC_FLAG_TOPFRAME, FunctionLike, SourceLike

DW_CFA_advance_loc = 0x40
DW_CFA_advance_loc1 = 0x02
DW_CFA_advance_loc2 = 0x03
DW_CFA_advance_loc4 = 0x04
DW_CFA_offset_extended = 0x05
DW_CFA_undefined = 0x07
DW_CFA_same_value = 0x08
DW_CFA_def_cfa = 0x0C
DW_CFA_def_cfa_offset = 0x0E
DW_CFA_def_cfa_offset_sf = 0x13
DW_CFA_offset_extended_sf = 0x11
DW_CFA_val_offset = 0x14

DATA_ALIGN = -4


@dataclass(frozen=True)
class ArchRegs:
    sp: int
    lr: int  # return-address column
    has_lr: bool


# ELF e_machine -> DWARF register numbers (cmd/link/internal/<arch>/l.go).
ARCH_REGS: dict[int, ArchRegs] = {
    62: ArchRegs(7, 16, False),  # x86-64
    3: ArchRegs(4, 8, False),  # 386
    183: ArchRegs(31, 30, True),  # arm64
    40: ArchRegs(13, 14, True),  # arm
    22: ArchRegs(15, 14, True),  # s390x
    21: ArchRegs(1, 65, True),  # ppc64/ppc64le
    243: ArchRegs(2, 1, True),  # riscv64
    258: ArchRegs(3, 1, True),  # loong64
    8: ArchRegs(29, 31, True),  # mips/mips64
}


def arch_regs(machine: int) -> ArchRegs:
    r = ARCH_REGS.get(machine)
    if r is None:
        raise UnsupportedError(f"no CFI rules for ELF machine {machine}")
    return r


def _advance(delta: int, endian: str) -> bytes:
    if delta < 0x40:
        return bytes([DW_CFA_advance_loc | delta])
    if delta < 0x100:
        return bytes([DW_CFA_advance_loc1, delta])
    if delta < 0x10000:
        return bytes([DW_CFA_advance_loc2]) + struct.pack(endian + "H", delta)
    return bytes([DW_CFA_advance_loc4]) + struct.pack(endian + "I", delta & 0xFFFFFFFF)


def cie_instructions(regs: ArchRegs, ptr_size: int) -> bytes:
    """The CIE's initial rules (what holds at a function's entry), shared by .debug_frame and .eh_frame."""
    out = bytearray([DW_CFA_def_cfa]) + uleb(regs.sp)
    if regs.has_lr:
        out += uleb(0)
        out += bytes([DW_CFA_same_value]) + uleb(regs.lr)
        out += bytes([DW_CFA_val_offset]) + uleb(regs.sp) + uleb(0)
    else:
        out += uleb(ptr_size)
        out += bytes([DW_CFA_offset_extended]) + uleb(regs.lr) + uleb(ptr_size // -DATA_ALIGN)
    return bytes(out)


def fde_program(src: SourceLike, f: FunctionLike, end: int, regs: ArchRegs, ptr_size: int, endian: str) -> bytes:
    """The CFA program of one function ``[f.entry, end)`` from its pcsp table (relative to the CIE rules)."""
    prog = bytearray()
    top = bool(getattr(f, "flags", 0) & FUNC_FLAG_TOPFRAME)
    if top:
        prog += bytes([DW_CFA_undefined]) + uleb(regs.lr)
    loc = f.entry
    prev_cfa: int | None = None
    prev_saved: bool | None = None
    for s, e, sp in src.sp_deltas(f):
        if s >= end or e <= s:
            continue
        if s < loc:
            s = loc
        if s > loc:
            prog += _advance(s - loc, endian)
            loc = s
        cfa = sp if regs.has_lr else sp + ptr_size
        if cfa < 0 and cfa % DATA_ALIGN:
            cfa = 0  # hostile or odd table: keep the CFA at SP
        if regs.has_lr and not top:
            saved = sp > 0
            if saved != prev_saved or (saved and cfa != prev_cfa):
                if saved and sp % -DATA_ALIGN == 0:
                    prog += bytes([DW_CFA_offset_extended_sf]) + uleb(regs.lr) + sleb(-sp // DATA_ALIGN)
                else:
                    prog += bytes([DW_CFA_same_value]) + uleb(regs.lr)
                prev_saved = saved
        if cfa != prev_cfa:
            if cfa < 0:  # arm64 epilogues after the frame is popped; cmd/link also writes these
                prog += bytes([DW_CFA_def_cfa_offset_sf]) + sleb(cfa // DATA_ALIGN)
            else:
                prog += bytes([DW_CFA_def_cfa_offset]) + uleb(cfa)
            prev_cfa = cfa
    return bytes(prog)


def write_debug_frame(src: SourceLike, funcs: Sequence[FunctionLike], ends: Sequence[int], machine: int,
                      ptr_size: int, endian: str) -> bytes:
    """One CIE and one FDE per function (32-bit DWARF, CIE version 3 like cmd/link)."""
    regs = arch_regs(machine)
    u32 = struct.Struct(endian + "I")
    pack_addr = struct.Struct(endian + ("Q" if ptr_size == 8 else "I")).pack
    mask = (1 << (8 * ptr_size)) - 1

    cie = bytearray(u32.pack(0xFFFFFFFF) + bytes([3, 0]) + uleb(1) + sleb(DATA_ALIGN) + uleb(regs.lr))
    cie += cie_instructions(regs, ptr_size)
    cie += b"\0" * ((-(len(cie) + 4)) % ptr_size)
    out = bytearray(u32.pack(len(cie)) + cie)

    for i, f in enumerate(funcs):
        entry = f.entry
        end = ends[i]
        if end <= entry:
            continue
        prog = fde_program(src, f, end, regs, ptr_size, endian)
        fde_len = 4 + 2 * ptr_size + len(prog)
        pad = (-(fde_len + 4)) % ptr_size
        out += u32.pack(fde_len + pad) + u32.pack(0) + pack_addr(entry & mask) + pack_addr((end - entry) & mask)
        out += prog + b"\0" * pad
    return bytes(out)
