"""Profiles as stacks of frames: the one model every flame graph output is drawn from.

A :class:`StackSet` is a table of rows, one per distinct sample record: its frames root first (as
ids into a shared :class:`Interner`), its label set and its value for the chosen sample type. Frames
are merged by (name, inlined, class), as flame graphs merge by function. Filters (``--tag``,
``--focus``, ``--ignore``) and ``--group-by-label`` are row operations on this table, so they cost
nothing per original sample. Several profiles (and the ``--diff`` base) share one interner.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from symkeep.errors import FormatError, UsageError
from symkeep.flame.classify import KERNEL, LABEL, UNSYMBOLIZED, classify_name
from symkeep.flame.pbsamples import RawSamples
from symkeep.profile.mapping import classify_mapping

__all__ = ["Frame", "Interner", "StackSet", "from_samples", "pick_sample_type"]

I32 = npt.NDArray[np.int32]
I64 = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class Frame:
    name: str
    file: str
    line: int  # the function's start line when known, else the lowest line seen
    inlined: bool
    kind: str


@dataclass
class Interner:
    """Frames and label sets shared by every StackSet of one graph (so ids agree across profiles)."""

    frames: list[Frame] = field(default_factory=list)
    frame_ids: dict[tuple[str, bool, str], int] = field(default_factory=dict)
    labelsets: list[tuple[str, ...]] = field(default_factory=lambda: [()])
    labelset_ids: dict[tuple[str, ...], int] = field(default_factory=lambda: {(): 0})

    def frame(self, name: str, file: str, line: int, inlined: bool, kind: str) -> int:
        key = (name, inlined, kind)
        i = self.frame_ids.get(key)
        if i is None:
            i = len(self.frames)
            self.frames.append(Frame(name, file, line, inlined, kind))
            self.frame_ids[key] = i
        return i

    def labelset(self, labels: tuple[str, ...]) -> int:
        i = self.labelset_ids.get(labels)
        if i is None:
            i = len(self.labelsets)
            self.labelsets.append(labels)
            self.labelset_ids[labels] = i
        return i


@dataclass
class StackSet:
    interner: Interner
    off: I64  # rows: frames fr[off[r]:off[r+1]], root first
    fr: I32
    ls: I32  # label set id per row
    val: I64
    sample_type: str
    unit: str

    @property
    def rows(self) -> int:
        return int(len(self.ls))

    def total(self) -> int:
        return int(self.val.sum())

    def take(self, keep: npt.NDArray[np.bool_]) -> StackSet:
        rows = np.flatnonzero(keep)
        cnt = (self.off[1:] - self.off[:-1])[rows]
        idx = _ranges(self.off[:-1][rows], cnt)
        off = np.zeros(len(rows) + 1, dtype=np.int64)
        np.cumsum(cnt, out=off[1:])
        return StackSet(self.interner, off, self.fr[idx], self.ls[rows], self.val[rows], self.sample_type, self.unit)

    def concat(self, other: StackSet) -> StackSet:
        if other.interner is not self.interner:
            raise ValueError("StackSets must share an interner")
        off = np.concatenate([self.off[:-1], other.off + self.off[-1]])
        return StackSet(
            self.interner, off, np.concatenate([self.fr, other.fr]), np.concatenate([self.ls, other.ls]),
            np.concatenate([self.val, other.val]), self.sample_type, self.unit,
        )

    # -- filters -----------------------------------------------------------------------------
    def filter_tags(self, tags: list[tuple[str, str]]) -> StackSet:
        """Keep rows carrying every KEY (any of its VALUEs when a key is given more than once)."""
        if not tags:
            return self
        want: dict[str, set[str]] = {}
        for k, v in tags:
            want.setdefault(k, set()).add(v)
        ok = np.zeros(len(self.interner.labelsets), dtype=bool)
        for i, lbls in enumerate(self.interner.labelsets):
            have: dict[str, set[str]] = {}
            for lb in lbls:
                k, _, v = lb.partition("=")
                have.setdefault(k, set()).add(v)
            ok[i] = all(have.get(k, set()) & vs for k, vs in want.items())
        return self.take(ok[self.ls])

    def _rows_matching(self, rx: re.Pattern[str]) -> npt.NDArray[np.bool_]:
        fm = np.fromiter((bool(rx.search(f.name)) for f in self.interner.frames), dtype=bool,
                         count=len(self.interner.frames))
        hit = fm[self.fr].astype(np.int64)
        cs = np.zeros(len(hit) + 1, dtype=np.int64)
        np.cumsum(hit, out=cs[1:])
        return (cs[self.off[1:]] - cs[self.off[:-1]]) > 0

    def focus(self, pattern: str | None) -> StackSet:
        """Keep samples with a frame matching (pprof's -focus: the whole stack stays)."""
        return self if not pattern else self.take(self._rows_matching(_compile(pattern, "--focus")))

    def ignore(self, pattern: str | None) -> StackSet:
        """Drop samples with a frame matching (pprof's -ignore)."""
        return self if not pattern else self.take(~self._rows_matching(_compile(pattern, "--ignore")))

    def group_by_label(self, key: str | None) -> StackSet:
        """Put a synthetic root frame ``KEY=VALUE`` (or ``KEY=(none)``) above every stack."""
        if not key:
            return self
        it = self.interner
        lab_frame = np.zeros(len(it.labelsets), dtype=np.int32)
        for i, lbls in enumerate(it.labelsets):
            vals = sorted(lb.partition("=")[2] for lb in lbls if lb.partition("=")[0] == key)
            name = f"{key}={','.join(vals) if vals else '(none)'}"
            lab_frame[i] = it.frame(name, "", 0, False, LABEL)
        n = self.rows
        cnt = self.off[1:] - self.off[:-1]
        off = self.off + np.arange(n + 1, dtype=np.int64)
        fr = np.empty(len(self.fr) + n, dtype=np.int32)
        heads = off[:-1]
        fr[heads] = lab_frame[self.ls]
        body = np.ones(len(fr), dtype=bool)
        body[heads] = False
        fr[body] = self.fr
        del cnt
        return StackSet(it, off, fr, self.ls, self.val, self.sample_type, self.unit)

    def label_keys(self) -> list[str]:
        keys: set[str] = set()
        for i in np.unique(self.ls):
            for lb in self.interner.labelsets[int(i)]:
                keys.add(lb.partition("=")[0])
        return sorted(keys)


def _compile(pattern: str, opt: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as e:
        raise UsageError(f"{opt}: bad regular expression {pattern!r}: {e}") from e


def _ranges(starts: I64, counts: I64) -> I64:
    total = int(counts.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    offs = np.cumsum(counts) - counts
    return np.repeat(starts - offs, counts) + np.arange(total, dtype=np.int64)


_P1 = np.uint64(0x9E3779B97F4A7C15)
_P2 = np.uint64(0xC2B2AE3D27D4EB4F)


def _merge_rows(loc_off: I64, loc_idx: I32, ls: I32, val: I64) -> tuple[I64, I32, I32, I64]:
    """Rows with the same location sequence and label set, merged (values summed).

    Stacks are compared by two 64-bit polynomial hashes plus their length (vectorized), so a profile
    whose records differ only in their values (every CPU sample its own record) costs one pass here
    instead of a row per sample in the tree."""
    n = len(ls)
    if n < 2:
        return loc_off, loc_idx, ls, val
    cnt = loc_off[1:] - loc_off[:-1]
    maxd = int(cnt.max()) if n else 0
    keys = np.zeros((n, 4), dtype=np.uint64)
    keys[:, 2] = cnt.astype(np.uint64)
    keys[:, 3] = ls.astype(np.uint64)
    if maxd:
        seg = np.repeat(np.arange(n, dtype=np.int64), cnt)
        pos = np.arange(len(loc_idx), dtype=np.int64) - loc_off[:-1][seg]
        v = loc_idx.astype(np.uint64) + np.uint64(1)
        nonempty = np.flatnonzero(cnt > 0)
        with np.errstate(over="ignore"):
            for col, prime in ((0, _P1), (1, _P2)):
                powers = np.cumprod(np.full(maxd, prime, dtype=np.uint64), dtype=np.uint64)
                # rows are contiguous runs: one reduceat (wrapping uint64 sums) per hash
                keys[nonempty, col] = np.add.reduceat(v * powers[pos], loc_off[:-1][nonempty])
        del seg, pos, v
    with np.errstate(over="ignore"):
        k1 = keys[:, 0] ^ (keys[:, 2] * _P2) ^ (keys[:, 3] * _P1 * _P1)
    _, first, inv = np.unique(k1, return_index=True, return_inverse=True)
    inv = inv.ravel()
    if not (keys[first][inv] == keys).all():  # a 64-bit collision: use all 256 bits
        _, first, inv = np.unique(keys.view(np.dtype((np.void, 32))).ravel(), return_index=True,
                                  return_inverse=True)
        inv = inv.ravel()
    if len(first) == n:
        return loc_off, loc_idx, ls, val
    merged = np.zeros(len(first), dtype=np.int64)
    np.add.at(merged, inv, val)
    rcnt = cnt[first]
    roff = np.zeros(len(first) + 1, dtype=np.int64)
    np.cumsum(rcnt, out=roff[1:])
    ridx = loc_idx[_ranges(loc_off[:-1][first], rcnt)]
    return roff, ridx.astype(np.int32), ls[first], merged


def pick_sample_type(rs: RawSamples, wanted: str | None) -> int:
    """Index of the sample type: by name (``cpu``, ``alloc_space``, ...), else the profile's default,
    else the last one (what ``go tool pprof`` shows)."""
    st = rs.meta.string_table
    names = [st[vt.type] for vt in rs.meta.sample_type]
    if not names:
        raise UsageError("the profile has no sample types")
    if wanted:
        if wanted in names:
            return names.index(wanted)
        if wanted.isdigit() and int(wanted) < len(names):
            return int(wanted)
        raise UsageError(f"--sample-type {wanted!r}: the profile has {', '.join(names)}")
    d = rs.meta.default_sample_type
    if d and 0 < d < len(st) and st[d] in names:
        return names.index(st[d])
    return len(names) - 1


def _main_module_guess(rs: RawSamples) -> str:
    """Module path of ``main`` from a -trimpath file name (``example.com/x/main.go``), else ''."""
    st = rs.meta.string_table
    for f in rs.meta.function:
        name = st[f.name]
        if name.startswith("main.") and f.filename:
            path = str(st[f.filename])
            if "/" in path and not path.startswith("/") and "." in path.split("/", 1)[0]:
                return path.rsplit("/", 1)[0]
    return ""


def location_frames(rs: RawSamples, it: Interner, main_module: str = "") -> tuple[I64, I32]:
    """Frames of every location (CSR, root first within the location: the caller line last in pprof).

    FormatError when a line names a function the profile does not have."""
    meta = rs.meta
    st = meta.string_table
    main_module = main_module or _main_module_guess(rs)
    maps = {m.id: m for m in meta.mapping}
    kernel_maps = {m.id for m in meta.mapping if classify_mapping(st[m.filename], m.memory_start) == "kernel"}
    # per function: (name, file, start line, class) computed once
    finfo: dict[int, tuple[str, str, int, str]] = {}
    for f in meta.function:
        name = st[f.name] or "?"
        finfo[f.id] = (name, st[f.filename], f.start_line, classify_name(name, main_module))
    frame_of: dict[tuple[int, bool, bool, int], int] = {}  # (function, inlined, kernel, line if no start line)
    off = np.zeros(len(meta.location) + 1, dtype=np.int64)
    out: list[int] = []
    add = out.append
    for i, loc in enumerate(meta.location):
        lines = loc.line
        if lines:
            kern = loc.mapping_id in kernel_maps
            n = len(lines)
            for j in range(n - 1, -1, -1):
                ln = lines[j]
                fid = ln.function_id
                inl = j < n - 1
                fi = finfo.get(fid)
                key = (fid, inl, kern, 0 if fi is None or fi[2] else ln.line)
                fr = frame_of.get(key)
                if fr is None:
                    if fi is None:
                        if fid:
                            raise FormatError(f"location {loc.id} refers to unknown function {fid}", what="profile")
                        fi = ("?", "", 0, classify_name("?"))
                    fr = it.frame(fi[0], fi[1], fi[2] or ln.line, inl, KERNEL if kern else fi[3])
                    frame_of[key] = fr
                add(fr)
        else:
            m = maps.get(loc.mapping_id)
            fn = st[m.filename] if m is not None else ""
            if m is not None and fn:
                name = f"{fn.rsplit('/', 1)[-1]}+{loc.address - m.memory_start + m.file_offset:#x}"
            else:
                name = f"{loc.address:#x}"
            add(it.frame(name, fn, 0, False, KERNEL if loc.mapping_id in kernel_maps else UNSYMBOLIZED))
        off[i + 1] = len(out)
    return off, np.array(out, dtype=np.int32)


def _label_text(st: object, key: int, sval: int, num: int) -> str:
    table = st  # the profile's string table (repeated str)
    k = table[key]  # type: ignore[index]
    if sval:
        return f"{k}={table[sval]}"  # type: ignore[index]
    return f"{k}={num}"


def from_samples(rs: RawSamples, it: Interner, sample_index: int, main_module: str = "") -> StackSet:
    """Rows (one per distinct sample record) with root-first frames, label sets and one value."""
    lf_off, lf_fr = location_frames(rs, it, main_module)
    st = rs.meta.string_table
    vt = rs.meta.sample_type[sample_index]
    val = np.ascontiguousarray(rs.values[:, sample_index]) if rs.n else np.zeros(0, dtype=np.int64)
    # label sets: one Python step per distinct set, not per sample
    ls = np.zeros(rs.n, dtype=np.int32)
    lab_cnt = rs.lab_off[1:] - rs.lab_off[:-1]
    withl = np.flatnonzero(lab_cnt)
    if len(withl):
        width = int(lab_cnt.max())
        codes = np.full((len(withl), 3 * width), -1, dtype=np.int64)
        for k in range(width):
            has = lab_cnt[withl] > k
            idx = rs.lab_off[withl[has]] + k
            codes[has, 3 * k] = rs.lab_key[idx]
            codes[has, 3 * k + 1] = rs.lab_str[idx]
            codes[has, 3 * k + 2] = rs.lab_num[idx]
        uniq, inv = np.unique(codes, axis=0, return_inverse=True)
        ids = np.zeros(len(uniq), dtype=np.int32)
        for u, row in enumerate(uniq.tolist()):
            lbls = tuple(sorted(_label_text(st, row[3 * k], row[3 * k + 1], row[3 * k + 2])
                                for k in range(width) if row[3 * k] >= 0))
            ids[u] = it.labelset(lbls)
        ls[withl] = ids[inv.reshape(-1)]
    # records that differ only in their values (same stack, same labels) become one row
    loc_off, loc_idx, ls, val = _merge_rows(rs.loc_off, rs.loc_idx, ls, val)
    # stacks: locations reversed (root first), each expanded to its frames
    n = len(ls)
    cnt = loc_off[1:] - loc_off[:-1]
    pos = np.arange(len(loc_idx), dtype=np.int64)
    seg = np.repeat(np.arange(n, dtype=np.int64), cnt)
    rev = (loc_off[:-1][seg] * 2 + cnt[seg] - 1 - pos) if n else pos
    locs = loc_idx[rev] if len(rev) else loc_idx
    del pos, seg, rev
    fcnt = (lf_off[1:] - lf_off[:-1])[locs]
    fr = lf_fr[_ranges(lf_off[:-1][locs], fcnt)]
    cs = np.zeros(len(fcnt) + 1, dtype=np.int64)
    np.cumsum(fcnt, out=cs[1:])
    off = cs[loc_off]
    return StackSet(it, off, fr.astype(np.int32), ls, val, st[vt.type], st[vt.unit])

