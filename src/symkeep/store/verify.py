"""``store verify``: re-hash every blob, check the audit chain, and cross-check index against audit.

Failures (exit 1): a blob whose bytes do not hash to its name, a record whose blob is missing or whose
size differs, a broken audit chain, a record with no audit entry or one whose audit entry names another
blob/slot (a swapped or edited record). Notes (not failures): blobs no record points to (left by a crash
between blob and index, or by an upload that lost a race) and audit entries whose put never completed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from symkeep.errors import SymkeepError
from symkeep.fsio import sha256_stream
from symkeep.store.audit import verify_chain
from symkeep.store.store import Store

__all__ = ["VerifyReport", "verify_store"]


@dataclass
class VerifyReport:
    blobs: int = 0
    bytes: int = 0
    records: int = 0
    audit_entries: int = 0
    audit_head: str = ""
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "blobs": self.blobs, "bytes": self.bytes, "records": self.records,
                "audit_entries": self.audit_entries, "audit_head": self.audit_head,
                "problems": self.problems, "notes": self.notes}


def verify_store(store: Store, progress: Callable[[str], None] | None = None) -> VerifyReport:
    be = store.backend
    rep = VerifyReport()
    sizes: dict[str, int] = {}
    bad: set[str] = set()
    for sha in be.iter_blobs():
        try:
            with be.open_blob(sha) as f:
                got, n = sha256_stream(f)
        except (SymkeepError, OSError) as e:
            rep.problems.append(f"blob {sha}: unreadable ({e})")
            bad.add(sha)
            continue
        rep.blobs += 1
        rep.bytes += n
        sizes[sha] = n
        if got != sha:
            rep.problems.append(f"blob {sha}: bytes hash to {got} (edited or swapped)")
            bad.add(sha)
        if progress:
            progress(sha)
    problems, head, entries = verify_chain(be.audit_entries())
    rep.problems.extend(problems)
    rep.audit_entries = len(entries)
    rep.audit_head = head
    used: set[str] = set()
    recorded: set[int] = set()
    for rec in be.iter_records():
        rep.records += 1
        used.add(rec.sha256)
        where = f"record {rec.build_id} {rec.kind}{' ' + rec.path if rec.path else ''} rank {rec.rank}"
        if rec.sha256 not in sizes and rec.sha256 not in bad:
            rep.problems.append(f"{where}: blob {rec.sha256} is missing")
        elif rec.sha256 in sizes and sizes[rec.sha256] != rec.size:
            rep.problems.append(f"{where}: blob size {sizes[rec.sha256]} != recorded {rec.size}")
        ent = entries.get(rec.audit_seq)
        if ent is None:
            if not problems:
                rep.problems.append(f"{where}: no audit entry (seq {rec.audit_seq})")
            continue
        recorded.add(rec.audit_seq)
        if (ent.build_id, ent.kind, ent.path, ent.rank, ent.sha256, ent.size) != (
                rec.build_id, rec.kind, rec.path, rec.rank, rec.sha256, rec.size):
            rep.problems.append(f"{where}: differs from its audit entry {ent.seq} (record edited or swapped)")
    orphans = sorted(set(sizes) - used)
    if orphans:
        rep.notes.append(f"{len(orphans)} blob(s) without a record (an interrupted or lost upload): "
                         + ", ".join(o[:12] for o in orphans[:5]) + (" ..." if len(orphans) > 5 else ""))
    unfinished = sorted(set(entries) - recorded)
    if unfinished:
        rep.notes.append(f"{len(unfinished)} audit entr{'y' if len(unfinished) == 1 else 'ies'} without a "
                         "record (a put that lost a race or was interrupted): seq "
                         + ", ".join(str(s) for s in unfinished[:10]))
    return rep
