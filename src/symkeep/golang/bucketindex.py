"""BucketIndex: many-PC search over sorted range starts (numpy only: the warm symbol-index path uses it)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["BucketIndex"]

I64 = npt.NDArray[np.int64]


class BucketIndex:
    """``searchsorted(starts, pcs, "right") - 1`` for many PCs through a bucket index: PC >> shift ->
    the last start at or before the bucket's first PC, then a short forward scan (no binary search
    per PC, no sort of the PCs). ``starts`` must be sorted."""

    def __init__(self, starts: npt.NDArray[np.uint64]) -> None:
        self.starts = starts
        lo = int(starts[0]) if len(starts) else 0
        span = (int(starts[-1]) - lo + 1) if len(starts) else 1
        shift = 0
        while (span >> shift) > 2 * max(len(starts), 1):
            shift += 1
        nb = (span >> shift) + 2
        bounds = np.uint64(lo) + (np.arange(nb, dtype=np.uint64) << np.uint64(shift))
        self._lo, self._shift = lo, shift
        self._first: I64 = np.searchsorted(starts, bounds, side="right").astype(np.int64) - 1

    @classmethod
    def from_parts(cls, starts: npt.NDArray[np.uint64], lo: int, shift: int, first: I64) -> BucketIndex:
        """An index saved with :meth:`parts` (a symbol index file), without recomputing it. ``first``
        must hold valid positions of ``starts`` (-1 allowed): checked, since it comes from a file."""
        if len(first) and (int(first.min()) < -1 or int(first.max()) >= max(len(starts), 1)):
            raise ValueError("bucket index out of range")
        self = cls.__new__(cls)
        self.starts, self._lo, self._shift, self._first = starts, lo, shift, first
        return self

    def parts(self) -> tuple[int, int, I64]:
        """(lo, shift, first): what :meth:`from_parts` needs."""
        return self._lo, self._shift, self._first

    @property
    def nbytes(self) -> int:
        return int(self._first.nbytes)

    def find(self, pcs: npt.NDArray[np.uint64]) -> I64:
        starts = self.starts
        n = len(pcs)
        if not len(starts):
            return np.full(n, -1, dtype=np.int64)
        lo = self._lo
        nb = len(self._first)
        below = pcs < np.uint64(lo)
        b = ((np.where(below, np.uint64(lo), pcs) - np.uint64(lo)) >> np.uint64(self._shift)).astype(np.int64)
        b = np.minimum(b, nb - 1)
        r = self._first[b]
        last = len(starts) - 1
        act = np.flatnonzero(r < last)
        while len(act):
            nxt = r[act] + 1
            step = starts[nxt] <= pcs[act]
            act = act[step]
            r[act] = nxt[step]
            act = act[r[act] < last]
        r[below] = -1
        return r
