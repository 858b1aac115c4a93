"""Folded stacks (Brendan Gregg's ``stackcollapse`` format): read raw-address stacks, write names.

Input lines are ``root;caller;leaf COUNT``. A frame is ``module+0xOFF`` (OFF is a file offset in
``module``, as perf's ``dsoff`` and pprof mappings mean it), a bare hex address ``0xADDR`` (a
link-time address of the main binary: non-PIE, or already unrelocated), or anything else (a name
someone already resolved: kept). Output is flamegraph.pl-compatible: inline frames get a suffix
(default `` (inline)``) so they stay visible and distinguishable in the graph.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

from symkeep.errors import FormatError
from symkeep.profile import profile_pb2
from symkeep.profile.pprof import StringTable

__all__ = ["DEFAULT_INLINE_SUFFIX", "folded_to_profile", "looks_like_folded", "profile_to_folded"]

DEFAULT_INLINE_SUFFIX = " (inline)"
MAX_FRAMES = 4096
_LINE_RE = re.compile(r"^(?P<stack>.*\S)\s+(?P<count>\d+(?:\.\d+)?)\s*$")
_MOD_RE = re.compile(r"^(?P<mod>.+?)\+0x(?P<off>[0-9a-fA-F]+)$")
_ADDR_RE = re.compile(r"^(?:0x)?(?P<addr>[0-9a-fA-F]{4,16})$")
_BRACKET_MOD_RE = re.compile(r"^\[(?P<mod>[^\]]+)\]\+0x(?P<off>[0-9a-fA-F]+)$")


def looks_like_folded(text: str) -> bool:
    seen = 0
    for line in text.splitlines()[:200]:
        if not line.strip() or line.startswith("#"):
            continue
        if not _LINE_RE.match(line):
            return False
        seen += 1
    return seen > 0


def folded_to_profile(lines: Iterable[str]) -> tuple[profile_pb2.Profile, dict[int, str], set[int]]:
    """Raw-address profile from folded stacks; also fallback names per location id and the ids of
    locations holding return addresses (every frame but the leaf)."""
    prof = profile_pb2.Profile()
    st = StringTable(prof)
    prof.sample_type.add(type=st("samples"), unit=st("count"))
    mappings: dict[str, profile_pb2.Mapping] = {}
    locs: dict[tuple[int, int, str, bool], int] = {}
    ret_locs: set[int] = set()
    names: dict[int, str] = {}
    nsamples = 0
    for lineno, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        m = _LINE_RE.match(line)
        if not m:
            raise FormatError(f"line {lineno}: not 'frame;frame;... COUNT'", what="folded stacks")
        cnt_s = m.group("count")
        count = int(float(cnt_s)) if "." in cnt_s else int(cnt_s)
        frames = m.group("stack").split(";")[:MAX_FRAMES]
        ids: list[int] = []
        for k, fr in enumerate(reversed(frames)):  # leaf first
            fr = fr.strip()
            caller = k > 0
            mod = off = None
            mm = _MOD_RE.match(fr) or _BRACKET_MOD_RE.match(fr)
            if mm and not fr.startswith("0x"):
                mod, off = mm.group("mod"), int(mm.group("off"), 16)
            am = _ADDR_RE.match(fr) if mod is None else None
            if mod is not None and off is not None:
                mp = mappings.get(mod)
                if mp is None:
                    # address == file offset: a mapping at 0 with file offset 0 (size unknown: max).
                    mp = prof.mapping.add(
                        id=len(mappings) + 1, memory_start=0, memory_limit=(1 << 63), file_offset=0, filename=st(mod)
                    )
                    mappings[mod] = mp
                key = (mp.id, off, "", caller)
            elif am is not None and (fr.startswith("0x") or any(c in "abcdefABCDEF" for c in fr) or len(fr) >= 6):
                mp = mappings.get("")
                if mp is None:
                    mp = prof.mapping.add(id=len(mappings) + 1, filename=st(""))  # identity: link-time
                    mappings[""] = mp
                key = (mp.id, int(am.group("addr"), 16), "", caller)
            else:
                key = (0, 0, fr, False)
            lid = locs.get(key)
            if lid is None:
                lid = len(locs) + 1
                locs[key] = lid
                if key[0]:
                    prof.location.add(id=lid, mapping_id=key[0], address=key[1])
                    if caller:
                        ret_locs.add(lid)
                else:
                    prof.location.add(id=lid)
                    names[lid] = fr
            ids.append(lid)
        prof.sample.add(location_id=ids, value=[count])
        nsamples += 1
    if not nsamples:
        raise FormatError("no stacks found in folded input", what="folded stacks")
    # Main mapping first so a single --binary applies to bare addresses.
    if "" in mappings and len(prof.mapping) > 1:
        ms = sorted(prof.mapping, key=lambda x: (st.get(x.filename) != "", x.id))
        copy = [profile_pb2.Mapping() for _ in ms]
        for c, x in zip(copy, ms, strict=True):
            c.CopyFrom(x)
        del prof.mapping[:]
        prof.mapping.extend(copy)
    return prof, names, ret_locs


def _frame_label(prof: profile_pb2.Profile, loc: profile_pb2.Location, maps: dict[int, profile_pb2.Mapping]) -> str:
    m = maps.get(loc.mapping_id)
    if m is not None:
        fn = prof.string_table[m.filename] if m.filename < len(prof.string_table) else ""
        if fn:
            base = fn.rsplit("/", 1)[-1]
            return f"{base}+{loc.address - m.memory_start + m.file_offset:#x}"
    return f"{loc.address:#x}"


def profile_to_folded(
    prof: profile_pb2.Profile,
    *,
    sample_index: int = -1,
    inline_suffix: str = DEFAULT_INLINE_SUFFIX,
    fallback_names: dict[int, str] | None = None,
    with_lines: bool = False,
) -> str:
    """Aggregate samples into flamegraph.pl input: root first, one line per distinct stack."""
    st = prof.string_table
    if not prof.sample_type:
        return ""
    idx = sample_index if sample_index >= 0 else len(prof.sample_type) - 1
    idx = min(idx, len(prof.sample_type) - 1)
    funcs = {f.id: f for f in prof.function}
    maps = {m.id: m for m in prof.mapping}
    fallback_names = fallback_names or {}
    labels: dict[int, list[str]] = {}
    for loc in prof.location:
        out: list[str] = []
        n = len(loc.line)
        for j, ln in enumerate(loc.line):
            f = funcs.get(ln.function_id)
            name = st[f.name] if f is not None and f.name < len(st) and st[f.name] else "?"
            if with_lines and f is not None and f.filename < len(st) and st[f.filename]:
                name = f"{name} {st[f.filename].rsplit('/', 1)[-1]}:{ln.line}"
            if j < n - 1:
                name += inline_suffix
            out.append(name)
        if not out:
            out.append(fallback_names.get(loc.id) or _frame_label(prof, loc, maps))
        labels[loc.id] = [s.replace(";", ":") for s in reversed(out)]  # outermost first
    agg: Counter[str] = Counter()
    for s in prof.sample:
        v = s.value[idx] if idx < len(s.value) else 0
        if v == 0:
            continue
        parts: list[str] = []
        for lid in reversed(s.location_id):
            parts.extend(labels.get(lid, ["?"]))
        agg[";".join(parts)] += v
    return "".join(f"{k} {v}\n" for k, v in sorted(agg.items()))
