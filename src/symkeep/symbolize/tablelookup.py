"""Lookups over a whole-binary range table: PCs -> chain ids -> chain columns or Frame chains.

Split from :mod:`symkeep.symbolize.wholetable` (which builds tables from a binary) so a table mapped from
a symbol index answers with numpy and a few small modules imported, nothing that parses binaries.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import numpy.typing as npt

from symkeep.errors import UsageError
from symkeep.golang.bucketindex import BucketIndex
from symkeep.symbolize.cache import EngineCache
from symkeep.symbolize.columns import ChainColumns, RangeTable
from symkeep.symbolize.frames import Frame

__all__ = ["TableLookups", "as_pcs"]

I64 = npt.NDArray[np.int64]


class TableLookups:
    """A :class:`RangeTable` with a bucket index over its starts (built unless given)."""

    def __init__(self, table: RangeTable, index: BucketIndex | None = None,
                 objects: list[tuple[Frame, ...]] | None = None) -> None:
        self.table = table
        self.index = index if index is not None else BucketIndex(table.starts)
        self._objects = objects

    def ids(self, pcs: npt.NDArray[np.uint64]) -> I64:
        """Chain id of every PC (-1: unknown)."""
        t = self.table
        r = self.index.find(pcs)
        ok = (r >= 0) & (pcs < np.uint64(t.end))
        return np.where(ok, t.chain[np.maximum(r, 0)], -1)

    def chain_ids(self, pcs: npt.NDArray[np.uint64], cache: EngineCache) -> tuple[I64, list[tuple[Frame, ...]]]:
        """``(ids, chains)`` of ``pcs`` (already adjusted for return addresses): ``chains[ids[k]]`` is
        the chain of ``pcs[k]``; ``chains[-1]`` is ``()`` (unknown)."""
        ids = self.ids(pcs)
        known = ids >= 0
        present = np.zeros(len(self.table.cols) + 1, dtype=np.bool_)
        present[ids[known]] = True
        present[-1] = False
        rank = np.cumsum(present, dtype=np.int64) - 1
        chains = self.chain_objects(np.flatnonzero(present).tolist(), cache)
        chains.append(())  # id -1: unknown
        return np.where(known, rank[ids], -1), chains

    def columns(self, ids: I64) -> tuple[I64, ChainColumns]:
        """``ids`` renumbered to the distinct chains they use, and those chains' columns."""
        nchain = len(self.table.cols)
        known = ids >= 0
        present = np.zeros(nchain + 1, dtype=np.bool_)
        present[ids[known]] = True
        present[-1] = False
        rank = np.cumsum(present, dtype=np.int64) - 1
        out = np.where(known, rank[ids], -1)
        return out, self.table.cols.take(np.flatnonzero(present[:-1]).astype(np.int64))

    def chain_objects(self, cids: list[int], cache: EngineCache, keep: bool = True) -> list[tuple[Frame, ...]]:
        """Chains ``cids`` as interned Frame tuples (-1 gives ``()``); ``keep``: remember them in
        ``cache`` for the next lookups (a whole-binary walk of ranges() does not come back)."""
        objs = self._objects
        if objs is not None:
            return [objs[c] if c >= 0 else () for c in cids]
        if not keep:
            fresh = iter(self._materialize([c for c in cids if c >= 0], cache, False))
            return [next(fresh) if c >= 0 else () for c in cids]
        out: list[tuple[Frame, ...]] = []
        missing: list[int] = []
        get = cache.get
        for c in cids:
            got: tuple[Frame, ...] | None = get(("ch", id(self), c)) if c >= 0 else ()
            if got is None:
                missing.append(len(out))
                got = ()
            out.append(got)
        if missing:
            want = sorted({cids[k] for k in missing})
            made = dict(zip(want, self._materialize(want, cache), strict=True))
            for k in missing:
                out[k] = made[cids[k]]
        return out

    def _materialize(self, cids: list[int], cache: EngineCache, keep: bool = True) -> list[tuple[Frame, ...]]:
        cols = self.table.cols
        ca = np.asarray(cids, dtype=np.int64)
        lens = cols.off[ca + 1] - cols.off[ca]
        noff = np.zeros(len(ca) + 1, dtype=np.int64)
        np.cumsum(lens, out=noff[1:])
        r = np.repeat(cols.off[ca] - noff[:-1], lens) + np.arange(int(noff[-1]), dtype=np.int64)
        frame, intern, put = cache.frame, cache.chain, cache.put
        names, files = cols.names, cols.files
        rows = [frame(names[n], files[f], ln, sl, il) for n, f, ln, sl, il in zip(
            cols.name[r].tolist(), cols.file[r].tolist(), cols.line[r].tolist(), cols.start_line[r].tolist(),
            cols.inlined[r].tolist(), strict=True)]
        offs = noff.tolist()
        out: list[tuple[Frame, ...]] = []
        key = id(self)
        for c, a, b in zip(cids, offs, offs[1:], strict=False):
            ch = intern(tuple(rows[a:b]))
            out.append(put(("ch", key, c), ch, 64 + 8 * (b - a)) if keep else ch)
        return out


def as_pcs(pcs: Iterable[int] | npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    try:
        arr = np.asarray(pcs if isinstance(pcs, np.ndarray) else list(pcs), dtype=np.uint64)
    except (OverflowError, ValueError, TypeError) as e:
        raise UsageError(f"PCs must be unsigned 64-bit integers: {e}") from e
    if arr.ndim != 1:
        raise UsageError("PCs must be a flat sequence")
    return arr
