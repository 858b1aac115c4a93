"""``perf script`` text, one line at a time: sample headers, frame lines and mmap events.

Layouts recognised (perf 6.1): the default output (``comm pid[/tid] [cpu] time: period event:``
headers, tab-indented callchain lines below, a blank line between samples), ``-F ip,sym,dso`` with
or without ``-g`` (no headers), the one-line form without ``-g`` (``... event:  ip sym+off (dso)``)
and ``--show-mmap-events`` (``PERF_RECORD_MMAP2 pid/tid: [0xSTART(0xLEN) @ PGOFF ...]: prot FILE``).

Every parser here is a left-to-right scan over whitespace-separated tokens: linear in the line's
length, whatever it holds (a regular expression with nested quantifiers took 44 s on a line of
60,000 spaces). Numbers out of range (a 30-digit period, a 17-digit address) are a FormatError
naming the line and the field, never an OverflowError later.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass

from symkeep.errors import SymkeepError
from symkeep.profile.limits import DEC_DIGITS, HEX_DIGITS, INT64_MAX, UINT64_MAX, parse_int_field

__all__ = ["Header", "Mmap", "PerfFrame", "looks_like_perf_script", "parse_frame", "parse_header", "parse_mmap",
           "parse_simple_event"]

WHAT = "perf script"
_TOKEN = re.compile(r"\S+")
_PROT = frozenset("rwxsp-")
UNKNOWN_SYMS = ("[unknown]", "unknown", "??")


@dataclass(slots=True)
class PerfFrame:
    ip: int
    sym: str  # '' when perf printed [unknown]
    dso: str
    in_callchain: bool


@dataclass(slots=True)
class Header:
    comm: str
    pid: int | None
    period: int | None
    event: str
    rest: str  # what follows ``event:`` (the sample's own frame without -g)
    has_time: bool = False
    has_tid: bool = False


@dataclass(slots=True)
class Mmap:
    pid: int
    start: int
    limit: int
    pgoff: int
    executable: bool
    file: str


def _is_hex(s: str) -> bool:
    return HEX_DIGITS.fullmatch(s) is not None


def _is_dec(s: str) -> bool:
    return DEC_DIGITS.fullmatch(s) is not None


_EVENT = re.compile(r"[A-Za-z_][\w\-.:/]*:")


def _is_event(tok: str) -> bool:
    return _EVENT.fullmatch(tok) is not None


def split_dso(rest: str) -> tuple[str, str]:
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


def _strip_offset(sym: str) -> str:
    """'main.f+0x1c' -> 'main.f' (perf's symbol offset)."""
    i = sym.rfind("+0x")
    return sym[:i] if i > 0 and _is_hex(sym[i + 3 :]) else sym


def parse_frame(line: str, in_callchain: bool, lineno: int = 0, *, strict: bool = True) -> PerfFrame | None:
    """``  ADDR sym+off (dso)`` -> a frame; None when the line is not one. An address that does not
    fit in 64 bits is a FormatError (``strict``) or None (format detection)."""
    parts = line.split(None, 1)
    if not parts or not _is_hex(parts[0]):
        return None
    tok = parts[0]
    if len(tok.lstrip("0")) > 16:
        if not strict:
            return None
        parse_int_field(tok, base=16, lo=0, hi=UINT64_MAX, line=lineno, field="address", what=WHAT)
    sym, dso = split_dso(parts[1] if len(parts) > 1 else "")
    if sym in UNKNOWN_SYMS:
        sym = ""
    return PerfFrame(int(tok, 16), _strip_offset(sym), dso, in_callchain)


def parse_header(line: str, lineno: int = 0) -> Header | None:
    """``comm pid[/tid] [cpu] [time:] [period] event: rest`` -> Header, or None.

    The event is the first token shaped like one (``cpu-clock:``, ``cycles:u:``) right after a pid
    and the optional ``[cpu]``, ``time:`` and period; everything before the pid is the command name
    (it may hold spaces and digits, but not be empty). Only the last five tokens are kept while
    scanning: a header's tail is never longer."""
    window: deque[re.Match[str]] = deque(maxlen=5)
    for seen, m in enumerate(_TOKEN.finditer(line)):
        tok = m.group()
        if _is_event(tok):
            got = _match_tail([w.group() for w in window], seen - len(window), lineno)
            if got is not None:
                p, pid, has_tid, has_time, period = got
                comm = line[: window[p].start()].strip()
                return Header(comm, pid, period, tok[:-1], line[m.end() :].strip(), has_time, has_tid)
        window.append(m)
    return None


def _match_tail(before: list[str], dropped: int, lineno: int) -> tuple[int, int | None, bool, bool, int | None] | None:
    """Find ``pid [cpu] [time:] [period]`` filling ``before`` to its end, the pid leftmost, with at
    least one token (the command name) before it. Returns (pid index, pid, tid?, time?, period)."""
    n = len(before)
    for p in range(max(0, n - 4), n):
        if dropped + p < 1:
            continue
        pid_s, slash, tid_s = before[p].partition("/")
        if not _is_dec(pid_s.removeprefix("-")) or (slash and not _is_dec(tid_s.removeprefix("-"))):
            continue
        i = p + 1
        if i < n and before[i].startswith("[") and before[i].endswith("]") and _is_dec(before[i][1:-1]):
            i += 1
        has_time = i < n and before[i].endswith(":") and _is_time(before[i][:-1])
        i += has_time
        period_tok = before[i] if i < n and _is_dec(before[i]) else None
        i += period_tok is not None
        if i != n:
            continue
        period = None
        if period_tok is not None:
            period = parse_int_field(period_tok, base=10, lo=0, hi=INT64_MAX, line=lineno, field="period", what=WHAT)
        return p, (int(pid_s) if len(pid_s) <= 20 else None), bool(slash), has_time, period
    return None


def _is_time(s: str) -> bool:
    a, dot, b = s.partition(".")
    return bool(dot) and _is_dec(a) and _is_dec(b)


def parse_simple_event(line: str, lineno: int = 0) -> Header | None:
    """A header-less sample line such as ``-F period,event,ip,sym`` prints: ``[period] event: rest``."""
    prev = ""
    for m in _TOKEN.finditer(line):
        tok = m.group()
        if _is_event(tok):
            period = None
            if _is_dec(prev):
                period = parse_int_field(prev, base=10, lo=0, hi=INT64_MAX, line=lineno, field="period", what=WHAT)
            return Header("", None, period, tok[:-1], line[m.end() :].strip())
        prev = tok
    return None


def parse_mmap(line: str, lineno: int = 0) -> Mmap | None:
    """``PERF_RECORD_MMAP[2] pid/tid: [0xSTART(0xLEN) @ PGOFF ...]: [prot] FILE`` -> Mmap, or None."""
    i = line.find("PERF_RECORD_MMAP")
    if i < 0:
        return None
    parts = line[i:].split(None, 2)
    if len(parts) < 3 or not parts[1].endswith(":"):
        return None
    pid_s = parts[1][:-1].partition("/")[0]
    body = parts[2]
    close = body.find("]:")
    if not body.startswith("[") or close < 0:
        return None
    inner, after = body[1:close], body[close + 2 :].strip()
    startlen, at, tail = inner.partition(" @ ")
    tail_toks = tail.split(None, 1)
    open_p = startlen.find("(")
    if not at or not tail_toks or open_p < 0 or not startlen.endswith(")") or not _is_dec(pid_s.lstrip("-")):
        return None

    def num(tok: str, field: str) -> int:
        base = 16 if tok[:2] in ("0x", "0X") else 10
        return parse_int_field(tok, base=base, lo=0, hi=UINT64_MAX, line=lineno, field=field, what=WHAT)

    start = num(startlen[:open_p], "mmap start")
    length = num(startlen[open_p + 1 : -1], "mmap length")
    pgoff = num(tail_toks[0], "mmap offset")
    prot, _, file = after.partition(" ")
    if not prot or not all(c in _PROT for c in prot) or len(prot) > 4:
        prot, file = "x", after  # no protection field: the kernel's own text
    return Mmap(int(pid_s) if len(pid_s) <= 20 else -1, start, min(start + length, UINT64_MAX), pgoff,
                "x" in prot, file.strip())


def looks_like_perf_script(text: str) -> bool:
    """Input auto-detection: a frame line with a (dso), a perf sample header or an mmap event among
    the first complete lines (never raises: out-of-range numbers only mean 'not perf')."""
    n = 0
    for line in text.splitlines()[:200]:
        if not line.strip() or line.startswith("#"):
            continue
        n += 1
        if "PERF_RECORD_" in line:
            return True
        if line[:1].isspace() and line.rstrip().endswith(")") and parse_frame(line, True, strict=False):
            return True
        if ";" not in line:
            try:
                if parse_header(line.strip()) is not None:
                    return True
            except SymkeepError:  # an out-of-range period: still perf's shape
                return True
    return False
