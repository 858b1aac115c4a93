"""The rule model: every rule has an id, a default severity, a title and help; each evaluation of a
rule on a binary is a ``RuleResult`` with a status, a message, its evidence and a fix hint.

Statuses: ``pass``, ``fail`` and ``skip`` (the rule could not be evaluated, e.g. "store not
configured"; never reported as a pass). Severities: ``error`` fails the run, ``warning`` fails it only
with ``fail_on = "warning"``, ``note`` never does. The catalogue (``RULES``) is the single list that the
policy file's ``[severity]`` table, the SARIF ``rules`` array and the docs are checked against.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Severity = Literal["error", "warning", "note"]
Status = Literal["pass", "fail", "skip"]
SEVERITIES: tuple[Severity, ...] = ("error", "warning", "note")
_RANK = {"note": 0, "warning": 1, "error": 2}

__all__ = ["RULES", "SEVERITIES", "BinaryResult", "CheckReport", "RuleResult", "RuleSpec", "Severity",
           "Status", "severity_at_least"]


def severity_at_least(sev: str, threshold: str) -> bool:
    return _RANK[sev] >= _RANK[threshold]


@dataclass(frozen=True)
class RuleSpec:
    id: str
    severity: Severity  # default; the policy's [severity] table overrides it
    title: str
    help: str


_R = RuleSpec
#: Every rule, in report order.
RULES: dict[str, RuleSpec] = {r.id: r for r in (
    _R("retention.symtab", "error", "Symbol table kept as the tier requires",
       "dev keeps .symtab; staging keeps it unless the debug info is archived; prod may strip it."),
    _R("retention.dwarf", "error", "DWARF kept as the tier requires",
       "dev keeps DWARF (delve, gdb lines); staging and prod may drop it."),
    _R("retention.archived", "error", "Debug info archived under this build ID",
       "A stripped binary passes only if its debug file (or the executable itself, for synthesis) is in "
       "the store under the binary's build ID and the stored bytes still match their sha256."),
    _R("retention.size-preferred", "note", "Strip what the archive keeps",
       "In prod, -ldflags='-s -w' is preferred once the debug info is archived: the bytes it saves."),
    _R("identity.pclntab", "error", "Go function table readable",
       "Without .gopclntab nothing (runtime, pprof, symkeep) can name this binary's functions."),
    _R("identity.buildinfo", "error", "Go build info readable",
       "Build info (go version -m) carries the module, VCS revision and build settings the other rules read."),
    _R("identity.gnu-build-id", "warning", "GNU build-id present",
       "debuginfod, perf and gdb find debug files by the GNU build-id note."),
    _R("identity.go-build-id", "error", "Go build ID present and not redacted",
       "The Go build ID identifies the build when there is no GNU build-id; Bazel writes 'redacted'."),
    _R("identity.unique-build-id", "error", "No other bytes archived under this build ID",
       "Two different executables under one build ID make every lookup by build ID ambiguous (needs --store)."),
    _R("build.trimpath", "error", "-trimpath as the policy requires",
       "-trimpath makes builds reproducible and hides build paths, but tools need a source-path mapping."),
    _R("build.vcs", "error", "VCS revision recorded and tree clean",
       "vcs.revision ties the binary to a commit; vcs.modified=true means uncommitted changes were built."),
    _R("build.cgo", "error", "CGO_ENABLED as the policy requires", "cgo changes linking, portability and symbolization."),
    _R("build.min-go", "error", "Go toolchain new enough", "Old toolchains lack fixes and -B gobuildid (1.22+)."),
    _R("build.race", "error", "No -race build", "The race detector costs 5-10x CPU and memory: not for production."),
    _R("build.packages", "error", "Required packages linked, forbidden ones absent",
       "e.g. net/http/pprof in a server (profiling endpoint), never in a CLI."),
    _R("build.goamd64", "error", "GOAMD64 level", "The minimum amd64 micro-architecture level the fleet runs."),
    _R("hazard.stripped-extlink", "warning", "Stripped externally linked binary",
       "go tool pprof/addr2line take the text start from .text, where C code precedes runtime.text, "
       "and misname every frame of a stripped cgo binary."),
    _R("hazard.dwarf5-binutils", "warning", "DWARF 5 with binutils consumers",
       "binutils 2.40 addr2line prints no line numbers for Go's DWARF 5 (Go 1.25+)."),
    _R("hazard.ignored-w0", "warning", "-w=0 ignored by this toolchain",
       "Before Go 1.22, -s disables DWARF whatever -w says: '-s -w=0' keeps no DWARF."),
    _R("size.total", "error", "File size within budget", "The whole file against size.max_total."),
    _R("size.class", "error", "Retention classes within budget",
       "Bytes per retention class (code, dwarf, symtab, ...) against size.max_class."),
    _R("size.growth", "error", "Growth against the baseline within budget",
       "File and class sizes against a previous `symkeep inspect --json` (--baseline)."),
)}


@dataclass
class RuleResult:
    rule: str
    severity: Severity
    status: Status
    message: str
    evidence: dict[str, Any] = field(default_factory=dict)
    fix: str = ""

    @property
    def failed(self) -> bool:
        return self.status == "fail"

    def to_json(self) -> dict[str, Any]:
        return {"rule": self.rule, "severity": self.severity, "status": self.status, "message": self.message,
                "evidence": self.evidence, "fix": self.fix}


@dataclass
class BinaryResult:
    path: str
    sha256: str
    results: list[RuleResult]
    ids: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "sha256": self.sha256, "build_ids": self.ids,
                "results": [r.to_json() for r in self.results]}


@dataclass
class CheckReport:
    tier: str
    policy_file: str | None
    fail_on: Severity
    fail_on_skipped: bool
    binaries: list[BinaryResult]
    store: str | None = None

    def failing(self) -> list[tuple[BinaryResult, RuleResult]]:
        """The results that make the run fail, in report order."""
        out = []
        for b in self.binaries:
            for r in b.results:
                if r.status == "fail" and severity_at_least(r.severity, self.fail_on) or (
                        r.status == "skip" and self.fail_on_skipped and r.severity == "error"):
                    out.append((b, r))
        return out

    @property
    def passed(self) -> bool:
        return not self.failing()

    def to_json(self) -> dict[str, Any]:
        counts = {"pass": 0, "fail": 0, "skip": 0}
        for b in self.binaries:
            for r in b.results:
                counts[r.status] += 1
        return {"schema": "symkeep.check/1", "tier": self.tier, "policy_file": self.policy_file,
                "store": self.store, "fail_on": self.fail_on, "fail_on_skipped": self.fail_on_skipped,
                "passed": self.passed, "counts": counts, "binaries": [b.to_json() for b in self.binaries]}
