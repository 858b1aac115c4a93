"""Run `symkeep check` in-process on real binaries and pick results out of the report."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from symkeep.policy import load_policy, open_archive, run_check
from symkeep.policy.archive import ArchiveView
from symkeep.policy.config import policy_from_dict
from symkeep.policy.model import CheckReport, RuleResult


def check(paths: Sequence[Path | str], tier: str = "dev", doc: dict[str, Any] | None = None,
          archive: ArchiveView | None = None, baseline: list[dict[str, Any]] | None = None) -> CheckReport:
    pol = policy_from_dict(doc, tier, "test") if doc is not None else load_policy(None, tier)
    return run_check([str(p) for p in paths], pol, archive or open_archive(None), baseline)


def result(path: Path | str, rule: str, tier: str = "dev", doc: dict[str, Any] | None = None,
           archive: ArchiveView | None = None, baseline: list[dict[str, Any]] | None = None) -> RuleResult:
    rep = check([path], tier, doc, archive, baseline)
    found = [r for r in rep.binaries[0].results if r.rule == rule]
    assert found, f"rule {rule} not evaluated; got {[r.rule for r in rep.binaries[0].results]}"
    return found[0]


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str


def run_cli(args: Sequence[str], *, env: dict[str, str] | None = None, timeout: float = 300,
            cwd: str | None = None) -> Run:
    """The real CLI in a child process (`python -m symkeep ARGS`); a hang guard, not a speed check."""
    e = dict(os.environ if env is None else env)
    e.pop("SYMKEEP_DEBUG", None)
    src = str(Path(__file__).resolve().parents[2] / "src")
    e["PYTHONPATH"] = src + (os.pathsep + e["PYTHONPATH"] if e.get("PYTHONPATH") else "")
    p = subprocess.run([sys.executable, "-m", "symkeep", *args], capture_output=True, text=True, env=e,
                       timeout=timeout, cwd=cwd, stdin=subprocess.DEVNULL)
    return Run(p.returncode, p.stdout, p.stderr)
