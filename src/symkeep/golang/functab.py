"""The function table as numpy arrays in PC space, plus the :class:`Function` record.

1.18+ functab entries are offsets in the *text offset space* (the concatenation of the text
sections); with several text sections (``textsectmap``) an offset maps to
``off - sect.vaddr + sect.baseaddr`` of the section holding it (runtime textAddr). Older tables
hold absolute PCs. ``FuncTable.entries`` (nfunc + 1 values, the last is the end of the last
function) is sorted, so PC -> function is one ``np.searchsorted``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import overload

import numpy as np
import numpy.typing as npt

from symkeep.golang.moduledata import TextSect

__all__ = ["Function", "entries_to_pcs", "package_of"]


def _strip_inst(name: str) -> str:
    # generic instantiations: "pkg.F[...]" / "pkg.(*T[...]).M"
    if "[" not in name:
        return name
    out = []
    depth = 0
    for ch in name:
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
        elif depth == 0:
            out.append(ch)
    return "".join(out)


def package_of(name: str) -> str:
    """Package path of a Go symbol name (debug/gosym Sym.PackageName semantics)."""
    n = _strip_inst(name)
    if n.startswith(("go:", "type:")):
        return ""
    slash = n.rfind("/")
    slash = max(slash, 0)
    dot = n.find(".", slash)
    return n[:dot] if dot >= 0 else ""


@dataclass(frozen=True, slots=True)
class Function:
    """A function of the pclntab. ``end`` is the next function's entry (Go's own notion of size)."""

    index: int
    name: str
    entry: int
    end: int
    file: str
    start_line: int  # 0 when the format does not record it (before Go 1.20)
    func_id: int
    flags: int

    @property
    def package(self) -> str:
        return package_of(self.name)

    @property
    def size(self) -> int:
        return self.end - self.entry


def entries_to_pcs(
    raw: npt.NDArray[np.uint64], text_start: int, sects: Sequence[TextSect] | None, offsets: bool
) -> npt.NDArray[np.uint64]:
    """Turn raw functab entries into PCs (see module docstring)."""
    if not offsets:
        return raw.astype(np.uint64)
    if not sects or len(sects) <= 1:
        return (raw + np.uint64(text_start)).astype(np.uint64)
    starts = np.array([s.vaddr for s in sects], dtype=np.uint64)
    which = np.searchsorted(starts, raw, side="right").astype(np.int64) - 1
    which = np.clip(which, 0, len(sects) - 1)
    vaddr = starts[which]
    base = np.array([s.baseaddr for s in sects], dtype=np.uint64)[which]
    out = raw - vaddr + base
    # The final entry (etext) equals the end of the last section and belongs to it.
    return out.astype(np.uint64)


class FunctionList(Sequence[Function]):
    """Lazy, read-only sequence of functions: ``make(i)`` decodes function ``i`` on access (and is
    expected to cache: the engine's cache is byte-bounded, a dict here would not be)."""

    def __init__(self, n: int, make: Callable[[int], Function]) -> None:
        self._n = n
        self._make = make

    def __len__(self) -> int:
        return self._n

    @overload
    def __getitem__(self, i: int) -> Function: ...

    @overload
    def __getitem__(self, i: slice) -> Sequence[Function]: ...

    def __getitem__(self, i: int | slice) -> Function | Sequence[Function]:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(self._n))]
        if i < 0:
            i += self._n
        if not 0 <= i < self._n:
            raise IndexError(i)
        return self._make(i)
