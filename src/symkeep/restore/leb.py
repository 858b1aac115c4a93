"""LEB128 encoders (hot path of the DWARF writers: small values are memoized)."""

from __future__ import annotations

_ULEB_CACHE: list[bytes] = []
_SLEB_CACHE: dict[int, bytes] = {}


def _uleb_slow(v: int) -> bytes:
    if v < 0:
        raise ValueError("uleb128 of a negative value")
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _sleb_slow(v: int) -> bytes:
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if (v == 0 and not b & 0x40) or (v == -1 and b & 0x40):
            out.append(b)
            return bytes(out)
        out.append(b | 0x80)


_ULEB_CACHE = [_uleb_slow(i) for i in range(1 << 14)]
for _i in range(-8192, 8192):
    _SLEB_CACHE[_i] = _sleb_slow(_i)


def uleb(v: int) -> bytes:
    if 0 <= v < 16384:
        return _ULEB_CACHE[v]
    return _uleb_slow(v)


def sleb(v: int) -> bytes:
    b = _SLEB_CACHE.get(v)
    return b if b is not None else _sleb_slow(v)
