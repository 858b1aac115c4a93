"""policy layer: `symkeep check`, the retention-tier gate (rules, the policy file, report formats).

Entry points: ``load_policy`` (tier defaults + a TOML file), ``open_archive`` (the one door to a symbol
store), ``run_check`` (facts -> rule results) and ``formats.render`` (text, JSON, JUnit, SARIF).
"""

from __future__ import annotations

from symkeep.policy.archive import ArchivedRecord, ArchiveView, open_archive
from symkeep.policy.check import run_check
from symkeep.policy.config import TIERS, Policy, load_policy
from symkeep.policy.model import RULES, CheckReport, RuleResult, RuleSpec

__all__ = [
    "RULES", "TIERS", "ArchiveView", "ArchivedRecord", "CheckReport", "Policy", "RuleResult", "RuleSpec",
    "load_policy", "open_archive", "run_check",
]
