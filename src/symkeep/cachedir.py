"""Where symkeep keeps its caches: one definition, importable without anything heavy (the warm
addr2line path reads the symbol index cache before importing numpy)."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["cache_root"]


def cache_root() -> Path:
    """Root of symkeep's caches (``$SYMKEEP_CACHE`` or ``~/.cache/symkeep``)."""
    env = os.environ.get("SYMKEEP_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "symkeep"
