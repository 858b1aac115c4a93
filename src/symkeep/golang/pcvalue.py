"""pcvalue programs: the compact (value delta, pc delta) varint streams behind pcsp/pcfile/pcln/pcdata.

A table is decoded once per function into parallel lists ``ends``/``values``: ``values[i]`` applies to
``[ends[i-1], ends[i])`` (the first range starts at the function entry). Decoding stops at the end
marker, at the end of the buffer, or once the pc passes ``limit`` (a hostile table cannot loop).
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass

from symkeep.errors import FormatError

__all__ = ["PCTable", "decode_pcvalue", "decode_pcvalue_lists", "EMPTY_TABLE"]


@dataclass(frozen=True, slots=True)
class PCTable:
    """A decoded pcvalue table of one function."""

    start: int
    ends: tuple[int, ...]
    values: tuple[int, ...]

    def value_at(self, pc: int) -> int:
        """Value at ``pc`` or -1 when the table does not cover it (what the runtime returns)."""
        if pc < self.start:
            return -1
        i = bisect_right(self.ends, pc)
        if i >= len(self.ends):
            return -1
        return self.values[i]

    @property
    def end(self) -> int:
        return self.ends[-1] if self.ends else self.start

    def breakpoints(self) -> tuple[int, ...]:
        return self.ends


EMPTY_TABLE = PCTable(0, (), ())


def _uvarint_slow(data: bytes | bytearray | memoryview, p: int, first: int) -> tuple[int, int]:
    """Rest of a multi-byte uvarint whose first byte was ``first``; p = -1 when truncated."""
    v = first & 0x7F
    shift = 7
    n = len(data)
    while True:
        if p >= n:
            return 0, -1
        b = data[p]
        p += 1
        v |= (b & 0x7F) << shift
        if b < 0x80:
            return v, p
        shift += 7
        if shift > 35:
            raise FormatError("pcvalue varint too long", p, what="pctab")


def decode_pcvalue(
    buf: bytes | bytearray | memoryview, off: int, entry: int, quantum: int, limit: int
) -> PCTable:
    """Decode the pcvalue program at ``buf[off:]`` for a function starting at ``entry``.

    ``limit`` bounds the pc (normally the next function's entry): ranges past it are dropped.
    ``off == 0`` means "no table" (the runtime answers -1 everywhere).
    """
    if off == 0:
        return PCTable(entry, (), ())
    ends, values = decode_pcvalue_lists(buf, off, entry, quantum, limit)
    return PCTable(entry, tuple(ends), tuple(values))


def decode_pcvalue_lists(
    data: bytes | bytearray | memoryview, off: int, entry: int, quantum: int, limit: int
) -> tuple[list[int], list[int]]:
    """:func:`decode_pcvalue` as two plain lists (ends, values): the hot path of bulk decoding.

    Tight loop: one-byte varints inline, int32 wrap-around checked only when the value leaves the
    int32 range. The work is bounded by the function, not by the buffer: a table cannot have more
    pairs than the function has PC quanta (+1), so a hostile stream that never ends (pc delta 0
    forever) stops there instead of running to the end of the pctab for every function."""
    n = len(data)
    if off < 0 or off >= n:
        raise FormatError("pcvalue table offset out of range", off, what="pctab")
    ends: list[int] = []
    values: list[int] = []
    ea = ends.append
    va = values.append
    pc = entry
    val = -1
    p = off
    first = True
    budget = max(limit - entry, 0) // quantum + 2  # pairs this function can hold
    while p < n:
        budget -= 1
        if budget < 0:
            break
        # value delta (uvarint; one byte in the common case)
        uv = data[p]
        p += 1
        if uv >= 0x80:
            uv, p = _uvarint_slow(data, p, uv)
            if p < 0 or (not uv and not first):
                break
            uv &= 0xFFFFFFFF
        elif not uv and not first:
            break
        first = False
        if p >= n:
            break
        ud = data[p]
        p += 1
        if ud >= 0x80:
            ud, p = _uvarint_slow(data, p, ud)
            if p < 0:
                break
        if uv & 1:
            val -= (uv >> 1) + 1
            if val < -0x80000000:  # int32 arithmetic, like the runtime
                val = (val + 0x80000000) % 0x100000000 - 0x80000000
        else:
            val += uv >> 1
            if val > 0x7FFFFFFF:
                val = (val + 0x80000000) % 0x100000000 - 0x80000000
        if ud:
            npc = pc + ud * quantum
            if npc >= limit:
                if limit > pc:
                    ea(limit)
                    va(val)
                break
            ea(npc)
            va(val)
            pc = npc
        elif pc >= limit:
            break
    return ends, values
