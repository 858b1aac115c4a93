"""addr2line text without numpy: tokens, address parsing, and the text of answers.

Everything here is pure Python so that the warm path of ``symkeep addr2line`` (a symbol index already
built, see :mod:`symkeep.symbolize.quick`) answers small batches without importing numpy, and produces
the very bytes the numpy path (:mod:`symkeep.symbolize.addr2line`) produces: both format chains and
per-address lines with the functions below, so the two cannot drift apart.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "BATCH_BYTES", "LOOKUP_TOKENS", "MAX_TOKEN", "SEPARATORS", "Layout", "TokenStream", "addressed_lines",
    "binutils_value", "json_lines", "json_texts", "parse_address", "shown_token", "split_tokens", "text_texts",
    "unknown_text",
]

# Token separators: the ASCII characters str.split() treats as whitespace. Bytes >= 0x80 are token bytes
# (a token holding them is not an address), so a cut is never inside a UTF-8 sequence.
SEPARATORS = b" \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f"
# A longer token is not an address (binutils reads 99 characters per line); it is answered ?? and its
# bytes are dropped as they arrive, so a hostile stream cannot make one token grow without bound.
MAX_TOKEN = 256
# Bytes of complete tokens per batch (distinct chains are formatted once per batch: larger is faster,
# measured 0.99 s at 2 MiB vs 0.80 s at 4 MiB for 1M PCs of `compile`), and tokens per engine lookup
# (a batch of short hostile tokens like "1\n" is looked up in slices): together they bound the numpy
# temporaries (~60 bytes per token) and the output held at once.
BATCH_BYTES = 1 << 22
LOOKUP_TOKENS = 1 << 19
_LONG_SHOWN = 32  # bytes of an over-long token kept for its answer ("address" in JSON)

_U64 = 1 << 64
_ALL_ONES = _U64 - 1
_TO_NL = bytes.maketrans(SEPARATORS, b"\n" * len(SEPARATORS))
_ADDRESS = re.compile(rb"(?:0[xX])?([0-9a-fA-F]+)")
_PREFIX = re.compile(rb"(?:0[xX])?([0-9a-fA-F]*)")


def parse_address(tok: bytes | str) -> int | None:
    """The address a token names, or None: ``[0x|0X]`` + ASCII hex digits, below 2**64, at most
    :data:`MAX_TOKEN` bytes. Signs, underscores, a second ``0x`` and non-ASCII digits are not addresses
    (Python's ``int(t, 16)`` would accept several of them; binutils does not)."""
    b = tok.encode("utf-8", "surrogateescape") if isinstance(tok, str) else tok
    if len(b) > MAX_TOKEN:
        return None
    m = _ADDRESS.fullmatch(b)
    if m is None:
        return None
    v = int(m.group(1), 16)
    return v if v < _U64 else None


def binutils_value(tok: bytes | str) -> int:
    """What binutils 2.40 ``addr2line -a`` prints for a token: its longest ``[0x]hex`` prefix, 0 when
    there is none (``-1``, ``+10``, ``x10``), all ones when it overflows 64 bits (measured on a real
    binary: ``tests/symbolize/test_addr2line_cli.py``)."""
    b = tok.encode("utf-8", "surrogateescape") if isinstance(tok, str) else tok
    m = _PREFIX.match(b[: MAX_TOKEN + 2])
    digits = m.group(1) if m else b""
    if len(digits) > 16 and digits.lstrip(b"0")[16:]:
        return _ALL_ONES
    return min(int(digits, 16), _ALL_ONES) if digits else 0


class TokenStream:
    """Incremental tokenizer: :meth:`push` raw bytes as they arrive, :meth:`take` the complete tokens.

    Each pushed chunk is scanned a constant number of times (one translate, one find, one rfind); only
    the unfinished last token (at most :data:`MAX_TOKEN` bytes) is carried to the next chunk, so the
    work is linear in the input whatever the read sizes, and memory is bounded by what was pushed since
    the last :meth:`take` plus :data:`MAX_TOKEN`."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self.pending = 0  # bytes of complete tokens waiting in _parts
        self._tail = bytearray()  # the unfinished last token
        self._long: bytes | None = None  # start of an over-long token being dropped

    def push(self, chunk: bytes) -> None:
        if not chunk:
            return
        t = chunk.translate(_TO_NL)
        start = 0
        if self._tail or self._long is not None:
            first = t.find(b"\n")
            if first < 0:
                self._grow(chunk)
                return
            self._grow(chunk[:first])
            self._end_token()
            start = first
        last = t.rfind(b"\n")
        if last < start:  # no separator in the chunk: it starts (or continues) one token
            self._grow(chunk)
            return
        if last + 1 > start:
            self._add(chunk[start : last + 1] if start or last + 1 < len(chunk) else chunk)
        if last + 1 < len(chunk):
            self._grow(chunk[last + 1 :])

    def take(self) -> bytes:
        """The complete tokens pushed so far (with their separators), and forget them."""
        out = self._parts[0] if len(self._parts) == 1 else b"".join(self._parts)
        self._parts = []
        self.pending = 0
        return out

    def close(self) -> bytes:
        """End of input: the last token is complete too."""
        self._end_token()
        return self.take()

    def _add(self, b: bytes) -> None:
        self._parts.append(b)
        self.pending += len(b)

    def _grow(self, b: bytes) -> None:
        if self._long is not None:
            return
        if len(self._tail) + len(b) > MAX_TOKEN:
            self._long = (bytes(self._tail) + b[:_LONG_SHOWN])[:_LONG_SHOWN] + b"..."
            self._tail.clear()
            return
        self._tail += b

    def _end_token(self) -> None:
        if self._long is not None:
            self._add(self._long + b"\n")  # contains '.', so it is answered ??
            self._long = None
        elif self._tail:
            self._add(bytes(self._tail) + b"\n")
            self._tail.clear()


@dataclass(frozen=True)
class Layout:
    """The output options of binutils ``addr2line`` (``-f -i -a -p``) plus NDJSON and address kinds."""

    functions: bool = False
    inlines: bool = False
    addresses: bool = False
    pretty: bool = False
    json: bool = False
    return_addresses: bool = False  # look up ADDR-1 (return addresses from stacks)
    offsets: bool = False  # addresses are file offsets: map them through the program headers first


def split_tokens(buf: bytes) -> list[bytes]:
    """The tokens of a buffer (separators: :data:`SEPARATORS`)."""
    return buf.translate(_TO_NL).split()


def shown_token(tok: bytes) -> bytes:
    """A token as answers show it: one over :data:`MAX_TOKEN` bytes as its start + ``...``."""
    return tok if len(tok) <= MAX_TOKEN else tok[:_LONG_SHOWN] + b"..."


def unknown_text(layout: Layout) -> str:
    """The answer for an unknown address or a token that is not one."""
    if layout.json:
        return "[]"
    if layout.pretty:
        return ("?? " if layout.functions else "") + "??:0\n"
    return ("??\n" if layout.functions else "") + "??:0\n"


def json_texts(off: Sequence[int], name: Sequence[int], file: Sequence[int], line: Sequence[int],
               start_line: Sequence[int], inlined: Sequence[bool], names: Sequence[str], files: Sequence[str]
               ) -> list[str]:
    """The JSON frame list of every chain (chain ``c`` = rows ``off[c]:off[c + 1]``)."""
    jn = [json.dumps(x) for x in names]
    jf = [json.dumps(x) for x in files]
    jrows = [
        f'{{"function": {jn[n]}, "file": {jf[f]}, "line": {ln}, "start_line": {sl}, "inlined": '
        + ("true}" if il else "false}")
        for n, f, ln, sl, il in zip(name, file, line, start_line, inlined, strict=True)
    ]
    return ["[" + ", ".join(jrows[a:b]) + "]" for a, b in zip(off, off[1:], strict=False)]


def text_texts(layout: Layout, off: Sequence[int], name: Sequence[int], file: Sequence[int], line: Sequence[int],
               names: Sequence[str], files: Sequence[str]) -> list[str]:
    """The binutils text of every chain. Without ``-i`` the caller passes only each chain's innermost
    row (binutils reports the inlined function and its line) and ``off = range(nchain + 1)``."""
    nchain = len(off) - 1
    fs = ["??" if x == "?" else x for x in files]  # binutils' spelling of an unknown file
    fn = layout.functions
    if layout.pretty:
        locs = [f"{fs[f]}:{ln if ln > 0 else 0}" for f, ln in zip(file, line, strict=True)]
        if fn:
            locs = [f"{names[n]} at {loc}" for n, loc in zip(name, locs, strict=True)]
        # the pretty layout puts each inline caller on its own line
        return ["\n (inlined by) ".join(locs[a:b]) + "\n" for a, b in zip(off, off[1:], strict=False)]
    if fn:
        rows = [f"{names[n]}\n{fs[f]}:{ln if ln > 0 else 0}\n" for n, f, ln in zip(name, file, line, strict=True)]
    else:
        rows = [f"{fs[f]}:{ln if ln > 0 else 0}\n" for f, ln in zip(file, line, strict=True)]
    if len(rows) == nchain:
        return rows
    return ["".join(rows[a:b]) if b - a != 1 else rows[a] for a, b in zip(off, off[1:], strict=False)]


def json_lines(vals: Sequence[int], ok: Sequence[bool], tokens: Sequence[bytes], per: Sequence[str]) -> str:
    """NDJSON answers: ``per[k]`` is the frame list of address ``k``; ``tokens[k]`` is shown for a token
    that is not an address."""
    out: list[str] = []
    add = out.append
    for v, good, tok, text in zip(vals, ok, tokens, per, strict=True):
        if not good:
            t = shown_token(tok).decode("utf-8", "replace")
            add(json.dumps({"address": t, "frames": [], "error": "not a hex address"}) + "\n")
        else:
            add('{"address": "' + hex(v) + '", "frames": ' + text + "}\n")
    return "".join(out)


def addressed_lines(shown: Sequence[int], per: Sequence[str], width: int, pretty: bool) -> str:
    """``-a`` answers: each address (``width`` hex digits) before its text."""
    sep = ": " if pretty else "\n"
    return "".join([f"0x{a:0{width}x}{sep}{t}" for a, t in zip(shown, per, strict=True)])
