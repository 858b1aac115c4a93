"""The caps every profile input is held to, and the checks that name them.

Why one place: a profile can come from a file, stdin or an HTTP body, gzip'd or not; the same caps
must hold on every path so that hostile input (a gzip bomb, a 60,000-character line, a count of 400
digits, a stack of 5,000 frames) ends in a one-line error or a counted skip, in bounded time and
memory. The CLI sets them from ``--max-input``; the server from its own configuration.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from symkeep.errors import FormatError, UsageError

__all__ = ["DEC_DIGITS", "DEFAULT_LIMITS", "HEX_DIGITS", "INT64_MAX", "UINT64_MAX", "Limits", "parse_int_field", "parse_size"]

UINT64_MAX = (1 << 64) - 1
INT64_MAX = (1 << 63) - 1


@dataclass(frozen=True)
class Limits:
    """``max_input``: the memory budget for one input, in bytes. Text inputs (perf script, folded)
    may be that long after decompression (they are read line by line); a pprof profile is refused
    when parsing it could need more (see :func:`symkeep.profile.pprof.parse_budget`).
    ``max_line``: longer text lines are skipped and counted. ``max_frames``: deeper stacks keep
    their leaf-most frames (counted)."""

    max_input: int = 1 << 30
    max_line: int = 1 << 20
    max_frames: int = 4096


DEFAULT_LIMITS = Limits()

_SIZE_RE = re.compile(r"^\s*(\d+)\s*([kmgt]?)(i?b?)\s*$", re.IGNORECASE)


def parse_size(text: str) -> int:
    """'1G', '512M', '1048576', '64KiB' -> bytes (binary multiples); UsageError otherwise."""
    m = _SIZE_RE.match(text)
    if not m or len(m.group(1)) > 20:
        raise UsageError(f"not a size: {text[:40]!r} (use e.g. 512M, 1G or a number of bytes)")
    n = int(m.group(1)) << (10 * " kmgt".index(m.group(2).lower() or " "))
    if n <= 0:
        raise UsageError(f"size must be positive: {text[:40]!r}")
    return n


def parse_int_field(token: str, *, base: int, lo: int, hi: int, line: int, field: str, what: str) -> int:
    """An integer token of a text input, checked against [lo, hi]: FormatError naming the line and
    the field otherwise (never ValueError/OverflowError further down, e.g. in protobuf)."""
    digits = token[2:] if base == 16 and token[:2] in ("0x", "0X") else token
    ok = (HEX_DIGITS if base == 16 else DEC_DIGITS).fullmatch(digits) is not None
    if ok and len(digits) <= _MAX_DIGITS[base]:
        value = int(digits, base)
        if lo <= value <= hi:
            return value
    shown = token if len(token) <= 40 else f"{token[:20]}...({len(token)} characters)"
    if not ok:
        raise FormatError(f"line {line}: {field} {shown!r} is not a whole number", what=what)
    raise FormatError(f"line {line}: {field} {shown!r} out of range [{lo}, {hi}]", what=what)


HEX_DIGITS = re.compile(r"[0-9a-fA-F]+")
DEC_DIGITS = re.compile(r"[0-9]+")
# Longer digit strings are out of any 64-bit range even with leading zeros this many; int() is never
# asked to convert hundreds of digits (CPython refuses more than 4300).
_MAX_DIGITS = {10: 40, 16: 40}
