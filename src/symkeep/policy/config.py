"""The policy: built-in tier defaults, overridden by a TOML policy file, validated key by key.

Resolution: the tier (``--tier``, else the file's ``[policy] tier``, else ``dev``) picks the defaults
in ``TIER_DEFAULTS``; every key the file sets replaces that default. Unknown tables or keys and values
of the wrong type or out of range are refused, all at once, with one message per bad key (UsageError,
exit 2), so a typo never silently turns a rule off. README "Policy file" documents every key.
"""

from __future__ import annotations

import copy
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from symkeep.errors import UsageError
from symkeep.fsio import check_input_file
from symkeep.inspect import retention
from symkeep.policy.model import RULES, SEVERITIES

__all__ = ["TIERS", "TIER_DEFAULTS", "Policy", "load_policy", "parse_percent", "parse_size", "policy_from_dict"]

TIERS = ("dev", "staging", "prod")
KEEP = ("required", "required-unless-archived", "forbidden", "any")
ARCHIVE = ("always", "if-stripped", "off")
REQ = ("required", "forbidden", "any")
MAX_POLICY_BYTES = 1 << 20

#: The schema: table -> key -> (kind, allowed values). Kinds: enum, bool, str, strlist, size, percent,
#: sizemap, percentmap, goversion, amd64, severitymap.
SCHEMA: dict[str, dict[str, tuple[str, tuple[str, ...]]]] = {
    "policy": {"tier": ("enum", TIERS), "fail_on": ("enum", ("error", "warning")),
               "fail_on_skipped": ("bool", ())},
    "retention": {"symtab": ("enum", KEEP), "dwarf": ("enum", KEEP), "archive": ("enum", ARCHIVE),
                  "prefer_stripped": ("bool", ())},
    "identity": {"gnu_build_id": ("bool", ()), "go_build_id": ("bool", ()), "unique_build_id": ("bool", ()),
                 "buildinfo": ("bool", ())},
    "build": {"trimpath": ("enum", REQ), "vcs": ("bool", ()), "cgo": ("enum", REQ), "min_go": ("goversion", ()),
              "race": ("enum", ("forbidden", "any")), "required_packages": ("strlist", ()),
              "forbidden_packages": ("strlist", ()), "goamd64": ("amd64", ())},
    "hazards": {"stripped_extlink": ("bool", ()), "dwarf5_binutils": ("bool", ()), "ignored_w0": ("bool", ())},
    "size": {"max_total": ("size", ()), "max_class": ("sizemap", retention.CLASSES),
             "max_growth": ("percent", ()), "max_class_growth": ("percentmap", retention.CLASSES)},
    "severity": {},  # rule id -> error | warning | note | off (checked against RULES)
}

_COMMON: dict[str, dict[str, Any]] = {
    "policy": {"fail_on": "error", "fail_on_skipped": False},
    "retention": {"archive": "off", "prefer_stripped": False},
    "identity": {"gnu_build_id": True, "go_build_id": True, "unique_build_id": True, "buildinfo": True},
    "build": {"trimpath": "any", "vcs": False, "cgo": "any", "min_go": None, "race": "any",
              "required_packages": [], "forbidden_packages": [], "goamd64": None},
    "hazards": {"stripped_extlink": True, "dwarf5_binutils": True, "ignored_w0": True},
    "size": {"max_total": None, "max_class": {}, "max_growth": None, "max_class_growth": {}},
    "severity": {},
}


def _tier(**over: dict[str, Any]) -> dict[str, dict[str, Any]]:
    d = copy.deepcopy(_COMMON)
    for table, vals in over.items():
        d[table].update(vals)
    return d


#: Built-in defaults per tier (README "Policy file" shows them as a table).
TIER_DEFAULTS: dict[str, dict[str, dict[str, Any]]] = {
    "dev": _tier(retention={"symtab": "required", "dwarf": "required"}),
    "staging": _tier(policy={"fail_on_skipped": True},
                     retention={"symtab": "required-unless-archived", "dwarf": "any"}),
    "prod": _tier(policy={"fail_on_skipped": True},
                  retention={"symtab": "any", "dwarf": "any", "archive": "if-stripped", "prefer_stripped": True},
                  build={"race": "forbidden"}),
}


@dataclass
class Policy:
    tier: str
    source: str | None  # the policy file, None for built-in defaults
    values: dict[str, dict[str, Any]] = field(default_factory=dict)

    def get(self, table: str, key: str) -> Any:
        return self.values[table][key]

    def severity(self, rule: str) -> str:
        """error | warning | note | off for a rule id (the file's [severity] or the rule's default)."""
        s: str = self.values["severity"].get(rule, RULES[rule].severity)
        return s

    @property
    def fail_on(self) -> str:
        v: str = self.values["policy"]["fail_on"]
        return v

    @property
    def fail_on_skipped(self) -> bool:
        return bool(self.values["policy"]["fail_on_skipped"])


_SIZE_RE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([kKmMgG]?i?[bB]?)\s*$")
_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1000, "kib": 1024, "m": 10**6, "mb": 10**6, "mib": 1 << 20,
          "g": 10**9, "gb": 10**9, "gib": 1 << 30, "ki": 1024, "mi": 1 << 20, "gi": 1 << 30}


def parse_size(v: object) -> int:
    """Bytes from an int or '12MiB' / '800 kB' / '1.5GB'; ValueError otherwise."""
    if isinstance(v, bool):
        raise ValueError("expected a size")
    if isinstance(v, int):
        if v < 0:
            raise ValueError("a size cannot be negative")
        return v
    if isinstance(v, str):
        m = _SIZE_RE.match(v)
        if m and m.group(2).lower() in _UNITS:
            return int(float(m.group(1)) * _UNITS[m.group(2).lower()])
    raise ValueError(f"expected a size in bytes or with a unit (e.g. 12MiB, 800kB), got {v!r}")


def parse_percent(v: object) -> float:
    """A percentage from 5, 2.5 or '5%'."""
    if isinstance(v, bool):
        raise ValueError("expected a percentage")
    if isinstance(v, int | float):
        f = float(v)
    elif isinstance(v, str) and re.fullmatch(r"\s*[0-9]+(\.[0-9]+)?\s*%?\s*", v):
        f = float(v.strip().rstrip("%"))
    else:
        raise ValueError(f"expected a percentage (e.g. 5 or '5%'), got {v!r}")
    if f < 0:
        raise ValueError("a percentage cannot be negative")
    return f


def _check(table: str, key: str, kind: str, allowed: tuple[str, ...], v: Any) -> Any:
    if kind == "enum":
        if not isinstance(v, str) or v not in allowed:
            raise ValueError(f"expected one of {', '.join(allowed)}, got {v!r}")
        return v
    if kind == "bool":
        if not isinstance(v, bool):
            raise ValueError(f"expected true or false, got {v!r}")
        return v
    if kind == "strlist":
        if not isinstance(v, list) or not all(isinstance(x, str) and x for x in v):
            raise ValueError(f"expected a list of package paths, got {v!r}")
        return list(v)
    if kind == "size":
        return parse_size(v)
    if kind == "percent":
        return parse_percent(v)
    if kind in ("sizemap", "percentmap"):
        if not isinstance(v, dict):
            raise ValueError(f"expected a table of class = value, got {v!r}")
        out: dict[str, Any] = {}
        for k, x in v.items():
            if k not in allowed:
                raise ValueError(f"unknown retention class {k!r} (known: {', '.join(allowed)})")
            out[k] = parse_size(x) if kind == "sizemap" else parse_percent(x)
        return out
    if kind == "goversion":
        if not isinstance(v, str) or not re.fullmatch(r"(go)?1\.[0-9]+(\.[0-9]+)?", v):
            raise ValueError(f"expected a Go version like \"1.22\", got {v!r}")
        return v.removeprefix("go")
    if kind == "amd64":
        if not isinstance(v, str) or v not in ("v1", "v2", "v3", "v4"):
            raise ValueError(f"expected v1, v2, v3 or v4, got {v!r}")
        return v
    raise AssertionError(kind)


def policy_from_dict(data: dict[str, Any], tier: str | None, source: str | None) -> Policy:
    """Validate a parsed policy document (all bad keys reported together) and merge it over the tier."""
    errors: list[str] = []
    where = source or "policy"
    file_tier = None
    pol = data.get("policy")
    if isinstance(pol, dict) and "tier" in pol:
        file_tier = pol["tier"]
    use_tier = tier or (file_tier if isinstance(file_tier, str) else None) or "dev"
    if use_tier not in TIERS:
        errors.append(f"policy.tier: expected one of {', '.join(TIERS)}, got {use_tier!r}")
        use_tier = "dev"
    values = copy.deepcopy(TIER_DEFAULTS[use_tier])
    for table, body in data.items():
        if table not in SCHEMA:
            errors.append(f"unknown table [{table}] (known: {', '.join(SCHEMA)})")
            continue
        if not isinstance(body, dict):
            errors.append(f"{table}: expected a table, got {type(body).__name__}")
            continue
        for key, v in body.items():
            if table == "severity":
                if key not in RULES:
                    errors.append(f"severity.{key}: unknown rule (known: {', '.join(RULES)})")
                elif v not in (*SEVERITIES, "off"):
                    errors.append(f"severity.{key}: expected one of error, warning, note, off, got {v!r}")
                else:
                    values["severity"][key] = v
                continue
            spec = SCHEMA[table].get(key)
            if spec is None:
                errors.append(f"{table}.{key}: unknown key (known: {', '.join(SCHEMA[table])})")
                continue
            try:
                values[table][key] = _check(table, key, spec[0], spec[1], v)
            except ValueError as e:
                errors.append(f"{table}.{key}: {e}")
    if errors:
        raise UsageError(f"{where}: " + "; ".join(errors))
    values["policy"]["tier"] = use_tier
    return Policy(use_tier, source, values)


def load_policy(path: str | None, tier: str | None = None) -> Policy:
    """The tier defaults, overridden by the TOML file at ``path`` when given."""
    if tier is not None and tier not in TIERS:
        raise UsageError(f"unknown tier {tier!r} (known: {', '.join(TIERS)})")
    if path is None:
        return policy_from_dict({}, tier, None)
    p = check_input_file(path)
    raw = Path(p).read_bytes()[: MAX_POLICY_BYTES + 1]
    if len(raw) > MAX_POLICY_BYTES:
        raise UsageError(f"{path}: policy file larger than {MAX_POLICY_BYTES} bytes")
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise UsageError(f"{path}: not UTF-8 text: {e}") from e
    except tomllib.TOMLDecodeError as e:
        raise UsageError(f"{path}: not valid TOML: {e}") from e
    return policy_from_dict(data, tier, str(path))
