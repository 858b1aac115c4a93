"""A doctor finding: one cause (id), whether it is a problem here, the evidence, and the fix."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["CAUSES", "DoctorReport", "Finding", "Status"]

Status = Literal["problem", "ok", "info", "skip"]

#: Every cause the doctor can name (README "symkeep doctor" lists them with their evidence).
CAUSES: dict[str, str] = {
    "stripped-for-consumer": "the symbol table / DWARF the consumer in use needs was stripped",
    "cgo-text-start": "stripped externally linked binary: go tool pprof/addr2line shift every address",
    "unsymbolized-profile": "profile locations without function names",
    "stale-binary": "the binary on disk is not the build that was profiled",
    "perf-paranoid": "kernel.perf_event_paranoid restricts perf",
    "kptr-restrict": "kernel.kptr_restrict hides kernel symbol addresses",
    "mount-namespace": "the process runs in another mount namespace (container)",
    "frameless-leaf": "frame-pointer unwinding loses the callers of frameless functions",
    "dwarf-unwind-no-cfi": "perf --call-graph=dwarf on a Go binary without .eh_frame",
    "perf-cache-twin": "perf's ~/.debug cache holds a different file with this build-id",
    "trimpath-sources": "-trimpath file names: source lookup needs a path mapping",
    "no-gnu-build-id": "no GNU build-id: debuginfod and perf's build-id lookups cannot help",
}


@dataclass
class Finding:
    cause: str  # a key of CAUSES
    status: Status
    message: str
    evidence: list[str] = field(default_factory=list)
    fix: str = ""
    data: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"cause": self.cause, "status": self.status, "title": CAUSES[self.cause], "message": self.message,
                "evidence": self.evidence, "fix": self.fix, "data": self.data}


@dataclass
class DoctorReport:
    inputs: dict[str, Any]
    findings: list[Finding]

    def problems(self) -> list[Finding]:
        return [f for f in self.findings if f.status == "problem"]

    def causes(self) -> list[str]:
        return [f.cause for f in self.problems()]

    def to_json(self) -> dict[str, Any]:
        return {"schema": "symkeep.doctor/1", "inputs": self.inputs, "problems": self.causes(),
                "findings": [f.to_json() for f in self.findings]}

    def to_text(self) -> str:
        out: list[str] = []
        order = {"problem": 0, "info": 1, "skip": 2, "ok": 3}
        for f in sorted(self.findings, key=lambda f: order[f.status]):
            tag = {"problem": "PROBLEM", "info": "note", "skip": "skipped", "ok": "ok"}[f.status]
            out.append(f"{tag} {f.cause}: {f.message}")
            if f.status in ("problem", "info"):
                out.extend(f"  evidence: {e}" for e in f.evidence)
                if f.fix:
                    out.append(f"  fix: {f.fix}")
        n = len(self.problems())
        out.append(f"symkeep doctor: {n} problem{'s' if n != 1 else ''} found"
                   + (f" ({', '.join(self.causes())})" if n else ""))
        return "\n".join(out) + "\n"
