"""Fetch the four pprof profiles and judge them: named samples, main-module functions, label keys.

A sample counts as named when every one of its locations has a Line with a function name and a line
number (what a flame graph needs); the main module shows up when a function of package ``main`` (or
of the binary's module path) is in any sample.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from symkeep.errors import SymkeepError
from symkeep.profile import profile_pb2
from symkeep.profile.mapping import classify_mapping
from symkeep.profile.pprof import MAX_PROFILE_BYTES, parse_profile

__all__ = ["KINDS", "ProfileResult", "analyze", "fetch"]

KINDS = ("cpu", "heap", "goroutine", "mutex")


def _path(kind: str, seconds: float) -> str:
    if kind == "cpu":
        return f"/debug/pprof/profile?seconds={max(1, round(seconds))}"
    return f"/debug/pprof/{kind}"


@dataclass
class ProfileResult:
    kind: str
    url: str
    error: str = ""
    samples: int = 0
    named: int = 0
    main_functions: list[str] = field(default_factory=list)
    label_keys: list[str] = field(default_factory=list)
    build_id: str = ""
    mapping: str = ""
    unnamed_example: str = ""

    @property
    def named_fraction(self) -> float | None:
        return self.named / self.samples if self.samples else None

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "url": self.url, "error": self.error, "samples": self.samples, "named": self.named,
                "named_fraction": self.named_fraction, "main_functions": self.main_functions,
                "label_keys": self.label_keys, "build_id": self.build_id, "mapping": self.mapping}


def fetch(base: str, kind: str, seconds: float, timeout: float) -> tuple[str, bytes | str]:
    """(url, body) or (url, error text)."""
    url = base.rstrip("/") + _path(kind, seconds)
    try:
        with urllib.request.urlopen(url, timeout=timeout + (seconds if kind == "cpu" else 0)) as r:
            body: bytes = r.read(MAX_PROFILE_BYTES + 1)
    except urllib.error.HTTPError as e:
        return url, f"HTTP {e.code} {e.reason}"
    except (urllib.error.URLError, OSError) as e:
        return url, f"{getattr(e, 'reason', e)}"
    if len(body) > MAX_PROFILE_BYTES:
        return url, f"larger than {MAX_PROFILE_BYTES} bytes"
    return url, body


def _is_main(name: str, module: str | None) -> bool:
    return name.startswith("main.") or bool(module and (name.startswith(module + ".") or name.startswith(module + "/")))


def analyze(kind: str, url: str, data: bytes, module: str | None, binary_name: str | None) -> ProfileResult:
    res = ProfileResult(kind, url)
    try:
        prof: profile_pb2.Profile = parse_profile(data, name=url)
    except SymkeepError as e:
        res.error = f"not a pprof profile: {e}"
        return res
    st = prof.string_table
    fname = {f.id: st[f.name] for f in prof.function}
    good: dict[int, bool] = {}
    names_of: dict[int, list[str]] = {}
    for loc in prof.location:
        ok = bool(loc.line) and all(fname.get(ln.function_id) and ln.line > 0 for ln in loc.line)
        good[loc.id] = ok
        names_of[loc.id] = [fname.get(ln.function_id, "") for ln in loc.line]
    mains: Counter[str] = Counter()
    keys: set[str] = set()
    for s in prof.sample:
        if not s.location_id:
            continue  # no stack at all (a goroutine caught between states): nothing to name
        res.samples += 1
        if all(good.get(lid, False) for lid in s.location_id):
            res.named += 1
        elif not res.unnamed_example:
            bad = next((lid for lid in s.location_id if not good.get(lid, False)), None)
            loc = next((x for x in prof.location if x.id == bad), None)
            res.unnamed_example = f"location {bad} at {loc.address:#x}" if loc is not None else f"location {bad}"
        for lid in s.location_id:
            for n in names_of.get(lid, ()):
                if _is_main(n, module):
                    mains[n] += 1
        for lb in s.label:
            keys.add(st[lb.key])
    res.main_functions = [n for n, _ in mains.most_common(10)]
    res.label_keys = sorted(keys)
    files = [m for m in prof.mapping if classify_mapping(st[m.filename], m.memory_start) == "file"]
    main = next((m for m in files if binary_name and st[m.filename].endswith("/" + binary_name)), None) or (
        files[0] if files else None)
    if main is not None:
        res.build_id = st[main.build_id]
        res.mapping = st[main.filename]
    return res
