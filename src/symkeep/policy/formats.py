"""The four report formats of `symkeep check`: text, JSON, JUnit XML and SARIF 2.1.0.

- text: one line per rule that did not pass (FAIL fails the run, WARN does not, SKIP could not be
  evaluated), each followed by its fix, then one summary line;
- JSON: ``CheckReport.to_json`` (schema ``symkeep.check/1``);
- JUnit: one ``<testsuite>`` per binary, one ``<testcase>`` per evaluated rule; only results that fail
  the run are ``<failure>``s (so CI's test count agrees with the exit code), skipped rules are
  ``<skipped>``, non-fatal failures carry their message in ``<system-out>``. Valid against the Jenkins
  ``junit-10.xsd`` (checked by the tests);
- SARIF: every rule of the catalogue under ``tool.driver.rules``, one result per rule that did not pass
  (``kind`` fail, or ``open`` for skipped rules), located at the binary. Valid against the SARIF
  2.1.0 JSON schema (checked by the tests); GitHub code scanning reads it.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any
from xml.etree import ElementTree as ET

from symkeep.policy.model import RULES, CheckReport, RuleResult, severity_at_least

__all__ = ["FORMATS", "render", "render_junit", "render_sarif", "render_text"]

FORMATS = ("text", "json", "junit", "sarif")
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"


def _fatal(rep: CheckReport, r: RuleResult) -> bool:
    if r.status == "fail":
        return severity_at_least(r.severity, rep.fail_on)
    return r.status == "skip" and rep.fail_on_skipped and r.severity == "error"


def _one_line(s: str) -> str:
    return " ".join(s.split())


def render_text(rep: CheckReport) -> str:
    lines: list[str] = []
    counts = {"fatal": 0, "warn": 0, "skip": 0, "pass": 0}
    for b in rep.binaries:
        for r in b.results:
            if r.status == "pass":
                counts["pass"] += 1
                continue
            fatal = _fatal(rep, r)
            tag = "FAIL" if fatal else ("SKIP" if r.status == "skip" else "WARN")
            counts["fatal" if fatal else ("skip" if r.status == "skip" else "warn")] += 1
            why = " (fails the run: fail_on_skipped = true)" if fatal and r.status == "skip" else ""
            lines.append(f"{tag} {r.rule} [{r.severity}] {b.path}: {_one_line(r.message)}{why}")
            if r.fix:
                lines.append(f"  fix: {_one_line(r.fix)}")
    verdict = "FAILED" if counts["fatal"] else "passed"
    lines.append(f"symkeep check (tier {rep.tier}{', ' + rep.policy_file if rep.policy_file else ''}): {verdict}: "
                 f"{counts['fatal']} failing, {counts['warn']} warnings, {counts['skip']} skipped, "
                 f"{counts['pass']} passed, {len(rep.binaries)} binar{'y' if len(rep.binaries) == 1 else 'ies'}")
    return "\n".join(lines) + "\n"


def render_junit(rep: CheckReport) -> str:
    root = ET.Element("testsuites", name="symkeep check")
    tot = fails = 0
    for b in rep.binaries:
        suite = ET.SubElement(root, "testsuite", name=b.path)
        n = nf = ns = 0
        props = ET.SubElement(suite, "properties")
        for k, v in (("tier", rep.tier), ("sha256", b.sha256), ("gnu_build_id", b.ids.get("gnu") or ""),
                     ("go_build_id", b.ids.get("go") or "")):
            ET.SubElement(props, "property", name=k, value=str(v))
        for r in b.results:
            n += 1
            tc = ET.SubElement(suite, "testcase", name=r.rule, classname=f"symkeep.check.{os.path.basename(b.path)}",
                               time="0")
            detail = f"{r.message}\nfix: {r.fix}\nevidence: {json.dumps(r.evidence, sort_keys=True)}"
            if _fatal(rep, r) and r.status == "fail":
                nf += 1
                el = ET.SubElement(tc, "failure", type=r.severity, message=_one_line(r.message))
                el.text = detail
            elif r.status == "skip":
                ns += 1
                if _fatal(rep, r):
                    nf += 1
                    el = ET.SubElement(tc, "failure", type="skipped", message=_one_line(r.message))
                    el.text = detail + "\n(the policy fails on skipped error rules: fail_on_skipped)"
                else:
                    ET.SubElement(tc, "skipped", message=_one_line(r.message))
            elif r.status == "fail":
                out = ET.SubElement(tc, "system-out")
                out.text = f"{r.severity}: {detail}"
        suite.set("tests", str(n))
        suite.set("failures", str(nf))
        suite.set("errors", "0")
        suite.set("skipped", str(ns))
        tot += n
        fails += nf
    root.set("tests", str(tot))
    root.set("failures", str(fails))
    root.set("errors", "0")
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _uri(path: str) -> str:
    ap = os.path.abspath(path)
    try:
        rel = os.path.relpath(ap)
    except ValueError:
        rel = ""
    if rel and not rel.startswith(".."):
        return rel.replace(os.sep, "/")
    return "file://" + ap


def render_sarif(rep: CheckReport, version: str = "") -> str:
    order = list(RULES)
    rules: list[dict[str, Any]] = [
        {"id": r.id, "name": r.id.replace(".", "-"), "shortDescription": {"text": r.title},
         "fullDescription": {"text": r.help}, "help": {"text": r.help},
         "defaultConfiguration": {"level": r.severity}}
        for r in RULES.values()
    ]
    results: list[dict[str, Any]] = []
    for b in rep.binaries:
        uri = _uri(b.path)
        for r in b.results:
            if r.status == "pass":
                continue
            text = _one_line(r.message) + (f" Fix: {_one_line(r.fix)}" if r.fix else "")
            fp = hashlib.sha256(f"{r.rule}\0{os.path.basename(b.path)}".encode()).hexdigest()[:32]
            results.append({
                "ruleId": r.rule, "ruleIndex": order.index(r.rule),
                "kind": "fail" if r.status == "fail" else "open",
                "level": r.severity if r.status == "fail" else "none",
                "message": {"text": text},
                "locations": [{"physicalLocation": {"artifactLocation": {"uri": uri}}}],
                "partialFingerprints": {"symkeepRule/v1": fp},
                "properties": {"evidence": r.evidence, "fix": r.fix, "status": r.status, "binary_sha256": b.sha256,
                               "fails_run": _fatal(rep, r)},
            })
    run = {
        "tool": {"driver": {"name": "symkeep", "semanticVersion": version or "0.0.0",
                            "informationUri": "https://pypi.org/project/symkeep/", "rules": rules}},
        "results": results,
        "invocations": [{"executionSuccessful": True, "exitCode": 0 if rep.passed else 1}],
        "properties": {"tier": rep.tier, "policy_file": rep.policy_file, "store": rep.store},
    }
    doc = {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}
    return json.dumps(doc, indent=2) + "\n"


def render(rep: CheckReport, fmt: str, version: str = "") -> str:
    if fmt == "text":
        return render_text(rep)
    if fmt == "json":
        return json.dumps(rep.to_json(), indent=2) + "\n"
    if fmt == "junit":
        return render_junit(rep)
    if fmt == "sarif":
        return render_sarif(rep, version)
    raise ValueError(fmt)
