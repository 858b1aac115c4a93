"""Building a raw-address pprof profile from text inputs (perf script, folded stacks).

Both converters stream their input line by line into a :class:`RawProfileBuilder`, which keeps only
what the output needs: one Mapping per distinct (file, range), one Location per distinct address
(interned), and one Sample per distinct stack (perf; identical stacks are summed) or per line
(folded). Memory is O(distinct locations + distinct stacks), never O(input lines).

The converters touch no file system: a dso path is only a name here; the resolver decides which
file, if any, it means. Paths that are not valid UTF-8 keep their bytes (surrogate escapes) in
:attr:`LoadedInput.local_paths`, while the profile, whose strings must be UTF-8, shows ``\\xNN``.
"""

from __future__ import annotations

from array import array
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from symkeep.errors import FormatError
from symkeep.profile import profile_pb2
from symkeep.profile.limits import INT64_MAX, UINT64_MAX
from symkeep.profile.locations import LocationColumns, encode_locations, encode_samples
from symkeep.profile.mapping import classify_mapping
from symkeep.profile.pprof import StringTable
from symkeep.profile.report import InputNotes, printable_path

__all__ = ["LoadedInput", "RawProfileBuilder"]

PAGE = 0x1000
SAMPLE_CHUNK = 1 << 16  # samples encoded per numpy pass
MAX_PERIODS = 1024  # distinct periods counted for the profile's period (the most common one)


@dataclass
class LoadedInput:
    """A profile ready for the symbolizer, and what the input said besides (see ``symbolize``).

    ``columns`` caches the profile's locations as numpy columns (read once); ``return_mask[k]``
    says location ``k`` holds a raw return address (the text converters flag callers; Go's pprof
    locations already point into the call instruction)."""

    profile: profile_pb2.Profile
    format: str  # 'pprof', 'perf' or 'folded'
    names: dict[int, str] = field(default_factory=dict)  # location id -> name the input printed
    main_mapping_id: int | None = None
    local_paths: dict[int, str] = field(default_factory=dict)  # mapping id -> exact path (if it differs)
    notes: InputNotes = field(default_factory=InputNotes)
    records_build_ids: bool = True  # False: the format carries none (perf script, folded)
    build_id_source: str = ""  # where build IDs were taken from when the input had none
    columns: LocationColumns | None = None
    return_mask: npt.NDArray[np.bool_] | None = None

    def location_columns(self) -> LocationColumns:
        if self.columns is None or len(self.columns) != len(self.profile.location):
            self.columns = LocationColumns.read(self.profile)
        return self.columns

    def set_build_ids(self, ids: dict[str, str], source: str) -> int:
        """Give file mappings the build IDs recorded elsewhere (a perf.data file), keyed by path.
        Returns how many mappings got one."""
        self.build_id_source = source
        st = StringTable(self.profile)
        n = 0
        for m in self.profile.mapping:
            path = self.local_paths.get(m.id, st.get(m.filename))
            bid = ids.get(path)
            if bid and not st.get(m.build_id):
                m.build_id = st(bid)
                n += 1
        return n


class RawProfileBuilder:
    """Mappings, interned locations (kept as columns until the end) and samples of a profile with
    raw addresses."""

    def __init__(self, fmt: str, value_types: list[tuple[str, str]], *, aggregate: bool) -> None:
        self.prof = profile_pb2.Profile()
        self.st = StringTable(self.prof)
        self.fmt = fmt
        for t, u in value_types:
            self.prof.sample_type.add(type=self.st(t), unit=self.st(u))
        self.nvalues = len(value_types)
        self.aggregate = aggregate
        self.stacks: dict[tuple[int, ...], list[int]] = {}
        self.samples = 0
        # samples as flat arrays until the end (bulk-encoded then, like the locations)
        self.s_ids = array("Q")
        self.s_off = array("q", [0])
        self.s_vals = array("q")
        self.mappings: dict[tuple[str, int, int, int], int] = {}
        self.kinds: dict[int, str] = {}
        self.widen: set[int] = set()  # mapping ids whose range is set from the addresses seen
        # location ids by mapping, then by address * 2 + (1 if a return address); by name when the
        # location has no mapping (int keys: a tuple per location would cost twice the memory)
        self.locations: dict[int, dict[int, int]] = {}
        self.by_name: dict[str, int] = {}
        self.loc_mid = array("Q")
        self.loc_addr = array("Q")
        self.loc_ret = bytearray()
        self.out = LoadedInput(self.prof, fmt, records_build_ids=False)
        self.periods: Counter[int] = Counter()

    def mapping(self, path: str, start: int = 0, limit: int = 0, offset: int = 0, *, widen: bool = False) -> int:
        """Id of the mapping for ``path`` (exact, possibly with surrogate escapes) and range.
        ``widen``: the range is unknown; it becomes the page-rounded span of the addresses seen."""
        key = (path, start, limit, offset)
        mid = self.mappings.get(key)
        if mid is None:
            mid = len(self.mappings) + 1
            self.mappings[key] = mid
            shown = printable_path(path)
            if shown != path:
                self.out.local_paths[mid] = path
            self.prof.mapping.add(id=mid, memory_start=start, memory_limit=limit, file_offset=offset, filename=self.st(shown))
            self.kinds[mid] = classify_mapping(path, start)
            if widen:
                self.widen.add(mid)
        return mid

    def location(self, mapping_id: int, address: int, *, ret: bool = False, name: str = "") -> int:
        """Id of the location at ``address`` of a mapping (0: no mapping, then ``name`` is the key)."""
        if mapping_id:
            table = self.locations.setdefault(mapping_id, {})
            key = address * 2 + ret
            lid = table.get(key)
        else:
            lid = self.by_name.get(name)
        if lid is None:
            lid = len(self.loc_mid) + 1
            if mapping_id:
                table[key] = lid
            else:
                self.by_name[name] = lid
            self.loc_mid.append(mapping_id)
            self.loc_addr.append(address)
            self.loc_ret.append(bool(mapping_id and ret))
            if name:
                self.out.names[lid] = printable_path(name)
        return lid

    def sample(self, ids: list[int], values: list[int], line: int) -> None:
        """One stack (leaf first) with its values; identical stacks are summed when aggregating."""
        self.samples += 1
        if not self.aggregate:
            self.s_ids.extend(ids)
            self.s_off.append(len(self.s_ids))
            self.s_vals.extend(values)
            return
        key = tuple(ids)
        have = self.stacks.get(key)
        if have is None:
            self.stacks[key] = list(values)
            return
        for i, v in enumerate(values):
            have[i] += v
            if have[i] > INT64_MAX:
                raise FormatError(f"line {line}: the values of one stack add up past 2^63-1", what=self.fmt)

    def note_period(self, period: int) -> None:
        if period in self.periods or len(self.periods) < MAX_PERIODS:
            self.periods[period] += 1

    def finish(self, *, main_mapping_id: int | None = None, keep_values: int | None = None) -> LoadedInput:
        """The profile: locations and samples written, unknown mapping ranges set from their
        addresses. ``keep_values``: write only the first N values of each sample (and sample types)."""
        for key, summed in self.stacks.items():
            self.s_ids.extend(key)
            self.s_off.append(len(self.s_ids))
            self.s_vals.extend(summed)
        self.stacks.clear()
        nv = self.nvalues
        vals = np.frombuffer(self.s_vals, dtype=np.int64).reshape(-1, nv) if self.s_vals else np.zeros((0, nv), np.int64)
        if keep_values is not None and keep_values < nv:
            del self.prof.sample_type[keep_values:]
            vals = vals[:, :keep_values]
        ids = np.frombuffer(self.s_ids, dtype=np.uint64) if self.s_ids else np.zeros(0, dtype=np.uint64)
        off = np.frombuffer(self.s_off, dtype=np.int64)
        for a in range(0, len(off) - 1, SAMPLE_CHUNK):  # in chunks: bounded temporaries
            b = min(a + SAMPLE_CHUNK, len(off) - 1)
            self.prof.MergeFromString(encode_samples(ids[off[a]:off[b]], off[a:b + 1] - off[a], vals[a:b]))
        del ids, off, vals
        self.s_ids, self.s_off, self.s_vals = array("Q"), array("q", [0]), array("q")
        self.locations.clear()
        self.by_name.clear()
        n = len(self.loc_mid)
        mids = np.frombuffer(self.loc_mid, dtype=np.uint64) if n else np.zeros(0, dtype=np.uint64)
        addrs = np.frombuffer(self.loc_addr, dtype=np.uint64) if n else np.zeros(0, dtype=np.uint64)
        ids = np.arange(1, n + 1, dtype=np.uint64)
        self.prof.MergeFromString(encode_locations(ids, mids, addrs))
        self._set_ranges(mids, addrs)
        self.out.columns = LocationColumns(ids, mids, addrs, np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.bool_))
        self.out.return_mask = np.frombuffer(bytes(self.loc_ret), dtype=np.bool_) if n else np.zeros(0, dtype=np.bool_)
        if main_mapping_id is None:
            counts = np.bincount(mids.astype(np.int64), minlength=len(self.kinds) + 1) if n else None
            files = [mid for mid, k in self.kinds.items() if k == "file"]
            main_mapping_id = (
                max(files, key=lambda mid: (int(counts[mid]) if counts is not None else 0, -mid)) if files else None
            )
        self.out.main_mapping_id = main_mapping_id
        return self.out

    def _set_ranges(self, mids: npt.NDArray[np.uint64], addrs: npt.NDArray[np.uint64]) -> None:
        if not self.widen or not len(mids):
            return
        order = np.argsort(mids, kind="stable")
        sm, sa = mids[order], addrs[order]
        first = np.flatnonzero(np.r_[True, sm[1:] != sm[:-1]])
        lo, hi = np.minimum.reduceat(sa, first), np.maximum.reduceat(sa, first)
        span = {int(m): (int(a), int(b)) for m, a, b in zip(sm[first].tolist(), lo.tolist(), hi.tolist(), strict=True)}
        for m in self.prof.mapping:
            if m.id in self.widen and m.id in span:
                a, b = span[m.id]
                if self.kinds[m.id] == "file":  # file offsets from 0: [0, end of the last page seen)
                    m.memory_limit = min((b | (PAGE - 1)) + 1, UINT64_MAX)
                else:
                    m.memory_start, m.memory_limit = a, min(b + 1, UINT64_MAX)
