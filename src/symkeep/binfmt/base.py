"""The container-neutral view of an executable that every upper layer uses.

ELF, Mach-O and PE readers subclass :class:`Binary`. Everything is lazy over an ``mmap``: opening a
file reads headers only; sections, symbols and notes are parsed on first use and cached.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import stat
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Literal

from symkeep.errors import FormatError, InputError
from symkeep.fsio import check_input_file

if TYPE_CHECKING:  # numpy is imported lazily (CLI start-up)
    import numpy as np
    import numpy.typing as npt

Format = Literal["elf", "macho", "pe"]
Endian = Literal["little", "big"]
Kind = Literal["exe", "pie", "shared", "object", "core", "debug", "unknown"]


@dataclass(frozen=True)
class Section:
    """One section. ``addr`` is the link-time virtual address (0 when not loaded)."""

    index: int
    name: str
    addr: int
    offset: int  # file offset of the section's bytes
    size: int  # size in memory
    file_size: int  # bytes present in the file (0 for NOBITS / zerofill)
    alloc: bool = True
    write: bool = False
    execute: bool = False
    compressed: bool = False  # ELF SHF_COMPRESSED or a .zdebug_* section
    segment: str = ""  # Mach-O segment name (__TEXT, __DATA_CONST, ...)
    raw_type: int = 0
    raw_flags: int = 0

    @property
    def end(self) -> int:
        return self.addr + self.size


@dataclass(frozen=True)
class Segment:
    """A loadable (or other) segment / program header."""

    index: int
    vaddr: int
    memsz: int
    offset: int
    filesz: int
    read: bool = True
    write: bool = False
    execute: bool = False
    load: bool = True  # PT_LOAD (ELF), every segment for Mach-O, every section for PE
    name: str = ""
    raw_type: int = 0


@dataclass(frozen=True)
class Symbol:
    name: str
    value: int
    size: int = 0
    kind: Literal["func", "object", "section", "file", "other"] = "other"
    section_index: int | None = None  # None: undefined / absolute
    global_: bool = True


@dataclass(frozen=True)
class Note:
    owner: str
    type: int
    desc: bytes
    section: str = ""  # section name where it was found ("" when found via PT_NOTE only)


@dataclass
class FatSlice:
    """One architecture inside a Mach-O universal file."""

    arch: str
    offset: int
    size: int


class Binary:
    """Base class: byte access, address translation and lazily parsed tables.

    Subclasses must set the identity attributes in ``__init__`` and implement the ``_load_*``
    methods. All reads are bounds-checked and raise :class:`FormatError` naming the offset.
    """

    format: Format
    arch: str  # GOARCH spelling: amd64, 386, arm64, arm, s390x, ppc64le, ppc64, riscv64, mips64le, ...
    bits: int  # 32 or 64
    byteorder: Endian
    kind: Kind
    machine: int  # raw machine / cputype number
    entry: int
    image_base: int  # PE ImageBase, Mach-O __TEXT vmaddr, lowest ELF PT_LOAD vaddr

    def __init__(self, path: str, data: mmap.mmap | bytes, base: int = 0, length: int | None = None) -> None:
        self.path = path
        self._buf = data
        self._mv = memoryview(data)
        self.base = base  # offset of this image inside the file (fat Mach-O slices)
        self.length = (len(data) - base) if length is None else length
        self.data = self._mv[base : base + self.length]
        self.fat_slices: list[FatSlice] = []
        e = "<" if getattr(self, "byteorder", "little") == "little" else ">"
        self._e = e

    # -- identity ---------------------------------------------------------------------------------
    @property
    def ptr_size(self) -> int:
        return self.bits // 8

    @property
    def endian_prefix(self) -> str:
        return "<" if self.byteorder == "little" else ">"

    @property
    def has_section_headers(self) -> bool:
        return bool(self.sections())

    # -- raw byte access --------------------------------------------------------------------------
    def read(self, offset: int, n: int, what: str = "") -> bytes:
        if offset < 0 or n < 0 or offset + n > self.length:
            raise FormatError(f"read of {n} bytes past end of file (size {self.length:#x})", offset, what=what)
        return bytes(self.data[offset : offset + n])

    def view(self, offset: int, n: int, what: str = "") -> memoryview:
        """Zero-copy slice of the file; use for big tables (numpy.frombuffer)."""
        if offset < 0 or n < 0 or offset + n > self.length:
            raise FormatError(f"range of {n} bytes past end of file (size {self.length:#x})", offset, what=what)
        return self.data[offset : offset + n]

    def unpack(self, fmt: str, offset: int, what: str = "") -> tuple[int, ...]:
        size = struct.calcsize(self.endian_prefix + fmt)
        return struct.unpack(self.endian_prefix + fmt, self.read(offset, size, what))

    def u8(self, off: int) -> int:
        return self.unpack("B", off)[0]

    def u16(self, off: int) -> int:
        return self.unpack("H", off)[0]

    def u32(self, off: int) -> int:
        return self.unpack("I", off)[0]

    def u64(self, off: int) -> int:
        return self.unpack("Q", off)[0]

    def word(self, off: int) -> int:
        return self.u64(off) if self.bits == 64 else self.u32(off)

    # -- tables (lazy) ----------------------------------------------------------------------------
    def sections(self) -> list[Section]:
        return self._sections

    @cached_property
    def _sections(self) -> list[Section]:
        return self._load_sections()

    def section(self, name: str) -> Section | None:
        return self._section_map.get(name)

    @cached_property
    def _section_map(self) -> dict[str, Section]:
        m: dict[str, Section] = {}
        for s in self.sections():
            m.setdefault(s.name, s)
        return m

    def section_data(self, sec: Section) -> memoryview:
        """Raw bytes of a section as stored in the file (not decompressed)."""
        if sec.file_size == 0:
            return memoryview(b"")
        return self.view(sec.offset, sec.file_size, what=f"section {sec.name}")

    def segments(self) -> list[Segment]:
        return self._segments

    @cached_property
    def _segments(self) -> list[Segment]:
        return self._load_segments()

    def symbols(self) -> list[Symbol]:
        return self._symbols

    @cached_property
    def _symbols(self) -> list[Symbol]:
        return self._load_symbols()

    def symbol(self, name: str) -> Symbol | None:
        return self._symbol_map.get(name)

    def symbol_go(self, name: str) -> Symbol | None:
        """A symbol by its Go name (``runtime.text``); Mach-O (and some PE) spell it ``_runtime.text``."""
        return self.symbol(name)

    @cached_property
    def _symbol_map(self) -> dict[str, Symbol]:
        m: dict[str, Symbol] = {}
        for s in self.symbols():
            m.setdefault(s.name, s)
        return m

    def notes(self) -> list[Note]:
        return self._notes

    @cached_property
    def _notes(self) -> list[Note]:
        return self._load_notes()

    def _load_sections(self) -> list[Section]:
        raise NotImplementedError

    def _load_segments(self) -> list[Segment]:
        raise NotImplementedError

    def _load_symbols(self) -> list[Symbol]:
        return []

    def _load_notes(self) -> list[Note]:
        return []

    # -- address translation ----------------------------------------------------------------------
    def vaddr_to_offset(self, addr: int) -> int | None:
        """File offset holding the byte at link-time virtual address ``addr``, or None."""
        for seg in self.segments():
            if seg.load and seg.vaddr <= addr < seg.vaddr + seg.filesz:
                return seg.offset + (addr - seg.vaddr)
        for sec in self.sections():
            if sec.alloc and sec.file_size and sec.addr <= addr < sec.addr + sec.file_size:
                return sec.offset + (addr - sec.addr)
        return None

    def vaddrs_to_offsets(self, addrs: npt.NDArray[np.int64]) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
        """Vectorized :meth:`vaddr_to_offset`: (file offsets, found) with the same precedence
        (segments first, then sections); offsets are 0 where not found."""
        import numpy as np

        off = np.zeros(len(addrs), dtype=np.int64)
        found = np.zeros(len(addrs), dtype=np.bool_)
        spans = [(s.vaddr, s.filesz, s.offset) for s in self.segments() if s.load]
        spans += [(s.addr, s.file_size, s.offset) for s in self.sections() if s.alloc and s.file_size]
        for vaddr, size, foff in spans:
            m = ~found & (addrs >= vaddr) & (addrs < vaddr + size)
            off[m] = addrs[m] - vaddr + foff
            found |= m
        return off, found

    def offset_to_vaddr(self, offset: int) -> int | None:
        for seg in self.segments():
            if seg.load and seg.offset <= offset < seg.offset + seg.filesz:
                return seg.vaddr + (offset - seg.offset)
        return None

    def offsets_to_vaddrs(self, offs: npt.NDArray[np.uint64]) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.bool_]]:
        """Vectorized :meth:`offset_to_vaddr`: (link-time addresses, found), same rule (the first
        loadable segment whose file bytes hold the offset); addresses are 0 where not found."""
        import numpy as np

        top = (1 << 64) - 1
        out = np.zeros(len(offs), dtype=np.uint64)
        found = np.zeros(len(offs), dtype=np.bool_)
        for seg in self.segments():
            if not seg.load or seg.filesz <= 0 or seg.offset > top:
                continue
            lo, hi = np.uint64(seg.offset), np.uint64(min(seg.offset + seg.filesz, top))
            m = ~found & (offs >= lo) & (offs < hi)
            out[m] = offs[m] - lo + np.uint64(seg.vaddr & top)
            found |= m
        return out, found

    def read_vaddr(self, addr: int, n: int, what: str = "") -> bytes:
        off = self.vaddr_to_offset(addr)
        if off is None:
            raise FormatError("virtual address not backed by file data", addr, what=what)
        return self.read(off, n, what)

    def read_pointer(self, addr: int) -> int:
        """Pointer-sized value at ``addr``; Mach-O overrides this to decode chained fixups."""
        off = self.vaddr_to_offset(addr)
        if off is None:
            raise FormatError("pointer address not backed by file data", addr)
        return self.word(off)

    def fixup_pointers(self, start: int = 0, end: int | None = None) -> dict[int, int]:
        """Pointer words in [start, end) the loader rewrites, as {vaddr: decoded value} (Mach-O chained
        fixups); {} for formats whose stored pointers are already the link-time values."""
        return {}

    def iter_loaded_ranges(self, *, writable: bool | None = None, executable: bool | None = None) -> Iterator[Segment]:
        for seg in self.segments():
            if not seg.load:
                continue
            if writable is not None and seg.write != writable:
                continue
            if executable is not None and seg.execute != executable:
                continue
            yield seg

    def close(self) -> None:
        try:
            self.data.release()
            self._mv.release()
        except Exception:  # noqa: BLE001 - views may still be exported; mmap closes on GC
            pass
        if isinstance(self._buf, mmap.mmap):
            with contextlib.suppress(BufferError):
                self._buf.close()

    def __enter__(self) -> Binary:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass
class OpenedFile:
    path: str
    data: mmap.mmap | bytes
    size: int = field(default=0)


def map_file(path: str | os.PathLike[str]) -> OpenedFile:
    """mmap a file read-only with friendly errors for the usual mistakes.

    Only regular files: a FIFO, device or directory is refused (InputError, exit 3) before it is
    opened, so nothing blocks on a FIFO without a writer or reads a device forever."""
    p = os.fspath(check_input_file(path))
    try:
        fd = os.open(p, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except PermissionError as e:
        raise InputError(f"{p}: permission denied") from e
    except OSError as e:
        raise InputError(f"{p}: {e.strerror}") from e
    if not stat.S_ISREG(os.fstat(fd).st_mode):  # replaced between the check and the open
        os.close(fd)
        raise InputError(f"{p}: not a regular file")
    try:
        size = os.fstat(fd).st_size
        if size == 0:
            return OpenedFile(p, b"", 0)
        try:
            mm = mmap.mmap(fd, 0, access=mmap.ACCESS_READ)
        except (OSError, ValueError) as e:
            raise InputError(f"{p}: cannot map file: {e}") from e
        return OpenedFile(p, mm, size)
    finally:
        os.close(fd)
