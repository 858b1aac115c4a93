"""PE/COFF reader: PE32 and PE32+ images (and bare COFF objects), sections, COFF symbols.

Go's linker puts DWARF in sections whose names exceed 8 bytes (``.zdebug_info``, ``.debug_line``);
COFF stores those as ``/N`` = offset N into the string table that follows the symbol table. A Go
binary linked with ``-s`` has no symbol table at all (PointerToSymbolTable = 0).
"""

from __future__ import annotations

import base64
import binascii
import mmap
import struct
from dataclasses import dataclass

import numpy as np

from symkeep.binfmt import pe_constants as C
from symkeep.binfmt.base import Binary, Section, Segment, Symbol
from symkeep.binfmt.macho import symbol_sizes
from symkeep.errors import FormatError, NotABinaryError

__all__ = ["PEFile", "DataDirectory", "RawSection"]


@dataclass(frozen=True)
class DataDirectory:
    index: int
    rva: int
    size: int


@dataclass(frozen=True)
class RawSection:
    """The section header fields as stored (``Section`` holds the normalised view)."""

    name: str
    raw_name: bytes
    virtual_size: int
    virtual_address: int
    size_of_raw_data: int
    pointer_to_raw_data: int
    characteristics: int


class PEFile(Binary):
    """A PE image or COFF object."""

    format = "pe"

    def __init__(self, path: str, data: mmap.mmap | bytes, base: int = 0, length: int | None = None) -> None:
        self.byteorder = "little"
        super().__init__(path, data, base, length)
        if self.length >= 0x40 and bytes(self.data[:2]) == C.DOS_MAGIC:
            lfanew = self.u32(C.E_LFANEW_OFFSET)
            if lfanew + 4 + C.COFF_HEADER_SIZE > self.length:
                raise FormatError(
                    "PE header offset past end of file", C.E_LFANEW_OFFSET, lfanew, what="e_lfanew"
                )
            if self.read(lfanew, 4) != C.PE_SIGNATURE:
                raise NotABinaryError(f"{path}: MZ file without a PE signature (DOS executable?)")
            coff = lfanew + 4
        elif self.length >= C.COFF_HEADER_SIZE and self.u16(0) in C.MACHINE_TO_GOARCH and self.u16(16) == 0:
            coff = 0  # a bare COFF object (no DOS stub, no optional header)
        else:
            raise NotABinaryError(f"{path}: not a PE file (no MZ header)")
        (machine, nsect, self.timestamp, symptr, nsyms, opt_size, chars) = struct.unpack(
            "<HHIIIHH", self.read(coff, C.COFF_HEADER_SIZE, "COFF header")
        )
        self.machine = machine
        self.characteristics = chars
        self.arch = C.MACHINE_TO_GOARCH.get(machine, f"machine{machine:#x}")
        self.symtab_offset = symptr
        self.nsyms = nsyms
        opt = coff + C.COFF_HEADER_SIZE
        if opt + opt_size > self.length:
            raise FormatError(
                "optional header extends past end of file", opt, opt_size, what="SizeOfOptionalHeader"
            )
        self.optional_magic = 0
        self.image_base = 0
        self.entry = 0
        self.dll_characteristics = 0
        self.subsystem = 0
        self.size_of_headers = 0
        self.data_directories: list[DataDirectory] = []
        self.bits = 64 if machine in C.MACHINE_64 else 32
        if opt_size >= 2:
            magic = self.u16(opt)
            self.optional_magic = magic
            if magic == C.OPTIONAL_MAGIC_PE32_PLUS:
                self.bits = 64
                fixed = 112
                if opt_size < fixed:
                    raise FormatError(
                        "PE32+ optional header too short", opt, opt_size, what="optional header"
                    )
                entry_rva = self.u32(opt + 16)
                self.image_base = self.u64(opt + 24)
            elif magic == C.OPTIONAL_MAGIC_PE32:
                self.bits = 32
                fixed = 96
                if opt_size < fixed:
                    raise FormatError("PE32 optional header too short", opt, opt_size, what="optional header")
                entry_rva = self.u32(opt + 16)
                self.image_base = self.u32(opt + 28)
            else:
                raise FormatError("unknown optional header magic", opt, magic, what="optional header")
            self.size_of_headers = self.u32(opt + 60)
            self.subsystem = self.u16(opt + 68)
            self.dll_characteristics = self.u16(opt + 70)
            ndirs = self.u32(opt + fixed - 4)
            ndirs = min(ndirs, C.MAX_DATA_DIRECTORIES, (opt_size - fixed) // 8)
            for i in range(ndirs):
                rva, size = struct.unpack("<II", self.read(opt + fixed + 8 * i, 8))
                self.data_directories.append(DataDirectory(i, rva, size))
            self.entry = self.image_base + entry_rva if entry_rva else 0
        self.section_table_offset = opt + opt_size
        if self.section_table_offset + nsect * C.SECTION_HEADER_SIZE > self.length:
            raise FormatError(
                "section table extends past end of file",
                self.section_table_offset,
                nsect,
                what="NumberOfSections",
            )
        self.nsections = nsect
        self._strtab = self._string_table()
        if opt_size == 0:
            self.kind = "object"
        elif chars & C.IMAGE_FILE_DLL:
            self.kind = "shared"
        else:
            self.kind = "exe"

    # -- string table -----------------------------------------------------------------------------
    def _string_table(self) -> bytes:
        """The COFF string table (with its 4-byte length prefix), or b'' when absent or broken."""
        if self.symtab_offset == 0:
            return b""
        if (
            self.nsyms > (self.length - self.symtab_offset) // C.SYMBOL_SIZE
            or self.symtab_offset > self.length
        ):
            raise FormatError(
                "symbol table extends past end of file",
                self.symtab_offset,
                self.nsyms,
                what="NumberOfSymbols",
            )
        st = self.symtab_offset + self.nsyms * C.SYMBOL_SIZE
        if st + 4 > self.length:
            return b""
        size = self.u32(st)
        if size < 4 or st + size > self.length:
            raise FormatError("string table extends past end of file", st, size, what="string table")
        return self.read(st, size, "string table")

    def _strtab_name(self, off: int) -> str | None:
        if off < 4 or off >= len(self._strtab):
            return None
        j = self._strtab.find(b"\0", off)
        return self._strtab[off : j if j >= 0 else len(self._strtab)].decode("utf-8", "replace")

    # -- sections ---------------------------------------------------------------------------------
    def raw_sections(self) -> list[RawSection]:
        out: list[RawSection] = []
        for i in range(self.nsections):
            raw = self.read(
                self.section_table_offset + i * C.SECTION_HEADER_SIZE, C.SECTION_HEADER_SIZE, "section header"
            )
            name_b, vsize, va, rawsize, rawptr, _rel, _ln, _nrel, _nln, chars = struct.unpack(
                "<8sIIIIIIHHI", raw
            )
            out.append(RawSection(self._section_name(name_b), name_b, vsize, va, rawsize, rawptr, chars))
        return out

    def _section_name(self, name_b: bytes) -> str:
        name = name_b.split(b"\0", 1)[0].decode("utf-8", "replace")
        if name.startswith("//"):  # object files: base64 offset
            try:
                off = int.from_bytes(base64.b64decode(name[2:] + "=" * (-len(name[2:]) % 4)), "big")
            except (binascii.Error, ValueError):
                return name
            return self._strtab_name(off) or name
        if name.startswith("/") and name[1:].isdigit():
            return self._strtab_name(int(name[1:])) or name
        return name

    def _load_sections(self) -> list[Section]:
        out: list[Section] = []
        for i, r in enumerate(self.raw_sections()):
            ch = r.characteristics
            size = r.virtual_size or r.size_of_raw_data
            no_data = r.pointer_to_raw_data == 0 or (
                ch & C.IMAGE_SCN_CNT_UNINITIALIZED_DATA and r.size_of_raw_data == 0
            )
            file_size = 0 if no_data else min(r.size_of_raw_data, size)
            out.append(
                Section(
                    index=i,
                    name=r.name,
                    addr=(self.image_base + r.virtual_address) if self.optional_magic else r.virtual_address,
                    offset=r.pointer_to_raw_data,
                    size=size,
                    file_size=file_size,
                    alloc=not ch & C.IMAGE_SCN_MEM_DISCARDABLE,
                    write=bool(ch & C.IMAGE_SCN_MEM_WRITE),
                    execute=bool(ch & (C.IMAGE_SCN_MEM_EXECUTE | C.IMAGE_SCN_CNT_CODE)),
                    compressed=r.name.startswith(".zdebug"),
                    raw_type=0,
                    raw_flags=ch,
                )
            )
        return out

    def _load_segments(self) -> list[Segment]:
        if not self.optional_magic:
            return []
        return [
            Segment(
                index=s.index,
                vaddr=s.addr,
                memsz=s.size,
                offset=s.offset,
                filesz=s.file_size,
                read=bool(s.raw_flags & C.IMAGE_SCN_MEM_READ),
                write=s.write,
                execute=s.execute,
                load=True,
                name=s.name,
                raw_type=0,
            )
            for s in self.sections()
        ]

    def data_directory(self, index: int) -> DataDirectory | None:
        for d in self.data_directories:
            if d.index == index:
                return d if d.rva or d.size else None
        return None

    # -- symbols ----------------------------------------------------------------------------------
    def _load_symbols(self) -> list[Symbol]:
        if self.symtab_offset == 0 or self.nsyms == 0:
            return []
        arr = np.frombuffer(
            self.view(self.symtab_offset, self.nsyms * C.SYMBOL_SIZE, "COFF symbol table"),
            dtype=np.dtype(
                [
                    ("name", "S8"),
                    ("value", "<u4"),
                    ("sect", "<i2"),
                    ("type", "<u2"),
                    ("cls", "u1"),
                    ("naux", "u1"),
                ]
            ),
        )
        raw_names = self.view(self.symtab_offset, self.nsyms * C.SYMBOL_SIZE)
        secs = self.sections()
        values = arr["value"].tolist()
        sects = arr["sect"].tolist()
        types = arr["type"].tolist()
        classes = arr["cls"].tolist()
        nauxs = arr["naux"].tolist()
        rows: list[tuple[str, int, int | None, str, bool]] = []
        i = 0
        n = self.nsyms
        while i < n:
            p = i * C.SYMBOL_SIZE
            nb = bytes(raw_names[p : p + 8])
            if nb[:4] == b"\0\0\0\0":
                name = self._strtab_name(int.from_bytes(nb[4:], "little")) or ""
            else:
                name = nb.split(b"\0", 1)[0].decode("utf-8", "replace")
            sn, cls, typ = sects[i], classes[i], types[i]
            value = values[i]
            sec_idx: int | None = None
            kind = "other"
            if cls == C.IMAGE_SYM_CLASS_FILE:
                kind = "file"
            elif cls == C.IMAGE_SYM_CLASS_SECTION or (
                # section definition: a static symbol named after its section, with an aux record
                cls == C.IMAGE_SYM_CLASS_STATIC
                and nauxs[i]
                and value == 0
                and 0 < sn <= len(secs)
                and secs[sn - 1].name == name
            ):
                kind = "section"
            if 0 < sn <= len(secs):
                sec_idx = sn - 1
                value += secs[sec_idx].addr
                if kind == "other":
                    is_func = (typ >> 4) & 0xF == C.IMAGE_SYM_DTYPE_FUNCTION or secs[sec_idx].execute
                    kind = "func" if is_func else "object"
            rows.append((name, value, sec_idx, kind, cls == C.IMAGE_SYM_CLASS_EXTERNAL))
            i += 1 + nauxs[i]
        # sizes: distance to the next higher address in the same section (COFF stores none)
        sizes = symbol_sizes(
            [(r[2], r[1], k) for k, r in enumerate(rows) if r[2] is not None and r[3] in ("func", "object")],
            {k: s.end for k, s in enumerate(secs)},
        )
        return [
            Symbol(name=r[0], value=r[1], size=sizes.get(k, 0), kind=r[3], section_index=r[2], global_=r[4])  # type: ignore[arg-type]
            for k, r in enumerate(rows)
        ]

    def symbol_go(self, name: str) -> Symbol | None:
        """A symbol by its Go name (a few Go symbols carry a C-style leading underscore on PE)."""
        return self.symbol(name) or self.symbol("_" + name)
