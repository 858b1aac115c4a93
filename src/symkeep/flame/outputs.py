"""The non-HTML outputs: folded stacks (through ``symkeep.profile.folded``), speedscope JSON, SVG.

Folded output is written by ``symkeep.profile.folded.profile_to_folded`` (the FlameGraph
conventions live there: ``_[i]`` on inlined frames, ``_[k]`` on kernel frames): the stack table is
turned back into a small pprof profile, one location per physical frame with its inlined frames as
extra lines, so that module sees exactly what it would see from ``symkeep symbolize``.
"""

from __future__ import annotations

import html
import json
from collections import Counter

import numpy as np

from symkeep.flame.classify import KERNEL, color_of
from symkeep.flame.stacks import StackSet
from symkeep.flame.tree import FlameTree
from symkeep.profile import profile_pb2
from symkeep.profile.pprof import StringTable

__all__ = ["SPEEDSCOPE_SCHEMA", "render_folded", "render_folded_diff", "render_speedscope", "render_svg",
           "stackset_to_profile"]

SPEEDSCOPE_SCHEMA = "https://www.speedscope.app/file-format-schema.json"
INLINE_SUFFIX = "_[i]"


def stackset_to_profile(ss: StackSet) -> profile_pb2.Profile:
    """A pprof profile with one sample per row (frames regrouped into locations, labels kept)."""
    it = ss.interner
    prof = profile_pb2.Profile()
    st = StringTable(prof)
    prof.sample_type.add(type=st(ss.sample_type), unit=st(ss.unit))
    kmap = prof.mapping.add(id=1, filename=st("[kernel.kallsyms]"), has_functions=True)
    func_of: dict[int, int] = {}
    loc_of: dict[tuple[int, ...], int] = {}

    def fid(f: int) -> int:
        i = func_of.get(f)
        if i is None:
            fr = it.frames[f]
            i = len(func_of) + 1
            nm = st(fr.name[:-4] if fr.kind == KERNEL and fr.name.endswith("_[k]") else fr.name)
            prof.function.add(id=i, name=nm, system_name=nm, filename=st(fr.file), start_line=fr.line)
            func_of[f] = i
        return i

    def lid(group: tuple[int, ...]) -> int:  # group: root first (physical frame, then inlined)
        i = loc_of.get(group)
        if i is None:
            i = len(loc_of) + 1
            kernel = it.frames[group[0]].kind == KERNEL
            loc = prof.location.add(id=i, mapping_id=kmap.id if kernel else 0)
            for f in reversed(group):
                loc.line.add(function_id=fid(f), line=it.frames[f].line)
            loc_of[group] = i
        return i

    inl = np.fromiter((fr.inlined for fr in it.frames), dtype=bool, count=len(it.frames))
    lab_cache: dict[int, list[tuple[int, int]]] = {}
    for r in range(ss.rows):
        frs = ss.fr[ss.off[r]:ss.off[r + 1]].tolist()
        groups: list[tuple[int, ...]] = []
        cur: list[int] = []
        for f in frs:
            if cur and not inl[f]:
                groups.append(tuple(cur))
                cur = []
            cur.append(f)
        if cur:
            groups.append(tuple(cur))
        s = prof.sample.add(location_id=[lid(g) for g in reversed(groups)], value=[int(ss.val[r])])
        lsid = int(ss.ls[r])
        if lsid:
            labs = lab_cache.get(lsid)
            if labs is None:
                labs = [(st(k), st(v)) for k, _, v in (lb.partition("=") for lb in it.labelsets[lsid])]
                lab_cache[lsid] = labs
            for k, v in labs:
                s.label.add(key=k, str=v)
    return prof


def render_folded(ss: StackSet) -> bytes:
    from symkeep.profile.folded import profile_to_folded

    return profile_to_folded(stackset_to_profile(ss), sample_index=0, inline_suffix=INLINE_SUFFIX).encode()


def _folded_counts(ss: StackSet) -> Counter[str]:
    c: Counter[str] = Counter()
    for line in render_folded(ss).decode().splitlines():
        stack, _, n = line.rpartition(" ")
        c[stack] += int(n)
    return c


def render_folded_diff(ss: StackSet, base: StackSet) -> bytes:
    """flamegraph.pl's differential input, ``stack BEFORE AFTER``, BEFORE scaled to AFTER's total."""
    now = _folded_counts(ss)
    before = _folded_counts(base)
    tn, tb = sum(now.values()), sum(before.values())
    k = tn / tb if tb else 0.0
    lines = [f"{s} {round(before.get(s, 0) * k)} {now.get(s, 0)}\n" for s in sorted(set(now) | set(before))]
    return "".join(lines).encode()


_SS_UNITS = {"nanoseconds": "nanoseconds", "microseconds": "microseconds", "milliseconds": "milliseconds",
             "seconds": "seconds", "bytes": "bytes"}


def render_speedscope(ss: StackSet, name: str = "profile") -> bytes:
    """speedscope's file format (a 'sampled' profile): every frame kept, inlined ones included
    (named ``NAME (inlined)``), unsymbolized ones as ``module+0xOFFSET``."""
    it = ss.interner
    used = np.unique(ss.fr) if len(ss.fr) else np.zeros(0, dtype=np.int32)
    remap = {int(f): i for i, f in enumerate(used.tolist())}
    frames = []
    for f in used.tolist():
        fr = it.frames[f]
        d: dict[str, object] = {"name": fr.name + (" (inlined)" if fr.inlined else "")}
        if fr.file:
            d["file"] = fr.file
        if fr.line:
            d["line"] = fr.line
        frames.append(d)
    samples = [[remap[f] for f in ss.fr[ss.off[r]:ss.off[r + 1]].tolist()] for r in range(ss.rows)]
    weights = [int(v) for v in ss.val.tolist()]
    doc = {
        "$schema": SPEEDSCOPE_SCHEMA,
        "exporter": "symkeep",
        "name": name,
        "activeProfileIndex": 0,
        "shared": {"frames": frames},
        "profiles": [{
            "type": "sampled",
            "name": f"{name} ({ss.sample_type})",
            "unit": _SS_UNITS.get(ss.unit, "none"),
            "startValue": 0,
            "endValue": int(sum(weights)),
            "samples": samples,
            "weights": weights,
        }],
    }
    return json.dumps(doc, separators=(",", ":")).encode()


def render_svg(tree: FlameTree, *, title: str = "", icicle: bool = False, min_width: float = 0.1,
               width: int = 1200) -> bytes:
    """A static SVG (tooltips as <title>): for documents and tickets where HTML will not do."""
    it = tree.interner
    row = 16
    n = tree.n
    tot = tree.total.astype(np.float64)
    root = float(tot[0]) if n else 0.0
    scale = (width - 20) / root if root else 0.0
    x = np.zeros(n, dtype=np.float64)
    cursor = np.zeros(n, dtype=np.float64)
    par = tree.parent
    # children start at their parent's x, in preorder
    for i in range(1, n):
        p = par[i]
        x[i] = x[p] + cursor[p]
        cursor[p] += tot[i]
    maxd = int(tree.depth.max()) if n else 0
    top = 40
    height = top + (maxd + 1) * row + 10
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="monospace" font-size="11">',
        f'<text x="10" y="20" font-size="14">{html.escape(title or "flame graph")}</text>',
    ]
    btot = tree.base_total.astype(np.float64)
    bscale = (root / float(btot[0])) if tree.has_base and n and btot[0] else 0.0
    i = 0
    while i < n:
        w = tot[i] * scale
        if w < min_width:
            i = int(tree.end[i])
            continue
        d = int(tree.depth[i])
        y = top + (d if icicle else maxd - d) * row
        px = 10 + x[i] * scale
        if i == 0:
            name, color = "all", "hsl(0,0%,85%)"
        else:
            fr = it.frames[int(tree.frame[i])]
            name = fr.name + (" (inlined)" if fr.inlined else "")
            color = color_of(fr.kind, fr.name)
        if tree.has_base:
            before = btot[i] * bscale
            m = max(tot[i], before)
            r = min(1.0, abs(tot[i] - before) / m) if m else 0.0
            color = f"hsl({0 if tot[i] >= before else 220},85%,{96 - 46 * r:.1f}%)"
        pc = 100.0 * tot[i] / root if root else 0.0
        tip = f"{name} ({int(tot[i]):,} {tree.unit}, {pc:.2f}%)"
        label = ""
        nchar = int((w - 6) / 6.6)
        if nchar >= 3:
            label = name if len(name) <= nchar else name[: nchar - 2] + ".."
        dash = ' stroke="#333" stroke-dasharray="3,2"' if i and it.frames[int(tree.frame[i])].inlined else ""
        out.append(
            f'<g><title>{html.escape(tip)}</title><rect x="{px:.2f}" y="{y}" width="{max(w - 0.5, 0.1):.2f}" '
            f'height="{row - 1}" fill="{color}"{dash}/>'
            + (f'<text x="{px + 3:.2f}" y="{y + row - 4}">{html.escape(label)}</text>' if label else "")
            + "</g>"
        )
        i += 1
    out.append("</svg>\n")
    return "\n".join(out).encode()
