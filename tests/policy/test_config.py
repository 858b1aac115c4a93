"""The policy file: tier defaults, overrides, and one clear message per bad key (exit 2 from the CLI)."""

from __future__ import annotations

from pathlib import Path

import pytest

from symkeep.errors import UsageError
from symkeep.policy.config import TIER_DEFAULTS, load_policy, parse_percent, parse_size, policy_from_dict
from symkeep.policy.model import RULES

from .helpers import run_cli


def test_tier_defaults_differ_as_documented() -> None:
    assert load_policy(None).tier == "dev"
    dev, staging, prod = (load_policy(None, t) for t in ("dev", "staging", "prod"))
    assert dev.get("retention", "symtab") == "required" and dev.get("retention", "dwarf") == "required"
    assert staging.get("retention", "symtab") == "required-unless-archived"
    assert prod.get("retention", "archive") == "if-stripped" and prod.get("retention", "prefer_stripped")
    assert prod.fail_on_skipped and staging.fail_on_skipped and not dev.fail_on_skipped
    assert set(TIER_DEFAULTS) == {"dev", "staging", "prod"}


def test_file_overrides_tier_and_cli_tier_overrides_file(tmp_path: Path) -> None:
    f = tmp_path / "symkeep.toml"
    f.write_text('[policy]\ntier = "prod"\n[retention]\narchive = "always"\n[size]\nmax_total = "12MiB"\n'
                 '[severity]\n"identity.gnu-build-id" = "error"\n')
    p = load_policy(str(f))
    assert p.tier == "prod" and p.get("retention", "archive") == "always"
    assert p.get("size", "max_total") == 12 * 1024 * 1024
    assert p.severity("identity.gnu-build-id") == "error"
    q = load_policy(str(f), "dev")
    assert q.tier == "dev" and q.get("retention", "symtab") == "required"  # dev default kept
    assert q.get("retention", "archive") == "always"  # the file's key still applies


@pytest.mark.parametrize("doc, needle", [
    ({"retention": {"symtb": "required"}}, "retention.symtb: unknown key (known: symtab, dwarf"),
    ({"retention": {"symtab": "yes"}}, "retention.symtab: expected one of required, required-unless-archived"),
    ({"retentions": {}}, "unknown table [retentions]"),
    ({"build": {"vcs": "true"}}, "build.vcs: expected true or false, got 'true'"),
    ({"build": {"min_go": "latest"}}, "build.min_go: expected a Go version like \"1.22\""),
    ({"build": {"goamd64": "v9"}}, "build.goamd64: expected v1, v2, v3 or v4"),
    ({"build": {"required_packages": "net/http/pprof"}}, "build.required_packages: expected a list"),
    ({"size": {"max_total": "12 parsecs"}}, "size.max_total: expected a size"),
    ({"size": {"max_class": {"dwarff": 1}}}, "size.max_class: unknown retention class 'dwarff'"),
    ({"size": {"max_growth": -3}}, "size.max_growth: a percentage cannot be negative"),
    ({"severity": {"identity.nope": "error"}}, "severity.identity.nope: unknown rule"),
    ({"severity": {"identity.gnu-build-id": "fatal"}}, "severity.identity.gnu-build-id: expected one of error"),
    ({"policy": {"tier": "qa"}}, "policy.tier: expected one of dev, staging, prod, got 'qa'"),
])
def test_bad_key_named(doc: dict, needle: str) -> None:
    with pytest.raises(UsageError) as e:
        policy_from_dict(doc, None, "p.toml")
    assert needle in str(e.value), str(e.value)
    assert str(e.value).startswith("p.toml: ")


def test_every_bad_key_reported_at_once() -> None:
    with pytest.raises(UsageError) as e:
        policy_from_dict({"retention": {"symtab": 1, "dwarff": "any"}, "build": {"race": "maybe"}}, None, "p")
    msg = str(e.value)
    assert "retention.symtab" in msg and "retention.dwarff" in msg and "build.race" in msg and "\n" not in msg


def test_sizes_and_percents() -> None:
    assert parse_size("800kB") == 800_000 and parse_size("1.5MiB") == 1572864 and parse_size(42) == 42
    assert parse_percent("5%") == 5.0 and parse_percent(2.5) == 2.5
    for bad in ("", "5 bananas", True, -1):
        with pytest.raises(ValueError):
            parse_size(bad)


def test_severity_off_removes_rule(fixture) -> None:
    from .helpers import check

    rep = check([fixture(variant="sw")], "dev", {"severity": {"retention.symtab": "off"}})
    assert "retention.symtab" not in {r.rule for r in rep.binaries[0].results}
    assert set(RULES) >= {r.rule for r in rep.binaries[0].results}


def test_cli_bad_policy_file_exit_2(tmp_path: Path, fixture) -> None:
    f = tmp_path / "symkeep.toml"
    f.write_text('[retention]\nsymtab = "maybe"\n')
    r = run_cli(["check", "--policy", str(f), str(fixture(variant="sw"))])
    assert r.code == 2, r
    assert r.stderr.count("\n") == 1 and "retention.symtab: expected one of" in r.stderr and "Traceback" not in r.stderr
    f.write_text("[retention\n")
    r = run_cli(["check", "--policy", str(f), str(fixture(variant="sw"))])
    assert r.code == 2 and "not valid TOML" in r.stderr
    r = run_cli(["check", "--policy", str(tmp_path / "missing.toml"), str(fixture(variant="sw"))])
    assert r.code == 3 and "no such file" in r.stderr
