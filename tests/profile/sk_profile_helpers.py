"""Helpers shared by the profile tests (not fixtures)."""

from __future__ import annotations

from symkeep.profile.pprof import Profile


def strip_symbols(p: Profile) -> Profile:
    """Copy of ``p`` with all symbol information removed: no functions, no lines, no has_* flags."""
    q = Profile()
    q.CopyFrom(p)
    for loc in q.location:
        del loc.line[:]
    del q.function[:]
    for m in q.mapping:
        m.has_functions = m.has_filenames = m.has_line_numbers = m.has_inline_frames = False
    return q


def frames_by_location(p: Profile) -> dict[int, list[tuple[str, str, int, int]]]:
    """location id -> [(function, file, line, start_line)] innermost first."""
    st = p.string_table
    fn = {f.id: f for f in p.function}
    out: dict[int, list[tuple[str, str, int, int]]] = {}
    for loc in p.location:
        fr = []
        for ln in loc.line:
            f = fn[ln.function_id]
            fr.append((st[f.name], st[f.filename], ln.line, f.start_line))
        out[loc.id] = fr
    return out


def weighted_agreement(orig: Profile, got: Profile, value_index: int = -1) -> tuple[float, list[str]]:
    """Fraction of sample weight whose every location has identical (function, line) frames."""
    a = frames_by_location(orig)
    b = frames_by_location(got)
    tot = ok = 0
    diffs: list[str] = []
    for s in orig.sample:
        w = s.value[value_index]
        tot += w
        bad = [lid for lid in s.location_id if [(x[0], x[2]) for x in a[lid]] != [(x[0], x[2]) for x in b[lid]]]
        if not bad:
            ok += w
        else:
            diffs.extend(f"loc {lid}: want {a[lid]} got {b[lid]}" for lid in bad[:3])
    return (ok / tot if tot else 0.0), diffs
