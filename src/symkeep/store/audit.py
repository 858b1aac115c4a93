"""The hash-chained audit log: every change to the store, in order, each entry sealing the previous.

Entry ``n`` is canonical JSON (sorted keys, no spaces) of ``{seq, time, op, build_id, kind, path,
rank, sha256, size, uploader, prev}``; its hash is ``sha256(prev + "\\n" + json)`` hex, where
``prev`` is entry ``n-1``'s hash (64 zeros for entry 0). Editing, deleting, inserting or swapping an
entry breaks the chain at that point; ``verify_chain`` reports the first break. The head hash printed by
``store verify`` can be kept elsewhere to detect a truncated tail.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

__all__ = ["GENESIS", "AuditEntry", "chain_hash", "now_rfc3339", "verify_chain"]

GENESIS = "0" * 64


def now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class AuditEntry:
    seq: int
    time: str
    op: str  # 'put'
    build_id: str
    kind: str
    path: str
    rank: int
    sha256: str
    size: int
    uploader: str
    prev: str

    def body(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))

    def sealed(self) -> dict[str, Any]:
        """The stored form: the entry plus its hash."""
        d = asdict(self)
        d["hash"] = chain_hash(self.prev, self.body())
        return d

    @staticmethod
    def from_stored(d: dict[str, Any]) -> tuple[AuditEntry, str]:
        h = str(d.get("hash", ""))
        e = AuditEntry(**{k: d[k] for k in AuditEntry.__dataclass_fields__})
        return e, h


def chain_hash(prev: str, body: str) -> str:
    return hashlib.sha256((prev + "\n" + body).encode()).hexdigest()


def verify_chain(stored: Iterable[dict[str, Any]]) -> tuple[list[str], str, dict[int, AuditEntry]]:
    """(problems, head hash, entries by seq) for stored entries given in seq order."""
    problems: list[str] = []
    prev = GENESIS
    by_seq: dict[int, AuditEntry] = {}
    for expect, d in enumerate(stored):
        try:
            e, h = AuditEntry.from_stored(d)
        except (KeyError, TypeError) as ex:
            problems.append(f"audit entry {expect}: malformed ({ex})")
            return problems, prev, by_seq
        if e.seq != expect:
            problems.append(f"audit entry {expect}: found seq {e.seq} (an entry was deleted or inserted)")
            return problems, prev, by_seq
        if e.prev != prev:
            problems.append(f"audit entry {e.seq}: prev hash does not match entry {e.seq - 1} (chain broken)")
            return problems, prev, by_seq
        if chain_hash(e.prev, e.body()) != h:
            problems.append(f"audit entry {e.seq}: hash does not match its contents (entry edited)")
            return problems, prev, by_seq
        by_seq[e.seq] = e
        prev = h
    return problems, prev, by_seq
