"""The index record: what the store knows about one stored artifact of one build.

One record per (build ID, kind, source path, rank). A build with both a GNU build-id and a Go build ID
has one record under each. Records are write-once: a better artifact for the same build does not
overwrite a worse one, it is added with a higher ``rank`` and readers take the highest (DWARF 3 >
synthesized 2 > executable only / symbols only 1). That gives both backends the same semantics with
nothing but "create if absent" (SQLite primary key, S3 ``If-None-Match: *``).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from symkeep.errors import FormatError, UsageError

__all__ = ["KINDS", "RANK_DWARF", "RANK_PLAIN", "RANK_SYNTH", "SCHEMA", "Record", "check_kind", "rank_for"]

SCHEMA = 1
#: Stored kinds. ``index`` is reserved for the per-build symbol index (issue 13).
KINDS = ("executable", "debuginfo", "synthesized", "source", "index")
RANK_PLAIN = 1  # an executable or debug file without DWARF (symbols and/or .gopclntab only)
RANK_SYNTH = 2  # a debug file synthesized from .gopclntab by `symkeep restore`
RANK_DWARF = 3  # real DWARF from the toolchain


def check_kind(kind: str) -> str:
    if kind not in KINDS:
        raise UsageError(f"bad kind {kind[:40]!r}: one of {', '.join(KINDS)}")
    return kind


def rank_for(kind: str, has_dwarf: bool) -> int:
    if kind == "synthesized":
        return RANK_SYNTH
    if kind in ("source", "index"):
        return RANK_PLAIN
    return RANK_DWARF if has_dwarf else RANK_PLAIN


@dataclass
class Record:
    """One index entry (JSON on S3, a row's ``record`` column in SQLite). Field names are the schema."""

    build_id: str  # the key this record is filed under (GNU hex or Go build ID)
    kind: str
    sha256: str
    size: int
    rank: int
    path: str = ""  # source path for kind 'source', else ""
    file: str = ""  # the archived file's original path (X-DEBUGINFOD-FILE, /metadata)
    archive: str = ""  # upstream's X-DEBUGINFOD-ARCHIVE for a federated file, else ""
    gnu_build_id: str | None = None
    go_build_id: str | None = None
    format: str = ""
    arch: str = ""
    go_version: str | None = None
    module: str | None = None
    module_version: str | None = None
    vcs_revision: str | None = None
    vcs_modified: bool | None = None
    settings: dict[str, str] = field(default_factory=dict)
    has_dwarf: bool = False
    has_symtab: bool = False
    has_pclntab: bool = False
    dwarf_version: int | None = None
    uploaded_at: str = ""  # RFC 3339 UTC
    uploader: str = ""
    audit_seq: int = -1  # the audit entry that recorded this put
    schema: int = SCHEMA

    @property
    def slot(self) -> tuple[str, str, str]:
        return (self.build_id, self.kind, self.path)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))

    @staticmethod
    def from_json(text: str | bytes) -> Record:
        try:
            d = json.loads(text)
            names = {f.name for f in fields(Record)}
            rec = Record(**{k: v for k, v in d.items() if k in names})
        except (ValueError, TypeError) as e:
            raise FormatError(f"bad index record: {e}", what="store index") from e
        if not isinstance(rec.sha256, str) or len(rec.sha256) != 64 or not isinstance(rec.size, int):
            raise FormatError("bad index record: sha256/size", what="store index")
        return rec

    def public(self) -> dict[str, Any]:
        """The record as JSON-able data for --json and /metadata."""
        return asdict(self)
