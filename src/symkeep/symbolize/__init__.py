"""symbolize layer: PCs of a Go binary -> functions, file:line and inline frames (from the pclntab).

The names below load on first use (PEP 562), so importing a numpy-free submodule (``a2ltext``,
``indexfile``, ``quick``: the warm addr2line path) does not import numpy through this package.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from symkeep.golang.functab import Function
    from symkeep.symbolize.engine import GoEngine, Lookups
    from symkeep.symbolize.frames import Frame, PCRange
    from symkeep.symbolize.gobinary import GoBinary, open_go_binary

__all__ = ["Frame", "Function", "GoBinary", "GoEngine", "Lookups", "PCRange", "open_go_binary"]

_WHERE = {"Function": "symkeep.golang.functab", "GoEngine": "symkeep.symbolize.engine",
          "Lookups": "symkeep.symbolize.engine", "Frame": "symkeep.symbolize.frames",
          "PCRange": "symkeep.symbolize.frames", "GoBinary": "symkeep.symbolize.gobinary",
          "open_go_binary": "symkeep.symbolize.gobinary"}


def __getattr__(name: str) -> Any:
    mod = _WHERE.get(name)
    if mod is None:
        raise AttributeError(f"module 'symkeep.symbolize' has no attribute {name!r}")
    return getattr(importlib.import_module(mod), name)
