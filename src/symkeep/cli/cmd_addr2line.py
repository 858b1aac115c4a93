"""`symkeep addr2line`: addresses to function, file:line and inline frames, addr2line-compatible."""

from __future__ import annotations

import gc
import json
import sys
from collections.abc import Callable, Iterator, Sequence
from operator import itemgetter
from typing import Any

import click
import numpy as np
import numpy.typing as npt

from symkeep.cli.heap import keep_heap


def _parse_addr(tok: str) -> int | None:
    t = tok.strip()
    if not t:
        return None
    if t.lower().startswith("0x"):
        t = t[2:]
    try:
        return int(t, 16)  # addr2line reads hex with or without 0x
    except ValueError:
        return None


# ASCII characters str.split() treats as whitespace (so bytes tokenizing matches it on ASCII input)
_WS = np.zeros(256, dtype=np.bool_)
_WS[list(b" \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f")] = True
_NIB = np.full(256, 255, dtype=np.uint8)
for _k, _c in enumerate(b"0123456789abcdef"):
    _NIB[_c] = _k
    _NIB[bytes([_c]).upper()[0]] = _k
_U64 = 1 << 64
_PARSE_CHUNK = 1 << 16  # tokens per vectorized parse step
_OUT_CHUNK = 1 << 17  # answers per output write


def _hex_tokens(u: npt.NDArray[np.uint8], starts: npt.NDArray[np.int64], ends: npt.NDArray[np.int64]) -> tuple[
    npt.NDArray[np.uint64], npt.NDArray[np.bool_]
]:
    """(value, bad) of the tokens ``u[starts[k]:ends[k]]`` read as ``[0x]`` + 1..16 hex digits."""
    pad = 16  # right-aligned 16-byte windows: every token's digits end at the window's end
    lo = max(int(starts[0]) - pad, 0) if len(starts) else 0
    hi = int(ends[-1]) if len(ends) else 0
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
    bad = ~fast | ((badnib[:, 0] | badnib[:, 1]) != 0)
    nib = np.where(digit, nib, 0).astype(np.uint8)
    packed = (nib[:, 0::2] << 4) | nib[:, 1::2]  # (tokens, 8) bytes, most significant first
    vals = np.ascontiguousarray(packed).view(">u8").reshape(-1).astype(np.uint64)
    vals[bad] = 0
    return vals, bad


class _Parsed:
    """Addresses of one batch: ``vals`` (uint64) with ``ok`` where the value is a lookup-able PC.

    ``odd`` holds the tokens the vectorized parser left to :func:`_parse_addr` (index -> value)."""

    def __init__(self, vals: npt.NDArray[np.uint64], ok: npt.NDArray[np.bool_], odd: dict[int, int | None],
                 tok: Callable[[int], str]) -> None:
        self.vals, self.ok, self.odd, self.tok = vals, ok, odd, tok

    def addrs(self) -> list[int | None]:
        """Per-token parsed value (None: not hex), as :func:`_parse_addr` returns it."""
        out: list[int | None] = list(self.vals.tolist())
        for k, v in self.odd.items():
            out[k] = v
        return out

    @staticmethod
    def of_tokens(toks: list[str]) -> _Parsed:
        addrs = [_parse_addr(t) for t in toks]
        odd = {k: a for k, a in enumerate(addrs) if a is None or not 0 <= a < _U64}
        vals = np.array([0 if k in odd else a for k, a in enumerate(addrs)], dtype=np.uint64)
        ok = np.ones(len(toks), dtype=np.bool_)
        if odd:
            ok[list(odd)] = False
        return _Parsed(vals, ok, odd, toks.__getitem__)

    @staticmethod
    def of_bytes(buf: bytes) -> _Parsed:
        """Tokenize and parse an ASCII buffer with numpy: ``[0x]`` + 1..16 hex digits per token in bulk,
        anything else through :func:`_parse_addr` (same answers as ``buf.decode().split()`` + it)."""
        u = np.frombuffer(buf, dtype=np.uint8)
        n = len(u)
        edge = np.zeros(n + 2, dtype=np.int8)
        edge[1:-1] = ~_WS[u]
        d = np.diff(edge)
        del edge
        starts = np.flatnonzero(d == 1)
        ends = np.flatnonzero(d == -1)
        del d
        vals = np.zeros(len(starts), dtype=np.uint64)
        bad = np.ones(len(starts), dtype=np.bool_)
        for k in range(0, len(starts), _PARSE_CHUNK):  # chunks: bounded temporaries (16 bytes per token)
            sl = slice(k, k + _PARSE_CHUNK)
            vals[sl], bad[sl] = _hex_tokens(u, starts[sl], ends[sl])
        ok = ~bad
        odd: dict[int, int | None] = {}

        def tok(k: int) -> str:
            return buf[int(starts[k]):int(ends[k])].decode("ascii")

        for k in np.flatnonzero(bad).tolist():
            a = _parse_addr(tok(k))
            if a is not None and 0 <= a < _U64:
                vals[k] = a
                ok[k] = True
            else:
                vals[k] = 0
                odd[k] = a
        return _Parsed(vals, ok, odd, tok)


@click.command("addr2line")
@click.option("-e", "--exe", "binary", required=True, type=click.Path(path_type=str), help="The Go binary.")
@click.option("-f", "--functions", is_flag=True, help="Print function names too.")
@click.option("-i", "--inlines", is_flag=True, help="Print the inline chain, innermost first.")
@click.option("-a", "--addresses", "show_addr", is_flag=True, help="Print each address first.")
@click.option("-p", "--pretty-print", is_flag=True, help="One line per address: 'func at file:line'.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per address (NDJSON).")
@click.option("--return-addresses", is_flag=True,
              help="Addresses are return addresses from stack traces: look up ADDR-1 (the call).")
@click.option("--offset", "as_offset", is_flag=True,
              help="Addresses are file offsets (as perf/pprof report for PIE mappings): map through the "
                   "program headers to link-time addresses first.")
@click.option("--arch", default=None, help="Slice of a universal Mach-O (GOARCH name).")
@click.argument("addrs", nargs=-1)
def command(binary: str, functions: bool, inlines: bool, show_addr: bool, pretty_print: bool, as_json: bool,
            return_addresses: bool, as_offset: bool, arch: str | None, addrs: tuple[str, ...]) -> None:
    """Translate ADDRS (hex; read from stdin when none are given) like binutils `addr2line -f -i`.

    Works on binaries stripped with -s -w: answers come from .gopclntab. Unknown addresses print
    `??` / `??:0` (text) or `"frames": []` (JSON). Input is read in large chunks and answered in batches (fast
    for millions of addresses); output is flushed after each batch, and a line written by a
    co-process is answered as soon as it arrives.
    """
    from symkeep.symbolize import open_go_binary

    gc.disable()  # millions of short-lived objects, no cycles: the cyclic GC would only rescan them
    keep_heap()
    gob = open_go_binary(binary, arch=arch)
    r = _Renderer(gob, functions, inlines, show_addr, pretty_print, as_json)
    sys.stdout.flush()
    out: Any = getattr(sys.stdout, "buffer", None) or _TextOut(sys.stdout)  # answers are UTF-8 bytes
    if addrs:
        for chunk in r.batch(_Parsed.of_tokens(list(addrs)), return_addresses, as_offset):
            out.write(chunk)
        out.flush()
        return
    for b in _stdin_batches():
        p = _Parsed.of_bytes(b) if isinstance(b, bytes) else _Parsed.of_tokens(b)
        del b
        if len(p.vals):
            for chunk in r.batch(p, return_addresses, as_offset):
                out.write(chunk)
            out.flush()


class _TextOut:
    """Bytes writes onto a text-only stdout (a replaced ``sys.stdout`` without ``.buffer``)."""

    def __init__(self, out: Any) -> None:
        self.out = out

    def write(self, b: bytes) -> None:
        self.out.write(b.decode())

    def flush(self) -> None:
        self.out.flush()


_BATCH = 1 << 24  # bytes of input per batch (distinct chains are formatted once per batch)


def _stdin_batches(batch: int = _BATCH) -> Iterator[bytes | list[str]]:
    """Complete lines of stdin in batches: large chunks for bulk input, line by line for a co-process.

    Reads whatever is available (``os.read`` returns what the pipe holds), keeps reading while more
    data is ready *now* (``select`` with a zero timeout) and the batch is not full, then yields the
    complete lines: ASCII as ``bytes`` (tokenized in bulk), anything else as ``str.split()`` tokens.
    A co-process writing one line and waiting gets its answer at once."""
    import os
    import select

    try:
        fd = sys.stdin.fileno()
    except (AttributeError, OSError, ValueError):
        fd = -1
    if fd < 0:  # not a real file (tests with a replaced stdin): plain line iteration
        for line in sys.stdin:
            words = line.split()
            if words:
                yield words
        return

    def emit(data: bytes) -> Iterator[bytes | list[str]]:
        if data.isascii():
            yield data
        else:
            toks = data.decode("utf-8", "replace").split()
            for k in range(0, len(toks), 1 << 16):
                yield toks[k : k + (1 << 16)]

    rest = b""
    eof = False
    while not eof:
        parts: list[bytes] = []
        size = 0
        while True:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                eof = True
                break
            buf = rest + chunk
            cut = buf.rfind(b"\n") + 1
            rest = buf[cut:]
            if cut:
                parts.append(buf[:cut])
                size += cut
            if size >= batch:
                break
            try:
                ready = select.select([fd], [], [], 0)[0]
            except (OSError, ValueError):
                ready = [fd]
            if not ready and size:
                break
        if eof and rest:
            parts.append(rest)
        if parts:
            yield from emit(b"".join(parts))


class _Renderer:
    """Formats answers from the engine's chain columns: text per row, then per distinct chain."""

    def __init__(self, gob: Any, functions: bool, inlines: bool, show_addr: bool, pretty: bool,
                 as_json: bool) -> None:
        self.gob = gob
        self.functions, self.inlines, self.show_addr = functions, inlines, show_addr
        self.pretty, self.as_json = pretty, as_json
        self.width = 16 if gob.binary.bits == 64 else 8
        if as_json:
            self.unknown = "[]"
        elif pretty:
            self.unknown = ("?? " if functions else "") + "??:0\n"
        else:
            self.unknown = ("??\n" if functions else "") + "??:0\n"

    def batch(self, p: _Parsed, return_addresses: bool, as_offset: bool) -> Iterator[bytes]:
        """The answers of one batch of addresses, UTF-8 encoded, in chunks (bounded output memory)."""
        vals, ok = p.vals, p.ok
        if as_offset:
            o2v = self.gob.binary.offset_to_vaddr
            pcs = [o2v(a) if a is not None else None for a in p.addrs()]
            ok = np.array([q is not None and 0 <= q < _U64 for q in pcs], dtype=np.bool_)
            vals = np.array([q if q is not None and 0 <= q < _U64 else 0 for q in pcs], dtype=np.uint64)
        ids = np.full(len(vals), -1, dtype=np.int64)
        plain = not self.as_json and not self.show_addr
        texts: list[str] = []
        enc: list[bytes] = []
        good = np.flatnonzero(ok)
        if len(good):
            got, cols = self.gob.lookup_columns(vals[good], return_address=return_addresses)
            ids[good] = got
            del got
            if plain:
                enc = self.chain_texts(cols, as_bytes=True)
            else:
                texts = self.chain_texts(cols)
            del cols
        texts.append(self.unknown)  # id -1
        enc.append(self.unknown.encode())
        addrs = p.addrs() if not plain else []
        for k in range(0, len(ids), _OUT_CHUNK):
            part = ids[k : k + _OUT_CHUNK].tolist()
            if plain:
                yield b"".join([enc[part[0]]] if len(part) == 1 else itemgetter(*part)(enc))
            else:
                per: Sequence[str] = [texts[part[0]]] if len(part) == 1 else itemgetter(*part)(texts)
                yield self._with_addresses(p, k, addrs[k : k + _OUT_CHUNK], per).encode()

    def _with_addresses(self, p: _Parsed, k0: int, addrs: list[int | None], per: Sequence[str]) -> str:
        if self.as_json:
            out: list[str] = []
            add = out.append
            for k, (addr, text) in enumerate(zip(addrs, per, strict=True)):
                if addr is None:
                    add(json.dumps({"address": p.tok(k0 + k), "frames": [], "error": "not a hex address"}) + "\n")
                    continue
                add('{"address": "' + hex(addr) + '", "frames": ' + text + "}\n")
            return "".join(out)
        w = self.width
        sep = ": " if self.pretty else "\n"
        return "".join([f"0x{(addr or 0):0{w}x}{sep}{text}" for addr, text in zip(addrs, per, strict=True)])

    def chain_texts(self, cols: Any, as_bytes: bool = False) -> list[Any]:
        """Text of every chain of ``cols`` (a ChainColumns) in the selected layout (not JSON when
        ``as_bytes``: UTF-8, each row encoded as it is made, so one copy of the texts is in memory)."""
        off: list[int] = cols.off.tolist()
        nchain = len(off) - 1
        if self.as_json:
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
        files = ["??" if x == "?" else x for x in cols.files]
        if self.inlines:
            name_c, file_c, line_c = cols.name.tolist(), cols.file.tolist(), cols.line.tolist()
        else:  # without -i, binutils reports the innermost (inlined) function and its line
            head = cols.off[:-1]
            name_c, file_c, line_c = cols.name[head].tolist(), cols.file[head].tolist(), cols.line[head].tolist()
            off = list(range(nchain + 1))
        fn = self.functions
        if self.pretty:
            locs = [f"{files[f]}:{ln if ln > 0 else 0}" for f, ln in zip(file_c, line_c, strict=True)]
            if fn:
                locs = [f"{names[n]} at {loc}" for n, loc in zip(name_c, locs, strict=True)]
            # the pretty layout puts each inline caller on its own line
            ptexts = ["\n (inlined by) ".join(locs[a:b]) + "\n" for a, b in zip(off, off[1:], strict=False)]
            return [t.encode() for t in ptexts] if as_bytes else ptexts
        rows: list[Any]
        if as_bytes:
            if fn:
                rows = [f"{names[n]}\n{files[f]}:{ln if ln > 0 else 0}\n".encode()
                        for n, f, ln in zip(name_c, file_c, line_c, strict=True)]
            else:
                rows = [f"{files[f]}:{ln if ln > 0 else 0}\n".encode() for f, ln in zip(file_c, line_c, strict=True)]
        elif fn:
            rows = [f"{names[n]}\n{files[f]}:{ln if ln > 0 else 0}\n"
                    for n, f, ln in zip(name_c, file_c, line_c, strict=True)]
        else:
            rows = [f"{files[f]}:{ln if ln > 0 else 0}\n" for f, ln in zip(file_c, line_c, strict=True)]
        if len(rows) == nchain:
            return rows
        empty = b"" if as_bytes else ""
        return [empty.join(rows[a:b]) if b - a != 1 else rows[a] for a, b in zip(off, off[1:], strict=False)]
