"""What the rules look at, measured once per binary from its own bytes (via ``symkeep.inspect``).

A binary whose pclntab or build info cannot be read still gets facts: the failure is recorded
(``pclntab_error`` / ``buildinfo_error``) so the identity rules fail with it and the rules that need
the missing part skip, instead of the whole check stopping on the first odd file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from symkeep.binfmt import Binary, open_binary
from symkeep.errors import FormatError, NotGoError
from symkeep.fsio import check_input_file
from symkeep.golang import buildid
from symkeep.inspect import retention
from symkeep.inspect.consumers import Verdict
from symkeep.inspect.dwarfinfo import summarize
from symkeep.policy.archive import sha256_file

__all__ = ["CheckFacts", "gather_facts", "text_start_shift"]


@dataclass
class CheckFacts:
    path: str
    sha256: str
    file_size: int
    format: str
    arch: str
    kind: str
    gnu_id: str | None
    go_id: str | None
    go_redacted: bool
    has_symtab: bool
    has_dwarf: bool
    dwarf_version: int | None
    classes: dict[str, int]
    go_version: str | None = None
    pclntab_error: str | None = None
    buildinfo_error: str | None = None
    settings: dict[str, str] = field(default_factory=dict)
    main_path: str | None = None
    packages: frozenset[str] = frozenset()
    text_section: int | None = None  # .text address (what go tool uses without .symtab)
    text_start: int | None = None  # the real one (moduledata.text, header, runtime.text)
    text_start_source: str | None = None
    consumers: list[Verdict] = field(default_factory=list)

    @property
    def has_buildinfo(self) -> bool:
        return self.buildinfo_error is None and self.pclntab_error is None

    def ids(self) -> dict[str, Any]:
        return {"gnu": self.gnu_id, "go": self.go_id, "go_redacted": self.go_redacted}


def text_start_shift(f: CheckFacts) -> int:
    """Bytes by which `go tool pprof`/`addr2line` misplace every function of this binary (0 = none).

    Without ``.symtab`` (no ``runtime.text``), cmd/internal/objfile takes the text start from the
    ``.text`` section; in an externally linked binary C code comes first (FACTS.md §2a)."""
    if f.has_symtab or f.text_section is None or f.text_start is None or f.format != "elf":
        return 0
    return f.text_start - f.text_section


def gather_facts(path: str | os.PathLike[str]) -> CheckFacts:
    p = check_input_file(path)
    with open_binary(str(p)) as b:
        return _gather(str(p), b)


def _gather(path: str, b: Binary) -> CheckFacts:
    from symkeep.inspect.report import inspect_binary

    size = b.length
    dw = summarize(b)
    go_id = buildid.go_build_id(b)
    f = CheckFacts(
        path=os.path.abspath(path), sha256=sha256_file(path), file_size=size, format=b.format, arch=b.arch,
        kind=b.kind, gnu_id=buildid.gnu_build_id(b), go_id=go_id, go_redacted=buildid.is_redacted(go_id),
        has_symtab=retention.has_symtab(b), has_dwarf=dw.has_info or dw.has_line, dwarf_version=dw.version,
        classes={t.name: t.bytes for t in retention.totals(b, size)},
    )
    text = b.section(".text") if b.format == "elf" else None
    f.text_section = text.addr if text is not None else None
    try:
        rep = inspect_binary(b)
    except (NotGoError, FormatError) as e:
        f.pclntab_error = str(e)
        return f
    go = rep.go
    f.go_version = go.get("version")
    f.text_start = go.get("text_start")
    f.text_start_source = go.get("text_start_source")
    f.consumers = rep.consumers
    bi = go.get("buildinfo")
    if bi is None:
        why = next((w for w in rep.warnings if w.startswith("build info")), "no build info in the binary")
        f.buildinfo_error = why
    else:
        f.settings = dict(bi.get("settings") or {})
        f.main_path = bi.get("path") or None
    f.packages = _packages(path)
    return f


def _packages(path: str) -> frozenset[str]:
    """Package paths that have at least one function in .gopclntab (what was linked in)."""
    from symkeep.symbolize import GoEngine, open_go_binary

    eng: GoEngine = open_go_binary(path)
    try:
        return frozenset(fn.package for fn in eng.functions() if fn.package)
    finally:
        eng.close()
