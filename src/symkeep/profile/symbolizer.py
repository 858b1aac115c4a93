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
from symkeep.profile.mapping import KERNEL_ADDR_MIN, Translator, classify_mapping
from symkeep.profile.pprof import StringTable
from symkeep.profile.rawprofile import LoadedInput
from symkeep.profile.report import MappingReport, Report
from symkeep.profile.resolver import BinaryRequest, BinaryResolver
from symkeep.symbolize.engine import GoEngine, Lookups

__all__ = ["SymbolizeResult", "apply_fallback_names", "mapping_requests", "symbolize_profile"]


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
    if return_addresses is not None:
        loaded.return_addresses = set(return_addresses)
    report = _symbolize(loaded, resolver, force)
    report.named_by_input = apply_fallback_names(loaded.profile, loaded.names)
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


def _symbolize(loaded: LoadedInput, resolver: BinaryResolver, force: bool) -> Report:
    prof = loaded.profile
    st = StringTable(prof)
    funcs = FunctionTable(prof, st)
    all_locs = list(prof.location)
    report = Report(locations=len(all_locs))
    mids = [loc.mapping_id for loc in all_locs]
    by_mapping: dict[int, list[profile_pb2.Location]]
    if mids and mids.count(mids[0]) == len(mids):
        by_mapping = {mids[0]: all_locs}  # the usual case: one mapping holds every location
    else:
        by_mapping = {}
        for mid, loc in zip(mids, all_locs, strict=True):
            by_mapping.setdefault(mid, []).append(loc)
    del mids
    requests = {m.id: r for m, r in mapping_requests(loaded)}
    rets = loaded.return_addresses

    if 0 in by_mapping:
        mr = MappingReport(0, "", "", "none")
        mr.locations = len(by_mapping[0])
        mr.kept = sum(1 for loc in by_mapping[0] if loc.line)
        if mr.locations > mr.kept:
            mr.failed["location has no mapping"] += mr.locations - mr.kept
        report.mappings.append(mr)

    for m in prof.mapping:
        req = requests.get(m.id)
        kind = "file" if req is not None else _kind(m, st, loaded.main_mapping_id)
        mr = MappingReport(m.id, loaded.local_paths.get(m.id, st.get(m.filename)), st.get(m.build_id), kind,
                           m.memory_start, m.memory_limit)
        report.mappings.append(mr)
        locs = by_mapping.get(m.id, [])
        mr.locations = len(locs)
        todo = locs if force else [loc for loc in locs if not loc.line]
        mr.kept = len(locs) - len(todo)
        if not todo:
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
        _symbolize_mapping(m, mr, res.engine, locs, todo, rets, force, funcs, st)
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


def _symbolize_mapping(
    m: profile_pb2.Mapping,
    mr: MappingReport,
    engine: GoEngine,
    locs: list[profile_pb2.Location],
    todo: list[profile_pb2.Location],
    rets: set[int],
    force: bool,
    funcs: FunctionTable,
    st: StringTable,
) -> None:
    tr = Translator(engine.binary, m.memory_start, m.memory_limit, m.file_offset)
    addrs = np.fromiter((loc.address for loc in todo), dtype=np.uint64, count=len(todo))
    link, ok = tr.to_link_many(addrs)
    sel = np.flatnonzero(ok)
    if len(sel) < len(todo):
        mr.failed["address outside the mapping's file"] += len(todo) - len(sel)
    pcs = link[sel]
    enc = LineEncoder(funcs)
    try:
        blobs = _lookup(engine, pcs, [todo[i].id in rets for i in sel.tolist()] if rets else None, enc)
    except SymkeepError as e:
        mr.failed[f"lookup failed: {type(e).__name__}"] += len(pcs)
        mr.notes.append(str(e))
        return
    nomatch = 0
    found = np.zeros(len(sel), dtype=np.bool_)
    for k, (i, lines) in enumerate(zip(sel.tolist(), blobs, strict=True)):
        loc = todo[i]
        if not lines:
            if force and loc.line:
                mr.kept += 1  # keep what was there rather than erase it
            else:
                nomatch += 1
            continue
        found[k] = True
        if force and loc.line:
            del loc.line[:]
        # Line[] as pre-encoded bytes: merging them into the Location appends them.
        loc.MergeFromString(lines)
        if loc.is_folded:
            loc.is_folded = False
        mr.symbolized += 1
    if nomatch:
        mr.failed["no function at address"] += nomatch
    if mr.symbolized:
        symbolized = np.zeros(len(todo), dtype=np.bool_)
        symbolized[sel[found]] = True
        _set_flags(m, locs, todo, symbolized, enc, funcs, st)


def _lookup(engine: Lookups, pcs: npt.NDArray[np.uint64], is_ret: list[bool] | None, enc: LineEncoder) -> list[bytes]:
    """Serialized Line[] per PC (b"" when unknown): one engine lookup per kind of address (call-site
    PCs, raw return addresses), encoded once per distinct chain."""
    out: list[bytes] = [b""] * len(pcs)
    mask = np.array(is_ret, dtype=np.bool_) if is_ret is not None else np.zeros(len(pcs), dtype=np.bool_)
    for want_ret in (False, True):
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


def _set_flags(
    m: profile_pb2.Mapping,
    locs: list[profile_pb2.Location],
    todo: list[profile_pb2.Location],
    symbolized: npt.NDArray[np.bool_],
    enc: LineEncoder,
    funcs: FunctionTable,
    st: StringTable,
) -> None:
    """has_* are true only when they hold for every location of the mapping (pprof re-symbolizes a
    mapping with no flag set, and trusts one that has them).

    The locations symbolized here are judged from their frames (the encoder saw every one); only the
    others (kept, failed) are read back from the profile."""
    orig_inline = m.has_inline_frames
    has_fn, has_file, has_line, has_inl = enc.all_named, enc.all_files, enc.all_lines, True
    todo_ids = {id(t) for t in todo} if len(todo) < len(locs) else None
    others = [t for t, done in zip(todo, symbolized.tolist(), strict=True) if not done]
    if todo_ids is not None:
        others.extend(loc for loc in locs if id(loc) not in todo_ids)
    for loc in others:
        if not loc.line:
            has_fn = has_file = has_line = has_inl = False
            break
        for ln in loc.line:
            f = funcs.by_id.get(ln.function_id)
            if f is None or not st.get(f.name):
                has_fn = False
            if f is None or not st.get(f.filename):
                has_file = False
            if ln.line <= 0:
                has_line = False
        if (todo_ids is not None and id(loc) not in todo_ids) and not orig_inline:
            has_inl = False
    m.has_functions = has_fn
    m.has_filenames = has_file
    m.has_line_numbers = has_line
    m.has_inline_frames = has_inl


def apply_fallback_names(prof: profile_pb2.Profile, names: dict[int, str]) -> int:
    """Give locations that are still unnamed the name an earlier tool printed (perf's kallsyms,
    libc symbols, names in folded stacks). Returns how many were named this way."""
    if not names:
        return 0
    st = StringTable(prof)
    funcs = FunctionTable(prof, st)
    n = 0
    touched: set[int] = set()
    for loc in prof.location:
        if loc.line:
            continue
        name = names.get(loc.id)
        if name:
            loc.line.add(function_id=funcs.intern(name, "", 0))
            touched.add(loc.mapping_id)
            n += 1
    # A mapping whose every location now has a function name says so (has_functions), so that pprof
    # does not try (and warn about failing) to re-symbolize it.
    full = {m.id: True for m in prof.mapping if m.id in touched}
    for loc in prof.location:
        if loc.mapping_id in full and not loc.line:
            full[loc.mapping_id] = False
    for m in prof.mapping:
        if full.get(m.id):
            m.has_functions = True
    return n
