"""DWARF 4 from pclntab: .debug_info/.debug_abbrev/.debug_str/.debug_line/.debug_ranges/.debug_aranges.

DWARF 4 because binutils 2.40 addr2line prints no lines for Go's DWARF 5, while gdb 13, llvm 14 and
binutils all read version 4 (checked by tests/restore). One compile unit per Go package; one
DW_TAG_subprogram per function with DW_TAG_inlined_subroutine children rebuilt from the frame chains
of the PC ranges (an inline instance is identified by its callee and the caller's call file:line).
Functions are streamed one at a time so memory stays bounded by the largest function.

Inlined callees are named through DW_AT_abstract_origin: each unit ends with one abstract
DW_TAG_subprogram (DW_AT_inline) per callee it inlines, carrying DW_AT_name and DW_AT_linkage_name,
referenced unit-locally (DW_FORM_ref4). Why the linkage name: binutils 2.40 (bfd/dwarf2.c) trusts a
DWARF function name only when it is a "linkage" name (DW_AT_linkage_name, or DW_AT_name in a C-like
language; DW_LANG_Go is not one), and otherwise prints the ELF symbol that contains the address: for
an inlined frame that is the *outer* function. Go's own DWARF (abstract origins with DW_AT_name only,
cross-unit DW_FORM_ref_addr) gets exactly that wrong answer from binutils addr2line.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass, field

from symkeep.restore.elfwriter import StrTab
from symkeep.restore.leb import sleb, uleb
from symkeep.restore.model import FunctionLike, SourceLike

# Tags / attributes / forms (DWARF 4, section 7).
DW_TAG_compile_unit = 0x11
DW_TAG_subprogram = 0x2E
DW_TAG_inlined_subroutine = 0x1D
DW_AT_name = 0x03
DW_AT_inline = 0x20
DW_AT_abstract_origin = 0x31
DW_AT_linkage_name = 0x6E
DW_AT_stmt_list = 0x10
DW_AT_low_pc = 0x11
DW_AT_high_pc = 0x12
DW_AT_language = 0x13
DW_AT_comp_dir = 0x1B
DW_AT_producer = 0x25
DW_AT_decl_file = 0x3A
DW_AT_decl_line = 0x3B
DW_AT_external = 0x3F
DW_AT_frame_base = 0x40
DW_AT_ranges = 0x55
DW_AT_call_file = 0x58
DW_AT_call_line = 0x59
DW_FORM_addr = 0x01
DW_FORM_data1 = 0x0B
DW_FORM_ref4 = 0x13
DW_FORM_udata = 0x0F
DW_FORM_strp = 0x0E
DW_FORM_sec_offset = 0x17
DW_FORM_exprloc = 0x18
DW_FORM_flag_present = 0x19
DW_LANG_Go = 0x16
DW_OP_call_frame_cfa = 0x9C
DW_INL_inlined = 1

AB_CU, AB_SUB_KIDS, AB_SUB, AB_INL_PC_KIDS, AB_INL_PC, AB_INL_RNG_KIDS, AB_INL_RNG, AB_ABSTRACT = range(1, 9)
CU_HEADER_SIZE = 11  # 32-bit DWARF 4: unit_length, version, debug_abbrev_offset, address_size

LINE_BASE = -5
LINE_RANGE = 14
OPCODE_BASE = 13
DW_LNS_copy = 1
DW_LNS_advance_pc = 2
DW_LNS_advance_line = 3
DW_LNS_set_file = 4
DW_LNE_end_sequence = 1
DW_LNE_set_address = 2


def _abbrevs() -> bytes:
    out = bytearray()

    def ab(code: int, tag: int, kids: bool, attrs: list[tuple[int, int]]) -> None:
        out.extend(uleb(code) + uleb(tag) + bytes([1 if kids else 0]))
        for a, f in attrs:
            out.extend(uleb(a) + uleb(f))
        out.extend(b"\0\0")

    ab(AB_CU, DW_TAG_compile_unit, True, [
        (DW_AT_name, DW_FORM_strp), (DW_AT_language, DW_FORM_data1), (DW_AT_producer, DW_FORM_strp),
        (DW_AT_comp_dir, DW_FORM_strp), (DW_AT_stmt_list, DW_FORM_sec_offset), (DW_AT_low_pc, DW_FORM_addr),
        (DW_AT_ranges, DW_FORM_sec_offset)])
    sub = [(DW_AT_name, DW_FORM_strp), (DW_AT_low_pc, DW_FORM_addr), (DW_AT_high_pc, DW_FORM_udata),
           (DW_AT_frame_base, DW_FORM_exprloc), (DW_AT_decl_file, DW_FORM_udata),
           (DW_AT_decl_line, DW_FORM_udata), (DW_AT_external, DW_FORM_flag_present)]
    ab(AB_SUB_KIDS, DW_TAG_subprogram, True, sub)
    ab(AB_SUB, DW_TAG_subprogram, False, sub)
    inl_pc = [(DW_AT_abstract_origin, DW_FORM_ref4), (DW_AT_low_pc, DW_FORM_addr), (DW_AT_high_pc, DW_FORM_udata),
              (DW_AT_call_file, DW_FORM_udata), (DW_AT_call_line, DW_FORM_udata)]
    ab(AB_INL_PC_KIDS, DW_TAG_inlined_subroutine, True, inl_pc)
    ab(AB_INL_PC, DW_TAG_inlined_subroutine, False, inl_pc)
    inl_rng = [(DW_AT_abstract_origin, DW_FORM_ref4), (DW_AT_ranges, DW_FORM_sec_offset),
               (DW_AT_call_file, DW_FORM_udata), (DW_AT_call_line, DW_FORM_udata)]
    ab(AB_INL_RNG_KIDS, DW_TAG_inlined_subroutine, True, inl_rng)
    ab(AB_INL_RNG, DW_TAG_inlined_subroutine, False, inl_rng)
    ab(AB_ABSTRACT, DW_TAG_subprogram, False, [
        (DW_AT_name, DW_FORM_strp), (DW_AT_linkage_name, DW_FORM_strp), (DW_AT_inline, DW_FORM_data1),
        (DW_AT_external, DW_FORM_flag_present)])
    out.append(0)
    return bytes(out)


@dataclass
class _Inl:
    """An inline instance: callee (index into the chains' names), caller's call file (index) and line."""

    name: int
    call_file: int
    call_line: int
    ranges: list[list[int]] = field(default_factory=list)
    kids: dict[tuple[int, int, int], _Inl] = field(default_factory=dict)


@dataclass
class DwarfOutput:
    sections: dict[str, bytes]
    ends: list[int]  # real end (without alignment padding) per function index, from the PC ranges
    n_rows: int = 0
    n_inlined: int = 0
    n_units: int = 0


def package_of(f: FunctionLike) -> str:
    try:
        pkg = f.package
    except AttributeError:
        pkg = ""
    return pkg or "<unknown>"


def _merge(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for s, e in sorted(ranges):
        if e <= s:
            continue
        if out and s <= out[-1][1]:
            if e > out[-1][1]:
                out[-1] = (out[-1][0], e)
        else:
            out.append((s, e))
    return out


def write_dwarf(src: SourceLike, funcs: Sequence[FunctionLike], ptr_size: int, endian: str,
                producer: str, names: Sequence[str] | None = None) -> DwarfOutput:
    """Generate the DWARF sections for ``funcs`` (sorted by entry) read through ``src``.

    ``names`` overrides the subprogram names (the linker's ``.abi0`` spelling of assembly functions).
    """
    addr_fmt = endian + ("Q" if ptr_size == 8 else "I")
    u16 = struct.Struct(endian + "H")
    u32 = struct.Struct(endian + "I")
    pack_addr = struct.Struct(addr_fmt).pack
    addr_mask = (1 << (8 * ptr_size)) - 1

    strs = StrTab()
    info = bytearray()
    line = bytearray()
    rnglists = bytearray()
    aranges = bytearray()
    ends = [0] * len(funcs)
    n_rows = 0
    n_inl = 0

    # Group by package, units ordered by their first function's address (deterministic).
    units: dict[str, list[int]] = {}
    for i, f in enumerate(funcs):
        units.setdefault(package_of(f), []).append(i)

    producer_off = strs.add(producer)
    compdir_off = strs.add(".")
    ch = src.chains()
    off, cname, cfile, cline, cnames, cfiles = ch.off, ch.name, ch.file, ch.line, ch.names, ch.files
    unknown_files = {i for i, f in enumerate(cfiles) if f == "?"}

    for pkg, idxs in units.items():
        files: dict[str, int] = {}
        by_index: dict[int, int] = {}

        def fidx(name: str, files: dict[str, int] = files) -> int:
            n = files.get(name)
            if n is None:
                n = files[name] = len(files) + 1
            return n

        def fidx_i(i: int, by_index: dict[int, int] = by_index) -> int:
            n = by_index.get(i)
            if n is None:
                n = by_index[i] = fidx(cfiles[i])
            return n

        unit_ranges: list[tuple[int, int]] = []
        prog = bytearray()
        dies = bytearray()
        abstract: dict[str, list[int]] = {}  # callee -> positions in ``dies`` of refs to its abstract DIE
        seq_open = False
        cur_addr = 0
        cur_line = 1
        cur_file = 1
        for i in idxs:
            f = funcs[i]
            starts, range_ends, chain_ids = src.ranges(f)
            entry = f.entry
            end = entry
            rows: list[tuple[int, int, int]] = []  # (address, file index or -1 for f.file, line)
            root = _Inl(-1, -1, 0)
            for s, e_, c in zip(starts, range_ends, chain_ids, strict=True):
                if e_ <= s or c < 0:
                    continue
                a, b = off[c], off[c + 1]
                if a == b:
                    continue
                fi_, ln_ = cfile[a], cline[a]
                # A function without line tables, or the alignment bytes past its line table (named,
                # no file: ??:0): no line row, and not part of the function's size (the linker's
                # symbol ends with the code; a function with no line table at all keeps its range).
                if fi_ in unknown_files:
                    continue
                if e_ > end:
                    end = e_
                if not rows or rows[-1][1] != fi_ or rows[-1][2] != ln_:
                    rows.append((s, fi_, ln_))
                node = root
                for d in range(b - 2, a - 1, -1):
                    key = (cname[d], cfile[d + 1], cline[d + 1])
                    kid = node.kids.get(key)
                    if kid is None:
                        kid = node.kids[key] = _Inl(key[0], key[1], key[2])
                    kr = kid.ranges
                    if kr and kr[-1][1] == s:
                        kr[-1][1] = e_
                    else:
                        kr.append([s, e_])
                    node = kid
            if end <= entry:
                end = max(f.end, entry)
            ends[i] = end
            if end <= entry:
                continue
            unit_ranges.append((entry, end))
            # -- line program: one sequence per run of adjacent functions.
            if seq_open and cur_addr != entry:
                prog += bytes([0, 1, DW_LNE_end_sequence])
                seq_open = False
            if not seq_open:
                prog += bytes([0, 1 + ptr_size, DW_LNE_set_address]) + pack_addr(entry & addr_mask)
                cur_addr, cur_line, cur_file = entry, 1, 1
                seq_open = True
            if not rows:
                rows.append((entry, -1, f.start_line))
            for addr, fname_i, ln in rows:
                fi = fidx_i(fname_i) if fname_i >= 0 else fidx(f.file)
                if fi != cur_file:
                    prog += b"\x04" + uleb(fi)
                    cur_file = fi
                dl = ln - cur_line
                da = addr - cur_addr
                if dl < LINE_BASE or dl >= LINE_BASE + LINE_RANGE:
                    prog += b"\x03" + sleb(dl)
                    dl = 0
                op = (dl - LINE_BASE) + LINE_RANGE * da + OPCODE_BASE
                if op > 255:
                    prog += b"\x02" + uleb(da)
                    op = (dl - LINE_BASE) + OPCODE_BASE
                prog.append(op)
                cur_addr, cur_line = addr, ln
                n_rows += 1
            if end > cur_addr:
                prog += b"\x02" + uleb(end - cur_addr)
                cur_addr = end
            # -- DIEs.
            kids = bool(root.kids)
            dies += uleb(AB_SUB_KIDS if kids else AB_SUB)
            dies += u32.pack(strs.add(f.name if names is None else names[i])) + pack_addr(entry & addr_mask) + uleb(end - entry)
            dies += b"\x01" + bytes([DW_OP_call_frame_cfa])
            dies += uleb(fidx(f.file)) + uleb(max(0, f.start_line))
            if kids:
                # iterative pre-order; None marks the end of a children list
                pending: list[_Inl | None] = list(reversed(list(root.kids.values())))
                while pending:
                    node2 = pending.pop()
                    if node2 is None:
                        dies.append(0)
                        continue
                    n_inl += 1
                    has_kids = bool(node2.kids)
                    nr = node2.ranges
                    callee = cnames[node2.name]
                    if len(nr) == 1:
                        dies += uleb(AB_INL_PC_KIDS if has_kids else AB_INL_PC)
                        abstract.setdefault(callee, []).append(len(dies))
                        dies += b"\0\0\0\0" + pack_addr(nr[0][0] & addr_mask)
                        dies += uleb(nr[0][1] - nr[0][0])
                    else:
                        dies += uleb(AB_INL_RNG_KIDS if has_kids else AB_INL_RNG)
                        abstract.setdefault(callee, []).append(len(dies))
                        dies += b"\0\0\0\0" + u32.pack(len(rnglists))
                        for a, b in nr:
                            rnglists += pack_addr(a & addr_mask) + pack_addr(b & addr_mask)
                        rnglists += pack_addr(0) + pack_addr(0)
                    dies += uleb(fidx_i(node2.call_file)) + uleb(max(0, node2.call_line))
                    if has_kids:
                        pending.append(None)
                        pending.extend(reversed(list(node2.kids.values())))
                dies.append(0)
        if seq_open:
            prog += bytes([0, 1, DW_LNE_end_sequence])
        if not unit_ranges:
            continue
        # -- line program header (v4).
        hdr = bytearray([1, 1, 1, LINE_BASE & 0xFF, LINE_RANGE, OPCODE_BASE])
        hdr += bytes([0, 1, 1, 1, 1, 0, 0, 0, 1, 0, 0, 1])
        hdr.append(0)  # no include_directories
        for name in files:
            hdr += name.encode("utf-8", "surrogateescape") + b"\0\0\0\0"
        hdr.append(0)
        stmt_off = len(line)
        body = u16.pack(4) + u32.pack(len(hdr)) + bytes(hdr) + bytes(prog)
        line += u32.pack(len(body)) + body
        # -- unit ranges.
        merged = _merge(unit_ranges)
        rng_off = len(rnglists)
        for a, b in merged:
            rnglists += pack_addr(a & addr_mask) + pack_addr(b & addr_mask)
        rnglists += pack_addr(0) + pack_addr(0)
        # -- compile unit.
        cu_off = len(info)
        cu = bytearray(uleb(AB_CU))
        cu += u32.pack(strs.add(pkg)) + bytes([DW_LANG_Go]) + u32.pack(producer_off) + u32.pack(compdir_off)
        cu += u32.pack(stmt_off) + pack_addr(0) + u32.pack(rng_off)
        # Abstract DIEs of the inlined callees after the concrete ones; patch the forward references.
        base = CU_HEADER_SIZE + len(cu)
        for callee, refs in abstract.items():
            ref = u32.pack(base + len(dies))
            for pos in refs:
                dies[pos : pos + 4] = ref
            name_off = strs.add(callee)
            dies += uleb(AB_ABSTRACT) + u32.pack(name_off) + u32.pack(name_off) + bytes([DW_INL_inlined])
        cu += dies
        cu.append(0)
        body = u16.pack(4) + u32.pack(0) + bytes([ptr_size]) + bytes(cu)
        info += u32.pack(len(body)) + body
        # -- aranges.
        ar = bytearray(u16.pack(2) + u32.pack(cu_off) + bytes([ptr_size, 0]))
        hdr_len = 4 + len(ar)
        ar += b"\0" * ((-hdr_len) % (2 * ptr_size))
        for a, b in merged:
            ar += pack_addr(a & addr_mask) + pack_addr((b - a) & addr_mask)
        ar += pack_addr(0) + pack_addr(0)
        aranges += u32.pack(len(ar)) + ar
    sections = {
        ".debug_abbrev": _abbrevs(),
        ".debug_info": bytes(info),
        ".debug_str": strs.bytes(),
        ".debug_line": bytes(line),
        ".debug_ranges": bytes(rnglists),
        ".debug_aranges": bytes(aranges),
    }
    return DwarfOutput(sections, ends, n_rows, n_inl, len(units))
