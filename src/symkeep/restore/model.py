"""What the writers need from a symbol source: structural protocols (``source.EngineSource`` over a
``GoEngine`` in production; anything of the same shape, e.g. a hand-made source in a unit test).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from symkeep.binfmt.elf import ELFFile
from symkeep.errors import UnsupportedError

if TYPE_CHECKING:
    from symkeep.symbolize import GoEngine


class FrameLike(Protocol):
    @property
    def function(self) -> str: ...
    @property
    def file(self) -> str: ...
    @property
    def line(self) -> int: ...
    @property
    def start_line(self) -> int: ...


class RangeLike(Protocol):
    @property
    def start(self) -> int: ...
    @property
    def end(self) -> int: ...
    @property
    def frames(self) -> Sequence[FrameLike]: ...


class FunctionLike(Protocol):
    @property
    def index(self) -> int: ...
    @property
    def name(self) -> str: ...
    @property
    def entry(self) -> int: ...
    @property
    def end(self) -> int: ...
    @property
    def file(self) -> str: ...
    @property
    def start_line(self) -> int: ...
    @property
    def flags(self) -> int: ...
    @property
    def package(self) -> str: ...


class SourceLike(Protocol):
    def functions(self) -> Sequence[FunctionLike]: ...
    def ranges(self, func: FunctionLike) -> Sequence[RangeLike]: ...
    def sp_deltas(self, func: FunctionLike) -> Sequence[tuple[int, int, int]]: ...


FUNC_FLAG_TOPFRAME = 1  # abi.FuncFlagTopFrame: unwinders must stop here


def elf_of(gobin: GoEngine, what: str) -> ELFFile:
    """The engine's binary as an ``ELFFile``: every writer here produces ELF (UnsupportedError else)."""
    binary = gobin.binary
    if not isinstance(binary, ELFFile):
        raise UnsupportedError(f"{what} is ELF only; {binary.path} is {binary.format.upper()} "
                               "(Mach-O/PE debug companions are not supported)")
    return binary
