"""``archive``: walk files and directories, decide what each file is, and hand it to a sink.

A sink is the local ``Store`` or the HTTP uploader (``symkeep.store.client.ServerSink``): both take
``put(path, kind, info, keys, source_path)``. Directories are walked recursively, following symlinks
to files (``.build-id/xx/yyyy.debug`` trees are symlink farms) but each real file once. A file is an
executable when its ``.text`` has bytes, else a debug file; a stripped Go ELF executable (no DWARF)
also gets its synthesized debug file, unless ``synthesize=False``.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from symkeep.binfmt import detect_format
from symkeep.errors import AuthError, InputError, OutputError, SymkeepError, ToolError, UnsupportedError
from symkeep.fsio import check_input_file
from symkeep.store.meta import ArtifactInfo, describe
from symkeep.store.store import PutResult, Store

__all__ = ["ArchiveSummary", "Progress", "Sink", "StoreSink", "archive_paths", "collect_files"]


class Sink(Protocol):
    """Where archived files go: ``StoreSink`` (a local or S3 store) or ``client.ServerSink`` (HTTP)."""

    def put(self, path: Path, kind: str, info: ArtifactInfo | None, keys: list[str] | None,
            source_path: str = "") -> list[PutResult]: ...

    def put_bytes(self, data: bytes, kind: str, info: ArtifactInfo, keys: list[str],
                  file_name: str) -> list[PutResult]: ...

    def put_index(self, path: Path, keys: list[str]) -> list[PutResult]:
        """The symbol index of the Go executable at ``path``, filed under ``keys``."""
        ...


class Progress(Protocol):
    def phase(self, name: str, total: int) -> None: ...

    def advance(self, what: str) -> None: ...


@dataclass
class ArchiveSummary:
    files: int = 0
    results: list[PutResult] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)
    errors: list[dict[str, str]] = field(default_factory=list)
    fatal: SymkeepError | None = None  # the first error of an explicitly named file (the CLI's exit code)

    def counts(self) -> dict[str, int]:
        c: dict[str, int] = {}
        for r in self.results:
            c[r.status] = c.get(r.status, 0) + 1
        return c

    def as_dict(self) -> dict[str, Any]:
        return {"files": self.files, "counts": self.counts(),
                "stored_bytes": sum(r.size for r in self.results if r.status == "stored"),
                "results": [r.as_dict() for r in self.results], "skipped": self.skipped, "errors": self.errors}


def _is_binary(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            return detect_format(f.read(4)) is not None
    except OSError:
        return False


def collect_files(inputs: list[str]) -> tuple[list[tuple[Path, bool]], list[dict[str, str]]]:
    """(file, named explicitly) for every candidate, each real file once; plus unreadable inputs."""
    seen: set[tuple[int, int]] = set()
    out: list[tuple[Path, bool]] = []
    bad: list[dict[str, str]] = []

    def add(p: Path, explicit: bool) -> None:
        try:
            st = p.stat()
        except OSError:
            return
        key = (st.st_dev, st.st_ino)
        if key not in seen:
            seen.add(key)
            out.append((p, explicit))

    for inp in inputs:
        p = Path(inp)
        if p.is_dir():
            for root, dirs, files in os.walk(p, followlinks=False):
                dirs.sort()
                for name in sorted(files):
                    fp = Path(root) / name
                    if fp.is_file() and _is_binary(fp):
                        add(fp, False)
        else:
            try:
                check_input_file(p)
            except InputError as e:
                bad.append({"path": str(p), "error": str(e)})
                continue
            add(p, True)
    return out, bad


def archive_paths(inputs: list[str], sink: Sink, *, synthesize: bool = True, key: str | None = None,
                  sources: bool = False, source_roots: list[str] | None = None,
                  progress: Progress | None = None,
                  synthesizer: Callable[[Path], bytes] | None = None) -> ArchiveSummary:
    """Archive every binary under ``inputs``. Per-file problems are collected, not raised: a file found in a
    directory walk is skipped with its reason, an explicitly named one is an error (``summ.fatal``)."""
    summ = ArchiveSummary()
    files, bad = collect_files(inputs)
    summ.errors.extend(bad)
    if progress:
        progress.phase("scan", len(files))
    pending_synth: list[tuple[Path, ArtifactInfo]] = []
    pending_index: list[tuple[Path, ArtifactInfo]] = []
    if progress:
        progress.phase("store", len(files))
    for path, explicit in files:
        summ.files += 1
        try:
            info = describe(str(path))
            keys = [key] if key else None
            if not info.ids and not key:
                raise UnsupportedError(f"{path}: no GNU build-id and no Go build ID; refusing to archive it "
                                       "without --key")
            summ.results.extend(sink.put(path, info.natural_kind, info, keys))
            if (synthesize and info.format == "elf" and info.natural_kind == "executable" and not info.has_dwarf
                    and info.has_pclntab):
                pending_synth.append((path, info))
            if info.natural_kind == "executable" and info.has_pclntab:
                pending_index.append((path, info))
            if sources and info.has_pclntab:
                _archive_sources(path, info, keys, sink, source_roots or [], summ)
        except (ToolError, AuthError, OutputError):
            raise  # the sink failed (server down, bad token, disk full): nothing further can succeed
        except SymkeepError as e:
            if explicit:
                summ.errors.append({"path": str(path), "error": str(e)})
                summ.fatal = summ.fatal or e
            else:
                summ.skipped.append({"path": str(path), "reason": str(e)})
        if progress:
            progress.advance(str(path))
    # a real DWARF debug file for the same build in this run makes the synthesized one pointless
    dwarf_ids = {r.build_id for r in summ.results if r.rank >= 3 and r.kind in ("debuginfo", "executable")}
    pending_synth = [(p, i) for p, i in pending_synth if not (set(i.ids) & dwarf_ids)]
    if pending_synth:
        if progress:
            progress.phase("synthesize", len(pending_synth))
        for path, info in pending_synth:
            try:
                data = synthesizer(path) if synthesizer else _synthesize(path)
                summ.results.extend(sink.put_bytes(data, "synthesized", info, [key] if key else info.ids,
                                                   os.path.abspath(path) + ".debug"))
            except SymkeepError as e:
                summ.skipped.append({"path": str(path), "reason": f"no synthesized debug file: {e}"})
            if progress:
                progress.advance(str(path))
    if pending_index:
        if progress:
            progress.phase("index", len(pending_index))
        for path, info in pending_index:
            try:
                summ.results.extend(sink.put_index(path, [key] if key else info.ids))
            except (ToolError, AuthError, OutputError):
                raise
            except SymkeepError as e:
                summ.skipped.append({"path": str(path), "reason": f"no symbol index: {e}"})
            if progress:
                progress.advance(str(path))
    return summ


def _synthesize(path: Path) -> bytes:
    from symkeep.restore import restore_result
    from symkeep.symbolize import open_go_binary

    gob = open_go_binary(str(path))
    try:
        return restore_result(gob).data
    finally:
        with contextlib.suppress(Exception):
            gob.binary.close()


def _archive_sources(path: Path, info: ArtifactInfo, keys: list[str] | None, sink: Sink,
                     roots: list[str], summ: ArchiveSummary) -> None:
    """Archive the source files named by the binary's function table that exist here (under ``roots``)."""
    from symkeep.symbolize import open_go_binary

    gob = open_go_binary(str(path))
    names = sorted({f.file for f in gob.functions() if f.file and f.file.startswith("/")})
    real_roots = [os.path.realpath(r) for r in roots]
    for name in names:
        real = os.path.realpath(name)
        if real_roots and not any(real == r or real.startswith(r.rstrip("/") + "/") for r in real_roots):
            continue
        if not os.path.isfile(real):
            continue
        summ.results.extend(sink.put(Path(real), "source", info, keys or info.ids, source_path=name))


class StoreSink:
    """Archive straight into a store (the embedded directory or S3)."""

    def __init__(self, store: Store, uploader: str = "") -> None:
        self.store = store
        self.uploader = uploader or _whoami()

    def put(self, path: Path, kind: str, info: ArtifactInfo | None, keys: list[str] | None,
            source_path: str = "") -> list[PutResult]:
        return self.store.ingest(path, kind=kind, info=None if kind == "source" else info,
                                 keys=keys or (info.ids if info else None), source_path=source_path,
                                 uploader=self.uploader, file_name=os.path.abspath(path))

    def put_bytes(self, data: bytes, kind: str, info: ArtifactInfo, keys: list[str],
                  file_name: str) -> list[PutResult]:
        stage = self.store.new_staging_path()
        try:
            with open(stage, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            sinfo = describe(str(stage))
            for k in ("go_version", "module", "module_version", "vcs_revision", "vcs_modified", "settings"):
                setattr(sinfo, k, getattr(info, k))
            return self.store.ingest(stage, kind=kind, info=sinfo, keys=keys, uploader=self.uploader,
                                     file_name=file_name)
        finally:
            with contextlib.suppress(OSError):
                stage.unlink()


    def put_index(self, path: Path, keys: list[str]) -> list[PutResult]:
        from symkeep.store.symindex import archive_index

        return archive_index(self.store, path, keys, self.uploader)


def _whoami() -> str:
    import getpass
    import socket

    try:
        return f"{getpass.getuser()}@{socket.gethostname()}"
    except (OSError, KeyError):
        return "unknown"
