"""Bulk (numpy) decoding of the pcfile / pcln / pcinline tables of *every* function at once.

The per-function decoder (:mod:`symkeep.golang.pcvalue`) costs ~0.3 ms per function in pure Python;
symbolizing millions of PCs touches every function, so bulk lookups decode the whole pctab region in
one vectorized pass instead:

1. varints of the region: bytes < 0x80 end a varint (at most 5 bytes); each value gathered from its
   bytes;
2. tables: every offset referenced by pcfile / pcln / pcdata[InlTreeIndex]; a table runs to its first
   zero value delta after the first pair (same parity as its start); values are a segmented cumsum
   of the zig-zag deltas starting at -1, pc ends a segmented cumsum of the pc deltas x quantum;
3. rows of all tables in one array sorted by ``table << 40 | rel_end``, so a batch of
   (table, pc - entry) queries is one ``np.searchsorted``;
4. a global range table (``starts``: every PC where some function's file, line or inline index
   changes) with one ``slot`` per range: the distinct (function, file, line, inline index) key, so a
   batch of PCs maps to keys with one ``searchsorted`` and the caller builds one chain per key.

Tables do not depend on the function (only on its entry), so shared (deduplicated) tables are decoded
once. Anything irregular (a table offset that does not start a varint, a missing end marker, overlong
varints, overlapping tables, int32 overflow, pre-1.16 layouts) raises :class:`BulkUnsupported`; the
caller then keeps the exact per-function path. Memory is O(pctab size + nfunc): a range table that
would grow past that (tables shared by very many functions) is declined as well.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from symkeep.errors import SymkeepError
from symkeep.golang.bucketindex import BucketIndex  # re-exported
from symkeep.golang.pcln_constants import FUNCDATA_INL_TREE, PCDATA_INL_TREE_INDEX
from symkeep.golang.pclntab import PclnTab

__all__ = ["BucketIndex", "BulkUnsupported", "PcTables", "KIND_FILE", "KIND_LINE", "KIND_INL"]

KIND_FILE, KIND_LINE, KIND_INL = 0, 1, 2
_SHIFT = 40
_REL_MAX = 1 << _SHIFT
_MAX_TABLES = 1 << 22  # table id << 40 stays below 2**62
# Rows of the range build: tables shared by many functions (identical small functions, hostile input)
# repeat per function; up to this many rows are fine (~40 bytes each while building).
_ROW_BUDGET = 1 << 23

I64 = npt.NDArray[np.int64]


class BulkUnsupported(SymkeepError):
    """The tables are not in the regular layout the bulk decoder relies on (use the per-function path)."""


def _u32_at(u8: npt.NDArray[np.uint8], offs: I64, big: bool) -> I64:
    """u32 at each byte offset of ``u8`` (offsets checked by the caller)."""
    b = u8[offs[:, None] + np.arange(4)].astype(np.int64)
    r: I64
    if big:
        r = (b[:, 0] << 24) | (b[:, 1] << 16) | (b[:, 2] << 8) | b[:, 3]
    else:
        r = (b[:, 3] << 24) | (b[:, 2] << 16) | (b[:, 1] << 8) | b[:, 0]
    return r


class PcTables:
    """Decoded pcfile (kind 0), pcln (kind 1) and pcinline (kind 2) tables of every function.

    ``entries`` are the functions' entry PCs (nfunc + 1 values, the last = end of the last function),
    as resolved by the caller (text start, text sections); ``ends`` (nfunc values, default the next
    entries) end each function's range: a PC in ``[ends[i], entries[i + 1])`` (a gap between text
    sections) belongs to no function."""

    def __init__(
        self, tab: PclnTab, entries: npt.NDArray[np.uint64], ends: npt.NDArray[np.uint64] | None = None
    ) -> None:
        if tab.generation not in ("1.16", "1.18", "1.20"):
            raise BulkUnsupported(f"bulk decoding needs a Go 1.16+ pclntab, not {tab.generation}")
        nfunc = tab.nfunc
        if nfunc <= 0 or len(entries) != nfunc + 1:
            raise BulkUnsupported("no functions")
        if int(np.diff(entries.astype(np.uint64)).max(initial=0)) >= _REL_MAX:
            raise BulkUnsupported("function larger than the bulk decoder's pc range")
        data = tab.data
        n = len(data)
        u8 = np.frombuffer(data, dtype=np.uint8)
        big = tab.byteorder == "big"
        # -- _func fields of every function (vectorized) -------------------------------------------
        recs = tab.funcoffs[:nfunc].astype(np.int64) + int(tab.pcln_offset)
        lay = tab.func_layout  # the one _func definition (golang.pcln_constants.FuncLayout)
        o_pcdata = lay.fixed
        if lay.cu_offset is None:
            raise BulkUnsupported("no compilation units before Go 1.16")
        if int(recs.min()) < 0 or int(recs.max()) + o_pcdata > n:
            raise BulkUnsupported("function record past the end of the pclntab")
        self.name_off = _u32_at(u8, recs + lay.name, big)
        self.name_off = np.where(self.name_off >= 1 << 31, self.name_off - (1 << 32), self.name_off)
        self.cu_offset = _u32_at(u8, recs + lay.cu_offset, big)
        if lay.start_line is not None:
            sl = _u32_at(u8, recs + lay.start_line, big)
            self.start_line = np.where(sl >= 1 << 31, sl - (1 << 32), sl)
        else:
            self.start_line = np.zeros(nfunc, dtype=np.int64)
        npcdata = _u32_at(u8, recs + lay.npcdata, big)
        if bool(np.any(npcdata > (n - recs - o_pcdata) // 4)):
            raise BulkUnsupported("a function record's pcdata array runs past the table")  # as read_func
        has_inl = npcdata > PCDATA_INL_TREE_INDEX
        inl_pos = recs + o_pcdata + 4 * PCDATA_INL_TREE_INDEX
        if bool(np.any(has_inl & (inl_pos + 4 > n))):
            raise BulkUnsupported("pcdata array past the end of the pclntab")
        inl = np.zeros(nfunc, dtype=np.int64)
        if bool(has_inl.any()):
            inl[has_inl] = _u32_at(u8, inl_pos[has_inl], big)
        # funcdata[FUNCDATA_InlTree] (u32 offsets from gofunc, Go 1.18+): -1 where absent
        self.inl_funcdata = np.full(nfunc, -1, dtype=np.int64)
        if tab.generation != "1.16" and bool(has_inl.any()):
            nfd = u8[recs + lay.nfuncdata].astype(np.int64)
            fd_pos = recs + o_pcdata + 4 * npcdata + 4 * FUNCDATA_INL_TREE
            sel = np.flatnonzero(has_inl & (inl != 0) & (nfd > FUNCDATA_INL_TREE) & (fd_pos + 4 <= n))
            v = _u32_at(u8, fd_pos[sel], big)
            self.inl_funcdata[sel] = np.where(v == 0xFFFFFFFF, -1, v)
        offs = np.stack([_u32_at(u8, recs + lay.pcfile, big), _u32_at(u8, recs + lay.pcln, big), inl])
        # -- varints of the pctab region -----------------------------------------------------------
        lo = int(tab.pctab_offset)
        hi = min(
            [int(x) for x in (tab.funcname_offset, tab.cu_offset, tab.filetab_offset, tab.pcln_offset, n)
             if int(x) > lo],
            default=n,
        )
        region = u8[lo:hi]
        if int(offs.max(initial=0)) >= len(region):
            raise BulkUnsupported("table offset outside the pctab region")
        term = region < 0x80
        vend = np.flatnonzero(term)  # last byte of each varint
        nvar = len(vend)
        if nvar == 0:
            raise BulkUnsupported("empty pctab")
        vstart = np.empty(nvar, dtype=np.int64)
        vstart[0] = 0
        vstart[1:] = vend[:-1] + 1
        vlen = vend - vstart
        if int(vlen.max()) > 4:
            raise BulkUnsupported("overlong varint in the pctab")
        # values per varint by gathering its (at most 5) bytes: no per-byte index arrays
        vals = (region[vstart] & 0x7F).astype(np.int64)
        for k in range(1, 5):
            m = np.flatnonzero(vlen >= k)
            if not len(m):
                break
            vals[m] |= (region[vstart[m] + k].astype(np.int64) & 0x7F) << (7 * k)
        if int(vals.max()) >= 1 << 32:
            raise BulkUnsupported("varint above 32 bits in the pctab")
        # -- tables --------------------------------------------------------------------------------
        toffs = _sorted_unique(offs.reshape(-1))
        toffs = toffs[toffs != 0]
        ntab = len(toffs)
        if ntab == 0 or ntab >= _MAX_TABLES:
            raise BulkUnsupported("no tables or too many tables")
        s = np.searchsorted(vstart, toffs).astype(np.int64)  # first varint of each table (sorted)
        if int(s[-1]) >= nvar or bool(np.any(vstart[s] != toffs)):
            raise BulkUnsupported("table offset does not start a varint")
        del term, vend, vstart, vlen  # region-sized temporaries: free before the next ones (peak memory)
        zeros = np.flatnonzero(vals == 0)
        t_end = np.empty(ntab, dtype=np.int64)
        for par in (0, 1):
            zp = zeros[(zeros & 1) == par]
            sel = (s & 1) == par
            k = np.searchsorted(zp, s[sel], side="right")
            if bool(np.any(k >= len(zp))):
                raise BulkUnsupported("pcvalue table without an end marker")
            t_end[sel] = zp[k]
        if bool(np.any(t_end[:-1] >= s[1:])):
            raise BulkUnsupported("overlapping pcvalue tables")
        npairs = (t_end - s) // 2
        total = int(npairs.sum())
        pstart = np.zeros(ntab + 1, dtype=np.int64)  # first pair of each table
        np.cumsum(npairs, out=pstart[1:])
        vi = np.repeat(s - 2 * pstart[:-1], npairs) + 2 * np.arange(total, dtype=np.int64)
        ud = vals[vi]
        pd = vals[vi + 1]
        delta = np.where(ud & 1, -(ud >> 1) - 1, ud >> 1)
        cs = np.cumsum(delta)
        before = np.zeros(ntab, dtype=np.int64)
        nz = pstart[:-1] > 0
        before[nz] = cs[pstart[:-1][nz] - 1]
        value = cs - np.repeat(before, npairs) - 1
        if total and (int(value.min()) < -(1 << 31) or int(value.max()) >= 1 << 31):
            raise BulkUnsupported("pcvalue out of the int32 range")
        pcs = np.cumsum(pd)
        pbefore = np.zeros(ntab, dtype=np.int64)
        pbefore[nz] = pcs[pstart[:-1][nz] - 1]
        rel_end = (pcs - np.repeat(pbefore, npairs)) * tab.quantum
        if total and int(rel_end.max()) >= _REL_MAX:
            raise BulkUnsupported("pcvalue table spans too many bytes")
        tid = np.repeat(np.arange(ntab, dtype=np.int64), npairs)
        keep = pd > 0  # a zero pc delta changes the value without a range of its own
        self._keys: npt.NDArray[np.uint64] = ((tid[keep] << _SHIFT) | rel_end[keep]).astype(np.uint64)
        self._vals: I64 = value[keep]
        tb = np.arange(ntab + 1, dtype=np.uint64) << np.uint64(_SHIFT)
        self._tend: I64 = np.searchsorted(self._keys, tb[1:], side="left").astype(np.int64)
        # per function and kind: table id (-1 = no table)
        ti = np.searchsorted(toffs, offs).astype(np.int64)
        self._tid: I64 = np.where(offs == 0, -1, ti)
        self.nfunc = nfunc
        self.entries = entries.astype(np.uint64)
        self.ends = self.entries[1:] if ends is None else ends.astype(np.uint64)
        # free the decode temporaries first: the range build peaks on its own (~200 MB less RSS on cmd/compile)
        del vals, zeros, vi, ud, pd, delta, cs, value, pcs, rel_end, tid, keep
        self._build_ranges()

    def _build_ranges(self) -> None:
        """Global range table: ``starts`` (sorted absolute PCs where the file, line or inline value of
        some function changes, plus every entry) and ``slot`` per range: the index of its distinct
        (function, file, line, inline) key in ``slot_keys``, or -1 where the pc is not covered."""
        nfunc = self.nfunc
        ents = self.entries.astype(np.int64)
        size = ents[1:] - ents[:-1]
        keys_rel = (self._keys & np.uint64(_REL_MAX - 1)).astype(np.int64)
        tstart = np.concatenate([[0], self._tend[:-1]]).astype(np.int64)
        budget = max(4 * len(self._keys) + 4 * nfunc + 4096, _ROW_BUDGET)
        fends = self.ends.astype(np.int64)
        parts = [ents[:-1][size > 0], fends[fends < ents[1:]]]
        total = 0
        for kind in (KIND_FILE, KIND_LINE, KIND_INL):
            t = self._tid[kind]
            f = np.flatnonzero((t >= 0) & (size > 0))
            tf = t[f]
            q = ((tf << _SHIFT) | size[f]).astype(np.uint64)
            cnt = np.searchsorted(self._keys, q, side="left").astype(np.int64) - tstart[tf]
            m = int(cnt.sum())
            total += m
            if total > budget:
                raise BulkUnsupported("pcvalue tables shared by too many functions")
            first = np.zeros(len(f), dtype=np.int64)
            if len(f):
                np.cumsum(cnt[:-1], out=first[1:])
            rows = np.repeat(tstart[tf] - first, cnt) + np.arange(m, dtype=np.int64)
            parts.append(np.repeat(ents[f], cnt) + keys_rel[rows])
        starts = _sorted_unique(np.concatenate(parts)).astype(np.uint64)
        fidx = np.searchsorted(self.entries, starts, side="right").astype(np.int64) - 1
        fv, fok = self.values(KIND_FILE, fidx, starts)
        lv, lok = self.values(KIND_LINE, fidx, starts)
        iv, _ = self.values(KIND_INL, fidx, starts)
        # functions without a file or line table (go:buildid, go:textfipsstart) and PCs past a
        # function's tables (alignment bytes): the name alone, key (function, -1, 0, -1), like the
        # per-function path; PCs in a gap between text sections (past ``ends``): unknown
        noline = ~(fok & lok) | (self._tid[KIND_FILE][fidx] < 0) | (self._tid[KIND_LINE][fidx] < 0)
        fv = np.where(noline, -1, fv)
        lv = np.where(noline, 0, lv)
        iv = np.where(noline, -1, iv)
        cov = np.flatnonzero(starts < self.ends[fidx])
        cols = [fidx[cov], fv[cov], lv[cov], iv[cov]]
        first_row, inverse = unique_rows(cols)
        slot = np.full(len(starts), -1, dtype=np.int64)
        slot[cov] = inverse
        self.starts: npt.NDArray[np.uint64] = starts
        self.slot: I64 = slot
        self.slot_keys: list[I64] = [c[first_row] for c in cols]
        self._index: BucketIndex | None = None

    def find(self, pcs: npt.NDArray[np.uint64]) -> I64:
        """Index of the last range start at or before each PC (-1 before the first)."""
        if self._index is None:
            self._index = BucketIndex(self.starts)  # built on first use: the engine indexes its own table
        return self._index.find(pcs)

    def values(self, kind: int, func: I64, pcs: npt.NDArray[np.uint64]) -> tuple[I64, npt.NDArray[np.bool_]]:
        """Table values of ``kind`` at ``pcs`` (each inside function ``func``): (values, covered).

        ``covered`` is False (value -1) where the function has no such table or the pc lies past the
        table's last range (what the per-function decoder reports as "not covered")."""
        t = self._tid[kind][func]
        rel = (pcs - self.entries[func]).astype(np.uint64)
        q = (t.astype(np.uint64) << np.uint64(_SHIFT)) | rel
        p = np.searchsorted(self._keys, q, side="right").astype(np.int64)
        ok = (t >= 0) & (p < self._tend[np.maximum(t, 0)])
        v = np.where(ok, self._vals[np.minimum(p, len(self._vals) - 1)], -1) if len(self._vals) else (
            np.full(len(func), -1, dtype=np.int64)
        )
        return v.astype(np.int64), ok


def _sorted_unique(a: I64) -> I64:
    """``np.unique`` by sort + dedupe (numpy 2's hash-based unique is several times slower here)."""
    a = np.sort(a)
    if len(a) > 1:
        a = a[np.concatenate(([True], a[1:] != a[:-1]))]
    return a


def unique_rows(cols: list[I64]) -> tuple[I64, I64]:
    """(index of the first row of each distinct row, row -> distinct index) over parallel columns.

    Columns are packed into one int64 with a mixed radix while it fits (re-compressing the key with
    ``np.unique`` when it would not): sorting one int64 column beats ``np.unique(axis=0)``."""
    m = len(cols[0])
    if m == 0:
        z = np.zeros(0, dtype=np.int64)
        return z, z
    key = np.zeros(m, dtype=np.int64)
    span = 1
    for c in cols:
        c0 = c.astype(np.int64) - int(c.min())
        r = int(c0.max()) + 1
        if span * r >= 1 << 62:
            _, key = np.unique(key, return_inverse=True)
            span = int(key.max()) + 1
            if span * r >= 1 << 62:
                _, c0 = np.unique(c0, return_inverse=True)
                r = int(c0.max()) + 1
        key = key * r + c0
        span *= r
    _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    return first.astype(np.int64), inverse.reshape(-1).astype(np.int64)
