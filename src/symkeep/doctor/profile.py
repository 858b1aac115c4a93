"""Checks on a pprof profile: unsymbolized locations (and which renderers drop them), the mapping's
build ID vs the binary on disk, and names that disagree with the binary's .gopclntab (a stale binary,
or the cgo text-start shift of `go tool pprof`)."""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass

from symkeep.doctor.binary import BinaryFacts
from symkeep.doctor.model import Finding
from symkeep.profile import profile_pb2
from symkeep.profile.mapping import classify_mapping
from symkeep.profile.pprof import read_profile

__all__ = ["ProfileView", "check_names", "check_stale", "check_unsymbolized", "load_profile", "main_mapping"]

MAX_NAME_CHECKS = 20000


@dataclass
class ProfileView:
    path: str
    prof: profile_pb2.Profile

    def s(self, i: int) -> str:
        st = self.prof.string_table
        return st[i] if 0 <= i < len(st) else ""


def load_profile(path: str) -> ProfileView:
    return ProfileView(path, read_profile(path))


def main_mapping(pv: ProfileView, binary: str | None) -> profile_pb2.Mapping | None:
    """The mapping of ``binary`` (by file name), else pprof's convention: the first file mapping."""
    files = [m for m in pv.prof.mapping if classify_mapping(pv.s(m.filename), m.memory_start) == "file"]
    if binary:
        base = os.path.basename(binary)
        for m in files:
            if os.path.basename(pv.s(m.filename)) == base:
                found: profile_pb2.Mapping = m
                return found
    first: profile_pb2.Mapping | None = files[0] if files else None
    return first


def check_unsymbolized(pv: ProfileView) -> Finding:
    maps = {m.id: m for m in pv.prof.mapping}
    per: Counter[int] = Counter()
    total = 0
    for loc in pv.prof.location:
        m = maps.get(loc.mapping_id)
        if m is not None and classify_mapping(pv.s(m.filename), m.memory_start) != "file":
            continue
        total += 1
        if not loc.line:
            per[loc.mapping_id] += 1
    bad = sum(per.values())
    if not bad:
        return Finding("unsymbolized-profile", "ok", f"all {total} locations in file mappings have names",
                       [f"{pv.path}: {total} locations"])
    ev = [f"{pv.path}: {bad} of {total} locations in file mappings have no function/line ({100.0 * bad / total:.0f}%)"]
    stuck = []
    for mid, n in per.most_common(5):
        m = maps.get(mid)
        if m is None:
            ev.append(f"{n} locations with no mapping")
            continue
        flags = [k for k in ("has_functions", "has_filenames", "has_line_numbers", "has_inline_frames") if getattr(m, k)]
        ev.append(f"mapping {mid} {pv.s(m.filename) or '(no name)'} build_id={pv.s(m.build_id) or '-'}: {n} without "
                  f"names; flags: {', '.join(flags) or 'none'}")
        if flags:
            stuck.append(pv.s(m.filename))
    ev.append("speedscope drops locations without a Line, flame graphs show them as hex; "
              + ("pprof will NOT re-symbolize mappings whose has_* flags are set: " + ", ".join(stuck) if stuck
                 else "pprof re-symbolizes them only if it finds the exact binary (pprof -symbolize=local)"))
    return Finding("unsymbolized-profile", "problem",
                   f"{bad} of {total} profile locations have no function names: renderers show hex or drop them",
                   ev, f"symkeep symbolize {pv.path} --binary BIN -o symbolized.pb.gz "
                       "(finds BIN by --binary, the mapping path, build-id dirs or DEBUGINFOD_URLS)",
                   {"unsymbolized": bad, "locations": total})


def check_stale(pv: ProfileView, f: BinaryFacts) -> Finding | None:
    m = main_mapping(pv, f.path)
    if m is None:
        return None
    bid = pv.s(m.build_id)
    ev = [f"{pv.path}: mapping {m.id} {pv.s(m.filename)} build_id={bid or '(none)'}",
          f"{f.path}: GNU build-id {f.gnu_id or '(none)'}, Go build ID {f.go_id or '(none)'}"]
    if not bid:
        return None  # no ID recorded: the name comparison (check_names) decides
    if bid in (f.gnu_id, f.go_id) or (f.go_id and bid.lower() == (f.go_id or "").lower()):
        return Finding("stale-binary", "ok", "the profile's mapping build ID equals the binary's", ev)
    return Finding("stale-binary", "problem",
                   f"the profile was recorded from build {bid}, but {f.path} is build {f.gnu_id or f.go_id}: "
                   "symbolizing it with this file names the wrong functions (stale binary after a deploy?)", ev,
                   "symbolize with the binary that ran: fetch it by build ID (debuginfod, `symkeep serve`, your "
                   "symbol store) or from the running process (/proc/PID/exe); archive every deployed build")


def check_names(pv: ProfileView, f: BinaryFacts) -> Finding | None:
    """Compare the profile's function names with .gopclntab at each address (and at address + shift)."""
    from symkeep.profile.mapping import Translator
    from symkeep.symbolize import GoEngine, open_go_binary

    m = main_mapping(pv, f.path)
    if m is None:
        return None
    funcs = {fn.id: pv.s(fn.name) for fn in pv.prof.function}
    locs = [(loc.address, funcs.get(loc.line[-1].function_id, "")) for loc in pv.prof.location
            if loc.mapping_id == m.id and loc.line][:MAX_NAME_CHECKS]
    if not locs:
        return None
    eng: GoEngine = open_go_binary(f.path)
    try:
        tr = Translator(eng.binary, m.memory_start, m.memory_limit, m.file_offset)
        def outer(pc: int | None) -> str | None:
            if pc is None:
                return None
            fr = eng.lookup(pc)
            return fr[-1].function if fr else None

        links = [tr.to_link(a) for a, _ in locs]
        same = sum(1 for (_, name), pc in zip(locs, links, strict=True) if outer(pc) == name)
        shift = f.text_shift
        # of the locations whose name disagrees, how many the text-start shift explains
        shifted = sum(1 for (_, name), pc in zip(locs, links, strict=True)
                      if pc is not None and outer(pc) != name and outer(pc + shift) == name) if shift else 0
        example = next(((name, outer(pc), outer(pc + shift) if pc is not None and shift else None)
                        for (_, name), pc in zip(locs, links, strict=True) if outer(pc) != name), None)
    finally:
        eng.close()
    n = len(locs)
    ev = [f"{pv.path}: {n} named locations in mapping {pv.s(m.filename)}; {same} agree with {f.path}'s .gopclntab"]
    data = {"locations": n, "agree": same, "agree_shifted": shifted, "shift": shift}
    if same >= 0.95 * n:
        return Finding("stale-binary", "ok", f"{same}/{n} profile names agree with the binary", ev, data=data)
    if example:
        ev.append(f"e.g. the profile says {example[0]}, .gopclntab says {example[1]}"
                  + (f" (and {example[2]} at address+{shift:#x})" if shift else ""))
    if shift and shifted >= 0.75 * (n - same):
        ev.append(f"{shifted} of the {n - same} disagreeing names equal .gopclntab's at address+{shift:#x}: "
                  "the text-start shift")
        return Finding("cgo-text-start", "problem",
                       f"this profile was symbolized with the wrong text start: {n - same} of {n} names are those "
                       f"of the code {shift:#x} bytes further on (go tool pprof on a stripped cgo binary)", ev,
                       f"re-symbolize from raw addresses with symkeep: symkeep symbolize {pv.path} --binary {f.path} "
                       "--force (or keep .symtab in cgo builds)", data)
    return Finding("stale-binary", "problem",
                   f"{n - same} of {n} profile names disagree with {f.path}: the profile comes from another build",
                   ev, "symbolize with the binary that was profiled (fetch it by build ID, or /proc/PID/exe)", data)
