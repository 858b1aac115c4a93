"""Frame and PCRange: what a symbolized PC turns into."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Frame", "PCRange"]


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
