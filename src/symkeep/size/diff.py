"""Growth between two builds, per group (``symkeep size NEW --diff OLD``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from symkeep.size.analyze import SizeReport

__all__ = ["DiffRow", "diff_reports"]


@dataclass(frozen=True)
class DiffRow:
    name: str
    old: int
    new: int

    @property
    def delta(self) -> int:
        return self.new - self.old

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "old": self.old, "new": self.new, "delta": self.delta}


def diff_reports(old: SizeReport, new: SizeReport, by: str) -> list[DiffRow]:
    """Every group of either build, sorted by absolute growth (largest first)."""
    a = {r.name: r.bytes for r in old.group(by)}
    b = {r.name: r.bytes for r in new.group(by)}
    rows = [DiffRow(k, a.get(k, 0), b.get(k, 0)) for k in set(a) | set(b)]
    rows.sort(key=lambda r: (-abs(r.delta), r.name))
    return rows
