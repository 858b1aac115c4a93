"""Frame and PCRange: what a symbolized PC turns into."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

__all__ = ["Frame", "PCRange", "make_frame", "to_ranges"]


@dataclass(frozen=True, slots=True)
class Frame:
    """One logical frame. Frames of a PC are listed innermost first; ``inlined`` is True for every
    frame but the last (the physical function)."""

    function: str
    file: str
    line: int
    start_line: int  # 0 when unknown (Go before 1.20)
    inlined: bool


@dataclass(frozen=True, slots=True)
class PCRange:
    """A maximal ``[start, end)`` PC range over which the frame chain is constant."""

    start: int
    end: int
    frames: tuple[Frame, ...]


# Frozen slots dataclasses: building them through the slot descriptors skips the frozen __setattr__
# detour (millions of PCRange/Frame objects in a full decode). Same objects, same eq/hash.
_new = object.__new__


def _slot_setter(cls: type, name: str) -> Callable[[object, Any], None]:
    return cast("Callable[[object, Any], None]", cls.__dict__[name].__set__)


_PR_START, _PR_END, _PR_FRAMES = (_slot_setter(PCRange, n) for n in ("start", "end", "frames"))
_FR_FUNCTION, _FR_FILE, _FR_LINE, _FR_START_LINE, _FR_INLINED = (
    _slot_setter(Frame, n) for n in ("function", "file", "line", "start_line", "inlined")
)


def make_frame(function: str, file: str, line: int, start_line: int, inlined: bool) -> Frame:
    """``Frame(...)`` without the frozen dataclass' per-field ``object.__setattr__`` (2x faster)."""
    f = _new(Frame)
    _FR_FUNCTION(f, function)
    _FR_FILE(f, file)
    _FR_LINE(f, line)
    _FR_START_LINE(f, start_line)
    _FR_INLINED(f, inlined)
    return f


def to_ranges(starts: list[int], frames: list[tuple[Frame, ...]], end: int) -> list[PCRange]:
    """PCRange objects for the non-empty, known ranges of one function (``starts[k]`` to the next
    start, the last one to ``end``; a range with the empty chain is unknown and left out)."""
    out: list[PCRange] = []
    add = out.append
    ends = starts[1:]
    ends.append(end)
    new, set_s, set_e, set_f = _new, _PR_START, _PR_END, _PR_FRAMES
    for a, b, ch in zip(starts, ends, frames, strict=True):
        if ch and b > a:
            r = new(PCRange)
            set_s(r, a)
            set_e(r, b)
            set_f(r, ch)
            add(r)
    return out
