"""What the writers need from a symbol source: structural protocols (``source.EngineSource`` over a
``GoEngine`` in production; anything of the same shape, e.g. a hand-made source in a unit test).
"""

from __future__ import annotations

import contextlib
import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from symkeep.binfmt.elf import ELFFile
from symkeep.errors import FormatError, SymkeepError, UnsupportedError

if TYPE_CHECKING:
    from symkeep.symbolize import GoEngine


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


@dataclass(frozen=True, slots=True)
class Chains:
    """Frame chains as columns (Python lists, for the writers' loops): chain ``c`` is rows
    ``off[c]:off[c + 1]``, innermost first; ``name``/``file`` index ``names``/``files`` (file ``"?"`` is
    unknown); ``line`` is the row's line."""

    off: list[int]
    name: list[int]
    file: list[int]
    line: list[int]
    names: Sequence[str]
    files: Sequence[str]


class SourceLike(Protocol):
    def functions(self) -> Sequence[FunctionLike]: ...

    def chains(self) -> Chains: ...

    def ranges(self, func: FunctionLike) -> tuple[list[int], list[int], list[int]]:
        """(starts, ends, chain ids) of ``func``'s PC ranges, in address order (-1: unknown)."""
        ...

    def sp_deltas(self, func: FunctionLike) -> Sequence[tuple[int, int, int]]: ...


FUNC_FLAG_TOPFRAME = 1  # abi.FuncFlagTopFrame: unwinders must stop here


def elf_of(gobin: GoEngine, what: str) -> ELFFile:
    """The engine's binary as an ``ELFFile``: every writer here produces ELF (UnsupportedError else)."""
    binary = gobin.binary
    if not isinstance(binary, ELFFile):
        raise UnsupportedError(f"{what} is ELF only; {binary.path} is {binary.format.upper()} "
                               "(Mach-O/PE debug companions are not supported)")
    return binary


@contextlib.contextmanager
def format_errors(what: str) -> Iterator[None]:
    """Turn a decoding accident on hostile input (IndexError, struct.error, ...) into a one-line
    ``FormatError`` naming what was being built; symkeep's own errors pass through."""
    try:
        yield
    except SymkeepError:
        raise
    except (IndexError, struct.error, ValueError, OverflowError, KeyError) as e:
        raise FormatError(f"cannot build {what}: {type(e).__name__}: {e}", what=what) from e
