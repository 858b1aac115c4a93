"""Runtime address -> link-time address for a profile mapping (google/pprof's ``elfexec.GetBase``).

A profile mapping says: bytes of file ``F`` starting at file offset ``offset`` were mapped at
``[start, limit)``. So runtime address ``a`` is file offset ``a - start + offset`` (the one fact this
module owns); the binary's own rule (:meth:`symkeep.binfmt.base.Binary.offset_to_vaddr`: the
loadable segment whose file bytes hold that offset) turns the offset into the link-time address the
symbol tables use. This covers PIE/ASLR (any load bias), non-PIE executables and shared objects.
Kernel, vdso and anonymous mappings have no file to read: they are classified and left alone.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import numpy.typing as npt

from symkeep.binfmt.base import Binary
from symkeep.profile.limits import UINT64_MAX

__all__ = ["MappingClass", "Translator", "classify_mapping", "KERNEL_ADDR_MIN"]

MappingClass = Literal["file", "kernel", "vdso", "anon", "special"]

# Addresses at or above this are kernel space on every 64-bit Linux layout (x86-64 and arm64).
KERNEL_ADDR_MIN = 0xFFFF_8000_0000_0000


def classify_mapping(filename: str, start: int = 0) -> MappingClass:
    """What kind of thing a mapping is, from its name (the /proc/PID/maps / perf conventions), or
    from its address when it has no name. perf's ``[unknown]`` (e.g. the all-ones address it prints
    for a frame it could not unwind) is an unknown frame, not a kernel one."""
    f = filename.strip()
    low = f.lower()
    if low.startswith("[kernel") or low.startswith("[k]") or low.endswith(".ko") or "/lib/modules/" in low:
        return "kernel"
    if low in ("[vdso]", "[vsyscall]", "[vvar]", "linux-vdso.so.1", "linux-gate.so.1") or low.startswith("[vdso"):
        return "vdso"
    if low in ("//anon", "[anon]", "[heap]", "[stack]", "[unknown]") or low.startswith(
        ("//anon", "[anon:", "[stack:", "/anon_hugepage", "/dev/zero", "/memfd:", "anon_inode:")
    ):
        return "anon"
    if start >= KERNEL_ADDR_MIN:
        return "kernel"
    if not f:
        return "anon"
    if f.startswith("[") and f.endswith("]"):
        return "special"
    return "file"


class Translator:
    """Maps runtime addresses of one profile mapping to link-time addresses of one binary.

    ``start == limit == 0`` (and offset 0) means addresses already are link-time addresses (perf
    samples of non-PIE executables, hex folded stacks). ``limit <= start`` otherwise: no upper
    bound (offsets below the start still fail)."""

    def __init__(self, binary: Binary, start: int = 0, limit: int = 0, offset: int = 0) -> None:
        self.binary = binary
        self.start = start
        self.limit = limit
        self.offset = offset
        self.identity = start == 0 and limit == 0 and offset == 0

    def file_offset(self, addr: int) -> int | None:
        """The file offset runtime ``addr`` was loaded from, or None outside the mapping."""
        if self.limit > self.start and not (self.start <= addr < self.limit):
            return None
        off = addr - self.start + self.offset
        return off if 0 <= off <= UINT64_MAX else None

    def to_link(self, addr: int) -> int | None:
        """Link-time address for runtime ``addr``, or None when it lies outside the mapping/file."""
        if self.identity:
            return addr
        off = self.file_offset(addr)
        return None if off is None else self.binary.offset_to_vaddr(off)

    def to_link_many(self, addrs: npt.NDArray[np.uint64]) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.bool_]]:
        """Vectorized :meth:`to_link`: (link-time addresses, ok mask); entries where ok is False are 0."""
        a = np.asarray(addrs, dtype=np.uint64)
        if self.identity:
            return a.copy(), np.ones(len(a), dtype=np.bool_)
        start = np.uint64(self.start)
        inr = a >= start
        if self.limit > self.start:
            inr &= a < np.uint64(self.limit)
        # a - start + offset must stay below 2^64: a - start <= UINT64_MAX - offset.
        delta = np.where(inr, a - start, np.uint64(0))
        inr &= delta <= np.uint64(UINT64_MAX - self.offset)
        offs = np.where(inr, delta + np.uint64(self.offset), np.uint64(0))
        link, found = self.binary.offsets_to_vaddrs(offs)
        ok = inr & found
        link[~ok] = 0
        return link, ok

    def file_offset_to_link(self, off: int) -> int | None:
        """Link-time address of a file offset (``module+0xOFF`` frames)."""
        return self.binary.offset_to_vaddr(off)
