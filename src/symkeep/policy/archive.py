"""The one door to a symbol archive: everything `check` (and `smoke --binary`) asks a store.

``ArchiveView.lookup(gnu_id, go_id)`` lists what is archived for a build, ``verify(record)`` re-hashes
the stored bytes against the recorded sha256. Three implementations:

- ``StoreArchive``: ``symkeep.store`` (issue 12), imported lazily; any URL that store understands
  (a directory, ``file://``, ``s3://``). It needs ``open_store(url)``, ``Store.records(build_id)``
  returning records with ``kind, sha256, size, has_dwarf, has_symtab`` and ``Store.blob_file(record)``
  raising ``SymkeepError`` when the blob is missing or its bytes no longer match.
- ``BuildIdDirArchive`` (``debugdir:PATH``): a build-id tree as gdb and perf read it
  (``PATH/.build-id/xx/rest.debug`` debug files, ``PATH/.build-id/xx/rest`` executables), each file with a
  ``.sha256`` sidecar holding its recorded hash. GNU build-ids only.
- ``Unconfigured``: no ``--store``, or no store module: every lookup raises ``ArchiveUnavailable``, which
  rules report as "skipped: store not configured" (never as a pass).
"""

from __future__ import annotations

import importlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from symkeep.binfmt.debugdirs import build_id_debug_path, build_id_exe_path, normalize_hex_build_id
from symkeep.errors import SymkeepError, UsageError
from symkeep.fsio import atomic_write, open_atomic, sha256_stream

__all__ = ["DEBUGDIR_SCHEME", "ArchiveUnavailable", "ArchiveView", "ArchivedRecord", "BuildIdDirArchive",
           "StoreArchive", "Unconfigured", "open_archive", "sha256_file"]

DEBUGDIR_SCHEME = "debugdir:"


class ArchiveUnavailable(Exception):
    """The archive cannot be asked (not configured, module missing, unreachable): rules skip."""


@dataclass(frozen=True)
class ArchivedRecord:
    build_id: str  # the key it is filed under
    kind: str  # executable | debuginfo | synthesized | source
    sha256: str | None  # the recorded hash (None: nothing recorded, cannot be verified)
    size: int | None
    has_dwarf: bool
    has_symtab: bool
    location: str  # where, for evidence
    handle: Any = None  # implementation detail (the store's record, the file's path)

    def to_json(self) -> dict[str, Any]:
        return {"build_id": self.build_id, "kind": self.kind, "sha256": self.sha256, "size": self.size,
                "has_dwarf": self.has_dwarf, "has_symtab": self.has_symtab, "location": self.location}


class ArchiveView(Protocol):
    @property
    def name(self) -> str: ...

    def lookup(self, gnu_id: str | None, go_id: str | None) -> list[ArchivedRecord]: ...

    def verify(self, rec: ArchivedRecord) -> str | None:
        """None when the stored bytes match the recorded sha256, else why not."""
        ...


def sha256_file(path: str | os.PathLike[str]) -> str:
    with open(path, "rb") as f:
        return sha256_stream(f)[0]


class Unconfigured:
    def __init__(self, reason: str) -> None:
        self.reason = reason

    @property
    def name(self) -> str:
        return "(none)"

    def lookup(self, gnu_id: str | None, go_id: str | None) -> list[ArchivedRecord]:
        raise ArchiveUnavailable(self.reason)

    def verify(self, rec: ArchivedRecord) -> str | None:
        raise ArchiveUnavailable(self.reason)


def _quality(path: Path) -> tuple[bool, bool]:
    """(has_dwarf, has_symtab) of an archived ELF file; (False, False) when it is not one."""
    from symkeep.binfmt import open_binary
    from symkeep.inspect.retention import DWARF, SYMTAB, classify

    try:
        with open_binary(str(path)) as b:
            classes = {classify(s) for s in b.sections() if s.file_size}
    except SymkeepError:
        return False, False
    return DWARF in classes, SYMTAB in classes


class BuildIdDirArchive:
    """A build-id directory tree with ``.sha256`` sidecars (see the module docstring)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    @property
    def name(self) -> str:
        return f"{DEBUGDIR_SCHEME}{self.root}"

    def lookup(self, gnu_id: str | None, go_id: str | None) -> list[ArchivedRecord]:
        if not self.root.is_dir():
            raise ArchiveUnavailable(f"{self.root}: no such directory")
        if not gnu_id:
            return []  # build-id trees are keyed by GNU build-id only
        out = []
        for kind, path in (("debuginfo", build_id_debug_path(self.root, gnu_id)),
                           ("executable", build_id_exe_path(self.root, gnu_id))):
            if not path.is_file():
                continue
            side = path.with_name(path.name + ".sha256")
            try:
                recorded: str | None = side.read_text().split()[0].lower()
            except (OSError, IndexError):
                recorded = None
            dwarf, symtab = _quality(path)
            out.append(ArchivedRecord(gnu_id, kind, recorded, path.stat().st_size, dwarf, symtab, str(path), path))
        return out

    def verify(self, rec: ArchivedRecord) -> str | None:
        path = Path(rec.handle)
        if rec.sha256 is None:
            return f"{path}: no recorded sha256 ({path.name}.sha256 missing): cannot verify"
        try:
            got = sha256_file(path)
        except OSError as e:
            return f"{path}: {e.strerror or e}"
        if got != rec.sha256:
            return f"{path}: stored bytes hash to {got[:16]}..., recorded {rec.sha256[:16]}...: tampered or corrupt"
        return None

    def add(self, path: str | os.PathLike[str], gnu_id: str, kind: str) -> Path:
        """Archive ``path`` under ``gnu_id`` (kind debuginfo or executable) with its sha256 sidecar."""
        bid = normalize_hex_build_id(gnu_id)
        dest = build_id_debug_path(self.root, bid) if kind == "debuginfo" else build_id_exe_path(self.root, bid)
        with open(path, "rb") as src, open_atomic(dest) as out:
            shutil.copyfileobj(src, out)
        atomic_write(dest.with_name(dest.name + ".sha256"), (sha256_file(dest) + "\n").encode())
        return dest


class StoreArchive:
    """``symkeep.store`` behind the ArchiveView interface."""

    def __init__(self, store: Any, url: str) -> None:
        self.store = store
        self.url = url

    @property
    def name(self) -> str:
        return self.url

    def lookup(self, gnu_id: str | None, go_id: str | None) -> list[ArchivedRecord]:
        out: list[ArchivedRecord] = []
        seen: set[tuple[str, str]] = set()
        for bid in (gnu_id, go_id):
            if not bid:
                continue
            try:
                recs = self.store.records(bid)
            except SymkeepError as e:
                raise ArchiveUnavailable(f"store {self.url}: {e}") from e
            for r in recs:
                if (r.kind, r.sha256) in seen or r.kind not in ("executable", "debuginfo", "synthesized"):
                    continue
                seen.add((r.kind, r.sha256))
                out.append(ArchivedRecord(bid, r.kind, r.sha256, r.size, bool(r.has_dwarf), bool(r.has_symtab),
                                          f"{self.url} blob {r.sha256}", r))
        return out

    def verify(self, rec: ArchivedRecord) -> str | None:
        try:
            self.store.blob_file(rec.handle)
        except SymkeepError as e:
            return str(e)
        except OSError as e:
            return f"blob {rec.sha256}: {e.strerror or e}"
        return None


def open_archive(url: str | None) -> ArchiveView:
    """The archive for ``--store URL`` (see the module docstring); ``Unconfigured`` when there is none."""
    if not url:
        return Unconfigured("store not configured (no --store)")
    if url.startswith(DEBUGDIR_SCHEME):
        root = url[len(DEBUGDIR_SCHEME):]
        if not root or not os.path.isdir(root):
            raise UsageError(f"--store {url}: {root or '(empty)'} is not a directory")
        return BuildIdDirArchive(root)
    try:
        mod = importlib.import_module("symkeep.store")
    except ImportError:
        return Unconfigured(f"store not configured: this symkeep has no symkeep.store module (for {url})")
    try:
        store = mod.open_store(url)
    except SymkeepError as e:
        raise UsageError(f"--store {url}: {e}") from e
    return StoreArchive(store, url)
