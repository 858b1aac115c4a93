"""The GitHub Action: action.yml's inputs reach the script, and the script (its steps) runs locally on
real binaries: check writes valid SARIF and fails like `symkeep check`, smoke runs on the demo."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from symkeep.policy import load_policy

from .builds import custom
from .schemas import SARIF, schema_path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "symkeep-action.sh"


def _yaml(path: Path) -> dict:  # type: ignore[type-arg]
    yaml = pytest.importorskip("yaml")
    doc = yaml.safe_load(path.read_text())
    assert isinstance(doc, dict)
    return doc


def test_action_inputs_reach_the_script() -> None:
    act = _yaml(ROOT / "action.yml")
    assert act["runs"]["using"] == "composite"
    steps = act["runs"]["steps"]
    gate = next(s for s in steps if s.get("id") == "gate")
    assert "scripts/symkeep-action.sh" in gate["run"]
    script_vars = set(re.findall(r"\bSYMKEEP_[A-Z_]+\b", SCRIPT.read_text()))
    assert set(gate["env"]) <= script_vars, set(gate["env"]) - script_vars
    for name, val in gate["env"].items():
        m = re.fullmatch(r"\$\{\{ inputs\.([a-z-]+) \}\}", val)
        assert m and m.group(1) in act["inputs"], (name, val)
    assert any("upload-sarif" in str(s.get("uses", "")) for s in steps)
    assert any("setup-python" in str(s.get("uses", "")) for s in steps)


def test_example_workflow_and_policy() -> None:
    act = _yaml(ROOT / "action.yml")
    wf = _yaml(ROOT / "examples" / "github-workflow.yml")
    step = next(s for s in wf["jobs"]["gate"]["steps"] if "symkeep" in str(s.get("uses", "")))
    assert set(step["with"]) <= set(act["inputs"])
    pol = load_policy(str(ROOT / "examples" / "symkeep.toml"))
    assert pol.tier == "prod" and pol.get("build", "required_packages") == ["net/http/pprof"]


def _run(env_extra: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    bash = shutil.which("bash")
    assert bash
    env = {**os.environ, "SYMKEEP": f"{sys.executable} -m symkeep",
           "PYTHONPATH": str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", ""),
           "GITHUB_STEP_SUMMARY": str(cwd / "summary.md"), **env_extra}
    return subprocess.run([bash, str(SCRIPT)], env=env, cwd=cwd, capture_output=True, text=True, timeout=600)


def test_script_check_fails_and_writes_sarif(fixture, tmp_path: Path) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    (tmp_path / "bin").mkdir()
    shutil.copy2(fixture(variant="sw"), tmp_path / "bin" / "svc")
    r = _run({"SYMKEEP_BINARIES": "bin/*", "SYMKEEP_TIER": "dev"}, tmp_path)
    assert r.returncode == 1, r.stderr
    assert "FAIL retention.symtab" in r.stdout and "::group::" in r.stdout
    doc = json.loads((tmp_path / "symkeep.sarif").read_text())
    schema = json.loads(schema_path(SARIF).read_text())
    assert not list(jsonschema.Draft4Validator(schema).iter_errors(doc))
    assert any(res["ruleId"] == "retention.symtab" for res in doc["runs"][0]["results"])
    assert doc["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "bin/svc"
    assert "### symkeep check" in (tmp_path / "summary.md").read_text()
    r = _run({"SYMKEEP_BINARIES": "nothing/*"}, tmp_path)
    assert r.returncode == 3 and "no file matches" in r.stderr
    assert _run({"SYMKEEP_BINARIES": ""}, tmp_path).returncode == 2


def test_script_check_and_smoke_pass(tmp_path: Path) -> None:
    demo = tmp_path / "demo"
    shutil.copy2(custom("demo", name="demo"), demo)
    r = _run({"SYMKEEP_BINARIES": str(demo), "SYMKEEP_TIER": "dev", "SYMKEEP_SMOKE": f"{demo} -busy",
              "SYMKEEP_SMOKE_SECONDS": "1"}, tmp_path)
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert "symkeep check (tier dev): passed" in r.stdout and "symkeep smoke: passed" in r.stdout
    assert "### symkeep smoke" in (tmp_path / "summary.md").read_text()
