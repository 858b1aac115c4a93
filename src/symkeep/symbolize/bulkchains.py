"""Frame chains of many bulk slots at once, in numpy (the numpy build of the whole-binary table).

A slot of :class:`symkeep.golang.bulk.PcTables` is a distinct (function, file, line, inline index).
Its chain is the inner frame plus the walk up the inline tree (like runtime.inlineUnwinder): read the
record, move to ``entry + parentPc``, look file, line and inline index up there, repeat. The walk
depends only on (function, inline index), so it runs once per distinct pair, one tree level per numpy
step for all pairs together; the result is a :class:`ChainColumns`, with the same frames
``FunctionDecoder.build`` (the exact per-function path) produces, including its answers for
unreadable records, parents outside the function and cycles.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from symkeep.golang.bulk import KIND_FILE, KIND_INL, KIND_LINE, PcTables, unique_rows
from symkeep.golang.inline import InlineRecords
from symkeep.golang.pcln_constants import MAX_INLINE_DEPTH
from symkeep.symbolize.columns import ChainColumns

__all__ = ["expand_slots"]

I64 = npt.NDArray[np.int64]


def expand_slots(
    bt: PcTables,
    slots: I64,
    tree_addrs: Callable[[I64], I64],
    records: InlineRecords | None,
    names_of: Callable[[list[int]], list[str]],
    file_of: Callable[[int, int], str],
) -> ChainColumns:
    """Columns of the chains of ``slots`` (indices into ``bt.slot_keys``), in that order.

    ``tree_addrs(funcs)``: address of each function's inline tree, -1 when it has none (or it is
    unreadable); ``records`` reads tree records (None: no inline trees are readable at all)."""
    n = len(slots)
    if n == 0:
        return ChainColumns.empty()
    fa, fv, lv, iv = (k[slots] for k in bt.slot_keys)
    fname, fstart, fcu = bt.name_off[fa], bt.start_line[fa], bt.cu_offset[fa]
    # -- inner row of each slot and the distinct (function, inline index) pairs to walk ----------
    r_name, r_start, r_inl = fname.copy(), fstart.copy(), np.zeros(n, dtype=np.bool_)
    pair_of = np.full(n, -1, dtype=np.int64)
    olen = np.zeros(0, dtype=np.int64)
    orows: list[I64] = [np.zeros(0, dtype=np.int64)] * 6
    inl = np.flatnonzero(iv >= 0)
    if len(inl) and records is not None:
        first, inv = unique_rows([fa[inl], iv[inl]])
        pf, pix = fa[inl][first], iv[inl][first]
        base = tree_addrs(pf)
        nm, ppc, sl, ok = records.read(base, pix)
        ok &= base >= 0
        okp = ok[inv]
        sel = inl[okp]
        r_name[sel], r_start[sel], r_inl[sel] = nm[inv][okp], sl[inv][okp], True
        pair_of[sel] = inv[okp]
        olen, orows = _walk(bt, pf, pix, ppc, ok, base, records)
    # -- assemble: inner row, then the walk's rows of the slot's pair ----------------------------
    has = pair_of >= 0
    cnt = 1 + np.where(has, olen[np.maximum(pair_of, 0)] if len(olen) else 0, 0)
    off = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(cnt, out=off[1:])
    total = int(off[-1])
    name = np.empty(total, dtype=np.int64)
    cu = np.empty(total, dtype=np.int64)
    fno = np.empty(total, dtype=np.int64)
    line = np.empty(total, dtype=np.int64)
    start = np.empty(total, dtype=np.int64)
    inlined = np.empty(total, dtype=np.bool_)
    head = off[:-1]
    name[head], cu[head], fno[head], line[head], start[head], inlined[head] = r_name, fcu, fv, lv, r_start, r_inl
    if bool(has.any()):
        s = np.flatnonzero(has)
        p = pair_of[s]
        k = olen[p]
        ostart = np.zeros(len(olen) + 1, dtype=np.int64)
        np.cumsum(olen, out=ostart[1:])
        m = int(k.sum())
        firsts = np.zeros(len(s), dtype=np.int64)
        if len(s):
            np.cumsum(k[:-1], out=firsts[1:])
        step = np.arange(m, dtype=np.int64) - np.repeat(firsts, k)
        src = np.repeat(ostart[p], k) + step
        dst = np.repeat(off[s] + 1, k) + step
        o_pair, o_name, o_fno, o_line, o_start, o_inl = orows
        name[dst], fno[dst], line[dst], start[dst], inlined[dst] = (
            o_name[src], o_fno[src], o_line[src], o_start[src], o_inl[src].astype(np.bool_)
        )
        cu[dst] = np.repeat(fcu[s], k)
    # -- strings: once per distinct name offset and (compilation unit, file index) ---------------
    un, ninv = np.unique(name, return_inverse=True)
    names = names_of(un.tolist())
    ffirst, finv = unique_rows([cu, fno])
    files = [file_of(c, f) for c, f in zip(cu[ffirst].tolist(), fno[ffirst].tolist(), strict=True)]
    return ChainColumns(off, ninv.reshape(-1).astype(np.int64), finv, line, start, inlined, names, files)


def _walk(
    bt: PcTables, pf: I64, pix: I64, ppc: I64, ok: npt.NDArray[np.bool_], base: I64, records: InlineRecords
) -> tuple[I64, list[I64]]:
    """Caller rows of each readable pair: (rows per pair, [pair, name_off, file index, line,
    start line, inlined] sorted by pair then depth). One loop iteration per inline depth."""
    npair = len(pf)
    entry = bt.entries[pf].astype(np.int64)
    limit = bt.entries[pf + 1].astype(np.int64)
    fname, fstart = bt.name_off[pf], bt.start_line[pf]
    act = np.flatnonzero(ok)  # pairs still walking
    cur_ppc = ppc[act]
    seen: list[I64] = [pix[act]]  # inline indices visited, one array per depth (aligned with act)
    out: list[list[I64]] = []
    depth = 0
    while len(act):
        f = pf[act]
        pc = entry[act] + cur_ppc
        inside = (pc >= entry[act]) & (pc < limit[act])
        pcu = np.where(inside, pc, entry[act]).astype(np.uint64)
        fno, _ = bt.values(KIND_FILE, f, pcu)
        line, _ = bt.values(KIND_LINE, f, pcu)
        nix, _ = bt.values(KIND_INL, f, pcu)
        fno = np.where(inside, fno, -1)
        line = np.where(inside, line, -1)
        stop = ~inside | (nix < 0) | (depth >= MAX_INLINE_DEPTH)
        for s_ in seen:
            stop |= nix == s_
        go = np.flatnonzero(~stop)
        nrok = np.zeros(len(act), dtype=np.bool_)
        nm = np.zeros(len(act), dtype=np.int64)
        sl = np.zeros(len(act), dtype=np.int64)
        nppc = np.zeros(len(act), dtype=np.int64)
        if len(go):
            a, b, c, d = records.read(base[act[go]], nix[go])
            nm[go], nppc[go], sl[go], nrok[go] = a, b, c, d
        phys = ~nrok  # the walk ends here with the physical function's frame
        out.append([
            act, np.where(phys, fname[act], nm), fno, line, np.where(phys, fstart[act], sl),
            (~phys).astype(np.int64), np.full(len(act), depth, dtype=np.int64),
        ])
        keep = np.flatnonzero(nrok)
        act, cur_ppc = act[keep], nppc[keep]
        seen = [s_[keep] for s_ in seen]
        seen.append(nix[keep])
        depth += 1
    cols = [np.concatenate([lv[k] for lv in out]) for k in range(7)]
    order = np.lexsort((cols[6], cols[0]))
    cols = [c[order] for c in cols]
    olen = np.bincount(cols[0], minlength=npair).astype(np.int64)
    return olen, cols[:6]
