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
        starts = np.flatnonzero(d == 1)
        ends = np.flatnonzero(d == -1)
        up = np.zeros(n + 2, dtype=np.uint8)
        up[:n] = u
        pre = ((ends - starts) >= 2) & (up[starts] == 0x30) & ((up[starts + 1] | 0x20) == 0x78)
        ds = starts + 2 * pre.astype(np.int64)
        nd = ends - ds
        fast = (nd >= 1) & (nd <= 16)
        vals = np.zeros(len(starts), dtype=np.uint64)
        bad = ~fast
        four = np.uint64(4)
        for j in range(16):
            m = fast & (nd > j)
            if not m.any():
                break
            nib = _NIB[up[np.where(m, ds + j, n)]]
            bad |= m & (nib == 255)
            vals = np.where(m, (vals << four) | nib.astype(np.uint64), vals)
        ok = ~bad
        odd: dict[int, int | None] = {}
        sl, el = starts.tolist(), ends.tolist()

        def tok(k: int) -> str:
            return buf[sl[k]:el[k]].decode("ascii")

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
    _keep_heap()
    gob = open_go_binary(binary, arch=arch)
    r = _Renderer(gob, functions, inlines, show_addr, pretty_print, as_json)
    out = sys.stdout
    if addrs:
        out.write(r.batch(_Parsed.of_tokens(list(addrs)), return_addresses, as_offset))
        out.flush()
        return
    for b in _stdin_batches():
        p = _Parsed.of_bytes(b) if isinstance(b, bytes) else _Parsed.of_tokens(b)
        if len(p.vals):
            out.write(r.batch(p, return_addresses, as_offset))
            out.flush()


_BATCH = 1 << 20  # bytes of input per batch


def _keep_heap() -> None:
    """glibc: serve large numpy temporaries from the heap and keep freed memory (no trim).

    The bulk table build allocates and frees many arrays of tens of MB; by default each is a fresh
    mmap whose pages fault in again (measured: half of the build's CPU time was page faults).
    This process is short-lived, so holding on to the peak heap is harmless. Also turn off numpy's
    transparent-hugepage madvise (same as NUMPY_MADVISE_HUGEPAGE=0): faulting in 2 MiB pages for
    short-lived temporaries cost ~0.3 s of system time per bulk build. No-op elsewhere."""
    if not sys.platform.startswith("linux"):
        return
    import importlib

    try:
        ma = importlib.import_module("numpy._core.multiarray")  # numpy 2
    except ImportError:
        ma = importlib.import_module("numpy.core.multiarray")  # numpy 1.x
    set_madvise = getattr(ma, "_set_madvise_hugepage", None)
    if set_madvise is not None:
        set_madvise(False)
    try:
        import ctypes

        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return
    mallopt(-3, 1 << 30)  # M_MMAP_THRESHOLD
    mallopt(-1, 1 << 30)  # M_TRIM_THRESHOLD


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
    """Formats answers; the per-chain text is computed once per distinct frame chain."""

    def __init__(self, gob: Any, functions: bool, inlines: bool, show_addr: bool, pretty: bool,
                 as_json: bool) -> None:
        self.gob = gob
        self.functions, self.inlines, self.show_addr = functions, inlines, show_addr
        self.pretty, self.as_json = pretty, as_json
        self.width = 16 if gob.binary.bits == 64 else 8
        self._cache: dict[int, tuple[tuple[Any, ...], str]] = {}
        self._ftext: dict[int, tuple[Any, str]] = {}
        self._table: list[tuple[Any, ...]] | None = None
        self._texts: list[str] = []
        self._have: npt.NDArray[np.bool_] = np.zeros(0, dtype=np.bool_)

    def batch(self, p: _Parsed, return_addresses: bool, as_offset: bool) -> str:
        vals, ok = p.vals, p.ok
        if as_offset:
            o2v = self.gob.binary.offset_to_vaddr
            pcs = [o2v(a) if a is not None else None for a in p.addrs()]
            ok = np.array([q is not None and 0 <= q < _U64 for q in pcs], dtype=np.bool_)
            vals = np.array([q if q is not None and 0 <= q < _U64 else 0 for q in pcs], dtype=np.uint64)
        ids = np.full(len(vals), -1, dtype=np.int64)
        table: list[tuple[Any, ...]] = [()]
        good = np.flatnonzero(ok)
        if len(good):
            got, table = self.gob.lookup_chain_ids(vals[good], return_address=return_addresses)
            ids[good] = got
        # text per distinct chain, then one gather + join. The engine's bulk table is the same list
        # across batches: its texts are kept in a parallel list (one entry per chain id).
        if table is not self._table:
            self._table = table
            self._texts = [""] * len(table)
            self._have = np.zeros(len(table), dtype=np.bool_)
        texts, have = self._texts, self._have
        need = ids[~have[ids]]
        if len(need):
            cache = self._cache
            body = self._body
            ftext = self._ftext
            ftext_get = ftext.get
            plain1 = not self.as_json and not self.pretty
            fn = self.functions
            for u in np.unique(need).tolist():
                ch = table[u]  # table[-1] is ()
                if plain1 and len(ch) == 1:  # most chains: the frame's text is the answer
                    f0 = ch[0]
                    got_f = ftext_get(id(f0))
                    if got_f is None:  # inline copy of _frame_text (hot loop)
                        t = f"{f0.function}\n{f0.file}:{f0.line}\n" if fn else f"{f0.file}:{f0.line}\n"
                        ftext[id(f0)] = (f0, t)
                        texts[u] = t
                    else:
                        texts[u] = got_f[1]
                    continue
                got_c = cache.get(id(ch))
                texts[u] = got_c[1] if got_c is not None else body(ch)
            have[need] = True
        per: Sequence[str] = [texts[int(ids[0])]] if len(ids) == 1 else itemgetter(*ids.tolist())(texts)
        if self.as_json:
            out: list[str] = []
            add = out.append
            for k, (addr, text) in enumerate(zip(p.addrs(), per, strict=True)):
                if addr is None:
                    add(json.dumps({"address": p.tok(k), "frames": [], "error": "not a hex address"}) + "\n")
                    continue
                add('{"address": "' + hex(addr) + '", "frames": ' + text + "}\n")
            return "".join(out)
        if not self.show_addr:
            return "".join(per)
        w = self.width
        sep = ": " if self.pretty else "\n"
        return "".join([f"0x{(addr or 0):0{w}x}{sep}{text}" for addr, text in zip(p.addrs(), per, strict=True)])

    def _frame_text(self, f: Any) -> str:
        """Text of one frame in the plain (not pretty) layout, cached per (interned) frame."""
        got = self._ftext.get(id(f))
        if got is not None:
            return got[1]
        text = f"{f.function}\n{f.file}:{f.line}\n" if self.functions else f"{f.file}:{f.line}\n"
        self._ftext[id(f)] = (f, text)
        return text

    def _body(self, frames: tuple[Any, ...]) -> str:
        """Everything after the address for one chain (cached; the chain is kept alive with it)."""
        if self.as_json:
            text = json.dumps([
                {"function": f.function, "file": f.file, "line": f.line, "start_line": f.start_line,
                 "inlined": f.inlined}
                for f in frames
            ])
        else:
            # Without -i, binutils reports the innermost (inlined) function and its line.
            shown = frames if self.inlines else frames[:1]
            lines: list[str] = []
            if not shown:
                if self.pretty:
                    lines.append(("?? " if self.functions else "") + "??:0")
                else:
                    if self.functions:
                        lines.append("??")
                    lines.append("??:0")
            elif self.pretty:
                parts = []
                for i, f in enumerate(shown):
                    loc = f"{f.file}:{f.line}"
                    s = (f"{f.function} at {loc}" if self.functions else loc)
                    parts.append(s if i == 0 else f" (inlined by) {s}")
                lines.append("\n".join(parts))
            else:
                ft = self._frame_text
                text = "".join([ft(f) for f in shown])
                self._cache[id(frames)] = (frames, text)
                return text
            text = "\n".join(lines) + "\n"
        self._cache[id(frames)] = (frames, text)
        return text
