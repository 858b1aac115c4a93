"""symbolize layer: PCs of a Go binary -> functions, file:line and inline frames (from the pclntab)."""

from __future__ import annotations

from symkeep.golang.functab import Function
from symkeep.symbolize.engine import GoEngine, Lookups
from symkeep.symbolize.frames import Frame, PCRange
from symkeep.symbolize.gobinary import GoBinary, open_go_binary

__all__ = ["Frame", "Function", "GoBinary", "GoEngine", "Lookups", "PCRange", "open_go_binary"]
