"""The bundled Go demo service: a small stdlib-only HTTP service ``symkeep matrix`` runs on by default."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

__all__ = ["DEMO_FUNCTIONS", "demo_source_dir"]

# Functions of the demo that every probe looks for (they are //go:noinline, so they exist in every build).
DEMO_FUNCTIONS = ("main.crunch", "main.digest", "main.busyWorker", "main.explode", "main.fail")


def demo_source_dir() -> Path:
    """Directory holding the demo's ``go.mod`` and ``*.go`` (a real directory for an installed package)."""
    p = Path(str(resources.files("symkeep.demo")))
    if not (p / "go.mod").is_file():
        raise FileNotFoundError(f"symkeep demo sources missing under {p}")
    return p
