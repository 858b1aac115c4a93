"""Read and write pprof ``profile.proto`` files (gzip or plain), with validation.

Protobuf is permissive: almost any byte string parses as *some* message, so after parsing we check the
invariants every pprof consumer relies on (string table starts with "", every index and id resolves,
sample value counts match the sample types). A file that fails them is not a profile: FormatError.
"""

from __future__ import annotations

import gzip
import io
from array import array
from pathlib import Path

import numpy as np
import numpy.typing as npt
from google.protobuf.message import DecodeError

from symkeep.errors import FormatError, LimitError, OutputError
from symkeep.fsio import check_input_file
from symkeep.profile import profile_pb2
from symkeep.profile.limits import DEFAULT_LIMITS, Limits
from symkeep.profile.locations import LocationColumns
from symkeep.profile.streams import CHUNK, Source, gunzip, is_gzip

Profile = profile_pb2.Profile
Mapping = profile_pb2.Mapping
Location = profile_pb2.Location
Function = profile_pb2.Function
Line = profile_pb2.Line
Sample = profile_pb2.Sample
ValueType = profile_pb2.ValueType

__all__ = [
    "MAX_PROFILE_BYTES",
    "validate_tables",
    "Function",
    "Line",
    "Location",
    "Mapping",
    "Profile",
    "Sample",
    "StringTable",
    "ValueType",
    "decompress",
    "is_gzip",
    "parse_budget",
    "parse_profile",
    "read_pprof",
    "read_profile",
    "serialize_profile",
    "validate_profile",
    "write_profile",
]

# Default memory budget for parsing one profile (see parse_budget); the CLI's --max-input.
MAX_PROFILE_BYTES = DEFAULT_LIMITS.max_input

# gzip level for written profiles: on symbolized profiles level 4 is within 0.3% of level 6's size
# at less than half its time (4 MB profile: 0.07 s vs 0.18 s).
COMPRESS_LEVEL = 4

# What the protobuf parser (upb) may allocate, measured: a packed varint of 1 byte becomes 8 bytes;
# each message or string costs 16 to 75 bytes however small it is on the wire (8M two-byte empty
# Locations: 15 MiB of input, 480 MB parsed). Every length-delimited field of profile.proto has a
# one-byte tag (field numbers <= 15), so counting the bytes that could be such a tag bounds the
# number of messages and strings from above, in one C pass.
BYTES_PER_BYTE = 8
BYTES_PER_MESSAGE = 80
_LEN_TAG = bytes(1 if (b & 0x87) == 2 else 0 for b in range(256))


class _Budget:
    """Running upper bound of the parser's memory for the bytes seen so far."""

    def __init__(self, limit: int, name: str) -> None:
        self.limit = limit
        self.name = name
        self.size = 0
        self.messages = 0

    def add(self, data: bytes | bytearray | memoryview) -> None:
        mv = memoryview(data).cast("B")
        for i in range(0, len(mv), CHUNK):  # in slices: no copy of the whole input
            part = mv[i : i + CHUNK]
            self.size += len(part)
            self.messages += bytes(part).translate(_LEN_TAG).count(1)
        est = BYTES_PER_BYTE * self.size + BYTES_PER_MESSAGE * self.messages
        if est > self.limit:
            raise LimitError(
                f"{self.name}: parsing this profile could need more than the {self.limit}-byte memory budget "
                f"(--max-input): {self.size} bytes so far, up to {self.messages} messages"
            )


def parse_budget(size: int, messages: int) -> int:
    """The memory bound the parse is held to: ``8 * size + 80 * messages`` bytes (README "Limits")."""
    return BYTES_PER_BYTE * size + BYTES_PER_MESSAGE * messages


def decompress(data: bytes, limit: int = MAX_PROFILE_BYTES) -> bytes:
    """Gunzip (possibly multi-member) with an output bound: LimitError past ``limit`` bytes."""
    out = bytearray()
    stream = gunzip(io.BytesIO(data), limit)
    while chunk := stream.read(CHUNK):
        out += chunk
    return bytes(out)


def read_pprof(source: Source, limits: Limits = DEFAULT_LIMITS) -> bytearray:
    """The protobuf bytes of a pprof input (gunzipped when needed), read in chunks under the parse
    budget, so a bomb stops early (after at most ``max_input / 8`` bytes) instead of at the end."""
    stream = source.raw()
    if is_gzip(source.head):
        stream = gunzip(stream, limits.max_input, what=source.name)
    budget = _Budget(limits.max_input, source.name)
    out = bytearray()
    while chunk := stream.read(CHUNK):
        if not out:
            _check_first_tag(chunk, source.name)
        budget.add(chunk)
        out += chunk
    return out


def _check_first_tag(data: bytes | bytearray | memoryview, name: str) -> None:
    """A protobuf message starts with a tag: field number >= 1, a known wire type. Zeros (the
    classic bomb payload) and most non-profile files fail here, before anything else is read."""
    t = data[0]
    if t >> 3 == 0 or (t & 7) not in (0, 1, 2, 5):
        raise FormatError(f"not a pprof profile (starts with byte {t:#04x})", what=name)


def parse_profile(
    data: bytes | bytearray | memoryview,
    *,
    validate: bool = True,
    name: str = "profile",
    limits: Limits = DEFAULT_LIMITS,
    budget_checked: bool = False,
) -> profile_pb2.Profile:
    """Parse profile bytes (gzip detected by magic). Raises FormatError when it is not a profile,
    LimitError when it is over the parse budget (``budget_checked``: :func:`read_pprof` did that)."""
    if not len(data):
        raise FormatError("empty input is not a pprof profile", what=name)
    if is_gzip(data):
        raw: bytes | bytearray | memoryview = read_pprof(Source.from_bytes(data, name), limits)
        if not raw:
            raise FormatError("empty input is not a pprof profile", what=name)
    else:
        raw = data
        if not budget_checked:
            _check_first_tag(raw, name)
            _Budget(limits.max_input, name).add(raw)
    prof = profile_pb2.Profile()
    try:
        prof.ParseFromString(raw)
    except (DecodeError, RuntimeError, ValueError) as e:
        raise FormatError(f"not a pprof profile (protobuf decode failed: {e})", what=name) from e
    if validate:
        validate_profile(prof, name=name)
    return prof


def read_profile(path: str | Path, *, validate: bool = True, limits: Limits = DEFAULT_LIMITS) -> profile_pb2.Profile:
    p = check_input_file(path)
    with p.open("rb") as fh:
        src = Source.from_stream(fh, str(p))  # type: ignore[arg-type]
        if not src.head:
            raise FormatError("empty input is not a pprof profile", what=str(p))
        raw = read_pprof(src, limits)
    return parse_profile(raw, validate=validate, name=str(p), limits=limits, budget_checked=True)


def serialize_profile(prof: profile_pb2.Profile, *, compress: bool = True) -> bytes:
    raw: bytes = prof.SerializeToString()
    if not compress:
        return raw
    # mtime=0: identical input gives identical output bytes.
    return gzip.compress(raw, compresslevel=COMPRESS_LEVEL, mtime=0)


def write_profile(prof: profile_pb2.Profile, path: str | Path, *, compress: bool = True) -> None:
    data = serialize_profile(prof, compress=compress)
    try:
        Path(path).write_bytes(data)
    except OSError as e:
        raise OutputError(f"{path}: cannot write: {e.strerror or e}") from e


def validate_tables(prof: profile_pb2.Profile, *, name: str = "profile") -> tuple[set[int], set[int]]:
    """The checks that need no location or sample: the string table, every string index of the
    header, mappings and functions (unique non-zero ids). Returns (mapping ids, function ids).
    Shared with readers that decode locations and samples their own way (``symkeep.flame``)."""
    st = prof.string_table
    nstr = len(st)
    if nstr == 0 or st[0] != "":
        raise FormatError("not a pprof profile: string table missing or does not start with \"\"", what=name)

    def chk(idx: int, what: str) -> None:
        if idx < 0 or idx >= nstr:
            raise FormatError(f"{what} string index {idx} out of range (table has {nstr})", what=name)

    if not prof.sample_type and (prof.sample or prof.location):
        raise FormatError("not a pprof profile: samples but no sample types", what=name)
    for vt in prof.sample_type:
        chk(vt.type, "sample_type")
        chk(vt.unit, "sample_type unit")
    chk(prof.period_type.type, "period_type")
    chk(prof.period_type.unit, "period_type unit")
    chk(prof.drop_frames, "drop_frames")
    chk(prof.keep_frames, "keep_frames")
    chk(prof.default_sample_type, "default_sample_type")
    chk(prof.doc_url, "doc_url")
    for c in prof.comment:
        chk(c, "comment")
    mids = _unique_ids([m.id for m in prof.mapping], "mapping", name)
    for m in prof.mapping:
        chk(m.filename, "mapping filename")
        chk(m.build_id, "mapping build_id")
    fids = _unique_ids([f.id for f in prof.function], "function", name)
    for f in prof.function:
        chk(f.name, "function name")
        chk(f.system_name, "function system_name")
        chk(f.filename, "function filename")
    return mids, fids


def validate_profile(prof: profile_pb2.Profile, *, name: str = "profile") -> LocationColumns:
    """Check the structural invariants of a profile (google/pprof's ``Profile.CheckValid`` and more);
    returns its locations as columns (read once, for the caller to reuse)."""
    mids, fids = validate_tables(prof, name=name)
    nstr = len(prof.string_table)

    def chk(idx: int, what: str) -> None:
        if idx < 0 or idx >= nstr:
            raise FormatError(f"{what} string index {idx} out of range (table has {nstr})", what=name)

    # Locations and samples are the bulk (10^5..10^6 entries): read them as columns, without holding
    # a message object each (see symkeep.profile.locations), check with numpy, and look for the
    # culprit (for the message) only when a check fails.
    cols = LocationColumns.read(prof)
    _unique_ids(cols.ids, "location", name)
    mid_arr = np.fromiter(mids, dtype=np.uint64, count=len(mids))
    bad = ~np.isin(cols.mapping_ids, mid_arr) & (cols.mapping_ids != 0)
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        raise FormatError(f"location {cols.ids[k]} refers to unknown mapping {cols.mapping_ids[k]}", what=name)
    fid_arr = np.fromiter(fids, dtype=np.uint64, count=len(fids))
    bad = ~np.isin(cols.line_function, fid_arr) & (cols.line_function != 0)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        k = int(np.searchsorted(cols.line_start, row, side="right")) - 1
        raise FormatError(f"location {cols.ids[k]} refers to unknown function {cols.line_function[row]}", what=name)
    nvals = len(prof.sample_type)
    used = array("Q")
    for i, smp in enumerate(prof.sample):
        if len(smp.value) != nvals:
            raise FormatError(f"sample {i} has {len(smp.value)} values, expected {nvals}", what=name)
        used.extend(smp.location_id)
        if smp.label:
            for lb in smp.label:
                chk(lb.key, "label key")
                chk(lb.str, "label str")
                chk(lb.num_unit, "label num_unit")
    if len(used):
        unknown = cols.index_of(np.frombuffer(used, dtype=np.uint64)) < 0
        if unknown.any():
            lid = int(np.frombuffer(used, dtype=np.uint64)[np.flatnonzero(unknown)[0]])
            i = next(i for i, smp in enumerate(prof.sample) if lid in smp.location_id)
            raise FormatError(f"sample {i} refers to unknown location {lid}", what=name)
    return cols


def _unique_ids(ids: list[int] | npt.NDArray[np.uint64], kind: str, name: str) -> set[int]:
    """The set of ``ids`` (empty for numpy columns, checked in bulk); FormatError naming the first
    zero or repeated one (ids must be unique and non-zero: 0 means "none" in every reference)."""
    if isinstance(ids, np.ndarray):
        srt = np.sort(ids)
        if not len(srt) or (int(srt[0]) != 0 and not bool((srt[1:] == srt[:-1]).any())):
            return set()
        ids = ids.tolist()
    out = set(ids)
    if len(out) != len(ids) or 0 in out:
        seen: set[int] = set()
        for i in ids:
            if i == 0 or i in seen:
                raise FormatError(f"{kind} id {i} is zero or duplicated", what=name)
            seen.add(i)
    return out


class StringTable:
    """Interning view over a profile's string table (appends new strings in place)."""

    def __init__(self, prof: profile_pb2.Profile) -> None:
        self.prof = prof
        if not prof.string_table:
            prof.string_table.append("")
        self.index: dict[str, int] = {}
        for i, s in enumerate(prof.string_table):
            self.index.setdefault(s, i)

    def __call__(self, s: str) -> int:
        i = self.index.get(s)
        if i is None:
            i = len(self.prof.string_table)
            self.prof.string_table.append(s)
            self.index[s] = i
        return i

    def get(self, i: int) -> str:
        st = self.prof.string_table
        return st[i] if 0 <= i < len(st) else ""
