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
from symkeep.profile.lines import FunctionTable, LineEncoder, uvarint
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
    run = _Run(loaded, cols, force)
    report = run.symbolize(resolver)
    report.named_by_input = run.fallback_names()
    run.write()
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


class _Run:
    """One symbolization: names are collected as Line[] bytes per location (``blob_of``), one
    engine lookup per mapping, and written into the profile at the end (:meth:`write`)."""

    def __init__(self, loaded: LoadedInput, cols: LocationColumns, force: bool) -> None:
        self.loaded, self.cols, self.force = loaded, cols, force
        self.prof = loaded.profile
        self.st = StringTable(self.prof)
        self.funcs = FunctionTable(self.prof, self.st)
        self.named = cols.nlines > 0
        self.blob_of: list[bytes] = [b""] * len(cols)
        self.groups = _groups(cols.mapping_ids)

    def symbolize(self, resolver: BinaryResolver) -> Report:
        loaded, cols, st, named = self.loaded, self.cols, self.st, self.named
        report = Report(locations=len(cols))
        requests = {m.id: r for m, r in mapping_requests(loaded)}
        rets = loaded.return_mask if loaded.return_mask is not None else np.zeros(len(cols), dtype=np.bool_)
        empty = np.zeros(0, dtype=np.int64)
        if 0 in self.groups:
            mr = MappingReport(0, "", "", "none")
            mr.locations = len(self.groups[0])
            mr.kept = int(named[self.groups[0]].sum())
            if mr.locations > mr.kept:
                mr.failed["location has no mapping"] += mr.locations - mr.kept
            report.mappings.append(mr)
        for m in self.prof.mapping:
            req = requests.get(m.id)
            kind = "file" if req is not None else _kind(m, st, loaded.main_mapping_id)
            mr = MappingReport(m.id, loaded.local_paths.get(m.id, st.get(m.filename)), st.get(m.build_id), kind,
                               m.memory_start, m.memory_limit)
            report.mappings.append(mr)
            idx = self.groups.get(m.id, empty)
            mr.locations = len(idx)
            todo = idx if self.force else idx[~named[idx]]
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
            self._mapping(m, mr, res.engine, idx, todo, rets)
            if mr.symbolized and not res.verified:
                report.warnings.append(_unverified(mr, loaded))
        return report

    def _mapping(self, m: profile_pb2.Mapping, mr: MappingReport, engine: GoEngine, idx: I64, todo: I64,
                 rets: npt.NDArray[np.bool_]) -> None:
        cols = self.cols
        tr = Translator(engine.binary, m.memory_start, m.memory_limit, m.file_offset)
        link, ok = tr.to_link_many(cols.addresses[todo])
        sel = np.flatnonzero(ok)
        if len(sel) < len(todo):
            mr.failed["address outside the mapping's file"] += len(todo) - len(sel)
        enc = LineEncoder(self.funcs)
        try:
            blobs = _lookup(engine, link[sel], rets[todo[sel]], enc)
        except SymkeepError as e:
            mr.failed[f"lookup failed: {type(e).__name__}"] += len(sel)
            mr.notes.append(str(e))
            return
        blob_of = self.blob_of
        found = np.fromiter(map(bool, blobs), dtype=np.bool_, count=len(blobs))
        for i, lines in zip(todo[sel[found]].tolist(), (b for b in blobs if b), strict=True):
            blob_of[i] = lines
        mr.symbolized = int(found.sum())
        miss = todo[sel[~found]]
        if self.force:  # keep what was there rather than erase it
            had = int((cols.nlines[miss] > 0).sum())
            mr.kept += had
            nomatch = len(miss) - had
        else:
            nomatch = len(miss)
        if nomatch:
            mr.failed["no function at address"] += nomatch
        done = todo[sel[found]]
        self.named[done] = True
        if mr.symbolized:
            self._set_flags(m, idx, todo, done, enc)

    def _set_flags(self, m: profile_pb2.Mapping, idx: I64, todo: I64, done: I64, enc: LineEncoder) -> None:
        """has_* are true only when they hold for every location of the mapping (pprof
        re-symbolizes a mapping with no flag set, and trusts one that has them).

        The locations symbolized here are judged from their frames (the encoder saw every one); the
        others (kept, failed) from their Line entries as the input had them."""
        cols = self.cols
        has_fn, has_file, has_line, has_inl = enc.all_named, enc.all_files, enc.all_lines, True
        kept = np.setdiff1d(idx, todo, assume_unique=True)
        others = np.concatenate([np.setdiff1d(todo, done, assume_unique=True), kept])
        if len(others) and not bool(cols.nlines[others].all()):
            has_fn = has_file = has_line = has_inl = False
        elif len(others):
            counts = cols.nlines[others]
            rows = np.repeat(cols.line_start[others] - np.cumsum(counts) + counts, counts) + np.arange(int(counts.sum()))
            fids = cols.line_function[rows]
            by_id, get = self.funcs.by_id, self.st.get
            named_ids = np.array([i for i, f in by_id.items() if get(f.name)], dtype=np.uint64)
            filed_ids = np.array([i for i, f in by_id.items() if get(f.filename)], dtype=np.uint64)
            has_fn = has_fn and bool(np.isin(fids, named_ids).all())
            has_file = has_file and bool(np.isin(fids, filed_ids).all())
            has_line = has_line and bool((cols.line_number[rows] > 0).all())
            if len(kept) and not m.has_inline_frames:
                has_inl = False
        m.has_functions = has_fn
        m.has_filenames = has_file
        m.has_line_numbers = has_line
        m.has_inline_frames = has_inl

    def fallback_names(self) -> int:
        """Give locations that are still unnamed the name an earlier tool printed (perf's kallsyms,
        libc symbols, names in folded stacks). Returns how many were named this way."""
        names = self.loaded.names
        if not names:
            return 0
        cols, named, blob_of = self.cols, self.named, self.blob_of
        lids = list(names)
        pos = cols.index_of(np.array(lids, dtype=np.uint64)).tolist()
        line_of: dict[str, bytes] = {}
        n = 0
        touched: set[int] = set()
        for lid, k in zip(lids, pos, strict=True):
            if k < 0 or named[k]:
                continue
            name = names[lid]
            blob = line_of.get(name)
            if blob is None:
                body = b"\x08" + uvarint(self.funcs.intern(name, "", 0))
                blob = line_of[name] = b"\x22" + uvarint(len(body)) + body
            blob_of[k] = blob
            named[k] = True
            touched.add(int(cols.mapping_ids[k]))
            n += 1
        # A mapping whose every location now has a function name says so (has_functions), so that
        # pprof does not try (and warn about failing) to re-symbolize it.
        for m in self.prof.mapping:
            if m.id in touched and bool(named[self.groups[m.id]].all()):
                m.has_functions = True
        return n

    def write(self) -> None:
        """Merge each location's new Line[] bytes into it (``MergeFromString`` appends repeated
        fields). The wrapper of a location lives for that one call: holding them all would cost
        ~500 bytes a location; re-encoding every location instead would grow the protobuf arena by
        a full copy of them (measured: 51 instead of 29 MB per 100k locations)."""
        cols, locs = self.cols, self.prof.location
        reset_lines = (cols.nlines > 0) if self.force else np.zeros(len(cols), dtype=np.bool_)
        special = set(np.flatnonzero(reset_lines | cols.folded).tolist())
        for k, blob in enumerate(self.blob_of):
            if not blob:
                continue
            loc = locs[k]
            if k in special:
                if reset_lines[k]:
                    del loc.line[:]
                loc.is_folded = False
            loc.MergeFromString(blob)
        self.loaded.columns = None  # the names changed: read again when asked


def _unverified(mr: MappingReport, loaded: LoadedInput) -> str:
    why = "the input records no build ID for it"
    if loaded.build_id_source:
        why = f"{loaded.build_id_source} records no build ID for it"
    elif loaded.format == "perf":
        why = "perf script output carries no build IDs (give the perf.data file to check them)"
    elif mr.build_id:
        why = "its binary was taken as given"
    return f"mapping {mr.id} ({mr.filename or 'no name'}): {mr.binary} was not checked against a build ID: {why}"


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
