"""Checks that need only the binary: stripped vs the consumer in use, the cgo text-start trap,
a missing GNU build-id, and -trimpath file names vs source lookup."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from symkeep.doctor.model import Finding
from symkeep.inspect.consumers import Verdict

__all__ = ["BinaryFacts", "binary_facts", "check_build_id", "check_stripped", "check_text_start", "check_trimpath"]


@dataclass
class BinaryFacts:
    path: str
    format: str
    go_version: str | None
    has_symtab: bool
    has_dwarf: bool
    gnu_id: str | None
    go_id: str | None
    text_section: int | None
    text_start: int | None
    text_start_source: str | None
    consumers: list[Verdict]
    main_files: list[str] = field(default_factory=list)  # file names of the main module's functions
    trimpath: bool = False
    main_module: str | None = None

    @property
    def text_shift(self) -> int:
        """How far go tool pprof/addr2line misplace every function (0 when they are right)."""
        if self.has_symtab or self.format != "elf" or self.text_section is None or self.text_start is None:
            return 0
        return self.text_start - self.text_section

    def verdict(self, consumer: str) -> Verdict | None:
        return next((v for v in self.consumers if v.name == consumer), None)


def binary_facts(path: str) -> BinaryFacts:
    from symkeep.inspect.report import inspect_path
    from symkeep.symbolize import GoEngine, open_go_binary

    rep = inspect_path(path)
    go = rep.go
    bi = go.get("buildinfo") or {}
    settings = bi.get("settings") or {}
    f = BinaryFacts(
        path=path, format=rep.binary["format"], go_version=go.get("version"), has_symtab=not rep.stripped["symtab"],
        has_dwarf=not rep.stripped["dwarf"], gnu_id=rep.gnu_build_id, go_id=go.get("build_id"),
        text_section=next((s["addr"] for s in rep.sections if s["name"] == ".text"), None),
        text_start=go.get("text_start"), text_start_source=go.get("text_start_source"), consumers=rep.consumers,
        trimpath=settings.get("-trimpath") == "true", main_module=bi.get("path") or None,
    )
    eng: GoEngine = open_go_binary(path)
    try:
        files = sorted({fn.file for fn in eng.functions() if fn.package == "main" and fn.file and fn.file != "?"})
    finally:
        eng.close()
    f.main_files = files
    return f


def check_stripped(f: BinaryFacts, consumers: list[str], rescued_by: str | None) -> list[Finding]:
    """The consumers in use that cannot name this binary's functions (``rescued_by``: a debug file found)."""
    out: list[Finding] = []
    blind = [v for v in f.consumers if not v.works and v.name != "debuginfod indexing"]
    for name in consumers:
        v = f.verdict(name)
        if v is None:
            continue
        ev = [f"{f.path}: .symtab {'present' if f.has_symtab else 'stripped'}, DWARF "
              f"{'present' if f.has_dwarf else 'stripped'}", f"{v.name}: {v.reason}"]
        if v.works:
            out.append(Finding("stripped-for-consumer", "ok", f"{v.name} can name this binary's functions", ev))
        elif rescued_by:
            out.append(Finding("stripped-for-consumer", "ok", f"{v.name} names it through {rescued_by}", ev))
        else:
            out.append(Finding("stripped-for-consumer", "problem",
                               f"{v.name} cannot name this binary's functions: {v.reason}", ev,
                               f"`symkeep restore {f.path} --perf-cache` (perf) or `--install DIR` (gdb, "
                               f"llvm-symbolizer), or `symkeep symbolize PROFILE --binary {f.path}`; keep the "
                               "unstripped build in a symbol store"))
    if not consumers and blind:
        out.append(Finding("stripped-for-consumer", "info",
                           "blind on this binary: " + ", ".join(v.name for v in blind),
                           [f"{v.name}: {v.reason}" for v in blind],
                           f"`symkeep restore {f.path} -o {os.path.basename(f.path)}.debug` gives them symbols back"))
    return out


def check_text_start(f: BinaryFacts) -> Finding:
    shift = f.text_shift
    ev = [f".text section at {f.text_section:#x}" if f.text_section is not None else ".text: none",
          f"runtime.text (from {f.text_start_source}) at {f.text_start:#x}" if f.text_start is not None else "",
          f".symtab {'present' if f.has_symtab else 'stripped'}"]
    ev = [e for e in ev if e]
    if shift == 0:
        return Finding("cgo-text-start", "ok", "go tool pprof/addr2line find the right text start", ev)
    return Finding("cgo-text-start", "problem",
                   f"stripped externally linked binary: .text starts {shift:#x} bytes before runtime.text (C code "
                   f"first), so `go tool pprof -symbolize=local` and `go tool addr2line` name the function "
                   f"{shift:#x} bytes further on for every address", ev,
                   "symbolize with symkeep (`symkeep symbolize PROFILE --binary BIN`, it reads moduledata.text), "
                   "or keep .symtab in cgo builds (drop -s)", {"shift": shift})


def check_build_id(f: BinaryFacts) -> Finding | None:
    if f.format != "elf":
        return None
    if f.gnu_id:
        return Finding("no-gnu-build-id", "ok", f"GNU build-id {f.gnu_id}", [f"{f.path}: NT_GNU_BUILD_ID {f.gnu_id}"])
    return Finding("no-gnu-build-id", "problem",
                   "no GNU build-id: debuginfod, perf's build-id cache and gdb's .build-id lookup cannot find debug "
                   "files for this binary", [f"{f.path}: no NT_GNU_BUILD_ID note", f"built with {f.go_version}"],
                   "link with -ldflags=-B gobuildid (Go 1.22+; default from Go 1.24), or -linkmode=external")


def check_trimpath(f: BinaryFacts) -> Finding | None:
    if not f.main_files:
        return None
    rel = [p for p in f.main_files if not os.path.isabs(p)]
    sample = (rel or f.main_files)[0]
    if rel or f.trimpath:
        return Finding("trimpath-sources", "problem",
                       f"-trimpath build: file names are module-relative (e.g. {sample}), so `pprof -list`, "
                       "gdb and editors cannot open the sources without a path mapping",
                       [f"build setting -trimpath={'true' if f.trimpath else '?'}",
                        f"{len(rel)} of {len(f.main_files)} main-package files are relative: {sample}"],
                       f"go tool pprof -source_path=$PWD -trim_path={(f.main_module or 'MODULE')}/ ...; gdb: "
                       f"set substitute-path {(f.main_module or 'MODULE')} $PWD")
    missing = [p for p in f.main_files if not os.path.exists(p)]
    if missing:
        return Finding("trimpath-sources", "info",
                       f"source files of package main are not on this machine (e.g. {missing[0]})",
                       [f"{len(missing)} of {len(f.main_files)} main-package files missing here"],
                       "check out the revision in the build info, or map paths (pprof -source_path)")
    return Finding("trimpath-sources", "ok", "absolute source paths, present on this machine",
                   [f"e.g. {f.main_files[0]}"])
