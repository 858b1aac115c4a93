"""``symkeep size`` as a library call: a binary -> every byte attributed (:class:`SizeReport`)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from symkeep.binfmt import Binary, open_binary
from symkeep.errors import NotGoError, UsageError
from symkeep.fsio import check_input_file
from symkeep.inspect import retention
from symkeep.size.dwarf import claim_dwarf
from symkeep.size.gocode import claim_go
from symkeep.size.ledger import CODE, DATA, DWARF, OTHER, PARTS, PCLNTAB, SYMTAB, TYPES, Ledger, Spans
from symkeep.size.symtab import claim_data_symbols, claim_symtab

__all__ = ["BY", "Row", "SizeReport", "analyze"]

BY = ("package", "module", "section", "class", "function")

# Sections that hold only type descriptors and itab/type links (Go 1.27 puts descriptors in .go.type).
_TYPE_SECTIONS = {".go.type", ".typelink", ".itablink", "__typelink", "__itablink"}

_PART_OF_CLASS = {
    retention.CODE: CODE, retention.DATA: DATA, retention.GO_TABLES: PCLNTAB, retention.SYMTAB: SYMTAB,
    retention.DWARF: DWARF, retention.NOTES: OTHER, retention.OTHER: OTHER,
}


@dataclass
class Row:
    name: str
    bytes: int
    parts: dict[str, int]

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "bytes": self.bytes, "parts": {k: v for k, v in self.parts.items() if v}}


@dataclass
class SizeReport:
    path: str
    file_size: int
    format: str
    arch: str
    go_version: str | None
    main_module: str
    modules: list[str]
    spans: Spans
    stats: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def module_of(self, pkg: str) -> str:
        if pkg.startswith("("):
            return pkg
        if pkg == "main" or (self.main_module and (pkg == self.main_module or pkg.startswith(self.main_module + "/"))):
            return self.main_module or "main"
        best = ""
        for m in self.modules:
            if (pkg == m or pkg.startswith(m + "/")) and len(m) > len(best):
                best = m
        if best:
            return best
        first = pkg.split("/", 1)[0]
        return "std" if "." not in first else first

    def keys(self, by: str) -> list[str]:
        """The group name of every span."""
        sp, nm = self.spans, self.spans.names
        if by == "package":
            return [nm[i] for i in sp.package.tolist()]
        if by == "module":
            cache: dict[int, str] = {}
            out = []
            for i in sp.package.tolist():
                m = cache.get(i)
                if m is None:
                    m = cache[i] = self.module_of(nm[i])
                out.append(m)
            return out
        if by == "section":
            return [nm[i] for i in sp.section.tolist()]
        if by == "class":
            return [PARTS[i] for i in sp.part.tolist()]
        if by == "function":
            return [nm[f] if f else f"({nm[p]}: no function)" for f, p in zip(sp.function.tolist(), sp.package.tolist(), strict=True)]
        raise UsageError(f"--by {by!r}: one of {', '.join(BY)}")

    def group(self, by: str) -> list[Row]:
        keys = self.keys(by)
        ids: dict[str, int] = {}
        kid = np.array([ids.setdefault(k, len(ids)) for k in keys], dtype=np.int64)
        size = self.spans.size
        m = np.zeros((len(ids), len(PARTS)), dtype=np.int64)
        np.add.at(m, (kid, self.spans.part.astype(np.int64)), size)
        rows = [Row(k, int(m[i].sum()), {p: int(m[i, j]) for j, p in enumerate(PARTS)}) for k, i in ids.items()]
        rows.sort(key=lambda r: (-r.bytes, r.name))
        return rows

    def part_total(self, part: str) -> int:
        return int(self.spans.size[self.spans.part == PARTS.index(part)].sum())

    def savings(self) -> dict[str, int]:
        """Bytes ``-w`` (DWARF) and ``-s`` (symbol table, and DWARF: ``-s`` implies ``-w``) would remove."""
        dw, sy = self.part_total(DWARF), self.part_total(SYMTAB)
        return {"-w": dw, "-s": dw + sy}

    def to_json(self, by: str = "package") -> dict[str, Any]:
        return {
            "path": self.path,
            "file_size": self.file_size,
            "format": self.format,
            "arch": self.arch,
            "go_version": self.go_version,
            "main_module": self.main_module,
            "by": by,
            "total": int(self.spans.total()),
            "parts": {p: self.part_total(p) for p in PARTS},
            "savings": self.savings(),
            "rows": [r.to_json() for r in self.group(by)],
            "stats": self.stats,
            "warnings": self.warnings,
        }


def _package_at(gb: Any) -> Any:
    from symkeep.golang.functab import package_of

    def at(pc: int) -> str:
        f = gb.function_at(pc)
        return (package_of(f.name) or "(go generated)") if f is not None else "(no function)"

    return at


def analyze(path: str | os.PathLike[str], *, arch: str | None = None) -> SizeReport:
    """Attribute every byte of the binary at ``path``."""
    p = check_input_file(path)
    b: Binary = open_binary(p, arch=arch)
    size = b.length
    led = Ledger(size)
    for s in b.sections():
        if s.file_size:
            part = TYPES if s.name in _TYPE_SECTIONS else _PART_OF_CLASS[retention.classify(s)]
            led.section(s.name, s.offset, s.file_size, part)
    if not b.sections():
        for seg in b.segments():
            if seg.load and seg.filesz:
                led.section(f"(segment {seg.index})", seg.offset, seg.filesz, CODE if seg.execute else DATA)
    warnings: list[str] = []
    stats: dict[str, int] = {}
    go_version = None
    main_module = ""
    modules: list[str] = []
    from symkeep.golang.buildinfo import read_buildinfo
    from symkeep.symbolize import open_go_binary

    try:
        gb = open_go_binary(p, arch=arch)
    except NotGoError:
        raise
    go_version = gb.go_version
    try:
        bi = read_buildinfo(b)
    except Exception as e:  # noqa: BLE001 - build info is optional for size attribution
        bi = None
        warnings.append(f"build info unreadable: {e}")
    if bi is not None:
        main_module = bi.main.path if bi.main is not None else bi.path
        modules = [d.path for d in bi.deps]
    loc = gb.pclntab.location
    if loc is not None and not any(s.offset <= loc.offset < s.offset + s.file_size for s in b.sections()):
        led.section("(pclntab)", loc.offset, loc.size, PCLNTAB)
    stats.update(claim_go(gb, led))
    stats["symbols"] = claim_symtab(b, led)
    stats["data_symbols"] = claim_data_symbols(b, led)
    stats.update(claim_dwarf(b, led, _package_at(gb)))
    spans = led.close()
    stats["overlap_bytes"] = spans.overlap_bytes
    return SizeReport(str(path), size, b.format, b.arch, go_version, main_module, modules, spans, stats, warnings)
