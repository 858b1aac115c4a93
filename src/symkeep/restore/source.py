"""The writers' view of a Go engine: functions, their PC ranges with chain ids, chains, SP deltas.

Why an adapter: the writers walk every range of every function, and the engine decodes the whole
binary at once (``GoEngine.decode_all``: one numpy pass over the pc tables, the table the index and
bulk lookups use). ``EngineSource`` hands the writers that table's columns as plain lists (indices
into name/file tables, no Frame object per row) and slices it per function.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence

from symkeep.restore.model import Chains, FunctionLike
from symkeep.symbolize import GoEngine

__all__ = ["EngineSource"]


class EngineSource:
    """``SourceLike`` over a ``GoEngine`` (ranges from one ``decode_all``, on first use; sp deltas per
    function, which is all the unwind tables need)."""

    def __init__(self, gobin: GoEngine) -> None:
        self._gobin = gobin
        self._funcs = gobin.functions()
        self._chains: Chains | None = None
        self._starts: list[int] = []
        self._chain: list[int] = []
        self._end = 0

    def functions(self) -> Sequence[FunctionLike]:
        return self._funcs

    def chains(self) -> Chains:
        if self._chains is None:
            table = self._gobin.decode_all()
            self._starts = table.starts.tolist()
            self._chain = table.chain.tolist()
            self._end = int(table.end)
            c = table.cols
            self._chains = Chains(c.off.tolist(), c.name.tolist(), c.file.tolist(), c.line.tolist(), c.names, c.files)
        return self._chains

    def ranges(self, func: FunctionLike) -> tuple[list[int], list[int], list[int]]:
        """The ranges of ``[func.entry, func.end)`` (the last one clipped to the function's end)."""
        self.chains()
        starts = self._starts
        lo = bisect.bisect_left(starts, func.entry)
        hi = bisect.bisect_left(starts, func.end, lo)
        ends = starts[lo + 1 : hi + 1]
        if len(ends) < hi - lo:
            ends.append(self._end)
        if ends:
            ends[-1] = min(ends[-1], func.end)
        return starts[lo:hi], ends, self._chain[lo:hi]

    def sp_deltas(self, func: FunctionLike) -> list[tuple[int, int, int]]:
        return self._gobin.sp_deltas(func.index)
