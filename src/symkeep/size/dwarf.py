"""DWARF bytes per package: what ``-w`` would save, package by package.

Go writes one compile unit per package, named by its import path: a unit's ``.debug_info`` bytes and
its ``.debug_line`` program go to that package; ``.debug_frame`` FDEs to the function at their start
address; the other DWARF sections (abbrev, str, loc/ranges lists, aranges, ...) are split between
units in proportion to their ``.debug_info`` size (kind ``dwarf shared (proportional)``). Compressed
sections (SHF_COMPRESSED, ``.zdebug``/``__zdebug``) are decompressed to find the units and the
compressed bytes are split in the same proportions.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable

import numpy as np

from symkeep.binfmt import Binary, Section
from symkeep.inspect.retention import DWARF as DWARF_CLASS
from symkeep.inspect.retention import classify
from symkeep.size.ledger import DWARF, Ledger

__all__ = ["claim_dwarf"]

_MAX_DWARF = 1 << 30


def _uleb(d: bytes, p: int) -> tuple[int, int]:
    r = shift = 0
    while True:
        c = d[p]
        p += 1
        r |= (c & 0x7F) << shift
        shift += 7
        if c < 0x80:
            return r, p


def _inflate(data: bytes, size: int) -> bytes:
    """zlib data that the header says inflates to ``size`` bytes: never more than that (a bomb stops)."""
    if size > _MAX_DWARF:
        return b""
    d = zlib.decompressobj()
    return d.decompress(data, size + 1)[:size]


def _payload(b: Binary, s: Section) -> tuple[bytes, int]:
    """Uncompressed section contents and the size of the compression header in the file."""
    raw = bytes(b.view(s.offset, s.file_size, what=s.name))
    if s.name.startswith((".zdebug", "__zdebug")) and raw[:4] == b"ZLIB":
        return _inflate(raw[12:], struct.unpack(">Q", raw[4:12])[0]), 12
    if s.compressed and b.format == "elf":
        bo = "<" if b.byteorder == "little" else ">"
        if b.bits == 64:
            ctype, _r, size, _al = struct.unpack(bo + "IIQQ", raw[:24])
            hdr = 24
        else:
            ctype, size, _al = struct.unpack(bo + "III", raw[:12])
            hdr = 12
        if ctype != 1:
            return b"", 0
        return _inflate(raw[hdr:], size), hdr
    return raw, 0


_FORM_FIXED = {0x0B: 1, 0x05: 2, 0x06: 4, 0x07: 8, 0x0C: 1, 0x11: 1, 0x12: 2, 0x13: 4, 0x14: 8, 0x19: 0,
               0x25: 1, 0x26: 2, 0x27: 3, 0x28: 4, 0x29: 1, 0x2A: 2, 0x2B: 3, 0x2C: 4, 0x20: 8, 0x1E: 16, 0x21: 0}


def _first_die(info: bytes, p: int, end: int, version: int, addr_size: int, abbrev: bytes, aoff: int,
               strs: bytes, line_strs: bytes) -> tuple[str, int | None]:
    """DW_AT_name and DW_AT_stmt_list of the unit DIE at ``info[p:]``."""
    code, p = _uleb(info, p)
    q = aoff
    while q < len(abbrev):
        c, q = _uleb(abbrev, q)
        if c == 0:
            break
        _tag, q = _uleb(abbrev, q)
        q += 1  # children flag
        attrs = []
        while True:
            at, q = _uleb(abbrev, q)
            form, q = _uleb(abbrev, q)
            if form == 0x21:
                _, q = _uleb(abbrev, q)
            if at == 0 and form == 0:
                break
            attrs.append((at, form))
        if c != code:
            continue
        name, stmt = "", None
        for at, form in attrs:
            val: object = None
            if form == 0x08:
                e = info.index(b"\0", p)
                val = info[p:e].decode("utf-8", "replace")
                p = e + 1
            elif form in (0x0E, 0x1F, 0x17, 0x10):
                o = struct.unpack_from("<I", info, p)[0]
                p += 4
                if form == 0x0E:
                    val = strs[o:strs.find(b"\0", o)].decode("utf-8", "replace")
                elif form == 0x1F:
                    val = line_strs[o:line_strs.find(b"\0", o)].decode("utf-8", "replace")
                else:
                    val = o
            elif form == 0x01:
                p += addr_size
            elif form in (0x0F, 0x0D, 0x15, 0x1A, 0x1B):
                val, p = _uleb(info, p)
            elif form in (0x0A, 0x03, 0x04, 0x09, 0x18):
                ln_size = {0x0A: 1, 0x03: 2, 0x04: 4}.get(form)
                if ln_size:
                    ln = int.from_bytes(info[p:p + ln_size], "little")
                    p += ln_size
                else:
                    ln, p = _uleb(info, p)
                p += ln
            elif form in _FORM_FIXED:
                sz = _FORM_FIXED[form]
                if sz in (1, 2, 4, 8) and form in (0x0B, 0x05, 0x06, 0x07):
                    val = int.from_bytes(info[p:p + sz], "little")
                p += sz
            else:
                return name, stmt  # a form we do not walk: keep what we have
            if at == 0x03 and isinstance(val, str):
                name = val
            elif at == 0x10 and isinstance(val, int):
                stmt = val
        return name, stmt
    return "", None


def _split(led: Ledger, s: Section, hdr: int, usize: int, parts: list[tuple[int, int, str]], kind: str) -> None:
    """Claim file bytes of section ``s`` for uncompressed ranges ``parts`` (scaled when compressed)."""
    if not parts:
        return
    body = s.file_size - hdr
    k = body / usize if usize else 0.0
    a = np.array([x[0] for x in parts], dtype=np.float64)
    e = np.array([x[1] for x in parts], dtype=np.float64)
    fa = s.offset + hdr + np.floor(a * k).astype(np.int64)
    fe = s.offset + hdr + np.floor(e * k).astype(np.int64)
    led.claim_many(fa, fe, [x[2] for x in parts], None, DWARF, kind)


def claim_dwarf(b: Binary, led: Ledger, package_at: Callable[[int], str] | None) -> dict[str, int]:
    """Claim DWARF bytes per package (see module doc); returns unit counts for the report."""
    secs = {s.name.lstrip("._").replace("zdebug", "debug"): s for s in b.sections() if classify(s) == DWARF_CLASS}
    if "debug_info" not in secs:
        return {}
    try:
        pay = {k: _payload(b, s) for k, s in secs.items()}
    except (zlib.error, struct.error, ValueError):
        return {}
    info, ihdr = pay["debug_info"]
    abbrev = pay.get("debug_abbrev", (b"", 0))[0]
    strs = pay.get("debug_str", (b"", 0))[0]
    lstrs = pay.get("debug_line_str", (b"", 0))[0]
    units: list[tuple[int, int, str]] = []
    stmt_of: dict[int, str] = {}
    p = 0
    try:
        while p + 11 <= len(info):
            ln = struct.unpack_from("<I", info, p)[0]
            if ln >= 0xFFFFFFF0 or ln == 0:
                break
            end = p + 4 + ln
            version = struct.unpack_from("<H", info, p + 4)[0]
            if version >= 5:
                addr_size = info[p + 7]
                aoff = struct.unpack_from("<I", info, p + 8)[0]
                q = p + 12
            else:
                aoff = struct.unpack_from("<I", info, p + 6)[0]
                addr_size = info[p + 10]
                q = p + 11
            name, stmt = _first_die(info, q, end, version, addr_size, abbrev, aoff, strs, lstrs)
            pk = name or "(dwarf unit)"
            units.append((p, end, pk))
            if stmt is not None:
                stmt_of[stmt] = pk
            p = end
    except (IndexError, ValueError, struct.error):
        pass
    _split(led, secs["debug_info"], ihdr, len(info), units, ".debug_info")
    if "debug_line" in pay:
        line, lhdr = pay["debug_line"]
        progs = []
        p = 0
        while p + 4 <= len(line):
            ln = struct.unpack_from("<I", line, p)[0]
            if ln == 0 or ln >= 0xFFFFFFF0:
                break
            progs.append((p, p + 4 + ln, stmt_of.get(p, "(dwarf line)")))
            p += 4 + ln
        _split(led, secs["debug_line"], lhdr, len(line), progs, ".debug_line")
    if "debug_frame" in pay and package_at is not None:
        fr, fhdr = pay["debug_frame"]
        ents = []
        p = 0
        asz = 8 if b.bits == 64 else 4
        bo = "<" if b.byteorder == "little" else ">"
        while p + 8 <= len(fr):
            ln, cid = struct.unpack_from(bo + "II", fr, p)
            if ln == 0 or ln >= 0xFFFFFFF0:
                break
            if cid != 0xFFFFFFFF and p + 8 + asz <= len(fr):
                pc = struct.unpack_from(bo + ("Q" if asz == 8 else "I"), fr, p + 8)[0]
                ents.append((p, p + 4 + ln, package_at(pc)))
            p += 4 + ln
        _split(led, secs["debug_frame"], fhdr, len(fr), ents, ".debug_frame")
    # everything else: proportional to each package's .debug_info bytes
    weights: dict[str, int] = {}
    for a, e, pk in units:
        weights[pk] = weights.get(pk, 0) + (e - a)
    tot = sum(weights.values())
    if tot:
        for key, s in secs.items():
            if key in ("debug_info", "debug_line") or (key == "debug_frame" and package_at is not None):
                continue
            data, hdr = pay[key]
            pos = 0
            parts = []
            for pk, w in sorted(weights.items()):
                n = len(data) * w // tot
                parts.append((pos, pos + n, pk))
                pos += n
            if parts:
                parts[-1] = (parts[-1][0], len(data), parts[-1][2])
            _split(led, s, hdr, len(data), parts, "dwarf shared (proportional)")
    return {"dwarf_units": len(units)}
