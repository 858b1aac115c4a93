"""Independent ground truth for the flame tests: straight from the protobuf, with upb objects and
plain Python (none of symkeep.flame's code)."""

from __future__ import annotations

import gzip
import re
from collections import Counter
from pathlib import Path

from symkeep.profile import profile_pb2


def read_pb(path: Path) -> profile_pb2.Profile:
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    p = profile_pb2.Profile()
    p.ParseFromString(data)
    return p


def sample_index(p: profile_pb2.Profile, name: str | None = None) -> int:
    names = [p.string_table[v.type] for v in p.sample_type]
    return names.index(name) if name else len(names) - 1


def stack_names(p: profile_pb2.Profile) -> dict[int, list[str]]:
    """location id -> function names, innermost first ('' for a location without lines)."""
    st = p.string_table
    fn = {f.id: st[f.name] for f in p.function}
    return {loc.id: [fn[ln.function_id] for ln in loc.line] or [""] for loc in p.location}


def labels_of(p: profile_pb2.Profile, s: profile_pb2.Sample) -> set[str]:
    st = p.string_table
    return {f"{st[lb.key]}={st[lb.str]}" if lb.str else f"{st[lb.key]}={lb.num}" for lb in s.label}


def weight(p: profile_pb2.Profile, *, match: str | None = None, tag: str | None = None, exclude: str | None = None,
           index: int | None = None) -> int:
    """Sum of sample values whose stack has a function matching ``match`` (and not ``exclude``), with label ``tag``."""
    idx = sample_index(p) if index is None else index
    names = stack_names(p)
    rx = re.compile(match) if match else None
    nx = re.compile(exclude) if exclude else None
    tot = 0
    for s in p.sample:
        if tag and tag not in labels_of(p, s):
            continue
        fr = [n for lid in s.location_id for n in names[lid]]
        if rx and not any(rx.search(n) for n in fr):
            continue
        if nx and any(nx.search(n) for n in fr):
            continue
        tot += s.value[idx]
    return tot


def sample_records(p: profile_pb2.Profile) -> Counter[tuple[tuple[int, ...], tuple[tuple[int, int, int], ...], tuple[int, ...]]]:
    c: Counter[tuple[tuple[int, ...], tuple[tuple[int, int, int], ...], tuple[int, ...]]] = Counter()
    for s in p.sample:
        c[(tuple(s.location_id), tuple((lb.key, lb.str, lb.num) for lb in s.label), tuple(s.value))] += 1
    return c


# flamegraph.pl's own input grammar: `my ($stack, $samples) = (/^(.*)\s+?(\d+(?:\.\d*)?)$/);` and for
# differential input a second count; frames are split on ';'.
FLAMEGRAPH_PL_LINE = re.compile(r"^(.*)\s+?(\d+(?:\.\d*)?)$")
