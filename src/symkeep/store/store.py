"""``Store``: what the CLI and the server do with a backend: ingest files, resolve builds, guard blobs.

Resolution rules (the same on every backend):
- a slot (build ID, kind, path) holds write-once records of increasing rank; the highest rank wins;
- ``/debuginfo`` takes the best of: a debug file (any rank), the executable if it carries DWARF (as
  elfutils serves an unstripped ELF as its own debug file) and the synthesized debug file; on equal
  rank the uploaded debug file comes first, then the executable, then the synthesized one;
- a blob is handed out only after its bytes were hashed and matched its sha256 in this process, and
  again whenever its file's (inode, size, mtime, ctime) changes: a swapped or edited blob is never served.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from symkeep.errors import FormatError, NotFoundError
from symkeep.fsio import sha256_stream
from symkeep.store.audit import now_rfc3339
from symkeep.store.backend import Backend, open_backend
from symkeep.store.ids import normalize_id
from symkeep.store.meta import ArtifactInfo, describe
from symkeep.store.record import RANK_DWARF, Record, check_kind, rank_for

__all__ = ["PutResult", "Store", "hash_file", "open_store"]

_DEBUG_PREF = {"debuginfo": 0, "executable": 1, "synthesized": 2}


def hash_file(path: str | os.PathLike[str]) -> tuple[str, int]:
    with open(path, "rb") as f:
        return sha256_stream(f)


@dataclass
class PutResult:
    build_id: str
    kind: str
    path: str
    rank: int
    sha256: str
    size: int
    status: str  # stored | exists | conflict | kept-better
    file: str = ""

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class Store:
    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.url = backend.url
        self._verified: dict[str, tuple[str, tuple[int, int, int, int]]] = {}  # sha -> (path, stat signature)
        self._vlock = threading.Lock()

    # -- writing ----------------------------------------------------------------------------------
    def ingest(self, path: str | os.PathLike[str], *, kind: str | None = None, info: ArtifactInfo | None = None,
               keys: list[str] | None = None, source_path: str = "", uploader: str = "",
               file_name: str | None = None, sha: tuple[str, int] | None = None,
               archive: str = "") -> list[PutResult]:
        """Store the file at ``path`` under every build ID it carries (or ``keys``), as ``kind``."""
        p = Path(path)
        if info is None and kind not in ("source", "index"):  # sources and symbol indexes are not binaries
            info = describe(str(p))
        kind = check_kind(kind or (info.natural_kind if info else "source"))
        ids = [normalize_id(k) for k in (keys or (info.ids if info else []))]
        if not ids:
            raise FormatError(f"{file_name or p}: no GNU build-id and no Go build ID (give --key)")
        sha256, size = sha or hash_file(p)
        rank = rank_for(kind, bool(info and info.has_dwarf))
        base = Record(build_id="", kind=kind, sha256=sha256, size=size, rank=rank, path=source_path,
                      file=file_name if file_name is not None else str(p), uploaded_at=now_rfc3339(),
                      uploader=uploader, archive=archive)
        if info is not None:
            for f in ("gnu_build_id", "go_build_id", "format", "arch", "go_version", "module", "module_version",
                      "vcs_revision", "vcs_modified", "settings", "has_dwarf", "has_symtab", "has_pclntab",
                      "dwarf_version"):
                setattr(base, f, getattr(info, f))
        stored_blob = False
        out: list[PutResult] = []
        # The first ID is the claim: two uploaders of different bytes for the same build race for its
        # slot, and only the winner files the build under its other IDs. Otherwise each could win one
        # ID (the GNU build-id and the Go build ID are separate write-once slots) and both "win".
        lost_claim = False
        for n, bid in enumerate(ids):
            if lost_claim:
                out.append(PutResult(bid, kind, source_path, rank, sha256, size, "conflict", base.file))
                continue
            existing = [r for r in self.backend.records(bid) if r.kind == kind and r.path == source_path]
            same = next((r for r in existing if r.rank == rank), None)
            better = max((r.rank for r in existing), default=0) > rank
            if same is not None or better:
                status = "exists" if same is not None and same.sha256 == sha256 else (
                    "kept-better" if better and same is None else "conflict")
                out.append(PutResult(bid, kind, source_path, rank, sha256, size, status, base.file))
                lost_claim = n == 0 and status == "conflict"
                continue
            if not stored_blob:
                self.backend.put_blob(p, sha256)
                stored_blob = True
            rec = Record(**{**base.__dict__, "build_id": bid})
            won = self.backend.add_record(rec)
            status = "stored" if won.sha256 == sha256 and won.audit_seq == rec.audit_seq else (
                "exists" if won.sha256 == sha256 else "conflict")
            out.append(PutResult(bid, kind, source_path, rank, sha256, size, status, base.file))
            lost_claim = n == 0 and status == "conflict"
        return out

    def synthesize(self, build_id: str, uploader: str = "symkeep") -> list[PutResult]:
        """Synthesize and store the debug file of the build's stored Go executable (ELF only)."""
        exe = self.lookup(build_id, "executable")
        if exe is None:
            raise NotFoundError(f"build {build_id}: no executable stored")
        from symkeep.restore import restore_result
        from symkeep.symbolize import open_go_binary

        gob = open_go_binary(str(self.blob_file(exe)))
        try:
            res = restore_result(gob)
        finally:
            with contextlib.suppress(Exception):
                gob.binary.close()
        return self.ingest_bytes(res.data, kind="synthesized", like=exe, uploader=uploader)

    def ingest_bytes(self, data: bytes, *, kind: str, like: Record, uploader: str) -> list[PutResult]:
        """Store generated bytes (a synthesized debug file) under the IDs of an existing build."""
        stage = self.new_staging_path()
        try:
            with open(stage, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            info = describe(str(stage))
            keys = [k for k in (like.gnu_build_id, like.go_build_id) if k] or [like.build_id]
            info.go_version, info.module, info.module_version = like.go_version, like.module, like.module_version
            info.vcs_revision, info.vcs_modified, info.settings = like.vcs_revision, like.vcs_modified, like.settings
            return self.ingest(stage, kind=kind, info=info, keys=keys, uploader=uploader,
                               file_name=(like.file + ".debug") if like.file else "")
        finally:
            with contextlib.suppress(OSError):
                stage.unlink()

    def new_staging_path(self) -> Path:
        fn = getattr(self.backend, "new_staging_path", None)
        if fn is not None:
            p: Path = fn()
            return p
        import uuid

        return self.backend.staging_dir() / f"{os.getpid()}-{uuid.uuid4().hex}"

    # -- reading ----------------------------------------------------------------------------------
    def records(self, build_id: str) -> list[Record]:
        return self.backend.records(normalize_id(build_id))

    def lookup(self, build_id: str, kind: str, path: str = "") -> Record | None:
        recs = [r for r in self.records(build_id) if r.kind == kind and r.path == path]
        return max(recs, key=lambda r: r.rank) if recs else None

    def resolve(self, build_id: str, kind: str, path: str = "") -> Record | None:
        """What a debuginfod request for ``kind`` gets (see the module docstring for debuginfo)."""
        recs = self.records(build_id)
        if kind != "debuginfo":
            cands = [r for r in recs if r.kind == kind and r.path == path]
            return max(cands, key=lambda r: r.rank) if cands else None
        cands = [r for r in recs if r.kind in ("debuginfo", "synthesized")
                 or (r.kind == "executable" and r.rank >= RANK_DWARF)]
        if not cands:
            return None
        return min(cands, key=lambda r: (-r.rank, _DEBUG_PREF[r.kind]))

    def blob_file(self, rec: Record) -> Path:
        """A local path with the record's bytes, verified against its sha256 (FormatError if not)."""
        p = self.backend.blob_file(rec.sha256)
        st = os.stat(p)
        sig = (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
        if self._verified.get(rec.sha256) == (str(p), sig):
            return p
        if st.st_size != rec.size:
            raise FormatError(f"stored blob {rec.sha256} is corrupt (size {st.st_size}, expected {rec.size}); "
                              "run `symkeep store verify`")
        got, _ = hash_file(p)
        if got != rec.sha256:
            raise FormatError(f"stored blob {rec.sha256} is corrupt (sha256 mismatch); run `symkeep store verify`")
        with self._vlock:
            if len(self._verified) > 100000:
                self._verified.clear()
            self._verified[rec.sha256] = (str(p), sig)
        return p

    def is_verified(self, rec: Record) -> str | None:
        """The blob's path when it was verified and is unchanged since (one stat, no hashing), else None."""
        hit = self._verified.get(rec.sha256)
        if hit is None:
            return None
        try:
            st = os.stat(hit[0])
        except OSError:
            return None
        return hit[0] if (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns) == hit[1] else None

    def iter_records(self) -> Iterator[Record]:
        return self.backend.iter_records()

    def close(self) -> None:
        self.backend.close()


def open_store(url: str | None = None, *, cache_dir: str | None = None) -> Store:
    return Store(open_backend(url, cache_dir=cache_dir))
