"""The writers' view of a Go engine: functions, their PC ranges with frame chains, SP deltas.

Why an adapter: the writers walk every function, and the engine decodes the whole binary at once
(``GoEngine.decode_all``: one numpy pass over the pc tables, the same table the index and bulk lookups
use) far faster than function by function. ``EngineSource`` slices that one table per function and
turns each distinct chain into frames once.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from typing import NamedTuple

from symkeep.restore.model import FunctionLike
from symkeep.symbolize import GoEngine

__all__ = ["EngineSource", "SourceFrame", "SourceRange"]


class SourceFrame(NamedTuple):
    function: str
    file: str
    line: int
    start_line: int


class SourceRange(NamedTuple):
    start: int
    end: int
    frames: tuple[SourceFrame, ...]


class EngineSource:
    """``SourceLike`` over a ``GoEngine`` (ranges from one ``decode_all``; sp deltas per function)."""

    def __init__(self, gobin: GoEngine) -> None:
        self._gobin = gobin
        self._funcs = gobin.functions()
        self._loaded = False
        self._frames: dict[int, tuple[SourceFrame, ...]] = {}

    def _load(self) -> None:
        """Decode the whole binary on first use (the unwind tables need only the SP deltas)."""
        table = self._gobin.decode_all()
        self._starts: list[int] = table.starts.tolist()
        self._chain: list[int] = table.chain.tolist()
        self._end = int(table.end)
        cols = table.cols
        self._off: list[int] = cols.off.tolist()
        self._name: list[int] = cols.name.tolist()
        self._file: list[int] = cols.file.tolist()
        self._line: list[int] = cols.line.tolist()
        self._start_line: list[int] = cols.start_line.tolist()
        self._names, self._files = cols.names, cols.files
        self._loaded = True

    def functions(self) -> Sequence[FunctionLike]:
        return self._funcs

    def _chain_frames(self, c: int) -> tuple[SourceFrame, ...]:
        fr = self._frames.get(c)
        if fr is None:
            a, b = self._off[c], self._off[c + 1]
            names, files = self._names, self._files
            fr = self._frames[c] = tuple(
                SourceFrame(names[self._name[k]], files[self._file[k]], self._line[k], self._start_line[k])
                for k in range(a, b))
        return fr

    def ranges(self, func: FunctionLike) -> list[SourceRange]:
        """The known ranges of ``[func.entry, func.end)`` (unknown ones, e.g. padding, left out)."""
        if not self._loaded:
            self._load()
        starts, chain = self._starts, self._chain
        lo = bisect.bisect_left(starts, func.entry)
        hi = bisect.bisect_left(starts, func.end, lo)
        out: list[SourceRange] = []
        for k in range(lo, hi):
            c = chain[k]
            if c < 0:
                continue
            end = starts[k + 1] if k + 1 < len(starts) else self._end
            out.append(SourceRange(starts[k], min(end, func.end), self._chain_frames(c)))
        return out

    def sp_deltas(self, func: FunctionLike) -> list[tuple[int, int, int]]:
        return self._gobin.sp_deltas(func.index)
