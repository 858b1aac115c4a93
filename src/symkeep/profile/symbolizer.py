"""Symbolize the locations of a profile, mapping by mapping, with binaries from a resolver.

Per mapping: classify it (kernel/vdso/anon are left alone), pick the locations that need names (no
Line yet, or all with ``force``), ask the resolver for the binary's engine, translate runtime
addresses to link-time ones (:mod:`mapping`), look them up (one vectorized call per mapping) and
write one Line per frame, innermost first (:mod:`lines`). A mapping whose binary is missing is not
touched at all. No file system access here: files are the resolver's business, and the engines it
hands out stay open (the resolver owns them).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from operator import itemgetter

import numpy as np
import numpy.typing as npt

from symkeep.errors import SymkeepError
from symkeep.profile import profile_pb2
from symkeep.profile.inputs import load_bytes, loaded_from_profile
from symkeep.profile.limits import DEFAULT_LIMITS, Limits
from symkeep.profile.lines import FunctionTable, LineEncoder
from symkeep.profile.locations import LocationColumns
from symkeep.profile.mapping import KERNEL_ADDR_MIN, Translator, classify_mapping
from symkeep.profile.pprof import StringTable
from symkeep.profile.rawprofile import LoadedInput
from symkeep.profile.report import MappingReport, Report
from symkeep.profile.resolver import BinaryRequest, BinaryResolver
from symkeep.symbolize.engine import GoEngine, Lookups

__all__ = ["SymbolizeResult", "mapping_requests", "symbolize_profile"]

U64 = npt.NDArray[np.uint64]
I64 = npt.NDArray[np.int64]


@dataclass
class SymbolizeResult:
    profile: profile_pb2.Profile
    report: Report
    input_format: str


def symbolize_profile(
    profile: bytes | bytearray | memoryview | profile_pb2.Profile | LoadedInput,
    resolver: BinaryResolver,
    *,
    force: bool = False,
    input_format: str = "auto",
    limits: Limits = DEFAULT_LIMITS,
    main_mapping_id: int | None = None,
    return_addresses: Iterable[int] | None = None,
) -> SymbolizeResult:
    """Symbolize a profile and report what happened per mapping.

    ``profile``: input bytes (pprof gzip'd or not, perf script or folded text: ``input_format``),
    a parsed ``Profile`` (symbolized in place) or a :class:`LoadedInput`. ``return_addresses``: ids
    of locations whose address is a raw return address (the text converters flag their own; Go's
    pprof locations already point into the call instruction). The resolver's engines are borrowed,
    never closed."""
    if isinstance(profile, LoadedInput):
        loaded = profile
    elif isinstance(profile, profile_pb2.Profile):
        loaded = loaded_from_profile(profile)
    else:
        loaded = load_bytes(bytes(profile), input_format, limits)
    if main_mapping_id is not None:
        loaded.main_mapping_id = main_mapping_id
    cols = loaded.location_columns()
    if return_addresses is not None:
        pos = cols.index_of(np.fromiter(return_addresses, dtype=np.uint64))
        loaded.return_mask = np.zeros(len(cols), dtype=np.bool_)
        loaded.return_mask[pos[pos >= 0]] = True
    named = cols.nlines > 0
    report = _symbolize(loaded, cols, named, resolver, force)
    report.named_by_input = _apply_fallback_names(loaded, cols, named)
    report.input = loaded.notes
    return SymbolizeResult(loaded.profile, report, loaded.format)


def mapping_requests(loaded: LoadedInput) -> list[tuple[profile_pb2.Mapping, BinaryRequest]]:
    """The question a resolver gets for each file mapping of the profile (and the mapping)."""
    prof = loaded.profile
    st = StringTable(prof)
    kinds = [(m, _kind(m, st, loaded.main_mapping_id)) for m in prof.mapping]
    files = [m for m, k in kinds if k == "file"]
    return [
        (m, BinaryRequest(st.get(m.filename), st.get(m.build_id), m.id == loaded.main_mapping_id, len(files),
                          loaded.local_paths.get(m.id)))
        for m in files
    ]


def _kind(m: profile_pb2.Mapping, st: StringTable, main_mapping_id: int | None) -> str:
    fname = st.get(m.filename)
    kind = classify_mapping(fname, m.memory_start)
    if not fname and m.id == main_mapping_id and kind == "anon" and m.memory_start < KERNEL_ADDR_MIN:
        kind = "file"  # a nameless main mapping (bare addresses): --binary names it
    return kind


def _groups(mapping_ids: U64) -> dict[int, I64]:
    """Location indices per mapping id, each in profile order (one stable sort, not a mask per
    mapping: a hostile profile may have as many mappings as locations)."""
    order = np.argsort(mapping_ids, kind="stable")
    sm = mapping_ids[order]
    first = np.flatnonzero(np.r_[True, sm[1:] != sm[:-1]]) if len(sm) else np.zeros(0, dtype=np.int64)
    ends = np.r_[first[1:], len(sm)]
    return {int(sm[a]): order[a:b] for a, b in zip(first.tolist(), ends.tolist(), strict=True)}


def _symbolize(
    loaded: LoadedInput, cols: LocationColumns, named: npt.NDArray[np.bool_], resolver: BinaryResolver, force: bool
) -> Report:
    prof = loaded.profile
    st = StringTable(prof)
    funcs = FunctionTable(prof, st)
    report = Report(locations=len(cols))
    groups = _groups(cols.mapping_ids)
    requests = {m.id: r for m, r in mapping_requests(loaded)}
    rets = loaded.return_mask if loaded.return_mask is not None else np.zeros(len(cols), dtype=np.bool_)
    empty = np.zeros(0, dtype=np.int64)

    if 0 in groups:
        mr = MappingReport(0, "", "", "none")
        mr.locations = len(groups[0])
        mr.kept = int(named[groups[0]].sum())
        if mr.locations > mr.kept:
            mr.failed["location has no mapping"] += mr.locations - mr.kept
        report.mappings.append(mr)

    for m in prof.mapping:
        req = requests.get(m.id)
        kind = "file" if req is not None else _kind(m, st, loaded.main_mapping_id)
        mr = MappingReport(m.id, loaded.local_paths.get(m.id, st.get(m.filename)), st.get(m.build_id), kind,
                           m.memory_start, m.memory_limit)
        report.mappings.append(mr)
        idx = groups.get(m.id, empty)
        mr.locations = len(idx)
        todo = idx if force else idx[~named[idx]]
        mr.kept = len(idx) - len(todo)
        if not len(todo):
            continue
        if req is None:
            mr.failed[f"{kind} mapping (left alone)"] += len(todo)
            continue
        res = resolver.resolve(req)
        mr.notes.extend(res.notes)
        mr.binary, mr.found_by, mr.verified = res.binary, res.found_by, res.verified
        if res.engine is None:
            mr.failed[res.failure or "binary not found"] += len(todo)
            continue
        _Mapping(prof, m, mr, cols, named, funcs, st).symbolize(res.engine, idx, todo, rets, force)
        if mr.symbolized and not res.verified:
            report.warnings.append(_unverified(mr, loaded))
    return report


def _unverified(mr: MappingReport, loaded: LoadedInput) -> str:
    why = "the input records no build ID for it"
    if loaded.build_id_source:
        why = f"{loaded.build_id_source} records no build ID for it"
    elif loaded.format == "perf":
        why = "perf script output carries no build IDs (give the perf.data file to check them)"
    elif mr.build_id:
        why = "its binary was taken as given"
    return f"mapping {mr.id} ({mr.filename or 'no name'}): {mr.binary} was not checked against a build ID: {why}"


class _Mapping:
    """Writes one mapping's names into the profile (Line[] bytes merged per location)."""

    def __init__(self, prof: profile_pb2.Profile, m: profile_pb2.Mapping, mr: MappingReport, cols: LocationColumns,
                 named: npt.NDArray[np.bool_], funcs: FunctionTable, st: StringTable) -> None:
        self.prof, self.m, self.mr, self.cols, self.named, self.funcs, self.st = prof, m, mr, cols, named, funcs, st

    def symbolize(self, engine: GoEngine, idx: I64, todo: I64, rets: npt.NDArray[np.bool_], force: bool) -> None:
        m, mr, cols = self.m, self.mr, self.cols
        tr = Translator(engine.binary, m.memory_start, m.memory_limit, m.file_offset)
        link, ok = tr.to_link_many(cols.addresses[todo])
        sel = np.flatnonzero(ok)
        if len(sel) < len(todo):
            mr.failed["address outside the mapping's file"] += len(todo) - len(sel)
        pcs = link[sel]
        enc = LineEncoder(self.funcs)
        try:
            blobs = _lookup(engine, pcs, rets[todo[sel]], enc)
        except SymkeepError as e:
            mr.failed[f"lookup failed: {type(e).__name__}"] += len(pcs)
            mr.notes.append(str(e))
            return
        nomatch = 0
        found = np.zeros(len(sel), dtype=np.bool_)
        locs = self.prof.location
        nlines, folded = cols.nlines, cols.folded
        for k, (i, lines) in enumerate(zip(todo[sel].tolist(), blobs, strict=True)):
            if not lines:
                if force and nlines[i]:
                    mr.kept += 1  # keep what was there rather than erase it
                else:
                    nomatch += 1
                continue
            found[k] = True
            loc = locs[i]  # a wrapper for this one call only (see symkeep.profile.locations)
            if force and nlines[i]:
                del loc.line[:]
            # Line[] as pre-encoded bytes: merging them into the Location appends them.
            loc.MergeFromString(lines)
            if folded[i]:
                loc.is_folded = False
            mr.symbolized += 1
        if nomatch:
            mr.failed["no function at address"] += nomatch
        done = todo[sel[found]]
        self.named[done] = True
        if mr.symbolized:
            self._set_flags(idx, todo, done, enc)

    def _set_flags(self, idx: I64, todo: I64, done: I64, enc: LineEncoder) -> None:
        """has_* are true only when they hold for every location of the mapping (pprof
        re-symbolizes a mapping with no flag set, and trusts one that has them).

        The locations symbolized here are judged from their frames (the encoder saw every one);
        only the others (kept, failed) are read back from the profile."""
        m, st, by_id = self.m, self.st, self.funcs.by_id
        orig_inline = m.has_inline_frames
        has_fn, has_file, has_line, has_inl = enc.all_named, enc.all_files, enc.all_lines, True
        kept = np.setdiff1d(idx, todo, assume_unique=True)
        others = np.concatenate([np.setdiff1d(todo, done, assume_unique=True), kept])
        if len(others) and not bool(self.cols.nlines[others].all()):
            has_fn = has_file = has_line = has_inl = False
        else:
            locs = self.prof.location
            for i in others.tolist():
                for ln in locs[i].line:
                    f = by_id.get(ln.function_id)
                    if f is None or not st.get(f.name):
                        has_fn = False
                    if f is None or not st.get(f.filename):
                        has_file = False
                    if ln.line <= 0:
                        has_line = False
            if len(kept) and not orig_inline:
                has_inl = False
        m.has_functions = has_fn
        m.has_filenames = has_file
        m.has_line_numbers = has_line
        m.has_inline_frames = has_inl


def _lookup(engine: Lookups, pcs: U64, mask: npt.NDArray[np.bool_], enc: LineEncoder) -> list[bytes]:
    """Serialized Line[] per PC (b"" when unknown): one engine lookup per kind of address (call-site
    PCs, raw return addresses), encoded once per distinct chain."""
    out: list[bytes] = [b""] * len(pcs)
    nret = int(mask.sum())
    # The larger batch first: an engine that builds whole-binary tables for a large batch reuses them
    # for the smaller one (instead of decoding thousands of functions one by one).
    for want_ret in (True, False) if nret > len(pcs) - nret else (False, True):
        idx = np.flatnonzero(mask == want_ret)
        if not len(idx):
            continue
        ids, cols = engine.lookup_columns(pcs[idx], return_address=want_ret)
        blobs = enc.columns(cols)
        blobs.append(b"")  # id -1: unknown
        got = [blobs[int(ids[0])]] if len(ids) == 1 else list(itemgetter(*ids.tolist())(blobs))
        if len(idx) == len(pcs):
            return got
        for k, b in zip(idx.tolist(), got, strict=True):
            out[k] = b
    return out


def _apply_fallback_names(loaded: LoadedInput, cols: LocationColumns, named: npt.NDArray[np.bool_]) -> int:
    """Give locations that are still unnamed the name an earlier tool printed (perf's kallsyms,
    libc symbols, names in folded stacks). Returns how many were named this way."""
    names = loaded.names
    if not names:
        return 0
    prof = loaded.profile
    st = StringTable(prof)
    funcs = FunctionTable(prof, st)
    lids = list(names)
    pos = cols.index_of(np.array(lids, dtype=np.uint64)).tolist()
    locs = prof.location
    n = 0
    touched: set[int] = set()
    for lid, k in zip(lids, pos, strict=True):
        if k < 0 or named[k]:
            continue
        locs[k].line.add(function_id=funcs.intern(names[lid], "", 0))
        named[k] = True
        touched.add(int(cols.mapping_ids[k]))
        n += 1
    # A mapping whose every location now has a function name says so (has_functions), so that pprof
    # does not try (and warn about failing) to re-symbolize it.
    groups = _groups(cols.mapping_ids)
    for m in prof.mapping:
        if m.id in touched and bool(named[groups[m.id]].all()):
            m.has_functions = True
    return n
