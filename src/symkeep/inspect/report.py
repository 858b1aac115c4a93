"""Build the `symkeep inspect` report: every fact measured from the binary's own bytes."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from symkeep.binfmt import Binary, open_binary
from symkeep.errors import FormatError, SymkeepError
from symkeep.inspect import retention
from symkeep.inspect.consumers import BinaryFacts, Verdict, advice, verdicts
from symkeep.inspect.dwarfinfo import summarize


@dataclass
class InspectReport:
    """Plain data; ``to_json`` gives the documented `inspect --json` shape."""

    path: str
    file_size: int
    binary: dict[str, Any]
    go: dict[str, Any]
    gnu_build_id: str | None
    sections: list[dict[str, Any]]
    classes: list[dict[str, Any]]
    stripped: dict[str, bool]
    dwarf: dict[str, Any]
    consumers: list[Verdict]
    advice: list[str]
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {"path": self.path, "file_size": self.file_size}
        d.update(self.binary)
        d["go"] = self.go
        d["gnu_build_id"] = self.gnu_build_id
        d["sections"] = self.sections
        d["classes"] = self.classes
        d["stripped"] = self.stripped
        d["dwarf"] = self.dwarf
        d["consumers"] = [v.to_json() for v in self.consumers]
        d["advice"] = self.advice
        d["warnings"] = self.warnings
        return d


def inspect_path(path: str, arch: str | None = None) -> InspectReport:
    bin = open_binary(path, arch=arch)
    return inspect_binary(bin)


def _pclntab_symbols(bin: Binary) -> bool:
    return all(bin.symbol_go(n) is not None for n in ("runtime.pclntab", "runtime.epclntab"))


def inspect_binary(bin: Binary) -> InspectReport:
    from symkeep.golang import buildid, buildinfo
    from symkeep.golang.pclntab import find_pclntab
    from symkeep.symbolize import GoBinary

    warnings: list[str] = list(getattr(bin, "warnings", []))
    file_size = bin.length
    # A file whose headers point past its end was cut short (a partial download or copy):
    # every number we would print about it is suspect, so say so instead of reporting.
    cut = next((w for w in warnings if "past end of file" in w or "beyond end of file" in w), None)
    if cut is not None:
        raise FormatError(f"{bin.path}: file is truncated ({file_size} bytes): {cut}")
    loc = find_pclntab(bin)  # NotGoError when there is none

    bi = None
    try:
        bi = buildinfo.read_buildinfo(bin)
    except SymkeepError as e:
        warnings.append(f"build info unreadable: {e}")
    version, vsource = buildinfo.go_version(bin, bi)
    gnu = buildid.gnu_build_id(bin, scan=False)
    if gnu is None and bin.format == "elf":
        hidden = buildid.gnu_build_id(bin, scan=True)
        if hidden:
            warnings.append(f"a GNU build-id note ({hidden}) is in the file, but no section header or PT_NOTE "
                            "segment points at it, so perf/gdb/debuginfod cannot see it")
    goid = buildid.go_build_id(bin)

    gob = GoBinary(bin, go_version=version, location=loc)
    tab = gob.pclntab
    text_start: int | None = gob.text_start
    text_source = gob.text_start_source
    moduledata_found = gob.moduledata is not None

    dw = summarize(bin)
    has_symtab = retention.has_symtab(bin)
    pcln_sec = None
    for s in bin.sections():
        if s.file_size and s.offset == loc.offset:
            pcln_sec = s.name
            break
        if s.name in (".gopclntab", ".data.rel.ro.gopclntab", "__gopclntab"):
            pcln_sec = s.name
    facts = BinaryFacts(
        format=bin.format,
        kind=bin.kind,
        go_version=version,
        has_section_headers=bool(bin.sections()),
        has_symtab=has_symtab,
        has_dynsym=bin.format == "elf" and bin.section(".dynsym") is not None,
        pclntab_found=True,
        pclntab_section=pcln_sec,
        pclntab_symbols=_pclntab_symbols(bin),
        dwarf=dw.has_info or dw.has_line,
        dwarf_version=dw.version,
        dwarf_line=dw.has_line,
        gnu_build_id=gnu,
        dwarf_compressed=dw.compressed,
    )
    sections = [
        {"name": s.name, "size": s.file_size, "mem_size": s.size, "addr": s.addr,
         "class": retention.classify(s), "compressed": s.compressed}
        for s in bin.sections()
    ]
    totals = retention.totals(bin, file_size)
    symtab_bytes = next(t.bytes for t in totals if t.name == retention.SYMTAB)
    go: dict[str, Any] = {
        "version": version,
        "version_source": vsource,
        "build_id": goid,
        "build_id_redacted": buildid.is_redacted(goid) if goid else False,
        "pclntab": {
            "magic": f"{tab.magic:#010x}",
            "generation": tab.generation,
            "offset": loc.offset,
            "vaddr": loc.vaddr,
            "size": loc.size,
            "source": loc.source,
            "section": pcln_sec,
            "quantum": tab.quantum,
            "ptr_size": tab.ptrsize,
            "functions": tab.nfunc,
            "files": tab.nfiles,
        },
        "text_start": text_start,
        "text_start_source": text_source,
        "moduledata": moduledata_found,
        "buildinfo": bi.to_json() if bi is not None else None,
        "buildinfo_source": bi.source if bi is not None else None,
    }
    return InspectReport(
        path=os.path.abspath(bin.path),
        file_size=file_size,
        binary={
            "format": bin.format,
            "arch": bin.arch,
            "bits": bin.bits,
            "endian": bin.byteorder,
            "type": bin.kind,
            "section_headers": bool(bin.sections()),
        },
        go=go,
        gnu_build_id=gnu,
        sections=sections,
        classes=[{"name": t.name, "bytes": t.bytes, "percent": round(t.percent, 2),
                  "help": retention.CLASS_HELP[t.name]} for t in totals],
        stripped={"symtab": not has_symtab, "dwarf": not facts.dwarf},
        dwarf={"present": dw.present, "version": dw.version, "line": dw.has_line, "frame": dw.has_frame,
               "compressed": dw.compressed, "bytes": dw.bytes},
        consumers=verdicts(facts),
        advice=advice(facts, dw.bytes, symtab_bytes, file_size, path=str(bin.path)),
        warnings=warnings,
    )
