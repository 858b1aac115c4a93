"""The store's records grouped into builds, for the build list and a build's page.

A build is every record connected by a shared ID: records are filed once under the GNU build-id and
once under the Go build ID, and each record carries both IDs of its file, so the connected
components of {record key, GNU build-id, Go build ID} are the builds (a source, which carries no IDs
of its own, joins through its key). One build's records are deduplicated by (sha256, kind, path,
rank). What a build's stored executable lets each consumer do comes from ``symkeep.inspect`` on the
stored bytes (:func:`inspect_record`); the size treemap from ``symkeep.size`` (:func:`treemap_record`).
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from symkeep.store import Record, Store

__all__ = ["Build", "group_builds", "inspect_record", "treemap_record"]


@dataclass
class Build:
    key: str  # the ID its page is found by: the GNU build-id if it has one, else the Go build ID
    gnu: str | None = None
    go: str | None = None
    ids: set[str] = field(default_factory=set)
    records: list[Record] = field(default_factory=list)

    def best(self, *kinds: str) -> Record | None:
        cands = [r for r in self.records if r.kind in kinds]
        return max(cands, key=lambda r: (r.rank, kinds.index(r.kind) * -1)) if cands else None

    @property
    def exe(self) -> Record | None:
        return self.best("executable")

    @property
    def debug(self) -> Record | None:
        """What ``/debuginfo`` serves: real DWARF (debug file or executable) before a synthesized file."""
        cands = [r for r in self.records if r.kind in ("debuginfo", "synthesized")
                 or (r.kind == "executable" and r.has_dwarf)]
        order = {"debuginfo": 0, "executable": 1, "synthesized": 2}
        return min(cands, key=lambda r: (-r.rank, order[r.kind])) if cands else None

    @property
    def main(self) -> Record:
        """The record that describes the build (module, Go version, ...): the executable if stored."""
        return self.exe or self.best("debuginfo", "synthesized") or self.records[0]

    @property
    def sources(self) -> list[Record]:
        return [r for r in self.records if r.kind == "source"]

    @property
    def uploaded_at(self) -> str:
        return max((r.uploaded_at for r in self.records), default="")

    def flags(self) -> list[tuple[str, str, str]]:
        """(label, explanation, tone) quality flags; tone is ok / warn / bad."""
        out: list[tuple[str, str, str]] = []
        exe, dbg, m = self.exe, self.debug, self.main
        if exe is not None:
            if exe.has_symtab or exe.has_dwarf:
                what = " + ".join(x for x, y in (("symtab", exe.has_symtab), ("DWARF", exe.has_dwarf)) if y)
                out.append((f"ships {what}", "the executable carries its own symbols", "ok"))
            else:
                out.append(("stripped", "no .symtab and no DWARF in the executable (-s -w or strip)", "warn"))
            if not exe.has_pclntab:
                out.append(("no pclntab", "no .gopclntab found: symkeep cannot symbolize it", "bad"))
        else:
            out.append(("no executable", "only debug files are stored for this build", "warn"))
        if dbg is None:
            out.append(("no debug file", "/debuginfo has nothing to serve for this build", "bad"))
        elif dbg.kind == "synthesized":
            out.append(("debug: synthesized", "/debuginfo serves a debug file synthesized from .gopclntab", "ok"))
        else:
            v = f" v{dbg.dwarf_version}" if dbg.dwarf_version else ""
            out.append((f"debug: DWARF{v}", f"/debuginfo serves the toolchain's DWARF ({dbg.kind})", "ok"))
        if not self.gnu:
            out.append(("no GNU build-id", "debuginfod clients (gdb, perf) look builds up by GNU build-id only",
                        "warn"))
        if m.vcs_revision is None:
            out.append(("no vcs", "the build info records no vcs.revision", "warn"))
        elif m.vcs_modified:
            out.append(("vcs modified", "built from a work tree with uncommitted changes", "warn"))
        if self.sources:
            out.append((f"{len(self.sources)} sources", "source files archived for /source/PATH", "ok"))
        return out

    def haystack(self) -> str:
        m = self.main
        parts: list[str] = [*self.ids, m.module or "", m.module_version or "", m.go_version or "",
                            m.vcs_revision or "", m.arch, m.format]
        for r in self.records:
            parts += [r.file, os.path.basename(r.file), r.sha256, r.kind, r.uploader]
        return "\n".join(parts).lower()

    def matches(self, query: str) -> bool:
        """Every whitespace-separated term occurs (case-insensitively) in an ID, the module, version, Go
        version, vcs revision, arch, a file name, a sha256, a kind or the uploader."""
        terms = query.lower().split()
        if not terms:
            return True
        hay = self.haystack()
        return all(t in hay for t in terms)


class _Union:
    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, x: str) -> str:
        p = self.parent.setdefault(x, x)
        while p != self.parent[p]:
            self.parent[p] = self.parent[self.parent[p]]
            p = self.parent[p]
        self.parent[x] = p
        return p

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def group_builds(records: Iterable[Record]) -> list[Build]:
    """Builds, newest upload first."""
    uf = _Union()
    recs: list[Record] = []
    for r in records:
        if r.kind == "index":
            continue
        recs.append(r)
        uf.find(r.build_id)
        for other in (r.gnu_build_id, r.go_build_id):
            if other and r.kind != "source":
                uf.union(r.build_id, other)
    builds: dict[str, Build] = {}
    seen: set[tuple[str, str, str, int, str]] = set()
    for r in recs:
        b = builds.setdefault(uf.find(r.build_id), Build(key=""))
        b.ids.add(r.build_id)
        if r.kind != "source":
            for other in (r.gnu_build_id, r.go_build_id):
                if other:
                    b.ids.add(other)
            b.gnu = b.gnu or r.gnu_build_id
            b.go = b.go or r.go_build_id
        ident = (r.sha256, r.kind, r.path, r.rank, "")
        if ident not in seen:
            seen.add(ident)
            b.records.append(r)
    out = []
    for b in builds.values():
        b.key = b.gnu or b.go or min(b.ids)
        b.records.sort(key=lambda r: (r.kind, -r.rank, r.path))
        out.append(b)
    out.sort(key=lambda b: (b.uploaded_at, b.key), reverse=True)
    return out


def inspect_record(store: Store, rec: Record) -> dict[str, Any]:
    """``inspect --json`` of a stored file, with the blob's path replaced by the archived file name
    (the report and its advice never show the server's own paths)."""
    from symkeep.inspect.report import inspect_path

    path = str(store.blob_file(rec))
    rep = inspect_path(path).to_json()
    shown = os.path.basename(rec.file) or rec.sha256[:16]
    rep["path"] = shown
    # advice holds shell commands naming the file (shell-quoted, as inspect quotes the path it was given)
    rep["advice"] = [a.replace(path, shlex.quote(shown)) for a in rep.get("advice", [])]
    rep["warnings"] = [w.replace(path, shown) for w in rep.get("warnings", [])]
    return rep


def treemap_record(store: Store, rec: Record) -> bytes:
    """``symkeep size --html`` of a stored file (the treemap titled with the archived file name)."""
    from symkeep.size.analyze import analyze
    from symkeep.size.treemap import render_treemap

    path = str(store.blob_file(rec))
    rep = analyze(path)
    shown = os.path.basename(rec.file) or rec.sha256[:16]
    rep.path = shown
    return render_treemap(rep, title=f"symkeep size: {shown}")
