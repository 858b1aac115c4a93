"""``perf script`` text -> a pprof profile with raw addresses, ready for the symbolizer.

Layouts handled: the default output (``comm pid [cpu] time: period event:`` headers, callchain lines
below, blank line between samples), ``-F ip,sym,dso`` with or without ``-g`` (no header lines), the
one-line form without ``-g`` (``... event:  ip sym+off (dso)``) and ``--show-mmap-events``
(``PERF_RECORD_MMAP2 pid/tid: [0xSTART(0xLEN) @ PGOFF ...]: prot FILE``).

Measured on perf 6.1: callchain entries of user-space DSOs print perf's ``map_ip`` (the file offset),
while a sample's own ``ip`` without ``-g`` is the runtime address. So callchain addresses of a file
become locations in a mapping ``[0, size)`` at file offset 0 (address == file offset, which is what
pprof's own rules turn back into link-time addresses); runtime addresses use the process's mmap
event when there is one. Caller frames are return addresses: we store
``address - 1`` so that the address points into the call instruction. Names perf printed (kernel,
libc, ...) are kept as fallbacks for frames symkeep cannot symbolize.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from symkeep.errors import FormatError
from symkeep.profile import profile_pb2
from symkeep.profile.mapping import classify_mapping
from symkeep.profile.pprof import StringTable

__all__ = ["PerfFrame", "PerfSample", "ParsedPerf", "parse_perf_script", "perf_to_profile", "looks_like_perf_script"]

MAX_FRAMES = 4096  # per sample; deeper stacks are truncated (perf's own max is 127 by default)

_MMAP_RE = re.compile(
    r"PERF_RECORD_MMAP2?\s+(?P<pid>-?\d+)/(?P<tid>-?\d+):\s+\[(?P<start>0x[0-9a-fA-F]+)\((?P<len>0x[0-9a-fA-F]+)\)"
    r"\s+@\s+(?P<pgoff>0x[0-9a-fA-F]+|\d+)(?:\s[^\]]*)?\]:\s+(?:(?P<prot>[rwxsp-]{1,4})\s+)?(?P<file>.*?)\s*$"
)
_FRAME_RE = re.compile(r"^\s*(?P<ip>[0-9a-fA-F]+)(?:\s+(?P<rest>.*))?$")
_HEADER_RE = re.compile(
    r"^(?P<comm>.*?)\s+(?P<pid>-?\d+)(?:/(?P<tid>-?\d+))?\s+(?:\[(?P<cpu>\d+)\]\s+)?(?:(?P<time>\d+\.\d+):\s+)?"
    r"(?:(?P<period>\d+)\s+)?(?P<event>[A-Za-z_][\w\-.:/]*?):\s*(?P<rest>.*)$"
)
_SIMPLE_EVENT_RE = re.compile(r"(?:^|\s)(?:(?P<period>\d+)\s+)?(?P<event>[A-Za-z_][\w\-.:/]*?):(?:\s+(?P<rest>.*))?$")
_SYMOFF_RE = re.compile(r"\+0x[0-9a-fA-F]+$")


@dataclass
class PerfFrame:
    ip: int
    sym: str  # '' when perf printed [unknown]
    dso: str
    in_callchain: bool


@dataclass
class PerfSample:
    frames: list[PerfFrame]  # leaf first
    pid: int | None = None
    period: int | None = None
    event: str = ""
    comm: str = ""


@dataclass
class ParsedPerf:
    samples: list[PerfSample] = field(default_factory=list)
    # (pid or None, dso) -> list of (start, limit, pgoff)
    mmaps: dict[tuple[int | None, str], list[tuple[int, int, int]]] = field(default_factory=dict)
    skipped_lines: int = 0


def looks_like_perf_script(text: str) -> bool:
    """Heuristic used by input auto-detection: a frame line with a (dso) or a perf header/mmap line."""
    n = 0
    for line in text.splitlines()[:200]:
        if not line.strip():
            continue
        n += 1
        if "PERF_RECORD_" in line:
            return True
        if line[:1].isspace() and line.rstrip().endswith(")") and _FRAME_RE.match(line):
            return True
        if _HEADER_RE.match(line) and ";" not in line:
            return True
    return False


def _split_dso(rest: str) -> tuple[str, str]:
    """'sym+0x1 (dso)' -> ('sym+0x1', 'dso'); the dso is the last balanced parenthesised group."""
    r = rest.rstrip()
    if not r.endswith(")"):
        return r, ""
    depth = 0
    for i in range(len(r) - 1, -1, -1):
        c = r[i]
        if c == ")":
            depth += 1
        elif c == "(":
            depth -= 1
            if depth == 0:
                if i > 0 and not r[i - 1].isspace():
                    return r, ""  # e.g. 'runtime.(*mheap).alloc' with no dso
                return r[:i].rstrip(), r[i + 1 : -1]
    return r, ""


def _parse_frame(line: str, in_callchain: bool) -> PerfFrame | None:
    m = _FRAME_RE.match(line)
    if not m:
        return None
    try:
        ip = int(m.group("ip"), 16)
    except ValueError:
        return None
    if ip >= 1 << 64:
        return None
    sym, dso = _split_dso(m.group("rest") or "")
    if sym in ("[unknown]", "unknown", "??"):
        sym = ""
    sym = _SYMOFF_RE.sub("", sym)
    return PerfFrame(ip, sym, dso, in_callchain)


def parse_perf_script(lines: Iterable[str]) -> ParsedPerf:
    """Parse perf script text into samples (leaf-first frames) and mmap events."""
    out = ParsedPerf()
    cur: PerfSample | None = None
    saw_header = False
    blocks_seen_blank = False

    def flush() -> None:
        nonlocal cur
        if cur is not None and cur.frames:
            out.samples.append(cur)
        cur = None

    headerless: list[list[PerfFrame]] = []
    block: list[PerfFrame] = []
    for raw in lines:
        line = raw.rstrip("\n")
        if "PERF_RECORD_MMAP" in line:
            mm = _MMAP_RE.search(line)
            if mm:
                try:
                    start = int(mm.group("start"), 16)
                    ln = int(mm.group("len"), 16)
                    pg = mm.group("pgoff")
                    pgoff = int(pg, 16) if pg.startswith("0x") else int(pg)
                    pid = int(mm.group("pid"))
                except ValueError:
                    out.skipped_lines += 1
                    continue
                prot = mm.group("prot") or "x"
                if "x" in prot:
                    f = mm.group("file")
                    out.mmaps.setdefault((pid, f), []).append((start, start + ln, pgoff))
                    out.mmaps.setdefault((None, f), []).append((start, start + ln, pgoff))
            continue
        if "PERF_RECORD_" in line:
            continue
        if not line.strip():
            if saw_header:
                flush()
            elif block:
                headerless.append(block)
                block = []
                blocks_seen_blank = True
            continue
        # perf right-aligns comm, so header lines can start with spaces: recognise them by shape
        # (comm pid[/tid] [cpu] time: period event:), not by indentation.
        hm = _HEADER_RE.match(line.strip())
        if hm is not None and not (hm.group("time") or hm.group("tid") or hm.group("period")):
            hm = None if line[:1].isspace() else hm
        if hm is not None or not line[:1].isspace():
            sm = hm or _SIMPLE_EVENT_RE.search(line)
            if sm is None:
                out.skipped_lines += 1
                continue
            flush()
            saw_header = True
            cur = PerfSample([])
            if hm:
                cur.comm = hm.group("comm")
                try:
                    cur.pid = int(hm.group("pid"))
                except (TypeError, ValueError):
                    cur.pid = None
            per = sm.group("period")
            cur.period = int(per) if per else None
            cur.event = (sm.group("event") or "").rstrip(":")
            rest = sm.group("rest") or ""
            if rest.strip():
                fr = _parse_frame(rest, in_callchain=False)
                if fr is not None:
                    cur.frames.append(fr)
            continue
        fr = _parse_frame(line, in_callchain=True)
        if fr is None:
            out.skipped_lines += 1
            continue
        if saw_header:
            if cur is None:
                cur = PerfSample([])
            if len(cur.frames) < MAX_FRAMES:
                cur.frames.append(fr)
        else:
            block.append(fr)
    flush()
    if block:
        headerless.append(block)
    if not saw_header:
        if blocks_seen_blank:
            for b in headerless:
                out.samples.append(PerfSample(b[:MAX_FRAMES]))
        else:
            # `perf script -F ip,sym,dso` without -g: one sample per line, runtime addresses.
            for b in headerless:
                for fr in b:
                    fr.in_callchain = False
                    out.samples.append(PerfSample([fr]))
    return out


def _iter_lines(text: str) -> Iterator[str]:
    yield from text.splitlines()


@dataclass
class _MapKey:
    dso: str
    start: int
    limit: int
    pgoff: int


def perf_to_profile(parsed: ParsedPerf) -> tuple[profile_pb2.Profile, dict[int, str], set[int]]:
    """Build a pprof profile with raw-address locations; also return perf's names per location id
    (fallbacks for locations the symbolizer cannot name) and the ids of locations whose address is a
    return address (looked up at ``address - 1`` unless it is a function entry, as Go does)."""
    if not parsed.samples:
        raise FormatError("no samples found in perf script output", what="perf script")
    prof = profile_pb2.Profile()
    st = StringTable(prof)
    event = next((s.event for s in parsed.samples if s.event), "") or "cpu-clock"
    has_period = any(s.period is not None for s in parsed.samples)
    prof.sample_type.add(type=st("samples"), unit=st("count"))
    if has_period:
        unit = "nanoseconds" if event.split(":")[0] in ("cpu-clock", "task-clock") else "count"
        prof.sample_type.add(type=st(event.split(":")[0]), unit=st(unit))
        prof.period_type.type = st(event.split(":")[0])
        prof.period_type.unit = st(unit)
        periods = [s.period for s in parsed.samples if s.period]
        if periods:
            prof.period = max(set(periods), key=periods.count)
    mappings: dict[tuple[str, int, int, int], profile_pb2.Mapping] = {}
    locs: dict[tuple[int, int, bool], int] = {}  # (mapping id, address, is return address) -> id
    ret_locs: set[int] = set()
    names: dict[int, str] = {}
    sizes: dict[str, int] = {}

    def mapping_for(dso: str, start: int, limit: int, pgoff: int) -> profile_pb2.Mapping:
        key = (dso, start, limit, pgoff)
        m = mappings.get(key)
        if m is None:
            m = prof.mapping.add(
                id=len(mappings) + 1, memory_start=start, memory_limit=limit, file_offset=pgoff, filename=st(dso)
            )
            mappings[key] = m
        return m

    def file_size(dso: str) -> int:
        if dso not in sizes:
            try:
                sizes[dso] = os.path.getsize(dso) if dso.startswith("/") else 0
            except OSError:
                sizes[dso] = 0
        return sizes[dso]

    for s in parsed.samples:
        ids: list[int] = []
        prev_kind = ""
        for k, fr in enumerate(s.frames):
            kind = classify_mapping(fr.dso, fr.ip)
            # A return address, unless it is the first frame or the first user frame under kernel
            # frames (the interrupted user PC of a trap/syscall is not a return address).
            caller = k > 0 and prev_kind != "kernel"
            prev_kind = kind
            addr = fr.ip
            m: profile_pb2.Mapping
            if kind == "file":
                mm = _find_mmap(parsed, s.pid, fr.dso, fr.ip)
                if mm is not None and not (fr.in_callchain and fr.ip < max(file_size(fr.dso), 1)):
                    m = mapping_for(fr.dso, *mm)
                elif fr.in_callchain:
                    # perf's map_ip: the file offset. Mapping [0, size) at offset 0 keeps address == offset.
                    size = file_size(fr.dso) or (1 << 63)
                    m = mapping_for(fr.dso, 0, size, 0)
                else:
                    # A runtime address with no mmap event: a link-time address for non-PIE files.
                    m = mapping_for(fr.dso, 0, 0, 0)
            else:
                m = mapping_for(fr.dso or "[unknown]", 0, 0, 0)
            is_ret = caller and kind == "file"
            key = (m.id, addr, is_ret)
            lid = locs.get(key)
            if lid is None:
                lid = len(locs) + 1
                locs[key] = lid
                prof.location.add(id=lid, mapping_id=m.id, address=addr)
                if fr.sym:
                    names[lid] = fr.sym
                if is_ret:
                    ret_locs.add(lid)
            ids.append(lid)
        vals = [1]
        if has_period:
            vals.append(s.period or 0)
        prof.sample.add(location_id=ids, value=vals)
    # Mappings with only runtime addresses and no mmap: widen [0,0) to the addresses seen so pprof
    # tools show sane ranges (kernel, vdso, unknown).
    for m in prof.mapping:
        if m.memory_start == 0 and m.memory_limit == 0:
            addrs = [loc.address for loc in prof.location if loc.mapping_id == m.id]
            if addrs and classify_mapping(st.get(m.filename), min(addrs)) != "file":
                m.memory_start = min(addrs)
                m.memory_limit = max(addrs) + 1
    return prof, names, ret_locs


def _find_mmap(parsed: ParsedPerf, pid: int | None, dso: str, ip: int) -> tuple[int, int, int] | None:
    for key in ((pid, dso), (None, dso)):
        for start, limit, pgoff in parsed.mmaps.get(key, ()):
            if start <= ip < limit:
                return start, limit, pgoff
    return None
