"""Mach-O reader: thin and universal (fat) files, 32/64-bit, both byte orders.

Headers and load commands are parsed when the file is opened (they are small and bounded by
``sizeofcmds``); the symbol table is parsed on first use. Pointers stored as dyld chained fixups
(LC_DYLD_CHAINED_FIXUPS, written by Apple's linker, never by Go's internal one) are decoded by
:meth:`MachOFile.read_pointer`, which Go metadata readers use for pre-1.18 build info and moduledata.
"""

from __future__ import annotations

import mmap
import struct
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from symkeep.binfmt import macho_constants as C
from symkeep.binfmt.base import Binary, FatSlice, Kind, Section, Segment, Symbol
from symkeep.errors import FormatError, NotABinaryError, UsageError

__all__ = ["MachOFile", "LoadCommand", "open_macho", "parse_fat", "FatArch"]

_MAX_FAT_ARCHS = 64  # real universal files have 2-4; a Java class file reads as thousands


@dataclass(frozen=True)
class LoadCommand:
    """One load command: its number, file offset (relative to the slice) and size."""

    cmd: int
    offset: int
    size: int

    @property
    def name(self) -> str:
        return C.LOAD_COMMAND_NAMES.get(self.cmd, f"LC_{self.cmd:#x}")


@dataclass(frozen=True)
class FatArch:
    cputype: int
    cpusubtype: int
    offset: int
    size: int
    align: int

    @property
    def arch(self) -> str:
        return C.CPU_TO_GOARCH.get(self.cputype, f"cpu{self.cputype:#x}")


def _cstr(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("utf-8", "replace")


def parse_fat(data: bytes | mmap.mmap | memoryview) -> list[FatArch]:
    """The slices of a universal file; every slice is checked to lie inside the file."""
    size = len(data)
    if size < C.FAT_HEADER_SIZE:
        raise FormatError("universal header truncated", 0, what="fat header")
    magic, narch = struct.unpack(">II", bytes(data[:8]))
    if magic == C.FAT_MAGIC:
        entsize = C.FAT_ARCH_SIZE
    elif magic == C.FAT_MAGIC_64:
        entsize = C.FAT_ARCH_64_SIZE
    else:
        raise NotABinaryError("not a universal Mach-O file")
    if narch == 0 or narch > _MAX_FAT_ARCHS:
        # 0xcafebabe is also the magic of Java class files, whose version field lands here.
        raise NotABinaryError(f"not a universal Mach-O file (nfat_arch={narch}; a Java class file?)")
    if C.FAT_HEADER_SIZE + narch * entsize > size:
        raise FormatError("universal arch table truncated", C.FAT_HEADER_SIZE, narch, what="fat_arch")
    out: list[FatArch] = []
    for i in range(narch):
        off = C.FAT_HEADER_SIZE + i * entsize
        raw = bytes(data[off : off + entsize])
        if magic == C.FAT_MAGIC:
            cpu, sub, foff, fsize, align = struct.unpack(">iiIII", raw)
        else:
            cpu, sub, foff, fsize, align, _ = struct.unpack(">iiQQII", raw)
        if foff < C.FAT_HEADER_SIZE or fsize == 0 or foff + fsize > size:
            raise FormatError(f"universal slice {i} outside the file", off, (foff, fsize), what="fat_arch")
        out.append(FatArch(cpu & 0xFFFFFFFF, sub & 0xFFFFFFFF, foff, fsize, align))
    return out


def symbol_sizes(items: list[tuple[int, int, int]], section_ends: dict[int, int]) -> dict[int, int]:
    """{key: size} for (section, address, key) triples: the distance to the next higher address in
    the same section, or to the section's end. Containers without symbol sizes (Mach-O, COFF) use it."""
    out: dict[int, int] = {}
    items = sorted(items)
    n = len(items)
    j = 0
    for i, (sec, addr, key) in enumerate(items):
        j = max(j, i)
        while j < n and items[j][0] == sec and items[j][1] == addr:
            j += 1
        nxt = items[j][1] if j < n and items[j][0] == sec else section_ends.get(sec, addr)
        out[key] = max(0, nxt - addr)
    return out


def open_macho(path: str, data: mmap.mmap | bytes, arch: str | None = None) -> MachOFile:
    """Open a thin Mach-O, or the slice for ``arch`` (GOARCH name; default: first) of a fat one."""
    head = bytes(data[:4])
    if head in (b"\xca\xfe\xba\xbe", b"\xca\xfe\xba\xbf"):
        archs = parse_fat(data)
        slices = [FatSlice(a.arch, a.offset, a.size) for a in archs]
        chosen = archs[0]
        if arch is not None:
            match = [a for a in archs if a.arch == arch]
            if not match:
                have = ", ".join(s.arch for s in slices)
                raise UsageError(f"{path}: universal file has no {arch} slice (has {have})")
            chosen = match[0]
        m = MachOFile(path, data, base=chosen.offset, length=chosen.size)
        m.fat_slices = slices
        return m
    return MachOFile(path, data)


class MachOFile(Binary):
    """One Mach-O image (a whole thin file or one slice of a universal file)."""

    format = "macho"

    def __init__(self, path: str, data: mmap.mmap | bytes, base: int = 0, length: int | None = None) -> None:
        total = len(data)
        if length is None:
            length = total - base
        if base < 0 or length < 0 or base + length > total:
            raise FormatError("Mach-O image outside the file", base, length)
        if length < C.MACH_HEADER_SIZE:
            raise FormatError("Mach-O header truncated", base, length, what="mach_header")
        magic_le = struct.unpack_from("<I", data, base)[0]
        if magic_le in (C.MH_MAGIC, C.MH_MAGIC_64):
            self.byteorder = "little"
        elif magic_le in (C.MH_CIGAM, C.MH_CIGAM_64):
            self.byteorder = "big"
        else:
            raise NotABinaryError(f"{path}: not a Mach-O file (magic {magic_le:#x})")
        self.bits = 64 if magic_le in (C.MH_MAGIC_64, C.MH_CIGAM_64) else 32
        super().__init__(path, data, base, length)
        e = self.endian_prefix
        hsize = C.MACH_HEADER_64_SIZE if self.bits == 64 else C.MACH_HEADER_SIZE
        if self.length < hsize:
            raise FormatError("Mach-O header truncated", 0, self.length, what="mach_header")
        _, cpu, sub, ftype, ncmds, sizeofcmds, flags = struct.unpack(
            e + "7I", self.read(0, 28, "mach_header")
        )
        self.machine = cpu
        self.cpusubtype = sub
        self.filetype = ftype
        self.flags = flags
        self.arch = C.CPU_TO_GOARCH.get(cpu, f"cpu{cpu:#x}")
        if sizeofcmds > self.length - hsize:
            raise FormatError("load commands extend past end of file", hsize, sizeofcmds, what="sizeofcmds")
        if ncmds > sizeofcmds // 8:
            raise FormatError("more load commands than fit in sizeofcmds", 16, ncmds, what="ncmds")
        self.header_size = hsize
        self.load_commands: list[LoadCommand] = []
        self.uuid: str | None = None
        self.uuid_bytes: bytes | None = None
        self.dyld_info: tuple[int, ...] | None = None  # rebase/bind/weak/lazy/export (off, size) pairs
        self.chained_fixups_cmd: tuple[int, int] | None = None  # (dataoff, datasize)
        self.symtab_cmd: tuple[int, int, int, int] | None = None  # symoff, nsyms, stroff, strsize
        self._segs: list[tuple[Segment, int, int]] = []  # (segment, nsects, offset of first section)
        entryoff: int | None = None
        thread_pc: int | None = None
        off = hsize
        end = hsize + sizeofcmds
        for i in range(ncmds):
            if off + 8 > end:
                raise FormatError(f"load command {i} truncated", off, what="load command")
            cmd, cmdsize = struct.unpack(e + "II", self.read(off, 8, "load command"))
            if cmdsize < 8 or off + cmdsize > end:
                raise FormatError(f"load command {i} has a bad size", off, cmdsize, what="cmdsize")
            self.load_commands.append(LoadCommand(cmd, off, cmdsize))
            if cmd in (C.LC_SEGMENT, C.LC_SEGMENT_64):
                self._parse_segment(cmd, off, cmdsize)
            elif cmd == C.LC_SYMTAB:
                self._need(off, cmdsize, 24, "LC_SYMTAB")
                symoff, nsyms, stroff, strsize = struct.unpack(e + "4I", self.read(off + 8, 16))
                self.symtab_cmd = (symoff, nsyms, stroff, strsize)
            elif cmd == C.LC_UUID:
                self._need(off, cmdsize, 24, "LC_UUID")
                self.uuid_bytes = self.read(off + 8, 16)
                self.uuid = self.uuid_bytes.hex()
            elif cmd == C.LC_MAIN:
                self._need(off, cmdsize, 24, "LC_MAIN")
                entryoff = struct.unpack(e + "Q", self.read(off + 8, 8))[0]
            elif cmd in (C.LC_UNIXTHREAD, C.LC_THREAD):
                pc = self._thread_pc(off, cmdsize)
                if pc is not None and thread_pc is None:
                    thread_pc = pc
            elif cmd in (C.LC_DYLD_INFO, C.LC_DYLD_INFO_ONLY):
                self._need(off, cmdsize, 48, "LC_DYLD_INFO")
                self.dyld_info = struct.unpack(e + "10I", self.read(off + 8, 40))
            elif cmd == C.LC_DYLD_CHAINED_FIXUPS:
                self._need(off, cmdsize, 16, "LC_DYLD_CHAINED_FIXUPS")
                dataoff, datasize = struct.unpack(e + "II", self.read(off + 8, 8))
                self.chained_fixups_cmd = (dataoff, datasize)
            off += cmdsize
        self.image_base = self._find_image_base()
        if entryoff is not None:
            ev = self.offset_to_vaddr(entryoff)
            self.entry = ev if ev is not None else self.image_base + entryoff
        else:
            self.entry = thread_pc or 0
        self.kind = self._kind()

    # -- header parsing helpers -------------------------------------------------------------------
    def _need(self, off: int, cmdsize: int, n: int, what: str) -> None:
        if cmdsize < n:
            raise FormatError(f"{what} shorter than {n} bytes", off, cmdsize, what=what)

    def _parse_segment(self, cmd: int, off: int, cmdsize: int) -> None:
        e = self.endian_prefix
        if cmd == C.LC_SEGMENT_64:
            self._need(off, cmdsize, C.SEGMENT_COMMAND_64_SIZE, "LC_SEGMENT_64")
            raw = self.read(off + 8, C.SEGMENT_COMMAND_64_SIZE - 8)
            name_b, vmaddr, vmsize, fileoff, filesize, maxprot, initprot, nsects, sflags = struct.unpack(
                e + "16s4Q4I", raw
            )
            hdr, secsize = C.SEGMENT_COMMAND_64_SIZE, C.SECTION_64_SIZE
        else:
            self._need(off, cmdsize, C.SEGMENT_COMMAND_SIZE, "LC_SEGMENT")
            raw = self.read(off + 8, C.SEGMENT_COMMAND_SIZE - 8)
            name_b, vmaddr, vmsize, fileoff, filesize, maxprot, initprot, nsects, sflags = struct.unpack(
                e + "16s8I", raw
            )
            hdr, secsize = C.SEGMENT_COMMAND_SIZE, C.SECTION_SIZE
        if nsects > (cmdsize - hdr) // secsize:
            raise FormatError("more sections than fit in the segment command", off, nsects, what="nsects")
        seg = Segment(
            index=len(self._segs),
            vaddr=vmaddr,
            memsz=vmsize,
            offset=fileoff,
            filesz=filesize,
            read=bool(initprot & C.VM_PROT_READ),
            write=bool(initprot & C.VM_PROT_WRITE),
            execute=bool(initprot & C.VM_PROT_EXECUTE),
            load=vmsize > 0,  # Go's __DWARF segment has vmsize 0 and overlaps __LINKEDIT's addresses
            name=_cstr(name_b),
            raw_type=cmd,
        )
        self._segs.append((seg, nsects, off + hdr))

    def _thread_pc(self, off: int, cmdsize: int) -> int | None:
        want = C.THREAD_PC.get(self.machine)
        if want is None:
            return None
        flavor_want, idx, wsize = want
        e = self.endian_prefix
        p, end = off + 8, off + cmdsize
        while p + 8 <= end:
            flavor, count = struct.unpack(e + "II", self.read(p, 8))
            nbytes = count * 4
            if p + 8 + nbytes > end:
                raise FormatError(
                    "thread state extends past its load command", p, count, what="LC_UNIXTHREAD"
                )
            if flavor == flavor_want and (idx + 1) * wsize <= nbytes:
                return int(
                    struct.unpack(e + ("Q" if wsize == 8 else "I"), self.read(p + 8 + idx * wsize, wsize))[0]
                )
            p += 8 + nbytes
        return None

    def _find_image_base(self) -> int:
        for seg, _, _ in self._segs:
            if seg.name == "__TEXT":
                return seg.vaddr
        for seg, _, _ in self._segs:
            if seg.offset == 0 and seg.filesz > 0:
                return seg.vaddr
        return 0

    def _kind(self) -> Kind:
        ft = self.filetype
        if ft == C.MH_EXECUTE:
            return "pie" if self.flags & C.MH_PIE else "exe"
        if ft in (C.MH_DYLIB, C.MH_BUNDLE, C.MH_DYLIB_STUB):
            return "shared"
        if ft == C.MH_DSYM:
            return "debug"
        if ft == C.MH_OBJECT:
            return "object"
        if ft == C.MH_CORE:
            return "core"
        return "unknown"

    # -- tables -----------------------------------------------------------------------------------
    def _load_segments(self) -> list[Segment]:
        return [s for s, _, _ in self._segs]

    def _load_sections(self) -> list[Section]:
        e = self.endian_prefix
        out: list[Section] = []
        for seg, nsects, p in self._segs:
            is64 = seg.raw_type == C.LC_SEGMENT_64
            secsize = C.SECTION_64_SIZE if is64 else C.SECTION_SIZE
            for k in range(nsects):
                raw = self.read(p + k * secsize, secsize, "section header")
                if is64:
                    sect, segn, addr, size, offset, _al, _ro, _nr, flags = struct.unpack(
                        e + "16s16s2Q5I", raw[:68]
                    )
                else:
                    sect, segn, addr, size, offset, _al, _ro, _nr, flags = struct.unpack(
                        e + "16s16s7I", raw[:60]
                    )
                stype = flags & C.SECTION_TYPE
                name = _cstr(sect)
                segname = _cstr(segn) or seg.name
                # zerofill has no bytes; in a dSYM the __TEXT/__DATA segments keep headers only.
                no_bytes = stype in C.ZEROFILL_TYPES or (seg.filesz == 0 and self.filetype != C.MH_OBJECT)
                out.append(
                    Section(
                        index=len(out),
                        name=name,
                        addr=addr,
                        offset=offset,
                        size=size,
                        file_size=0 if no_bytes else size,
                        alloc=seg.name != "__DWARF" and (seg.read or seg.write or seg.execute),
                        write=seg.write,
                        execute=bool(flags & (C.S_ATTR_PURE_INSTRUCTIONS | C.S_ATTR_SOME_INSTRUCTIONS)),
                        compressed=name.startswith("__zdebug"),
                        segment=segname,
                        raw_type=stype,
                        raw_flags=flags,
                    )
                )
        return out

    def section_in(self, segment: str, name: str) -> Section | None:
        """A section by segment and section name (names can repeat across segments)."""
        for s in self.sections():
            if s.segment == segment and s.name == name:
                return s
        return None

    def _load_symbols(self) -> list[Symbol]:
        if self.symtab_cmd is None:
            return []
        symoff, nsyms, stroff, strsize = self.symtab_cmd
        if nsyms == 0:
            return []
        entsize = C.NLIST_64_SIZE if self.bits == 64 else C.NLIST_SIZE
        if symoff + nsyms * entsize > self.length:
            raise FormatError("symbol table extends past end of file", symoff, nsyms, what="LC_SYMTAB")
        if stroff + strsize > self.length:
            raise FormatError("string table extends past end of file", stroff, strsize, what="LC_SYMTAB")
        e = self.endian_prefix
        dt = np.dtype(
            [
                ("strx", e + "u4"),
                ("type", "u1"),
                ("sect", "u1"),
                ("desc", e + "u2"),
                ("value", e + ("u8" if self.bits == 64 else "u4")),
            ]
        )
        arr = np.frombuffer(self.view(symoff, nsyms * entsize), dtype=dt)
        strtab = self.read(stroff, strsize, "string table")
        secs = self.sections()
        strx_l = arr["strx"].tolist()
        type_l = arr["type"].tolist()
        sect_l = arr["sect"].tolist()
        val_l = arr["value"].tolist()
        # sizes: distance to the next higher address in the same section (Mach-O stores none)
        defined = [i for i in range(nsyms) if not type_l[i] & C.N_STAB and type_l[i] & C.N_TYPE == C.N_SECT]
        ends = {k: s.end for k, s in enumerate(secs, start=1)}
        sized = symbol_sizes([(sect_l[i], val_l[i], i) for i in defined], ends)
        out: list[Symbol] = []
        for i in range(nsyms):
            sx = strx_l[i]
            if 0 < sx < strsize:
                j = strtab.find(b"\0", sx)
                name = strtab[sx : j if j >= 0 else strsize].decode("utf-8", "replace")
            else:
                name = ""
            t = type_l[i]
            sec_idx: int | None = None
            kind: str = "other"
            if not t & C.N_STAB and t & C.N_TYPE == C.N_SECT:
                sec_idx = sect_l[i] - 1
                if 0 <= sec_idx < len(secs):
                    kind = "func" if secs[sec_idx].execute else "object"
                else:
                    sec_idx = None
            out.append(
                Symbol(
                    name=name,
                    value=val_l[i],
                    size=sized.get(i, 0),
                    kind=kind,  # type: ignore[arg-type]
                    section_index=sec_idx,
                    global_=bool(t & C.N_EXT),
                )
            )
        return out

    def symbol_go(self, name: str) -> Symbol | None:
        """A symbol by its Go name: Mach-O spells Go symbols with a leading underscore."""
        return self.symbol("_" + name) or self.symbol(name)

    # -- chained fixups ---------------------------------------------------------------------------
    @cached_property
    def _chains(self) -> _ChainedFixups | None:
        if self.chained_fixups_cmd is None:
            return None
        dataoff, datasize = self.chained_fixups_cmd
        if datasize == 0:
            return None
        return _ChainedFixups(self, dataoff, datasize)

    def read_pointer(self, addr: int) -> int:
        """The pointer stored at ``addr``, with a chained fixup decoded to its target vaddr.

        A bind (import) decodes to 0: its target is in another image.
        """
        off = self.vaddr_to_offset(addr)
        if off is None:
            raise FormatError("pointer address not backed by file data", addr)
        ch = self._chains
        if ch is not None:
            v = ch.decode(addr)
            if v is not None:
                return v
        return self.word(off)

    def fixup_pointers(self, start: int = 0, end: int | None = None) -> dict[int, int]:
        """Chained-fixup locations (vaddr) in [start, end) (all by default) with their decoded values;
        {} without chained fixups."""
        ch = self._chains
        return ch.all_fixups(start, end) if ch is not None else {}


@dataclass(frozen=True)
class _SegStarts:
    seg_offset: int  # vm offset of the segment from the image base
    page_size: int
    pointer_format: int
    max_valid_pointer: int
    page_starts: tuple[int, ...]
    starts_base: int  # file offset of page_start[0] (for DYLD_CHAINED_PTR_START_MULTI overflow)


class _ChainedFixups:
    """dyld_chained_fixups_header, dyld_chained_starts_in_image/segment; chains walked per page."""

    def __init__(self, m: MachOFile, dataoff: int, datasize: int) -> None:
        self.m = m
        e = m.endian_prefix
        if dataoff + datasize > m.length or datasize < 28:
            raise FormatError(
                "chained fixups blob outside the file", dataoff, datasize, what="LC_DYLD_CHAINED_FIXUPS"
            )
        _ver, starts_off, _imp, _sym, _nimp, _impfmt, _symfmt = struct.unpack(e + "7I", m.read(dataoff, 28))
        if starts_off + 4 > datasize:
            raise FormatError("chained starts outside the blob", dataoff, starts_off, what="starts_offset")
        sbase = dataoff + starts_off
        seg_count = m.u32(sbase)
        if seg_count > (datasize - starts_off - 4) // 4:
            raise FormatError("too many segments in chained starts", sbase, seg_count, what="seg_count")
        self.segs: list[_SegStarts] = []
        for i in range(seg_count):
            info_off = m.u32(sbase + 4 + 4 * i)
            if info_off == 0:
                continue
            p = sbase + info_off
            if info_off + 22 > datasize - starts_off:
                raise FormatError("chained starts_in_segment outside the blob", p, what="seg_info_offset")
            _size, page_size, fmt, seg_offset, max_valid, page_count = struct.unpack(
                e + "IHHQIH", m.read(p, 22)
            )
            if page_size == 0 or info_off + 22 + 2 * page_count > datasize - starts_off:
                raise FormatError("bad chained starts_in_segment", p, page_count, what="page_count")
            starts = struct.unpack(e + f"{page_count}H", m.read(p + 22, 2 * page_count))
            self.segs.append(_SegStarts(seg_offset, page_size, fmt, max_valid, starts, p + 22))
        self._pages: dict[tuple[int, int], dict[int, int]] = {}
        self.blob_end = dataoff + datasize
        # total chain entries we agree to walk: overlapping hostile segment entries must not multiply work
        self._budget = m.length // 2 + 4096

    def decode(self, addr: int) -> int | None:
        voff = addr - self.m.image_base
        for si, s in enumerate(self.segs):
            if s.seg_offset <= voff < s.seg_offset + len(s.page_starts) * s.page_size:
                page = (voff - s.seg_offset) // s.page_size
                return self._page(si, page).get(addr)
        return None

    def all_fixups(self, start: int = 0, end: int | None = None) -> dict[int, int]:
        """Fixups at vaddrs in [start, end) (every one by default): only the pages covering it are walked."""
        out: dict[int, int] = {}
        base = self.m.image_base
        for si, s in enumerate(self.segs):
            lo, n = base + s.seg_offset, len(s.page_starts)
            first = max(0, (start - lo) // s.page_size) if start > lo else 0
            last = n if end is None else min(n, max(0, (end - lo + s.page_size - 1) // s.page_size))
            for page in range(first, last):
                out.update(self._page(si, page))
        if start or end is not None:
            out = {a: v for a, v in out.items() if start <= a and (end is None or a < end)}
        return out

    def _page(self, si: int, page: int) -> dict[int, int]:
        key = (si, page)
        got = self._pages.get(key)
        if got is not None:
            return got
        s = self.segs[si]
        res: dict[int, int] = {}
        start = s.page_starts[page]
        stride = C.CHAINED_STRIDE.get(s.pointer_format)
        if start != C.DYLD_CHAINED_PTR_START_NONE and stride is not None:
            page_voff = s.seg_offset + page * s.page_size
            if start & C.DYLD_CHAINED_PTR_START_MULTI and s.pointer_format in (
                C.DYLD_CHAINED_PTR_32,
                C.DYLD_CHAINED_PTR_32_CACHE,
                C.DYLD_CHAINED_PTR_32_FIRMWARE,
            ):
                # overflow list: chain_starts[index..] each ending with START_LAST
                idx = start & ~C.DYLD_CHAINED_PTR_START_MULTI
                for _ in range(s.page_size // 4 + 1):
                    q = s.starts_base + 2 * idx
                    if q + 2 > self.blob_end:
                        raise FormatError(
                            "chained start overflow list outside the blob", q, what="page_start"
                        )
                    v = self.m.u16(q)
                    self._walk(s, page_voff + (v & ~C.DYLD_CHAINED_PTR_START_LAST), stride, res)
                    if v & C.DYLD_CHAINED_PTR_START_LAST:
                        break
                    idx += 1
            else:
                self._walk(s, page_voff + start, stride, res)
        self._pages[key] = res
        return res

    def _walk(self, s: _SegStarts, voff: int, stride: int, res: dict[int, int]) -> None:
        m = self.m
        base = m.image_base
        fmt = s.pointer_format
        is32 = fmt in (C.DYLD_CHAINED_PTR_32, C.DYLD_CHAINED_PTR_32_CACHE, C.DYLD_CHAINED_PTR_32_FIRMWARE)
        width = 4 if is32 else 8
        unpack = struct.Struct(m.endian_prefix + ("I" if is32 else "Q")).unpack_from
        # the file range of the segment holding the chain's first location: a chain never leaves its page
        first = base + voff
        seg = next((g for g in m.segments() if g.load and g.vaddr <= first < g.vaddr + g.filesz), None)
        if seg is None:
            raise FormatError("chained fixup location not backed by file data", first, what="chained fixup")
        lo = seg.offset
        hi = min(seg.offset + seg.filesz, m.length)
        data = m.data
        for _ in range(s.page_size // stride + 1):
            self._budget -= 1
            if self._budget < 0:
                raise FormatError("chained fixups walk more entries than the file can hold", first)
            addr = base + voff
            off = seg.offset + (addr - seg.vaddr)
            if off < lo or off + width > hi:
                raise FormatError(
                    "chained fixup location not backed by file data", addr, what="chained fixup"
                )
            raw = unpack(data, off)[0]
            value, nxt = _decode_chained(fmt, raw, base, s.max_valid_pointer)
            if value is not None:
                res[addr] = value
            if nxt == 0:
                return
            voff += nxt * stride
        raise FormatError(
            "chained fixup chain does not end within its page", base + voff, what="chained fixup"
        )


def _decode_chained(fmt: int, raw: int, base: int, max_valid: int) -> tuple[int | None, int]:
    """(decoded target or None when unsupported, next) for one chained pointer."""
    if fmt in (C.DYLD_CHAINED_PTR_64, C.DYLD_CHAINED_PTR_64_OFFSET):
        nxt = (raw >> 51) & 0xFFF
        if raw >> 63:
            return 0, nxt  # bind: an import
        target = raw & ((1 << 36) - 1)
        high8 = (raw >> 36) & 0xFF
        if fmt == C.DYLD_CHAINED_PTR_64_OFFSET:
            target += base
        return (high8 << 56) | target, nxt
    if fmt in (
        C.DYLD_CHAINED_PTR_ARM64E,
        C.DYLD_CHAINED_PTR_ARM64E_USERLAND,
        C.DYLD_CHAINED_PTR_ARM64E_USERLAND24,
    ):
        nxt = (raw >> 51) & 0x7FF
        auth = raw >> 63
        bind = (raw >> 62) & 1
        if bind:
            return 0, nxt
        if auth:
            return base + (raw & 0xFFFFFFFF), nxt
        target = raw & ((1 << 43) - 1)
        high8 = (raw >> 43) & 0xFF
        if fmt != C.DYLD_CHAINED_PTR_ARM64E:
            target += base
        return (high8 << 56) | target, nxt
    if fmt == C.DYLD_CHAINED_PTR_32:
        nxt = (raw >> 26) & 0x1F
        if raw >> 31:
            return 0, nxt
        target = raw & 0x3FFFFFF
        if target > max_valid:
            # a non-pointer squeezed into the chain: stored biased
            bias = (0x04000000 + max_valid) // 2
            return (target - bias) & 0xFFFFFFFF, nxt
        return target, nxt
    # kernel-cache / firmware formats: walk nothing we can decode reliably
    return None, 0
