"""Run every rule on every binary: facts once per binary, rules in catalogue order."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from symkeep.errors import UsageError
from symkeep.fsio import check_input_file
from symkeep.policy.archive import ArchiveView
from symkeep.policy.config import Policy
from symkeep.policy.context import Ctx
from symkeep.policy.facts import CheckFacts, gather_facts
from symkeep.policy.model import RULES, BinaryResult, CheckReport, RuleResult
from symkeep.policy.rules_build import BUILD_RULES
from symkeep.policy.rules_retention import RETENTION_RULES

__all__ = ["ALL_RULES", "check_facts", "load_baseline", "run_check"]

Rule = Callable[[CheckFacts, Ctx], RuleResult | None]
ALL_RULES: tuple[Rule, ...] = (*RETENTION_RULES, *BUILD_RULES)
_ORDER = {rid: i for i, rid in enumerate(RULES)}
MAX_BASELINE_BYTES = 64 << 20


def load_baseline(path: str) -> list[dict[str, Any]]:
    """One or more `symkeep inspect --json` reports (an object, or a list of them)."""
    p = check_input_file(path)
    raw = Path(p).read_bytes()[: MAX_BASELINE_BYTES + 1]
    if len(raw) > MAX_BASELINE_BYTES:
        raise UsageError(f"--baseline {path}: larger than {MAX_BASELINE_BYTES} bytes")
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as e:
        raise UsageError(f"--baseline {path}: not JSON: {e}") from e
    items = data if isinstance(data, list) else [data]
    if not items or not all(isinstance(d, dict) and "file_size" in d and "classes" in d for d in items):
        raise UsageError(f"--baseline {path}: not `symkeep inspect --json` output (needs file_size and classes)")
    return items


def _baseline_for(path: str, baselines: list[dict[str, Any]] | None, n_bins: int) -> dict[str, Any] | None:
    if not baselines:
        return None
    if len(baselines) == 1 and n_bins == 1:
        return baselines[0]
    name = os.path.basename(path)
    for b in baselines:
        if os.path.basename(str(b.get("path", ""))) == name:
            return b
    return None


def check_facts(f: CheckFacts, ctx: Ctx) -> list[RuleResult]:
    out = [r for rule in ALL_RULES if (r := rule(f, ctx)) is not None]
    out.sort(key=lambda r: _ORDER[r.rule])
    return out


def run_check(paths: Sequence[str], policy: Policy, archive: ArchiveView,
              baselines: list[dict[str, Any]] | None = None) -> CheckReport:
    """Every binary's rule results. Input errors (missing file, not an executable) propagate."""
    facts = [gather_facts(p) for p in paths]  # all inputs checked before any rule runs
    bins: list[BinaryResult] = []
    for p, f in zip(paths, facts, strict=True):
        ctx = Ctx(policy, archive, _baseline_for(p, baselines, len(paths)))
        bins.append(BinaryResult(p, f.sha256, check_facts(f, ctx), f.ids()))
    store = None if archive.name == "(none)" else archive.name
    return CheckReport(policy.tier, policy.source, policy.fail_on, policy.fail_on_skipped,  # type: ignore[arg-type]
                       bins, store)
