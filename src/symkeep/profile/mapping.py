"""Runtime address -> link-time address, following google/pprof's rules (``elfexec.GetBase``).

A profile mapping says: bytes of file ``F`` starting at file offset ``offset`` were mapped at
``[start, limit)``. So runtime address ``a`` is file offset ``a - start + offset``, and the program
header (PT_LOAD) that holds that file offset turns it into the link-time address the symbol tables
use: ``off - seg.offset + seg.vaddr``. This covers PIE/ASLR (any load bias), non-PIE executables
(bias 0) and shared objects alike. Kernel, vdso and anonymous mappings have no file to read: they
are classified and left alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from symkeep.binfmt.base import Segment

__all__ = ["MappingClass", "Translator", "classify_mapping", "KERNEL_ADDR_MIN"]

MappingClass = Literal["file", "kernel", "vdso", "anon", "special"]

# Addresses at or above this are kernel space on every 64-bit Linux layout (x86-64 and arm64).
KERNEL_ADDR_MIN = 0xFFFF_8000_0000_0000


def classify_mapping(filename: str, start: int = 0) -> MappingClass:
    """What kind of thing a mapping is, from its name (the /proc/PID/maps / perf conventions)."""
    f = filename.strip()
    low = f.lower()
    if low.startswith("[kernel") or low.startswith("[k]") or low.endswith(".ko") or "/lib/modules/" in low:
        return "kernel"
    if start >= KERNEL_ADDR_MIN:
        return "kernel"
    if low in ("[vdso]", "[vsyscall]", "[vvar]", "linux-vdso.so.1", "linux-gate.so.1") or low.startswith("[vdso"):
        return "vdso"
    if not f or low in ("//anon", "[anon]", "[heap]", "[stack]", "[unknown]") or low.startswith(
        ("//anon", "[anon:", "[stack:", "/anon_hugepage", "/dev/zero", "/memfd:", "anon_inode:")
    ):
        return "anon"
    if f.startswith("[") and f.endswith("]"):
        return "special"
    return "file"


@dataclass(frozen=True)
class _Seg:
    vaddr: int
    offset: int
    filesz: int
    memsz: int
    execute: bool


class Translator:
    """Maps runtime addresses of one profile mapping to link-time addresses of one binary.

    ``start == limit == 0`` (or no mapping at all) means addresses already are link-time addresses
    (perf samples of non-PIE executables, hex folded stacks).
    """

    def __init__(self, segments: Sequence[Segment], start: int = 0, limit: int = 0, offset: int = 0) -> None:
        self.start = start
        self.limit = limit
        self.offset = offset
        self.segs = [
            _Seg(s.vaddr, s.offset, s.filesz, s.memsz, s.execute) for s in segments if s.load and s.memsz > 0
        ]
        self.identity = start == 0 and limit == 0 and offset == 0
        self.bias: int | None = 0 if self.identity else None
        self._seg: _Seg | None = None
        if not self.identity:
            seg = self._segment_for_mapping()
            if seg is not None:
                # The mapping comes from this segment: one constant bias for its addresses.
                self._seg = seg
                self.bias = start - offset + seg.offset - seg.vaddr

    def _segment_for_mapping(self) -> _Seg | None:
        """The PT_LOAD this mapping was created from: its file range contains the mapping's offset.

        Several segments can share a page at their boundaries; prefer the executable one (profiles
        record text mappings), then the one whose page-aligned offset equals the mapping offset.
        """
        cands = [s for s in self.segs if s.offset - (s.offset & 0xFFF) <= self.offset < s.offset + max(s.filesz, 1)]
        if not cands:
            return None
        size = self.limit - self.start if self.limit > self.start else 0
        inside = [s for s in cands if size == 0 or self.offset + size <= _page_up(s.offset + s.filesz) + 0x1000]
        pool = inside or cands
        pool.sort(key=lambda s: (not s.execute, abs((s.offset & ~0xFFF) - self.offset)))
        return pool[0]

    def to_link(self, addr: int) -> int | None:
        """Link-time address for runtime ``addr``, or None when it lies outside the mapping/file."""
        if self.identity:
            return addr
        if self.limit > self.start and not (self.start <= addr < self.limit):
            return None
        off = addr - self.start + self.offset
        seg = self._seg
        if seg is not None and self.bias is not None and seg.offset <= off < seg.offset + max(seg.filesz, seg.memsz):
            return addr - self.bias
        for s in self.segs:
            if s.offset <= off < s.offset + s.filesz:
                return off - s.offset + s.vaddr
        return None

    def to_link_many(self, addrs: npt.NDArray[np.uint64]) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.bool_]]:
        """Vectorized :meth:`to_link`: (link-time addresses, ok mask); entries where ok is False are 0.

        Same rules, same order of preference (the mapping's own segment first, then the first segment
        whose file range holds the offset), without a Python call per address."""
        a = np.asarray(addrs, dtype=np.uint64)
        n = len(a)
        if self.identity:
            return a.copy(), np.ones(n, dtype=np.bool_)
        size = self.limit - self.start
        if size <= 0 or self.offset + size >= 1 << 64:
            # No usable range (offsets may go below the mapping start): rare, keep the scalar rules.
            got = [self.to_link(x) for x in a.tolist()]
            ok = np.fromiter((x is not None for x in got), dtype=np.bool_, count=n)
            return np.fromiter((x or 0 for x in got), dtype=np.uint64, count=n), ok
        inr = (a >= np.uint64(self.start)) & (a < np.uint64(self.limit))
        # In range, so a - start + offset is exact in uint64 (checked above).
        off = np.where(inr, a - np.uint64(self.start), np.uint64(0)) + np.uint64(self.offset)
        link = np.zeros(n, dtype=np.uint64)
        done = np.zeros(n, dtype=np.bool_)
        seg = self._seg
        if seg is not None and self.bias is not None:
            m = inr & (off >= np.uint64(seg.offset)) & (off < np.uint64(seg.offset + max(seg.filesz, seg.memsz)))
            # addr - bias = off - seg.offset + seg.vaddr >= 0: modular uint64 arithmetic is exact.
            link[m] = a[m] - np.uint64(self.bias % (1 << 64))
            done |= m
        for s in self.segs:
            if s.filesz <= 0:
                continue
            m = inr & ~done & (off >= np.uint64(s.offset)) & (off < np.uint64(s.offset + s.filesz))
            if m.any():
                link[m] = off[m] - np.uint64(s.offset) + np.uint64(s.vaddr)
                done |= m
        return link, done

    def file_offset_to_link(self, off: int) -> int | None:
        """Link-time address of a file offset (``module+0xOFF`` frames)."""
        best: _Seg | None = None
        for s in self.segs:
            if s.offset <= off < s.offset + s.filesz and (best is None or (s.execute and not best.execute)):
                best = s
        return None if best is None else off - best.offset + best.vaddr


def _page_up(x: int) -> int:
    return (x + 0xFFF) & ~0xFFF
