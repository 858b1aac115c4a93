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

from collections.abc import Iterable, Iterator, Sequence
from operator import itemgetter
from typing import TYPE_CHECKING, cast

import numpy as np
import numpy.typing as npt

from symkeep.symbolize.a2ltext import (
    BATCH_BYTES,
    LOOKUP_TOKENS,
    MAX_TOKEN,
    SEPARATORS,
    Layout,
    TokenStream,
    addressed_lines,
    binutils_value,
    json_lines,
    json_texts,
    parse_address,
    shown_token,
    text_texts,
    unknown_text,
)

if TYPE_CHECKING:
    from symkeep.symbolize.columns import ChainColumns
    from symkeep.symbolize.engine import GoEngine, Lookups

__all__ = [
    "BATCH_BYTES", "LOOKUP_TOKENS", "MAX_TOKEN", "SEPARATORS", "Addresses", "Layout", "Renderer", "TokenStream", "answer_bytes",
    "answer_chunks", "binutils_value", "parse_address",
]

_U64 = 1 << 64
_WS = np.zeros(256, dtype=np.bool_)
_WS[list(SEPARATORS)] = True
_NIB = np.full(256, 255, dtype=np.uint8)
for _k, _c in enumerate(b"0123456789abcdef"):
    _NIB[_c] = _k
    _NIB[bytes([_c]).upper()[0]] = _k
_PARSE_CHUNK = 1 << 16  # tokens per vectorized parse step (bounded temporaries)
_OUT_CHUNK = 1 << 17  # answers per output piece


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
        return shown_token(t)

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


class Renderer:
    """Formats the answers of :class:`Addresses` batches; text per distinct chain, then per token."""

    def __init__(self, engine: Lookups, layout: Layout, bits: int | None = None) -> None:
        """``engine``: a :class:`GoEngine` (``bits`` defaults to its binary's; ``layout.offsets`` needs
        its program headers) or any :class:`Lookups` with ``bits`` given (a symbol index alone)."""
        self.engine, self.layout = engine, layout
        if bits is None or layout.offsets:
            bits = bits or cast("GoEngine", engine).binary.bits
        self.width = 16 if bits == 64 else 8
        self.unknown = unknown_text(layout)

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
                yield addressed_lines(shown[k : k + len(per)], per, self.width, lo.pretty).encode()

    def _offsets_to_pcs(self, vals: npt.NDArray[np.uint64], ok: npt.NDArray[np.bool_]) -> tuple[
        npt.NDArray[np.uint64], npt.NDArray[np.bool_]
    ]:
        o2v = cast("GoEngine", self.engine).binary.offset_to_vaddr
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
        n = len(per)
        ok = addrs.ok[k0 : k0 + n].tolist()
        toks = [b"" if good else addrs.token(k0 + k) for k, good in enumerate(ok)]
        return json_lines(addrs.vals[k0 : k0 + n].tolist(), ok, toks, per)

    def chain_texts(self, cols: ChainColumns) -> list[str]:
        """Text of every chain of ``cols`` in the selected layout."""
        if self.layout.json:
            return json_texts(cols.off.tolist(), cols.name.tolist(), cols.file.tolist(), cols.line.tolist(),
                              cols.start_line.tolist(), cols.inlined.tolist(), cols.names, cols.files)
        if self.layout.inlines:
            return text_texts(self.layout, cols.off.tolist(), cols.name.tolist(), cols.file.tolist(),
                              cols.line.tolist(), cols.names, cols.files)
        head = cols.off[:-1]  # without -i, binutils reports the innermost (inlined) function and its line
        return text_texts(self.layout, range(len(head) + 1), cols.name[head].tolist(), cols.file[head].tolist(),
                          cols.line[head].tolist(), cols.names, cols.files)


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
