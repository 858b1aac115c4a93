"""A tiny reader/rewriter for pprof's profile.proto (gzip + protobuf), enough for the matrix probes.

The matrix needs two things: which of a program's own functions a runtime profile names (and their
lines), and the same profile with every name and line removed, to see whether external tools can
symbolize the raw addresses from the binary alone. Field numbers: FACTS.md section 5.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field

from symkeep.errors import FormatError

__all__ = ["Profile", "parse_profile", "strip_symbols"]


def _uvarint(buf: bytes, pos: int) -> tuple[int, int]:
    shift = 0
    val = 0
    while True:
        if pos >= len(buf):
            raise FormatError("truncated varint", pos, None, "profile")
        b = buf[pos]
        pos += 1
        val |= (b & 0x7F) << shift
        if b < 0x80:
            return val, pos
        shift += 7
        if shift > 63:
            raise FormatError("varint too long", pos, None, "profile")


def _fields(buf: bytes) -> Iterator[tuple[int, int, int | bytes, int, int]]:
    """(field number, wire type, value, start, end) for each field of one message."""
    pos = 0
    while pos < len(buf):
        start = pos
        key, pos = _uvarint(buf, pos)
        fn, wt = key >> 3, key & 7
        val: int | bytes
        if wt == 0:
            val, pos = _uvarint(buf, pos)
        elif wt == 2:
            n, pos = _uvarint(buf, pos)
            if pos + n > len(buf):
                raise FormatError("length-delimited field past end", pos, n, "profile")
            val = buf[pos : pos + n]
            pos += n
        elif wt == 1:
            val = int.from_bytes(buf[pos : pos + 8], "little")
            pos += 8
        elif wt == 5:
            val = int.from_bytes(buf[pos : pos + 4], "little")
            pos += 4
        else:
            raise FormatError("unsupported wire type", start, wt, "profile")
        yield fn, wt, val, start, pos


def _ints(wt: int, val: int | bytes) -> list[int]:
    if isinstance(val, int):
        return [val]
    out, p = [], 0
    while p < len(val):
        v, p = _uvarint(val, p)
        out.append(v)
    return out


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
        out = []
        for fid, line in lines:
            name, file = self.functions.get(fid, ("", ""))
            out.append((name, file, line))
        return out


def _gunzip(data: bytes) -> bytes:
    if data[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as e:
            raise FormatError(f"bad gzip: {e}", 0, None, "profile") from e
    return data


def parse_profile(data: bytes) -> Profile:
    buf = _gunzip(data)
    p = Profile()
    raw_funcs: list[tuple[int, int, int]] = []
    for fn, _wt, val, _, _ in _fields(buf):
        if fn == 6 and isinstance(val, bytes):
            p.strings.append(val.decode("utf-8", "replace"))
        elif fn == 2 and isinstance(val, bytes):
            locs: list[int] = []
            for f2, w2, v2, _, _ in _fields(val):
                if f2 == 1:
                    locs.extend(_ints(w2, v2))
            p.samples.append(locs)
        elif fn == 3 and isinstance(val, bytes):
            m: dict[str, int | str | bool] = {}
            names = {1: "id", 2: "start", 3: "limit", 4: "offset", 5: "filename", 6: "build_id"}
            for f2, _w2, v2, _, _ in _fields(val):
                if f2 in names and isinstance(v2, int):
                    m[names[f2]] = v2
                elif f2 in (7, 8, 9, 10):
                    m[{7: "has_functions", 8: "has_filenames", 9: "has_lines", 10: "has_inline"}[f2]] = bool(v2)
            p.mappings.append(m)
        elif fn == 4 and isinstance(val, bytes):
            lid = addr = mid = 0
            lines: list[tuple[int, int]] = []
            for f2, _w2, v2, _, _ in _fields(val):
                if f2 == 1 and isinstance(v2, int):
                    lid = v2
                elif f2 == 2 and isinstance(v2, int):
                    mid = v2
                elif f2 == 3 and isinstance(v2, int):
                    addr = v2
                elif f2 == 4 and isinstance(v2, bytes):
                    fid = ln = 0
                    for f3, _w3, v3, _, _ in _fields(v2):
                        if f3 == 1 and isinstance(v3, int):
                            fid = v3
                        elif f3 == 2 and isinstance(v3, int):
                            ln = v3
                    lines.append((fid, ln))
            p.locations[lid] = (addr, mid, lines)
        elif fn == 5 and isinstance(val, bytes):
            fid = name = file = 0
            for f2, _w2, v2, _, _ in _fields(val):
                if f2 == 1 and isinstance(v2, int):
                    fid = v2
                elif f2 == 2 and isinstance(v2, int):
                    name = v2
                elif f2 == 4 and isinstance(v2, int):
                    file = v2
            raw_funcs.append((fid, name, file))
    for fid, name, file in raw_funcs:
        s = p.strings
        p.functions[fid] = (s[name] if name < len(s) else "", s[file] if file < len(s) else "")
    for m in p.mappings:
        for k in ("filename", "build_id"):
            v = m.get(k)
            if isinstance(v, int) and not isinstance(v, bool):
                m[k] = p.strings[v] if v < len(p.strings) else ""
    return p


def strip_symbols(data: bytes) -> bytes:
    """The same profile with functions, lines and the mappings' has_* flags removed (gzipped).

    pprof then has to symbolize every address from the binary, as for a profile from perf or eBPF.
    """
    buf = _gunzip(data)
    out = bytearray()
    for fn, _wt, val, start, end in _fields(buf):
        if fn == 5:
            continue
        if fn in (3, 4) and isinstance(val, bytes):
            keep = (1, 2, 3, 4, 5, 6) if fn == 3 else (1, 2, 3)
            body = b"".join(val[s:e] for f2, _w, _v, s, e in _fields(val) if f2 in keep)
            out += _key(fn, 2) + _varint(len(body)) + body
        else:
            out += buf[start:end]
    return gzip.compress(bytes(out))


def _varint(v: int) -> bytes:
    b = bytearray()
    while True:
        if v < 0x80:
            b.append(v)
            return bytes(b)
        b.append((v & 0x7F) | 0x80)
        v >>= 7


def _key(fn: int, wt: int) -> bytes:
    return _varint(fn << 3 | wt)
