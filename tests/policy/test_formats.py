"""Report formats: JUnit against junit-10.xsd, SARIF against the SARIF 2.1.0 schema (both from registry
packages), text = one line per failing rule plus its fix; exit codes from the real CLI."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from symkeep.policy.archive import BuildIdDirArchive
from symkeep.policy.formats import render_junit, render_sarif, render_text
from symkeep.policy.model import RULES

from .helpers import check, run_cli
from .schemas import JUNIT, SARIF, schema_path


@pytest.fixture(scope="module")
def mixed(fixture, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """A report with fatal failures, warnings, notes, skips and passes, over three real binaries."""
    d = tmp_path_factory.mktemp("syms")
    doc = {"policy": {"fail_on_skipped": False}, "build": {"trimpath": "required", "min_go": "1.22"},
           "size": {"max_growth": 1}}
    return check([fixture(variant="sw", toolchain="1.21"), fixture(variant="default"), fixture(variant="trimpath")],
                 "prod", doc, archive=BuildIdDirArchive(d))


def test_mixed_report_has_every_status(mixed) -> None:  # type: ignore[no-untyped-def]
    st = {(r.status, r.severity) for b in mixed.binaries for r in b.results}
    assert {("fail", "error"), ("fail", "warning"), ("fail", "note"), ("skip", "error"), ("pass", "error")} <= st
    assert not mixed.passed


def test_junit_validates_and_counts_agree(mixed) -> None:  # type: ignore[no-untyped-def]
    xmlschema = pytest.importorskip("xmlschema")
    xsd = xmlschema.XMLSchema(str(schema_path(JUNIT)))
    text = render_junit(mixed)
    xsd.validate(text)
    root = ET.fromstring(text)
    failures = root.findall(".//testcase/failure")
    assert int(root.get("failures", "-1")) == len(failures) == len(mixed.failing())
    assert len(root.findall(".//testcase")) == sum(len(b.results) for b in mixed.binaries)
    assert root.findall(".//testcase/skipped")
    # a failing warning is reported but not as a JUnit failure
    assert any("warning:" in (e.text or "") for e in root.findall(".//testcase/system-out"))


def test_sarif_validates(mixed) -> None:  # type: ignore[no-untyped-def]
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads(schema_path(SARIF).read_text())
    doc = json.loads(render_sarif(mixed, "0.1.0"))
    jsonschema.Draft4Validator.check_schema(schema)
    errors = sorted(jsonschema.Draft4Validator(schema).iter_errors(doc), key=str)
    assert not errors, [str(e)[:300] for e in errors[:3]]
    run = doc["runs"][0]
    assert [r["id"] for r in run["tool"]["driver"]["rules"]] == list(RULES)
    non_pass = [r for b in mixed.binaries for r in b.results if r.status != "pass"]
    assert len(run["results"]) == len(non_pass)
    for res in run["results"]:
        assert run["tool"]["driver"]["rules"][res["ruleIndex"]]["id"] == res["ruleId"]
        assert res["kind"] in ("fail", "open") and (res["level"] == "none") == (res["kind"] == "open")


def test_schemas_reject_broken_reports(mixed) -> None:  # type: ignore[no-untyped-def]
    """The validators are not vacuous: a report with a wrong field fails them."""
    jsonschema = pytest.importorskip("jsonschema")
    xmlschema = pytest.importorskip("xmlschema")
    doc = json.loads(render_sarif(mixed))
    doc["runs"][0]["results"][0]["level"] = "fatal"
    schema = json.loads(schema_path(SARIF).read_text())
    assert list(jsonschema.Draft4Validator(schema).iter_errors(doc))
    bad = render_junit(mixed).replace("<testcase ", "<testcase bogus=\"1\" ", 1)
    assert not xmlschema.XMLSchema(str(schema_path(JUNIT))).is_valid(bad)


def test_text_one_line_per_failing_rule_plus_fix(mixed) -> None:  # type: ignore[no-untyped-def]
    lines = render_text(mixed).splitlines()
    non_pass = [(b, r) for b in mixed.binaries for r in b.results if r.status != "pass"]
    heads = [ln for ln in lines if ln.startswith(("FAIL ", "WARN ", "SKIP "))]
    assert len(heads) == len(non_pass)
    for (b, r), head in zip(non_pass, heads, strict=True):
        assert head.split()[1] == r.rule and b.path in head
        i = lines.index(head)
        if r.fix:
            assert lines[i + 1].startswith("  fix: ")
    assert sum(ln.startswith("FAIL ") for ln in lines) == len(mixed.failing())
    assert lines[-1].startswith(f"symkeep check (tier prod, test): FAILED: {len(mixed.failing())} failing")


def test_cli_exit_codes_and_outputs(fixture, tmp_path: Path) -> None:
    sw, default = fixture(variant="sw"), fixture(variant="default")
    ok = run_cli(["check", "--tier", "dev", str(default)])
    assert ok.code == 0, ok
    assert ok.stdout.splitlines()[-1].startswith("symkeep check (tier dev): passed")
    bad = run_cli(["check", "--tier", "dev", str(sw)])
    assert bad.code == 1 and "FAIL retention.symtab" in bad.stdout and bad.stderr == ""
    out = tmp_path / "r.sarif"
    r = run_cli(["check", "--tier", "dev", "--format", "sarif", "-o", str(out), str(sw)])
    assert r.code == 1 and json.loads(out.read_text())["version"] == "2.1.0"
    assert "FAIL retention.symtab" in r.stdout  # text still on stdout
    r = run_cli(["check", "--format", "json", str(sw)])
    assert r.code == 1 and json.loads(r.stdout)["passed"] is False
    assert run_cli(["check", "--tier", "qa", str(sw)]).code == 2
    assert run_cli(["check", str(tmp_path / "nope")]).code == 3
    txt = tmp_path / "t.txt"
    txt.write_text("hello\n")
    r = run_cli(["check", str(txt)])
    assert r.code == 4 and "Traceback" not in r.stderr
    r = run_cli(["check", "--baseline", str(txt), str(sw)])
    assert r.code == 2 and "not JSON" in r.stderr
    r = run_cli(["check", "--store", "debugdir:" + str(tmp_path / "missing"), str(sw)])
    assert r.code == 2 and "not a directory" in r.stderr
