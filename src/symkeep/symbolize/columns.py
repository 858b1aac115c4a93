"""ChainColumns: many frame chains as parallel numpy columns instead of Frame objects.

Bulk consumers (addr2line text, pprof Line[] records, full-table decodes) format hundreds of
thousands of distinct chains; building one Frame object per frame costs more than the decoding.
Columns keep one row per frame, with names and files as indices into small string lists.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from symkeep.symbolize.frames import Frame

__all__ = ["ChainColumns"]

I64 = npt.NDArray[np.int64]


@dataclass(slots=True)
class ChainColumns:
    """Chain ``c`` is rows ``off[c]:off[c + 1]``, innermost first; an empty chain is unknown.

    Row columns: ``name`` (index into ``names``), ``file`` (index into ``files``; the file ``"?"`` is
    unknown), ``line`` (-1 or 0 when unknown), ``start_line`` (0 before Go 1.20) and ``inlined``
    (True for every row of a chain but its last)."""

    off: I64
    name: I64
    file: I64
    line: I64
    start_line: I64
    inlined: npt.NDArray[np.bool_]
    names: list[str]
    files: list[str]

    def __len__(self) -> int:
        return len(self.off) - 1

    @property
    def nrows(self) -> int:
        return int(self.off[-1]) if len(self.off) else 0

    def chain(self, c: int) -> tuple[Frame, ...]:
        """Chain ``c`` as Frame objects (for callers that want objects; not interned)."""
        a, b = int(self.off[c]), int(self.off[c + 1])
        return tuple(
            Frame(self.names[n], self.files[f], ln, sl, inl)
            for n, f, ln, sl, inl in zip(
                self.name[a:b].tolist(), self.file[a:b].tolist(), self.line[a:b].tolist(),
                self.start_line[a:b].tolist(), self.inlined[a:b].tolist(), strict=True,
            )
        )

    def take(self, chains: I64) -> ChainColumns:
        """The chains ``chains`` (in that order) as columns of their own, with only the names and
        files they use (consumers may format every name of ``names`` once per call)."""
        off = self.off
        lens = off[chains + 1] - off[chains]
        noff = np.zeros(len(chains) + 1, dtype=np.int64)
        np.cumsum(lens, out=noff[1:])
        total = int(noff[-1])
        rows = np.repeat(off[chains] - noff[:-1], lens) + np.arange(total, dtype=np.int64)
        name, names = _compact(self.name[rows], self.names)
        file, files = _compact(self.file[rows], self.files)
        return ChainColumns(noff, name, file, self.line[rows], self.start_line[rows], self.inlined[rows], names, files)

    @property
    def nbytes(self) -> int:
        """Bytes of the arrays plus an estimate for the strings."""
        arrays = (self.off, self.name, self.file, self.line, self.start_line, self.inlined)
        return sum(int(a.nbytes) for a in arrays) + sum(60 + len(x) for x in self.names) + sum(
            60 + len(x) for x in self.files)

    @classmethod
    def from_chains(cls, chains: Sequence[tuple[Frame, ...]]) -> ChainColumns:
        """Columns of Frame chains (the per-function lookup path's answers)."""
        name_ix: dict[str, int] = {}
        file_ix: dict[str, int] = {}
        off = [0]
        nm: list[int] = []
        fl: list[int] = []
        ln: list[int] = []
        sl: list[int] = []
        il: list[bool] = []
        for ch in chains:
            for f in ch:
                nm.append(name_ix.setdefault(f.function, len(name_ix)))
                fl.append(file_ix.setdefault(f.file, len(file_ix)))
                ln.append(f.line)
                sl.append(f.start_line)
                il.append(f.inlined)
            off.append(len(nm))
        return cls(
            np.array(off, dtype=np.int64), np.array(nm, dtype=np.int64), np.array(fl, dtype=np.int64),
            np.array(ln, dtype=np.int64), np.array(sl, dtype=np.int64), np.array(il, dtype=np.bool_),
            list(name_ix), list(file_ix),
        )

    @classmethod
    def empty(cls) -> ChainColumns:
        z = np.zeros(0, dtype=np.int64)
        return cls(np.zeros(1, dtype=np.int64), z, z, z, z, np.zeros(0, dtype=np.bool_), [], [])


def _compact(ix: I64, strings: list[str]) -> tuple[I64, list[str]]:
    """Indices into ``strings`` renumbered to the strings they use (a presence table: no sort)."""
    present = np.zeros(len(strings), dtype=np.bool_)
    present[ix] = True
    rank = np.cumsum(present, dtype=np.int64) - 1
    return rank[ix], [strings[i] for i in np.flatnonzero(present).tolist()]


@dataclass(slots=True)
class RangeTable:
    """Every PC range of a binary with its chain: range ``k`` is ``[starts[k], starts[k + 1])``
    (the last one ends at ``end``) and has chain ``chain[k]`` of ``cols`` (-1: unknown, e.g. padding).
    Adjacent ranges may share a chain. What a whole-binary decode (restore, indexes) consumes."""

    starts: npt.NDArray[np.uint64]
    chain: I64
    end: int
    cols: ChainColumns

    def lookup(self, pcs: npt.NDArray[np.uint64]) -> I64:
        """Chain id of each PC (-1: unknown)."""
        r = np.searchsorted(self.starts, pcs, side="right").astype(np.int64) - 1
        ok = (r >= 0) & (pcs < np.uint64(self.end))
        return np.where(ok, self.chain[np.maximum(r, 0)], -1)
