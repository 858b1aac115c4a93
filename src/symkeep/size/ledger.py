"""Every byte of the file in exactly one span: the bookkeeping behind ``symkeep size``.

Analyzers add *claims* (file offset ranges with a package, function, part and kind) inside a
section; :meth:`Ledger.close` clips claims to their section, drops overlaps (first claim wins, the
overlap is counted so tests can see it), fills the unclaimed rest of each section with a
section-level span, and the bytes between sections with header / padding spans. By construction the
spans tile ``[0, file_size)``, so every total adds up to the file size exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

__all__ = ["PARTS", "Ledger", "Spans"]

# What the bytes are for (the columns of the report): what -s / -w remove, what they never can.
CODE = "code"
PADDING = "padding"
PCLNTAB = "pclntab"
FUNCDATA = "funcdata"
TYPES = "types"
DATA = "data"
SYMTAB = "symtab"
DWARF = "dwarf"
OTHER = "other"
PARTS = (CODE, PADDING, PCLNTAB, FUNCDATA, TYPES, DATA, SYMTAB, DWARF, OTHER)

I64 = npt.NDArray[np.int64]
I32 = npt.NDArray[np.int32]


@dataclass
class Spans:
    """The closed ledger: parallel arrays, sorted by offset, tiling the file."""

    start: I64
    end: I64
    section: I32  # index into names (section names, plus "(headers)" / "(padding)" pseudo sections)
    package: I32  # into names
    function: I32  # into names ('' = none)
    part: I32  # into PARTS
    kind: I32  # into names (a finer label: 'pcsp', 'funcnametab', '.debug_info', ...)
    names: list[str]
    overlap_bytes: int = 0  # claims dropped because another claim had the bytes (should be 0)

    @property
    def size(self) -> I64:
        return self.end - self.start

    def total(self) -> int:
        return int(self.size.sum())


@dataclass
class _Sec:
    name: str
    start: int
    end: int
    part: str
    package: str


@dataclass
class Ledger:
    file_size: int
    sections: list[_Sec] = field(default_factory=list)
    _claims: list[tuple[I64, I64, I32, I32, I32, I32]] = field(default_factory=list)  # start, end, pkg, func, part, kind
    names: list[str] = field(default_factory=lambda: [""])
    _ids: dict[str, int] = field(default_factory=lambda: {"": 0})

    def name_id(self, s: str) -> int:
        i = self._ids.get(s)
        if i is None:
            i = len(self.names)
            self.names.append(s)
            self._ids[s] = i
        return i

    def section(self, name: str, start: int, size: int, part: str, package: str = "") -> None:
        """A section's file bytes; what no claim covers is attributed to ``package``/``part`` as a whole."""
        if size > 0:
            self.sections.append(_Sec(name, start, start + size, part, package))

    def claim(self, start: int, end: int, package: str, function: str, part: str, kind: str) -> None:
        if end > start:
            self.claim_many(np.array([start], np.int64), np.array([end], np.int64), [package], [function], part, kind)

    def claim_many(self, start: I64, end: I64, packages: list[str] | None, functions: list[str] | None,
                   part: str, kind: str, package: str = "") -> None:
        n = len(start)
        if n == 0:
            return
        pk = (np.array([self.name_id(p) for p in packages], dtype=np.int32) if packages is not None
              else np.full(n, self.name_id(package), dtype=np.int32))
        fn = (np.array([self.name_id(f) for f in functions], dtype=np.int32) if functions is not None
              else np.zeros(n, dtype=np.int32))
        self._claims.append((start.astype(np.int64), end.astype(np.int64), pk, fn,
                             np.full(n, PARTS.index(part), dtype=np.int32), np.full(n, self.name_id(kind), dtype=np.int32)))

    def close(self) -> Spans:
        """Tile the file (vectorized: one sort of the claims, no per-claim Python)."""
        secs = sorted(self.sections, key=lambda s: (s.start, -s.end))
        tiled: list[_Sec] = []  # sections must not overlap in the file: a later one is clipped
        pos = 0
        for s in secs:
            a = max(s.start, pos)
            b = min(s.end, self.file_size)
            if b > a:
                tiled.append(_Sec(s.name, a, b, s.part, s.package))
                pos = b
        ns = len(tiled)
        s_start = np.array([s.start for s in tiled], dtype=np.int64)
        s_end = np.array([s.end for s in tiled], dtype=np.int64)
        s_name = np.array([self.name_id(s.name) for s in tiled], dtype=np.int32)
        s_part = np.array([PARTS.index(s.part) for s in tiled], dtype=np.int32)
        s_pkg = np.array([self.name_id(s.package or f"({s.name})") for s in tiled], dtype=np.int32)
        if self._claims and ns:
            cs = np.concatenate([c[0] for c in self._claims])
            ce = np.concatenate([c[1] for c in self._claims])
            cp = np.concatenate([c[2] for c in self._claims])
            cf = np.concatenate([c[3] for c in self._claims])
            cpart = np.concatenate([c[4] for c in self._claims])
            ck = np.concatenate([c[5] for c in self._claims])
        else:
            cs = ce = np.zeros(0, np.int64)
            cp = cf = cpart = ck = np.zeros(0, np.int32)
        # each claim belongs to the section holding its first byte, and is clipped to it
        sec = np.searchsorted(s_start, cs, side="right") - 1 if ns else np.zeros(0, np.int64)
        placed = (sec >= 0) & (cs < (s_end[np.maximum(sec, 0)] if ns else cs)) & (ce > cs)
        unplaced = int((ce - cs)[~placed].clip(min=0).sum())
        cs, ce, cp, cf, cpart, ck, sec = (x[placed] for x in (cs, ce, cp, cf, cpart, ck, sec))
        ce = np.minimum(ce, s_end[sec])
        order = np.argsort(cs, kind="stable")
        cs, ce, cp, cf, cpart, ck, sec = (x[order] for x in (cs, ce, cp, cf, cpart, ck, sec))
        # first claim wins: a claim starts where everything before it ended
        prev = np.empty(len(ce), dtype=np.int64)
        if len(ce):
            prev[0] = -1
            prev[1:] = np.maximum.accumulate(ce)[:-1]
        ns_ = np.maximum(cs, prev)
        overlap = int((np.minimum(ce, prev) - cs).clip(min=0).sum())
        keep = ce > ns_
        cs, ce, cp, cf, cpart, ck, sec = ns_[keep], ce[keep], cp[keep], cf[keep], cpart[keep], ck[keep], sec[keep]
        # the unclaimed rest of each section: before each claim (from the previous claim in the same
        # section, or the section start), after the last claim of a section, and claim-less sections
        same = np.zeros(len(cs), dtype=bool)
        same[1:] = sec[1:] == sec[:-1]
        g_start = np.where(same, np.concatenate([[0], ce[:-1]]) if len(ce) else ce, s_start[sec])
        g_end = cs
        last = np.ones(len(cs), dtype=bool)
        last[:-1] = sec[1:] != sec[:-1]
        t_start, t_sec = ce[last], sec[last]
        t_end = s_end[t_sec]
        has = np.zeros(ns, dtype=bool)
        has[sec] = True
        e_sec = np.flatnonzero(~has)
        fill_start = np.concatenate([g_start, t_start, s_start[e_sec]])
        fill_end = np.concatenate([g_end, t_end, s_end[e_sec]])
        fill_sec = np.concatenate([sec, t_sec, e_sec]).astype(np.int64)
        # bytes between sections
        hdr = self.name_id("(headers)")
        pad = self.name_id("(padding)")
        tail = self.name_id("(trailing: section headers, ...)")
        fs = self.name_id("(file structure)")
        gap_start = np.concatenate([[0], s_end]) if ns else np.array([0], np.int64)
        gap_end = np.concatenate([s_start, [self.file_size]]) if ns else np.array([self.file_size], np.int64)
        gap_name = np.full(ns + 1, pad, dtype=np.int32)
        gap_name[0] = hdr
        gap_name[-1] = tail if ns else hdr
        other = PARTS.index(OTHER)
        start = np.concatenate([cs, fill_start, gap_start])
        end = np.concatenate([ce, fill_end, gap_end])
        section = np.concatenate([s_name[sec], s_name[fill_sec], gap_name]).astype(np.int32)
        package = np.concatenate([cp, s_pkg[fill_sec], np.full(ns + 1, fs, np.int32)]).astype(np.int32)
        function = np.concatenate([cf, np.zeros(len(fill_sec) + ns + 1, np.int32)]).astype(np.int32)
        part = np.concatenate([cpart, s_part[fill_sec], np.full(ns + 1, other, np.int32)]).astype(np.int32)
        kind = np.concatenate([ck, s_name[fill_sec], gap_name]).astype(np.int32)
        nz = end > start
        o = np.argsort(start[nz], kind="stable")
        return Spans(start[nz][o], end[nz][o], section[nz][o], package[nz][o], function[nz][o], part[nz][o],
                     kind[nz][o], list(self.names), overlap + unplaced)
