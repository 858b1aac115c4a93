"""The engine's contract as a typed Protocol: what every layer above ``symbolize`` may call.

Layers above (profile, restore, inspect, the index, the server, cli) type their engine parameters as
:class:`GoEngine`, never ``Any``, so ``mypy --strict`` checks each use against this one definition.
``GoBinary`` is the implementation; anything else that satisfies the Protocol (a symbol index loaded
from disk, a remote engine) can stand in where only lookups are needed (:class:`Lookups`).

Thread-safety contract: every method may be called concurrently from several threads on one engine;
answers never depend on what other threads looked up (caches are internal and byte-bounded:
``cache_stats()``; the whole-binary table behind ``decode_all()`` is built once, ``table_bytes()``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from symkeep.binfmt import Binary
    from symkeep.golang.functab import Function
    from symkeep.golang.moduledata import ModuleData
    from symkeep.golang.pclntab import PclnTab
    from symkeep.symbolize.cache import CacheStats
    from symkeep.symbolize.columns import ChainColumns, RangeTable
    from symkeep.symbolize.frames import Frame, PCRange

__all__ = ["GoEngine", "Lookups"]


@runtime_checkable
class Lookups(Protocol):
    """Address -> frames, nothing else: what addr2line, symbolize and the server's lookups need."""

    @property
    def go_version(self) -> str | None: ...

    def lookup(self, pc: int, return_address: bool = False) -> list[Frame]: ...

    def lookup_chains(
        self, pcs: Iterable[int] | npt.NDArray[np.uint64], return_address: bool = False
    ) -> list[tuple[Frame, ...]]: ...

    def lookup_columns(
        self, pcs: Iterable[int] | npt.NDArray[np.uint64], return_address: bool = False
    ) -> tuple[npt.NDArray[np.int64], ChainColumns]: ...


@runtime_checkable
class GoEngine(Lookups, Protocol):
    """A Go binary opened for symbolization (see HACKING.md "symbolize API")."""

    @property
    def binary(self) -> Binary: ...

    @property
    def pclntab(self) -> PclnTab: ...

    @property
    def text_start(self) -> int: ...

    @property
    def text_start_source(self) -> str: ...

    @property
    def moduledata(self) -> ModuleData | None: ...

    @property
    def nfunc(self) -> int: ...

    @property
    def entries(self) -> npt.NDArray[np.uint64]: ...

    @property
    def table_kind(self) -> str: ...

    def functions(self) -> Sequence[Function]: ...

    def function_index(self, pc: int) -> int: ...

    def function_at(self, pc: int) -> Function | None: ...

    def lookup_many(
        self, pcs: Iterable[int] | npt.NDArray[np.uint64], return_address: bool = False
    ) -> list[list[Frame]]: ...

    def lookup_chain_ids(
        self, pcs: Iterable[int] | npt.NDArray[np.uint64], return_address: bool = False
    ) -> tuple[npt.NDArray[np.int64], list[tuple[Frame, ...]]]: ...

    def ranges(self, func: Function | int) -> list[PCRange]: ...

    def sp_deltas(self, func: Function | int) -> list[tuple[int, int, int]]: ...

    def decode_all(self) -> RangeTable: ...

    def cache_stats(self) -> CacheStats: ...

    def table_bytes(self) -> int: ...

    def close(self) -> None: ...
