"""The engine: symbolize the locations of a pprof profile in place, mapping by mapping.

Per mapping: classify it (kernel/vdso/anon are left alone), pick the locations that need names
(no Line yet, or all with ``force``), find the binary (:mod:`locate`), translate runtime addresses to
link-time ones (:mod:`mapping`), look them up in the pclntab (one vectorized call per mapping) and
write one Line per frame, innermost first. A mapping whose binary is missing is not touched at all.
"""

from __future__ import annotations

import contextlib
import gc
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

import numpy as np
import numpy.typing as npt

from symkeep.errors import LimitError, SymkeepError
from symkeep.profile import profile_pb2
from symkeep.profile.locate import Locator
from symkeep.profile.mapping import KERNEL_ADDR_MIN, Translator, classify_mapping
from symkeep.profile.pprof import StringTable

__all__ = ["MappingReport", "Report", "symbolize_profile"]


@dataclass
class MappingReport:
    id: int
    filename: str
    build_id: str
    kind: str
    start: int = 0
    limit: int = 0
    binary: str | None = None
    found_by: str = ""
    locations: int = 0
    symbolized: int = 0  # by symkeep in this run
    kept: int = 0  # already symbolized, left as they were
    failed: Counter[str] = field(default_factory=Counter)  # reason -> number of locations
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "filename": self.filename,
            "build_id": self.build_id,
            "kind": self.kind,
            "memory_start": self.start,
            "memory_limit": self.limit,
            "binary": self.binary,
            "found_by": self.found_by,
            "locations": self.locations,
            "symbolized": self.symbolized,
            "kept": self.kept,
            "unsymbolized": sum(self.failed.values()),
            "failures": dict(self.failed),
            "notes": list(self.notes),
        }


@dataclass
class Report:
    mappings: list[MappingReport] = field(default_factory=list)
    locations: int = 0
    named_by_input: int = 0  # unsymbolizable here but named by the input's producer (perf, folded)

    @property
    def symbolized(self) -> int:
        return sum(m.symbolized for m in self.mappings)

    @property
    def kept(self) -> int:
        return sum(m.kept for m in self.mappings)

    @property
    def failed(self) -> Counter[str]:
        c: Counter[str] = Counter()
        for m in self.mappings:
            c.update(m.failed)
        return c

    def to_json(self) -> dict[str, Any]:
        return {
            "locations": self.locations,
            "symbolized": self.symbolized,
            "kept": self.kept,
            "unsymbolized": sum(self.failed.values()),
            "named_by_input": self.named_by_input,
            "with_names": self.symbolized + self.kept + self.named_by_input,
            "failures": dict(self.failed),
            "mappings": [m.to_json() for m in self.mappings],
        }


BinaryOpener = Callable[[str], Any]


def _open_go(path: str) -> Any:
    from symkeep.symbolize import open_go_binary

    return open_go_binary(path)


class _Functions:
    """Function table with interning by (name, file, start_line), reusing the profile's entries."""

    def __init__(self, prof: profile_pb2.Profile, st: StringTable) -> None:
        self.prof = prof
        self.st = st
        self.by_key: dict[tuple[str, str, int], int] = {}
        self.by_id: dict[int, profile_pb2.Function] = {}
        self.next_id = 1
        for f in prof.function:
            self.by_id[f.id] = f
            self.by_key.setdefault((st.get(f.name), st.get(f.filename), f.start_line), f.id)
            self.next_id = max(self.next_id, f.id + 1)

    def intern(self, name: str, file: str, start_line: int) -> int:
        key = (name, file, start_line)
        fid = self.by_key.get(key)
        if fid is None:
            fid = self.next_id
            self.next_id += 1
            n = self.st(name)
            f = self.prof.function.add(id=fid, name=n, system_name=n, filename=self.st(file), start_line=start_line)
            self.by_key[key] = fid
            self.by_id[fid] = f
        return fid


def symbolize_profile(
    prof: profile_pb2.Profile,
    locator: Locator,
    *,
    force: bool = False,
    opener: BinaryOpener = _open_go,
    main_mapping_id: int | None = None,
    return_addresses: set[int] | None = None,
) -> Report:
    """Symbolize ``prof`` in place and report what happened per mapping.

    ``return_addresses``: ids of locations whose address is a raw return address (perf callchains,
    folded stacks); pprof profiles from Go already point into the call instruction."""
    # Hundreds of thousands of small objects (frames, byte strings): the cyclic GC would rescan them
    # over and over for nothing (nothing here makes cycles).
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _symbolize_profile(prof, locator, force, opener, main_mapping_id, return_addresses or set())
    finally:
        if was_enabled:
            gc.enable()


def _symbolize_profile(
    prof: profile_pb2.Profile,
    locator: Locator,
    force: bool,
    opener: BinaryOpener,
    main_mapping_id: int | None,
    rets: set[int],
) -> Report:
    st = StringTable(prof)
    funcs = _Functions(prof, st)
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
    file_maps = [m for m in prof.mapping if classify_mapping(st.get(m.filename), m.memory_start) == "file"]
    if main_mapping_id is None:
        # pprof: the main binary is the first mapping (runtime/pprof writes it first).
        main_mapping_id = prof.mapping[0].id if prof.mapping else None
    opened: dict[str, Any] = {}

    if 0 in by_mapping:
        mr = MappingReport(0, "", "", "none")
        mr.locations = len(by_mapping[0])
        mr.kept = sum(1 for loc in by_mapping[0] if loc.line)
        if mr.locations > mr.kept:
            mr.failed["location has no mapping"] += mr.locations - mr.kept
        report.mappings.append(mr)

    for m in prof.mapping:
        fname = st.get(m.filename)
        bid = st.get(m.build_id)
        kind = classify_mapping(fname, m.memory_start)
        if not fname and m.id == main_mapping_id and kind == "anon" and m.memory_start < KERNEL_ADDR_MIN:
            kind = "file"  # a nameless main mapping (bare addresses): --binary names it
        mr = MappingReport(m.id, fname, bid, kind, m.memory_start, m.memory_limit)
        report.mappings.append(mr)
        locs = by_mapping.get(m.id, [])
        mr.locations = len(locs)
        todo = locs if force else [loc for loc in locs if not loc.line]
        mr.kept = len(locs) - len(todo)
        if not todo:
            continue
        if kind != "file":
            mr.failed[f"{kind} mapping (left alone)"] += len(todo)
            continue
        try:
            res = locator.locate(
                fname, bid, is_main=(m.id == main_mapping_id), n_file_mappings=len(file_maps)
            )
        except SymkeepError:
            raise
        mr.notes.extend(res.rejected)
        if res.path is None:
            reason = "binary not found"
            if res.rejected:
                reason = "binary not found (candidates had a different build ID)"
            mr.failed[reason] += len(todo)
            continue
        mr.binary, mr.found_by = res.path, res.how
        gb = opened.get(res.path)
        if gb is None:
            try:
                gb = opener(res.path)
            except SymkeepError as e:
                mr.failed[f"cannot read binary: {type(e).__name__}"] += len(todo)
                mr.notes.append(f"{res.path}: {e}")
                continue
            opened[res.path] = gb
        tr = Translator(gb.binary.segments(), m.memory_start, m.memory_limit, m.file_offset)
        addrs = np.fromiter((loc.address for loc in todo), dtype=np.uint64, count=len(todo))
        link, ok = tr.to_link_many(addrs)
        sel = np.flatnonzero(ok)
        if len(sel) < len(todo):
            mr.failed["address outside the mapping's file"] += len(todo) - len(sel)
        pcs = link[sel]
        enc = _LineEncoder(funcs)
        try:
            blobs = _lookup(gb, pcs, [todo[i].id in rets for i in sel.tolist()] if rets else None, enc)
        except SymkeepError as e:
            mr.failed[f"lookup failed: {type(e).__name__}"] += len(pcs)
            mr.notes.append(str(e))
            continue
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
    for gb in opened.values():
        close = getattr(gb, "close", None)
        if close is not None:
            with contextlib.suppress(Exception):  # closing is best effort
                close()
    return report


def _lookup(gb: Any, pcs: npt.NDArray[np.uint64], is_ret: list[bool] | None, enc: _LineEncoder) -> list[bytes]:
    """Serialized Line[] per PC (b"" when unknown): one engine lookup per kind of address (call-site
    PCs, raw return addresses), encoded once per distinct chain."""
    out: list[bytes] = [b""] * len(pcs)
    mask = np.array(is_ret, dtype=np.bool_) if is_ret is not None else np.zeros(len(pcs), dtype=np.bool_)
    for want_ret in (False, True):
        idx = np.flatnonzero(mask == want_ret)
        if not len(idx):
            continue
        ids, cols = gb.lookup_columns(pcs[idx], return_address=want_ret)
        blobs = enc.columns(cols)
        blobs.append(b"")  # id -1: unknown
        got = [blobs[int(ids[0])]] if len(ids) == 1 else list(itemgetter(*ids.tolist())(blobs))
        if len(idx) == len(pcs):
            return got
        for k, b in zip(idx.tolist(), got, strict=True):
            out[k] = b
    return out


def _uvarint(x: int) -> bytes:
    """Protobuf varint (negative int64 values: two's complement, 10 bytes)."""
    if 0 <= x < 0x80:
        return _SMALL[x]
    x &= (1 << 64) - 1
    out = bytearray()
    while x >= 0x80:
        out.append((x & 0x7F) | 0x80)
        x >>= 7
    out.append(x)
    return bytes(out)


_SMALL = [bytes((i,)) for i in range(0x80)]
_LINE_TAG = [b"\x22" + bytes((i,)) for i in range(0x80)]  # Location.line (field 4, length-delimited)


class _LineEncoder:
    """Serialized ``Location.line`` entries (field 4) of frame chains given as ChainColumns.

    Functions are interned once per distinct (name, file, start line) row; each row is encoded once
    and a chain's Line[] is the concatenation of its rows. Also records whether every frame had a
    name, a file and a line (the mapping's has_* flags)."""

    def __init__(self, funcs: _Functions) -> None:
        self.funcs = funcs
        self.all_named = self.all_files = self.all_lines = True

    def columns(self, cols: Any) -> list[bytes]:
        """Serialized Line[] of every chain of ``cols``, innermost first."""
        from symkeep.golang.bulk import unique_rows

        if cols.nrows == 0:
            return [b""] * len(cols)
        first, inv = unique_rows([cols.name, cols.file, cols.start_line])
        names, files = cols.names, cols.files
        intern = self.funcs.intern
        heads: list[bytes] = []
        for n, f, sl in zip(cols.name[first].tolist(), cols.file[first].tolist(),
                            cols.start_line[first].tolist(), strict=True):
            name, file = names[n], files[f]
            if file == "?":
                file = ""  # unknown (a function without line tables)
            if not name:
                self.all_named = False
            if not file:
                self.all_files = False
            heads.append(b"\x08" + _uvarint(intern(name, file, sl)))
        lines = cols.line
        if bool((lines <= 0).any()):
            self.all_lines = False
        # the encoded line field once per distinct line value
        ul, linv = np.unique(lines, return_inverse=True)
        lfield = [b"\x10" + _uvarint(ln) if ln else b"" for ln in ul.tolist()]
        tags = _LINE_TAG
        rows = [
            tags[len(body)] + body  # a Line body is < 128 bytes
            for body in (heads[h] + lfield[k] for h, k in zip(inv.tolist(), linv.reshape(-1).tolist(), strict=True))
        ]
        off = cols.off.tolist()
        return [rows[a] if b - a == 1 else b"".join(rows[a:b]) for a, b in zip(off, off[1:], strict=False)]


def _set_flags(
    m: profile_pb2.Mapping,
    locs: list[profile_pb2.Location],
    todo: list[profile_pb2.Location],
    symbolized: npt.NDArray[np.bool_],
    enc: _LineEncoder,
    funcs: _Functions,
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


def default_locator(binaries: list[str], search_dirs: list[str]) -> Locator:
    return Locator(binaries, search_dirs, use_env=True)




def apply_fallback_names(prof: profile_pb2.Profile, names: dict[int, str]) -> int:
    """Give locations that are still unnamed the name an earlier tool printed (perf's kallsyms,
    libc symbols, names in folded stacks). Returns how many were named this way."""
    if not names:
        return 0
    st = StringTable(prof)
    funcs = _Functions(prof, st)
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


@dataclass
class FileResult:
    profile: profile_pb2.Profile
    report: Report
    input_format: str


MAX_INPUT_BYTES = 2 << 30


def detect_input(data: bytes) -> str:
    """'pprof', 'perf' or 'folded' from the bytes; FormatError when none fits."""
    from symkeep.errors import FormatError
    from symkeep.profile.folded import looks_like_folded
    from symkeep.profile.perfscript import looks_like_perf_script
    from symkeep.profile.pprof import is_gzip

    if not data:
        raise FormatError("empty input: not a profile", what="input")
    if is_gzip(data):
        return "pprof"
    head = data[:65536]
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as e:
        # a truncated multi-byte sequence at the cut is fine; anything else is binary
        if e.start < len(head) - 4:
            return "pprof"
        text = head[: e.start].decode("utf-8")
    if "\x00" in text:
        return "pprof"
    if looks_like_perf_script(text):
        return "perf"
    if looks_like_folded(text):
        return "folded"
    return "pprof"


def symbolize_file(
    path: str,
    *,
    binaries: list[str] | None = None,
    search_dirs: list[str] | None = None,
    input_format: str = "auto",
    force: bool = False,
    debuginfod: bool = True,
    opener: BinaryOpener = _open_go,
) -> FileResult:
    """Read any supported input, symbolize it, return the profile and the report."""
    import sys

    from symkeep.errors import FormatError, InputError
    from symkeep.profile.folded import folded_to_profile
    from symkeep.profile.perfscript import parse_perf_script, perf_to_profile
    from symkeep.profile.pprof import parse_profile

    try:
        if path == "-":
            data = sys.stdin.buffer.read(MAX_INPUT_BYTES + 1)
        else:
            with open(path, "rb") as fh:
                data = fh.read(MAX_INPUT_BYTES + 1)
    except IsADirectoryError as e:
        raise InputError(f"{path}: is a directory") from e
    except OSError as e:
        raise InputError(f"{path}: {e.strerror or e}") from e
    if len(data) > MAX_INPUT_BYTES:
        raise LimitError(f"{path}: larger than {MAX_INPUT_BYTES} bytes")
    fmt = detect_input(data) if input_format == "auto" else input_format
    names: dict[int, str] = {}
    rets: set[int] = set()
    if fmt == "pprof":
        prof = parse_profile(data, name=path)
    else:
        try:
            text = data.decode("utf-8", errors="strict")
        except UnicodeDecodeError:
            text = data.decode("latin-1")
        if fmt == "perf":
            prof, names, rets = perf_to_profile(parse_perf_script(text.splitlines()))
        elif fmt == "folded":
            prof, names, rets = folded_to_profile(text.splitlines())
        else:
            raise FormatError(f"unknown input format {fmt!r}")
    locator = Locator(binaries or [], search_dirs or [], debuginfod_urls=None if debuginfod else [])
    report = symbolize_profile(prof, locator, force=force, opener=opener, return_addresses=rets)
    report.named_by_input = apply_fallback_names(prof, names)
    return FileResult(prof, report, fmt)
