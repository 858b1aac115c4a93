"""Size budgets (``symkeep size --budget FILE``): one limit per line, checked against a report.

Format (README "Budget file")::

    # comment
    total                     8MiB
    package main              200KiB
    module github.com/x/y     1.5MB
    section .rodata           2MiB
    class dwarf               0         # e.g. insist on stripped release builds
    savings -s                1MiB      # at most 1 MiB may be symbol table + DWARF

Sizes: a number with an optional unit B, KB, MB, GB (powers of 1000) or KiB, MiB, GiB (powers of 1024).
A limit on a group the binary does not have checks 0 bytes against it (never over).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from symkeep.errors import UsageError
from symkeep.size.analyze import BY, SizeReport

__all__ = ["Budget", "Verdict", "check_budget", "parse_budget", "parse_size"]

_UNITS = {"": 1, "b": 1, "kb": 1000, "mb": 1000**2, "gb": 1000**3, "kib": 1024, "mib": 1024**2, "gib": 1024**3,
          "k": 1024, "m": 1024**2, "g": 1024**3}
_SIZE = re.compile(r"^(\d+(?:\.\d+)?)\s*([a-zA-Z]*)$")


def parse_size(text: str) -> int:
    m = _SIZE.match(text.strip())
    if not m or m.group(2).lower() not in _UNITS:
        raise UsageError(f"bad size {text!r} (e.g. 1500000, 1.5MB, 2MiB)")
    return int(float(m.group(1)) * _UNITS[m.group(2).lower()])


@dataclass(frozen=True)
class Budget:
    scope: str  # total | package | module | section | class | function | savings
    name: str
    limit: int
    line: int


@dataclass(frozen=True)
class Verdict:
    budget: Budget
    actual: int

    @property
    def over(self) -> bool:
        return self.actual > self.budget.limit


def parse_budget(text: str, source: str = "budget") -> list[Budget]:
    out: list[Budget] = []
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        scope = parts[0]
        if scope == "total" and len(parts) == 2:
            out.append(Budget("total", "", parse_size(parts[1]), n))
        elif (scope in BY or scope == "savings") and len(parts) == 3:
            if scope == "savings" and parts[1] not in ("-s", "-w"):
                raise UsageError(f"{source}:{n}: savings takes -s or -w")
            out.append(Budget(scope, parts[1], parse_size(parts[2]), n))
        else:
            raise UsageError(f"{source}:{n}: expected 'total SIZE' or 'SCOPE NAME SIZE' "
                             f"(SCOPE: {', '.join(BY)}, savings), got {raw.strip()!r}")
    return out


def check_budget(report: SizeReport, budgets: list[Budget]) -> list[Verdict]:
    groups: dict[str, dict[str, int]] = {}
    out = []
    for b in budgets:
        if b.scope == "total":
            actual = report.file_size
        elif b.scope == "savings":
            actual = report.savings()[b.name]
        else:
            g = groups.get(b.scope)
            if g is None:
                g = groups[b.scope] = {r.name: r.bytes for r in report.group(b.scope)}
            actual = g.get(b.name, 0)
        out.append(Verdict(b, actual))
    return out
