"""The two views of a pprof profile the matrix probes need, on top of `symkeep.profile.pprof`.

Which of a program's own functions a runtime profile names (and their lines), and the same profile
with every name and line removed, to see whether external tools can symbolize the raw addresses
from the binary alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from symkeep.profile.pprof import parse_profile as _parse_pb
from symkeep.profile.pprof import serialize_profile

__all__ = ["Profile", "parse_profile", "strip_symbols"]


@dataclass
class Profile:
    strings: list[str] = field(default_factory=list)
    mappings: list[dict[str, int | str | bool]] = field(default_factory=list)
    # location id -> (address, mapping id, [(function id, line)] innermost first)
    locations: dict[int, tuple[int, int, list[tuple[int, int]]]] = field(default_factory=dict)
    functions: dict[int, tuple[str, str]] = field(default_factory=dict)  # id -> (name, file)
    samples: list[list[int]] = field(default_factory=list)  # location ids, leaf first

    def frames(self, loc_id: int) -> list[tuple[str, str, int]]:
        """(function, file, line) of a location, innermost first."""
        _, _, lines = self.locations.get(loc_id, (0, 0, []))
        return [(*self.functions.get(fid, ("", "")), line) for fid, line in lines]


def parse_profile(data: bytes) -> Profile:
    """Decode (gzip or plain) profile bytes; malformed input raises FormatError."""
    pb = _parse_pb(data)
    s = list(pb.string_table)

    def st(i: int) -> str:
        return s[i] if 0 <= i < len(s) else ""

    p = Profile(strings=s)
    p.samples = [list(x.location_id) for x in pb.sample]
    p.mappings = [
        {"id": m.id, "start": m.memory_start, "limit": m.memory_limit, "offset": m.file_offset,
         "filename": st(m.filename), "build_id": st(m.build_id), "has_functions": m.has_functions,
         "has_filenames": m.has_filenames, "has_lines": m.has_line_numbers, "has_inline": m.has_inline_frames}
        for m in pb.mapping
    ]
    p.locations = {
        loc.id: (loc.address, loc.mapping_id, [(ln.function_id, ln.line) for ln in loc.line])
        for loc in pb.location
    }
    p.functions = {f.id: (st(f.name), st(f.filename)) for f in pb.function}
    return p


def strip_symbols(data: bytes) -> bytes:
    """The same profile with functions, lines and the mappings' has_* flags removed (gzipped).

    pprof then has to symbolize every address from the binary, as for a profile from perf or eBPF.
    """
    pb = _parse_pb(data)
    del pb.function[:]
    for loc in pb.location:
        del loc.line[:]
    for m in pb.mapping:
        m.has_functions = m.has_filenames = m.has_line_numbers = m.has_inline_frames = False
    return serialize_profile(pb, compress=True)
