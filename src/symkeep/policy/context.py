"""What every rule gets: the policy, the archive (with one cached lookup per build), the baseline."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from symkeep.policy.archive import ArchivedRecord, ArchiveUnavailable, ArchiveView
from symkeep.policy.config import Policy
from symkeep.policy.facts import CheckFacts
from symkeep.policy.model import RuleResult, Severity, Status

__all__ = ["ArchiveState", "Ctx"]


@dataclass
class ArchiveState:
    """The archive's answer for one binary: records, each verified once; or why it cannot be asked."""

    unavailable: str | None = None
    records: list[ArchivedRecord] = field(default_factory=list)
    problems: dict[int, str | None] = field(default_factory=dict)  # index -> verify() result (absent: not hashed)

    def usable(self, f: CheckFacts) -> list[ArchivedRecord]:
        """Records that keep this binary's debug info: a verified debug file, or a verified copy of this
        very executable (debug info can be synthesized from it), or an unstripped twin (has DWARF)."""
        out = []
        for i, r in enumerate(self.records):
            if i not in self.problems or self.problems[i] is not None:
                continue  # not verified (not needed), or failed verification
            if r.kind in ("debuginfo", "synthesized") or (
                    r.kind == "executable" and (r.sha256 == f.sha256 or r.has_dwarf)):
                out.append(r)
        return out

    def evidence(self) -> list[dict[str, Any]]:
        return [{**r.to_json(), "verified": (self.problems[i] is None) if i in self.problems else None,
                 **({"problem": self.problems[i]} if self.problems.get(i) else {})}
                for i, r in enumerate(self.records)]


@dataclass
class Ctx:
    policy: Policy
    archive: ArchiveView
    baseline: dict[str, Any] | None = None
    _cache: dict[str, ArchiveState] = field(default_factory=dict)

    def result(self, rule: str, status: Status, message: str, evidence: dict[str, Any] | None = None,
               fix: str = "") -> RuleResult:
        sev = self.policy.severity(rule)
        assert sev != "off"
        s: Severity = sev  # type: ignore[assignment]
        return RuleResult(rule, s, status, message, evidence or {}, fix if status != "pass" else "")

    def archived(self, f: CheckFacts) -> ArchiveState:
        st = self._cache.get(f.sha256)
        if st is not None:
            return st
        st = ArchiveState()
        try:
            st.records = self.archive.lookup(f.gnu_id, f.go_id if not f.go_redacted else None)
            for i, r in enumerate(st.records):
                if r.kind == "executable" and r.sha256 not in (None, f.sha256) and not r.has_dwarf:
                    continue  # a different executable: the identity rule reports it; no need to hash it
                st.problems[i] = self.archive.verify(r)
        except ArchiveUnavailable as e:
            st = ArchiveState(unavailable=str(e))
        self._cache[f.sha256] = st
        return st
