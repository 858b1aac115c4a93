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

from collections import Counter
from dataclasses import dataclass, field

from symkeep.errors import FormatError
from symkeep.profile import profile_pb2
from symkeep.profile.limits import INT64_MAX, UINT64_MAX
from symkeep.profile.mapping import classify_mapping
from symkeep.profile.pprof import StringTable
from symkeep.profile.report import InputNotes, printable_path

__all__ = ["LoadedInput", "RawProfileBuilder"]

PAGE = 0x1000
MAX_PERIODS = 1024  # distinct periods counted for the profile's period (the most common one)


@dataclass
class LoadedInput:
    """A profile ready for the symbolizer, and what the input said besides (see ``symbolize``)."""

    profile: profile_pb2.Profile
    format: str  # 'pprof', 'perf' or 'folded'
    names: dict[int, str] = field(default_factory=dict)  # location id -> name the input printed
    return_addresses: set[int] = field(default_factory=set)  # location ids holding return addresses
    main_mapping_id: int | None = None
    local_paths: dict[int, str] = field(default_factory=dict)  # mapping id -> exact path (if it differs)
    notes: InputNotes = field(default_factory=InputNotes)
    records_build_ids: bool = True  # False: the format carries none (perf script, folded)
    build_id_source: str = ""  # where build IDs were taken from when the input had none

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
    """Mappings, interned locations and samples of a profile with raw addresses."""

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
        self.mappings: dict[tuple[str, int, int, int], int] = {}
        self.kinds: dict[int, str] = {}
        self.widen: set[int] = set()  # mapping ids whose range is set from the addresses seen
        self.addr_range: dict[int, tuple[int, int]] = {}
        self.locations: dict[tuple[int, int, str, bool], int] = {}
        self.loc_count: Counter[int] = Counter()
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
        key = (mapping_id, address, name if not mapping_id else "", ret)
        lid = self.locations.get(key)
        if lid is None:
            lid = len(self.locations) + 1
            self.locations[key] = lid
            if mapping_id:
                self.prof.location.add(id=lid, mapping_id=mapping_id, address=address)
                if ret:
                    self.out.return_addresses.add(lid)
                lo, hi = self.addr_range.get(mapping_id, (address, address))
                self.addr_range[mapping_id] = (min(lo, address), max(hi, address))
                self.loc_count[mapping_id] += 1
            else:
                self.prof.location.add(id=lid)
            if name:
                self.out.names[lid] = printable_path(name)
        return lid

    def sample(self, ids: list[int], values: list[int], line: int) -> None:
        """One stack (leaf first) with its values; identical stacks are summed when aggregating."""
        self.samples += 1
        if not self.aggregate:
            self.prof.sample.add(location_id=ids, value=values)
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
        """The profile: samples written, unknown mapping ranges set from their addresses.
        ``keep_values``: write only the first N values of each sample (and sample types)."""
        if keep_values is not None and keep_values < self.nvalues:
            del self.prof.sample_type[keep_values:]
        for key, vals in self.stacks.items():
            self.prof.sample.add(location_id=key, value=vals[:keep_values] if keep_values else vals)
        self.stacks.clear()
        for m in self.prof.mapping:
            if m.id in self.widen and m.id in self.addr_range:
                lo, hi = self.addr_range[m.id]
                if self.kinds[m.id] == "file":  # file offsets from 0: [0, end of the last page seen)
                    m.memory_limit = min((hi | (PAGE - 1)) + 1, UINT64_MAX)
                else:
                    m.memory_start, m.memory_limit = lo, min(hi + 1, UINT64_MAX)
        if main_mapping_id is None:
            files = [mid for mid, k in self.kinds.items() if k == "file"]
            main_mapping_id = max(files, key=lambda mid: (self.loc_count[mid], -mid)) if files else None
        self.out.main_mapping_id = main_mapping_id
        return self.out
