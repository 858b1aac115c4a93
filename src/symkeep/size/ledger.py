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
        secs = sorted(self.sections, key=lambda s: (s.start, -s.end))
        # sections themselves must not overlap in the file: a later one is clipped
        tiled: list[_Sec] = []
        pos = 0
        for s in secs:
            a = max(s.start, pos)
            b = min(s.end, self.file_size)
            if b > a:
                tiled.append(_Sec(s.name, a, b, s.part, s.package))
                pos = b
        if self._claims:
            cs = np.concatenate([c[0] for c in self._claims])
            ce = np.concatenate([c[1] for c in self._claims])
            cp = np.concatenate([c[2] for c in self._claims])
            cf = np.concatenate([c[3] for c in self._claims])
            cpart = np.concatenate([c[4] for c in self._claims])
            ck = np.concatenate([c[5] for c in self._claims])
        else:
            cs = ce = np.zeros(0, np.int64)
            cp = cf = cpart = ck = np.zeros(0, np.int32)
        order = np.argsort(cs, kind="stable")
        cs, ce, cp, cf, cpart, ck = cs[order], ce[order], cp[order], cf[order], cpart[order], ck[order]
        out_s: list[int] = []
        out_e: list[int] = []
        out_sec: list[int] = []
        out_p: list[int] = []
        out_f: list[int] = []
        out_part: list[int] = []
        out_k: list[int] = []
        overlap = 0
        cur = 0

        def emit(a: int, b: int, sec: int, p: int, f: int, part: int, k: int) -> None:
            if b > a:
                out_s.append(a)
                out_e.append(b)
                out_sec.append(sec)
                out_p.append(p)
                out_f.append(f)
                out_part.append(part)
                out_k.append(k)

        other = PARTS.index(OTHER)
        hdr = self.name_id("(headers)")
        pad = self.name_id("(padding)")
        for s in tiled:
            emit(cur, s.start, hdr if cur == 0 else pad, self.name_id("(file structure)"), 0, other,
                 hdr if cur == 0 else pad)
            sid = self.name_id(s.name)
            spart = PARTS.index(s.part)
            spkg = self.name_id(s.package or f"({s.name})")
            whole = self.name_id(s.name)
            lo = int(np.searchsorted(cs, s.start, side="left"))
            # claims that start before the section but reach into it are clipped too
            while lo > 0 and ce[lo - 1] > s.start:
                lo -= 1
            hi = int(np.searchsorted(cs, s.end, side="left"))
            pos = s.start
            for j in range(lo, hi):
                a = max(int(cs[j]), s.start)
                b = min(int(ce[j]), s.end)
                if b <= a:
                    continue
                if a < pos:
                    overlap += min(b, pos) - a
                    a = pos
                    if b <= a:
                        continue
                emit(pos, a, sid, spkg, 0, spart, whole)
                emit(a, b, sid, int(cp[j]), int(cf[j]), int(cpart[j]), int(ck[j]))
                pos = b
            emit(pos, s.end, sid, spkg, 0, spart, whole)
            cur = s.end
        if cur < self.file_size:
            tail = self.name_id("(trailing: section headers, ...)")
            emit(cur, self.file_size, tail, self.name_id("(file structure)"), 0, other, tail)
        return Spans(
            np.array(out_s, np.int64), np.array(out_e, np.int64), np.array(out_sec, np.int32),
            np.array(out_p, np.int32), np.array(out_f, np.int32), np.array(out_part, np.int32),
            np.array(out_k, np.int32), list(self.names), overlap,
        )
