"""Function code and each function's share of ``.gopclntab`` and funcdata, from the pclntab alone.

- code: ``[entry, entry + n)`` where ``n`` is where the function's pcsp/pcln tables end (the bytes the
  compiler emitted, what ``go tool nm -size`` reports); ``[entry + n, next entry)`` is alignment
  padding (part ``padding``), attributed to the same function.
- pclntab (1.16+ layouts): the function's name in ``funcnametab``, its ``functab`` slot, its
  ``_func`` record (with its pcdata/funcdata offset arrays and alignment), its pcsp / pcfile / pcln /
  pcdata tables in ``pctab`` (the linker stores identical tables once: a shared table goes to the
  first function, in entry order, that uses it), its compilation unit's ``cutab`` slice and file
  names (to the unit's first function's package). Inlined-only names go to the package in the name.
- funcdata (GC maps, inline trees, ...): objects at ``gofunc + funcdata[i]``; an object spans to the
  next referenced object (capped at 4 KiB), first referencing function wins.
"""

from __future__ import annotations

import numpy as np

from symkeep.errors import FormatError
from symkeep.golang.pcvalue import decode_pcvalue_lists
from symkeep.size.ledger import CODE, FUNCDATA, PADDING, PCLNTAB, Ledger
from symkeep.size.symtab import pkg_of_symbol
from symkeep.symbolize import GoEngine

__all__ = ["claim_go"]

_FUNCDATA_CAP = 4096


def claim_go(gb: GoEngine, led: Ledger) -> dict[str, int]:
    """Claim code, padding, pclntab and funcdata bytes; returns counters for the report."""
    b = gb.binary
    tab = gb.pclntab
    funcs = gb.functions()
    n = len(funcs)
    names = [f.name for f in funcs]
    pkgs = [pkg_of_symbol(x) for x in names]
    entries = np.array([f.entry for f in funcs], dtype=np.int64)
    ends = np.array([f.end for f in funcs], dtype=np.int64)
    modern = tab.generation in ("1.16", "1.18", "1.20")
    raws = [tab.read_func(i) for i in range(n)] if modern else []
    # -- code and padding -----------------------------------------------------------------------
    code_end = ends.copy()
    if modern:
        base = tab.pctab_base
        data = tab.data
        for i, rf in enumerate(raws):
            e = int(entries[i])
            best = e
            for off in (rf.pcsp, rf.pcln):
                if off:
                    try:
                        te, _ = decode_pcvalue_lists(data, base + off, e, tab.quantum, int(ends[i]))
                    except FormatError:
                        continue
                    if te and te[-1] > best:
                        best = te[-1]
            code_end[i] = best if best > e else ends[i]
    offs = np.array([b.vaddr_to_offset(int(x)) if b.vaddr_to_offset(int(x)) is not None else -1 for x in entries],
                    dtype=np.int64)
    ok = offs >= 0
    led.claim_many(offs[ok], (offs + (code_end - entries))[ok], [p for p, k in zip(pkgs, ok, strict=True) if k],
                   [x for x, k in zip(names, ok, strict=True) if k], CODE, "code")
    led.claim_many((offs + (code_end - entries))[ok], (offs + (ends - entries))[ok],
                   [p for p, k in zip(pkgs, ok, strict=True) if k], [x for x, k in zip(names, ok, strict=True) if k],
                   PADDING, "alignment")
    stats = {"functions": n, "code_bytes": int((code_end - entries)[ok].sum()),
             "padding_bytes": int((ends - code_end)[ok].sum())}
    if not modern:
        return stats
    assert tab.location is not None  # a PclnTab opened from a binary knows where it is
    p0 = tab.location.offset
    # -- header and functab ----------------------------------------------------------------------
    led.claim(p0, p0 + tab.header_size, "(runtime tables)", "", PCLNTAB, "pclntab header")
    esize = tab.functab_esize
    ft = p0 + tab.pcln_offset
    slot = 2 * esize
    led.claim_many(ft + slot * np.arange(n, dtype=np.int64), ft + slot * np.arange(1, n + 1, dtype=np.int64),
                   pkgs, names, PCLNTAB, "functab")
    led.claim(ft + slot * n, ft + slot * n + esize, "(runtime tables)", "", PCLNTAB, "functab")
    # -- _func records: to the next record (alignment included), the last one to its own end ----
    roff = np.array([rf.offset for rf in raws], dtype=np.int64)
    rend = np.array([rf.funcdata_off + 4 * rf.nfuncdata for rf in raws], dtype=np.int64)
    order = np.argsort(roff)
    nxt = np.empty(n, dtype=np.int64)
    if n:
        nxt[order[:-1]] = roff[order[1:]]
        nxt[order[-1]] = rend[order[-1]]
    rec_end = np.where(nxt - roff <= 4096, np.maximum(nxt, rend), rend)
    led.claim_many(p0 + roff, p0 + rec_end, pkgs, names, PCLNTAB, "_func")
    # -- function names --------------------------------------------------------------------------
    nt0, nt1 = tab.funcname_offset, tab.cu_offset
    blob = bytes(tab.data[nt0:nt1])
    starts = [0]
    pos = blob.find(b"\0")
    while pos >= 0:
        if pos + 1 < len(blob):
            starts.append(pos + 1)
        pos = blob.find(b"\0", pos + 1)
    owner = {rf.name_off: i for i, rf in reversed(list(enumerate(raws)))}
    s_arr = np.array(starts, dtype=np.int64)
    e_arr = np.append(s_arr[1:], len(blob))
    npk: list[str] = []
    nfn: list[str] = []
    for s, e in zip(starts, e_arr.tolist(), strict=True):
        who = owner.get(s)
        if who is not None:
            npk.append(pkgs[who])
            nfn.append(names[who])
        else:
            nm = blob[s:e].rstrip(b"\0").decode("utf-8", "replace")
            npk.append(pkg_of_symbol(nm))
            nfn.append("")
    led.claim_many(p0 + nt0 + s_arr, p0 + nt0 + e_arr, npk, nfn, PCLNTAB, "funcnametab")
    # -- pctab: table extents from the sorted referenced offsets ---------------------------------
    pt0, pt1 = tab.pctab_offset, tab.pcln_offset
    refs: dict[int, tuple[int, str]] = {}
    for i in np.argsort(entries, kind="stable").tolist():
        rf = raws[i]
        for off, kind in ((rf.pcsp, "pcsp"), (rf.pcfile, "pcfile"), (rf.pcln, "pcln")):
            if off and off not in refs:
                refs[off] = (i, kind)
        for off in rf.pcdata:
            if off and off not in refs:
                refs[off] = (i, "pcdata")
    toffs = sorted(o for o in refs if 0 < o < pt1 - pt0)
    if toffs:
        ta = np.array(toffs, dtype=np.int64)
        tb = np.append(ta[1:], pt1 - pt0)
        for kind in ("pcsp", "pcfile", "pcln", "pcdata"):
            sel = [k for k, o in enumerate(toffs) if refs[o][1] == kind]
            if sel:
                idx = np.array(sel, dtype=np.int64)
                led.claim_many(p0 + pt0 + ta[idx], p0 + pt0 + tb[idx], [pkgs[refs[toffs[k]][0]] for k in sel],
                               [names[refs[toffs[k]][0]] for k in sel], PCLNTAB, kind)
    # -- cutab and file names: per compilation unit ---------------------------------------------
    cu0, ftab0 = tab.cu_offset, tab.filetab_offset
    cus: dict[int, int] = {}
    for i in np.argsort(entries, kind="stable").tolist():
        cus.setdefault(raws[i].cu_offset, i)
    ncut = (ftab0 - cu0) // 4
    cu_offs = sorted(c for c in cus if 0 <= c < ncut)  # 0xffffffff: no unit (go:buildid, ...)
    if cu_offs:
        ca = np.array(cu_offs, dtype=np.int64)
        cb = np.append(ca[1:], ncut)
        led.claim_many(p0 + cu0 + 4 * ca, p0 + cu0 + 4 * cb, [pkgs[cus[c]] for c in cu_offs], None, PCLNTAB, "cutab")
        cut = np.frombuffer(bytes(tab.data[cu0:ftab0]), dtype=np.dtype("u4").newbyteorder("<" if tab.byteorder == "little" else ">"))
        fowner: dict[int, str] = {}
        for c, nx in zip(cu_offs, cb.tolist(), strict=True):
            pk = pkgs[cus[c]]
            for v in cut[c:nx].tolist():
                if v != 0xFFFFFFFF:
                    fowner.setdefault(int(v), pk)
        fblob = bytes(tab.data[ftab0:pt0])
        fs = sorted(o for o in fowner if 0 <= o < len(fblob))
        if fs:
            fa = np.array(fs, dtype=np.int64)
            fe = np.array([fblob.find(b"\0", o) + 1 or len(fblob) for o in fs], dtype=np.int64)
            led.claim_many(p0 + ftab0 + fa, p0 + ftab0 + fe, [fowner[o] for o in fs], None, PCLNTAB, "filetab")
    # -- funcdata --------------------------------------------------------------------------------
    gofunc = getattr(gb, "moduledata", None)
    gofunc_addr = getattr(gofunc, "gofunc", None) if gofunc is not None else None
    if gofunc_addr:
        fd: dict[int, int] = {}
        for i in np.argsort(entries, kind="stable").tolist():
            rf = raws[i]
            for k in range(rf.nfuncdata):
                v = tab.funcdata_word(rf, k)
                if v is not None:
                    fd.setdefault(gofunc_addr + v, i)
        addrs = sorted(fd)
        if addrs:
            aa = np.array(addrs, dtype=np.int64)
            ab = np.minimum(np.append(aa[1:], aa[-1] + 64), aa + _FUNCDATA_CAP)
            fo = np.array([b.vaddr_to_offset(int(a)) if b.vaddr_to_offset(int(a)) is not None else -1 for a in addrs],
                          dtype=np.int64)
            good = fo >= 0
            led.claim_many(fo[good], (fo + (ab - aa))[good], [pkgs[fd[a]] for a, g in zip(addrs, good, strict=True) if g],
                           [names[fd[a]] for a, g in zip(addrs, good, strict=True) if g], FUNCDATA, "funcdata")
            stats["funcdata_objects"] = len(addrs)
    return stats
