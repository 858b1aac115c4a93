"""Inline trees: FUNCDATA_InlTree records and PCDATA_InlTreeIndex.

Two record layouts exist, defined once in ``golang.pcln_constants`` (``INLINE_116``: 20 bytes,
Go 1.12-1.19; ``INLINE_120``: 16 bytes, Go 1.20+). Only ``name``, ``parentPc``, ``funcID`` and (1.20+) ``startLine`` are used: the walk
(like runtime.inlineUnwinder) takes the frame's file:line from pcfile/pcln at the current pc, then moves
to ``entry + parentPc`` and looks the inline index up again.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING, NamedTuple

from symkeep.binfmt.base import Binary
from symkeep.errors import FormatError
from symkeep.golang.pcln_constants import INLINE_116, INLINE_120

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

__all__ = ["InlinedCall", "InlineTree", "InlineRecords"]


class InlinedCall(NamedTuple):
    """One inline tree record (a NamedTuple: cheap to build, thousands per large binary)."""

    func_id: int
    name_off: int
    parent_pc: int
    start_line: int  # 0 before Go 1.20
    call_line: int = 0  # line of the call site, recorded only before Go 1.20 (20-byte layout)
    call_file: int = -1  # file index of the call site, recorded only before Go 1.20


class InlineTree:
    """Lazy reader of one function's inline tree at link-time address ``addr``."""

    def __init__(self, bin: Binary, addr: int, new_layout: bool, pcln_vaddr: int = 0, pcln_data: bytes = b""):
        self.bin = bin
        self.addr = addr
        self.layout = INLINE_120 if new_layout else INLINE_116
        self.rec = self.layout.size
        self.new = new_layout
        self._e = bin.endian_prefix
        self._cache: dict[int, InlinedCall | None] = {}
        self._pv = pcln_vaddr
        self._pd = pcln_data

    def _read(self, addr: int, n: int) -> bytes:
        # Go 1.26+ puts funcdata inside the pclntab, which we already hold in memory.
        if self._pd and self._pv <= addr and addr + n <= self._pv + len(self._pd):
            o = addr - self._pv
            return self._pd[o : o + n]
        return self.bin.read_vaddr(addr, n, what="inline tree")

    def get(self, index: int) -> InlinedCall | None:
        """Record ``index``, or None if it cannot be read (hostile index or truncated data)."""
        if index < 0 or index > 1 << 24:
            return None
        if index in self._cache:
            return self._cache[index]
        rec: InlinedCall | None
        try:
            raw = self._read(self.addr + index * self.rec, self.rec)
            lay, e = self.layout, self._e
            fid = raw[lay.func_id]
            name, ppc = struct.unpack_from(e + "i", raw, lay.name)[0], struct.unpack_from(e + "i", raw, lay.parent_pc)[0]
            if lay.start_line is not None:
                rec = InlinedCall(fid, name, ppc, struct.unpack_from(e + "i", raw, lay.start_line)[0])
            else:
                assert lay.call_line is not None and lay.call_file is not None
                line, file = (struct.unpack_from(e + "i", raw, o)[0] for o in (lay.call_line, lay.call_file))
                rec = InlinedCall(fid, name, ppc, 0, line, file)
        except (FormatError, struct.error, IndexError):
            rec = None
        self._cache[index] = rec
        return rec


class InlineRecords:
    """Vectorized :meth:`InlineTree.get` over many (tree address, index) pairs at once.

    Reads the same bytes with the same rules (records inside the pclntab first, Go 1.26+; elsewhere
    through the file-backed address ranges), gathered with one numpy fancy index per field."""

    def __init__(self, bin: Binary, new_layout: bool, pcln_vaddr: int, pcln_size: int, pcln_file_offset: int):
        import numpy as np

        self.bin = bin
        self.layout = INLINE_120 if new_layout else INLINE_116
        self.rec = self.layout.size
        self.new = new_layout
        self._pv, self._pn, self._po = pcln_vaddr, pcln_size, pcln_file_offset
        self._u8 = np.frombuffer(bin.data, dtype=np.uint8)
        self._dt = np.dtype(">i4" if bin.byteorder == "big" else "<i4")

    def read(self, addr: npt.NDArray[np.int64], index: npt.NDArray[np.int64]) -> tuple[
        npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.bool_]
    ]:
        """(name_off, parent_pc, start_line, ok) of record ``index[k]`` of the tree at ``addr[k]``;
        ``ok`` is False where :meth:`InlineTree.get` returns None (values are 0 there)."""
        import numpy as np

        n = len(addr)
        rec = self.rec
        good = (index >= 0) & (index <= 1 << 24) & (addr >= 0)
        a = addr + np.where(good, index, 0) * rec
        in_pcln = good & (a >= self._pv) & (a + rec <= self._pv + self._pn) if self._pn else np.zeros(n, np.bool_)
        foff, found = self.bin.vaddrs_to_offsets(a)
        foff = np.where(in_pcln, a - self._pv + self._po, foff)
        ok = good & (in_pcln | found) & (foff >= 0) & (foff + rec <= len(self._u8))
        z = np.zeros(n, dtype=np.int64)
        if not bool(ok.any()):
            return z, z, z, ok
        o = np.where(ok, foff, 0)
        u8, dt = self._u8, self._dt

        def i32(at: int) -> npt.NDArray[np.int64]:
            raw = u8[o[:, None] + (at + np.arange(4))]
            v = np.ascontiguousarray(raw).view(dt).reshape(-1).astype(np.int64)
            return np.where(ok, v, 0)

        lay = self.layout
        return i32(lay.name), i32(lay.parent_pc), (i32(lay.start_line) if lay.start_line is not None else z), ok
