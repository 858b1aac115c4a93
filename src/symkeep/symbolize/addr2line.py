"""addr2line as a library: address tokens in, binutils-style text or NDJSON out (bytes in, bytes out).

`symkeep addr2line` and a server's ``POST /addr2line`` share this module; nothing here reads stdin or
knows about click. Three pieces:

- :class:`TokenStream` cuts a byte stream (stdin through a pipe arrives in 64 KiB reads) into batches of
  complete tokens in time linear in the input and memory bounded by the batch size: each read is
  scanned once, only the unfinished last token is carried over, and a token longer than
  :data:`MAX_TOKEN` bytes is dropped as it arrives and answered ``??``.
- :class:`Addresses` parses a batch with numpy: a token is an address only if it is ``[0x|0X]`` followed
  by hex digits ``[0-9a-fA-F]`` and fits in 64 bits; anything else (``0x0x10``, ``+10``, ``1_0``,
  ``-1``, non-ASCII digits) is answered ``??`` as binutils answers it, and ``-a`` shows the value binutils
  shows for it (:func:`binutils_value`).
- :class:`Renderer` formats a batch's answers from the engine's chain columns, once per distinct chain.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from symkeep.symbolize.columns import ChainColumns
    from symkeep.symbolize.engine import GoEngine

__all__ = [
    "BATCH_BYTES", "LOOKUP_TOKENS", "MAX_TOKEN", "SEPARATORS", "Addresses", "Layout", "Renderer", "TokenStream", "answer_bytes",
    "answer_chunks", "binutils_value", "parse_address",
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
_WS = np.zeros(256, dtype=np.bool_)
_WS[list(SEPARATORS)] = True
_NIB = np.full(256, 255, dtype=np.uint8)
for _k, _c in enumerate(b"0123456789abcdef"):
    _NIB[_c] = _k
    _NIB[bytes([_c]).upper()[0]] = _k
_PARSE_CHUNK = 1 << 16  # tokens per vectorized parse step (bounded temporaries)
_OUT_CHUNK = 1 << 17  # answers per output piece
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


class Addresses:
    """One batch of tokens: ``vals`` (uint64) and ``ok`` (the token is an address), and the tokens."""

    def __init__(self, vals: npt.NDArray[np.uint64], ok: npt.NDArray[np.bool_], tokens: Sequence[bytes] | None,
                 buf: bytes = b"", starts: npt.NDArray[np.int64] | None = None,
                 ends: npt.NDArray[np.int64] | None = None) -> None:
        self.vals, self.ok = vals, ok
        self._tokens, self._buf, self._starts, self._ends = tokens, buf, starts, ends

    def __len__(self) -> int:
        return len(self.vals)

    def slice(self, a: int, b: int) -> Addresses:
        """Tokens ``a:b`` (views, no copies of the input)."""
        if self._tokens is not None:
            return Addresses(self.vals[a:b], self.ok[a:b], self._tokens[a:b])
        assert self._starts is not None and self._ends is not None
        return Addresses(self.vals[a:b], self.ok[a:b], None, self._buf, self._starts[a:b], self._ends[a:b])

    def token(self, k: int) -> bytes:
        """Token ``k``; one over :data:`MAX_TOKEN` bytes as its start + ``...``, the same however the input
        was cut into reads (:class:`TokenStream` keeps only that much of it)."""
        if self._tokens is not None:
            t = self._tokens[k]
        else:
            assert self._starts is not None and self._ends is not None
            a, b = int(self._starts[k]), int(self._ends[k])
            t = self._buf[a : min(b, a + MAX_TOKEN + 1)]
        return t if len(t) <= MAX_TOKEN else t[:_LONG_SHOWN] + b"..."

    def shown(self) -> list[int]:
        """Per token, the address ``-a`` prints: the value, or binutils' reading of a non-address."""
        out: list[int] = self.vals.tolist()
        for k in np.flatnonzero(~self.ok).tolist():
            out[k] = binutils_value(self.token(k))
        return out

    @classmethod
    def of_tokens(cls, tokens: Iterable[bytes | str]) -> Addresses:
        toks = [t.encode("utf-8", "surrogateescape") if isinstance(t, str) else t for t in tokens]
        parsed = [parse_address(t) for t in toks]
        vals = np.array([0 if a is None else a for a in parsed], dtype=np.uint64)
        ok = np.array([a is not None for a in parsed], dtype=np.bool_)
        return cls(vals, ok, toks)

    @classmethod
    def of_bytes(cls, buf: bytes) -> Addresses:
        """Tokenize (separators: :data:`SEPARATORS`) and parse a buffer with numpy; only tokens of more
        than 16 digits (leading zeros) go through :func:`parse_address` one by one."""
        u = np.frombuffer(buf, dtype=np.uint8)
        edge = np.zeros(len(u) + 2, dtype=np.int8)
        edge[1:-1] = ~_WS[u]
        d = np.diff(edge)
        del edge
        starts = np.flatnonzero(d == 1)
        ends = np.flatnonzero(d == -1)
        del d
        vals = np.zeros(len(starts), dtype=np.uint64)
        ok = np.zeros(len(starts), dtype=np.bool_)
        slow: list[int] = []
        for k in range(0, len(starts), _PARSE_CHUNK):
            sl = slice(k, k + _PARSE_CHUNK)
            v, good, long = _hex_tokens(u, starts[sl], ends[sl])
            vals[sl], ok[sl] = v, good
            slow += (np.flatnonzero(long) + k).tolist()
        for k in slow:
            a = parse_address(buf[int(starts[k]) : int(ends[k])])
            if a is not None:
                vals[k], ok[k] = a, True
        return cls(vals, ok, None, buf, starts, ends)


def _hex_tokens(u: npt.NDArray[np.uint8], starts: npt.NDArray[np.int64], ends: npt.NDArray[np.int64]) -> tuple[
    npt.NDArray[np.uint64], npt.NDArray[np.bool_], npt.NDArray[np.bool_]
]:
    """(value, is an address, has more than 16 digits) of the tokens ``u[starts[k]:ends[k]]`` read as
    ``[0x]`` + 1..16 hex digits, with right-aligned 16-byte windows (every token's digits end at its
    window's end)."""
    pad = 16
    if not len(starts):
        z = np.zeros(0, dtype=np.bool_)
        return np.zeros(0, dtype=np.uint64), z, z
    lo = max(int(starts[0]) - pad, 0)
    hi = int(ends[-1])
    up = np.zeros(hi - lo + pad, dtype=np.uint8)
    up[pad:] = u[lo:hi]
    s0, e0 = starts - lo + pad, ends - lo + pad
    pre = ((ends - starts) >= 2) & (up[s0] == 0x30) & ((up[np.minimum(s0 + 1, len(up) - 1)] | 0x20) == 0x78)
    ds = s0 + 2 * pre.astype(np.int64)
    nd = e0 - ds
    fast = (nd >= 1) & (nd <= 16)
    win = np.lib.stride_tricks.sliding_window_view(up, pad)[e0 - pad]  # (tokens, 16) bytes
    nib = _NIB[win]
    digit = np.arange(pad, dtype=np.int64) >= (ds - (e0 - pad))[:, None]
    badnib = np.ascontiguousarray((nib == 255) & digit).view(np.uint64)  # 16 flags = 2 words per token
    good = fast & ((badnib[:, 0] | badnib[:, 1]) == 0)
    nib = np.where(digit, nib, 0).astype(np.uint8)
    packed = (nib[:, 0::2] << 4) | nib[:, 1::2]  # (tokens, 8) bytes, most significant first
    vals = np.ascontiguousarray(packed).view(">u8").reshape(-1).astype(np.uint64)
    vals[~good] = 0
    return vals, good, nd > 16


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


class Renderer:
    """Formats the answers of :class:`Addresses` batches; text per distinct chain, then per token."""

    def __init__(self, engine: GoEngine, layout: Layout) -> None:
        self.engine, self.layout = engine, layout
        self.width = 16 if engine.binary.bits == 64 else 8
        lo = layout
        if lo.json:
            self.unknown = "[]"
        elif lo.pretty:
            self.unknown = ("?? " if lo.functions else "") + "??:0\n"
        else:
            self.unknown = ("??\n" if lo.functions else "") + "??:0\n"

    def answer(self, addrs: Addresses) -> Iterator[bytes]:
        """The answers of one batch, UTF-8, in pieces of at most ``_OUT_CHUNK`` answers."""
        if len(addrs) <= LOOKUP_TOKENS:
            yield from self._answer(addrs)
            return
        for k in range(0, len(addrs), LOOKUP_TOKENS):
            yield from self._answer(addrs.slice(k, k + LOOKUP_TOKENS))

    def _answer(self, addrs: Addresses) -> Iterator[bytes]:
        lo = self.layout
        vals, ok = addrs.vals, addrs.ok
        if lo.offsets:
            vals, ok = self._offsets_to_pcs(vals, ok)
        ids = np.full(len(vals), -1, dtype=np.int64)
        plain = not lo.json and not lo.addresses
        texts: list[str] = []
        enc: list[bytes] = []
        good = np.flatnonzero(ok)
        if len(good):
            got, cols = self.engine.lookup_columns(vals[good], return_address=lo.return_addresses)
            ids[good] = got
            del got
            if plain:
                enc = [t.encode() for t in self.chain_texts(cols)]
            else:
                texts = self.chain_texts(cols)
            del cols
        texts.append(self.unknown)  # id -1
        enc.append(self.unknown.encode())
        shown = addrs.shown() if lo.addresses else []
        for k in range(0, len(ids), _OUT_CHUNK):
            part = ids[k : k + _OUT_CHUNK].tolist()
            if plain:
                yield b"".join([enc[part[0]]] if len(part) == 1 else itemgetter(*part)(enc))
                continue
            per: Sequence[str] = [texts[part[0]]] if len(part) == 1 else itemgetter(*part)(texts)
            if lo.json:
                yield self._json(addrs, k, per).encode()
            else:
                w = self.width
                sep = ": " if lo.pretty else "\n"
                yield "".join([f"0x{a:0{w}x}{sep}{t}" for a, t in zip(shown[k : k + len(per)], per, strict=True)]
                              ).encode()

    def _offsets_to_pcs(self, vals: npt.NDArray[np.uint64], ok: npt.NDArray[np.bool_]) -> tuple[
        npt.NDArray[np.uint64], npt.NDArray[np.bool_]
    ]:
        o2v = self.engine.binary.offset_to_vaddr
        uniq, inv = np.unique(vals[ok], return_inverse=True)
        mapped = [o2v(int(a)) for a in uniq.tolist()]
        m_ok = np.array([q is not None and 0 <= q < _U64 for q in mapped], dtype=np.bool_)
        m_val = np.array([q if q is not None and 0 <= q < _U64 else 0 for q in mapped], dtype=np.uint64)
        out_v = np.zeros(len(vals), dtype=np.uint64)
        out_ok = np.zeros(len(vals), dtype=np.bool_)
        idx = np.flatnonzero(ok)
        out_v[idx] = m_val[inv]
        out_ok[idx] = m_ok[inv]
        return out_v, out_ok

    def _json(self, addrs: Addresses, k0: int, per: Sequence[str]) -> str:
        out: list[str] = []
        add = out.append
        vals = addrs.vals[k0 : k0 + len(per)].tolist()
        ok = addrs.ok[k0 : k0 + len(per)].tolist()
        for k, (v, good, text) in enumerate(zip(vals, ok, per, strict=True)):
            if not good:
                tok = addrs.token(k0 + k).decode("utf-8", "replace")
                add(json.dumps({"address": tok, "frames": [], "error": "not a hex address"}) + "\n")
            else:
                add('{"address": "' + hex(v) + '", "frames": ' + text + "}\n")
        return "".join(out)

    def chain_texts(self, cols: ChainColumns) -> list[str]:
        """Text of every chain of ``cols`` in the selected layout."""
        off: list[int] = cols.off.tolist()
        nchain = len(off) - 1
        if self.layout.json:
            jn = [json.dumps(x) for x in cols.names]
            jf = [json.dumps(x) for x in cols.files]
            jrows = [
                f'{{"function": {jn[n]}, "file": {jf[f]}, "line": {ln}, "start_line": {sl}, "inlined": '
                + ("true}" if il else "false}")
                for n, f, ln, sl, il in zip(cols.name.tolist(), cols.file.tolist(), cols.line.tolist(),
                                            cols.start_line.tolist(), cols.inlined.tolist(), strict=True)
            ]
            return ["[" + ", ".join(jrows[a:b]) + "]" for a, b in zip(off, off[1:], strict=False)]
        names = cols.names
        files = ["??" if x == "?" else x for x in cols.files]  # binutils' spelling of an unknown file
        if self.layout.inlines:
            name_c, file_c, line_c = cols.name.tolist(), cols.file.tolist(), cols.line.tolist()
        else:  # without -i, binutils reports the innermost (inlined) function and its line
            head = cols.off[:-1]
            name_c, file_c, line_c = cols.name[head].tolist(), cols.file[head].tolist(), cols.line[head].tolist()
            off = list(range(nchain + 1))
        fn = self.layout.functions
        if self.layout.pretty:
            locs = [f"{files[f]}:{ln if ln > 0 else 0}" for f, ln in zip(file_c, line_c, strict=True)]
            if fn:
                locs = [f"{names[n]} at {loc}" for n, loc in zip(name_c, locs, strict=True)]
            # the pretty layout puts each inline caller on its own line
            return ["\n (inlined by) ".join(locs[a:b]) + "\n" for a, b in zip(off, off[1:], strict=False)]
        if fn:
            rows = [f"{names[n]}\n{files[f]}:{ln if ln > 0 else 0}\n"
                    for n, f, ln in zip(name_c, file_c, line_c, strict=True)]
        else:
            rows = [f"{files[f]}:{ln if ln > 0 else 0}\n" for f, ln in zip(file_c, line_c, strict=True)]
        if len(rows) == nchain:
            return rows
        return ["".join(rows[a:b]) if b - a != 1 else rows[a] for a, b in zip(off, off[1:], strict=False)]


def answer_chunks(engine: GoEngine, layout: Layout, chunks: Iterable[bytes],
                  batch_bytes: int = BATCH_BYTES) -> Iterator[bytes]:
    """Answers for a stream of input chunks (a request body read in pieces), batch by batch."""
    r = Renderer(engine, layout)
    ts = TokenStream()
    for chunk in chunks:
        ts.push(chunk)
        if ts.pending >= batch_bytes:
            yield from r.answer(Addresses.of_bytes(ts.take()))
    data = ts.close()
    if data:
        yield from r.answer(Addresses.of_bytes(data))


def answer_bytes(engine: GoEngine, layout: Layout, data: bytes) -> bytes:
    """All answers for one input buffer (e.g. a ``POST /addr2line`` body)."""
    step = BATCH_BYTES
    return b"".join(answer_chunks(engine, layout, (data[k : k + step] for k in range(0, len(data), step))))
