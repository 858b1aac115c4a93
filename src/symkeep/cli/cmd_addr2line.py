"""`symkeep addr2line`: addresses to function, file:line and inline frames, addr2line-compatible."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from typing import Any

import click


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

    gob = open_go_binary(binary, arch=arch)
    r = _Renderer(gob, functions, inlines, show_addr, pretty_print, as_json)
    out = sys.stdout
    if addrs:
        out.write(r.batch(list(addrs), return_addresses, as_offset))
        out.flush()
        return
    for toks in _stdin_batches():
        out.write(r.batch(toks, return_addresses, as_offset))
        out.flush()


_BATCH = 1 << 16


def _stdin_batches(batch: int = _BATCH) -> Iterator[list[str]]:
    """Tokens of stdin in batches: large chunks for bulk input, line by line for a co-process.

    Reads whatever is available (``os.read`` returns what the pipe holds), keeps reading while more
    data is ready *now* (``select`` with a zero timeout) and the batch is not full, then yields the
    complete lines. A co-process writing one line and waiting gets its answer at once."""
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
    rest = b""
    eof = False
    while not eof:
        toks: list[str] = []
        while True:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                eof = True
                break
            buf = rest + chunk
            cut = buf.rfind(b"\n") + 1
            rest = buf[cut:]
            if cut:
                toks.extend(buf[:cut].decode("utf-8", "replace").split())
            if len(toks) >= batch:
                break
            try:
                ready = select.select([fd], [], [], 0)[0]
            except (OSError, ValueError):
                ready = [fd]
            if not ready and toks:
                break
        if eof and rest:
            toks.extend(rest.decode("utf-8", "replace").split())
        for k in range(0, len(toks), batch):
            yield toks[k : k + batch]


class _Renderer:
    """Formats answers; the per-chain text is computed once per distinct frame chain."""

    def __init__(self, gob: Any, functions: bool, inlines: bool, show_addr: bool, pretty: bool,
                 as_json: bool) -> None:
        self.gob = gob
        self.functions, self.inlines, self.show_addr = functions, inlines, show_addr
        self.pretty, self.as_json = pretty, as_json
        self.width = 16 if gob.binary.bits == 64 else 8
        self._cache: dict[int, tuple[tuple[Any, ...], str]] = {}

    def batch(self, toks: list[str], return_addresses: bool, as_offset: bool) -> str:
        addrs = [_parse_addr(t) for t in toks]
        pcs: list[int | None] = addrs
        if as_offset:
            o2v = self.gob.binary.offset_to_vaddr
            pcs = [o2v(a) if a is not None else None for a in addrs]
        good = [k for k, p in enumerate(pcs) if p is not None and 0 <= p < 1 << 64]
        chains: list[tuple[Any, ...]] = [()] * len(toks)
        if good:
            got = self.gob.lookup_chains([pcs[k] for k in good], return_address=return_addresses)
            for k, c in zip(good, got, strict=True):
                chains[k] = c
        cache = self._cache
        body = self._body
        out: list[str] = []
        add = out.append
        if self.as_json:
            for tok, addr, ch in zip(toks, addrs, chains, strict=True):
                if addr is None:
                    add(json.dumps({"address": tok, "frames": [], "error": "not a hex address"}) + "\n")
                    continue
                got_c = cache.get(id(ch))
                text = got_c[1] if got_c is not None else body(ch)
                add('{"address": "' + hex(addr) + '", "frames": ' + text + "}\n")
            return "".join(out)
        w = self.width
        show, pretty = self.show_addr, self.pretty
        for addr, ch in zip(addrs, chains, strict=True):
            if show:
                add(f"0x{(addr or 0):0{w}x}" + (": " if pretty else "\n"))
            got_c = cache.get(id(ch))
            add(got_c[1] if got_c is not None else body(ch))
        return "".join(out)

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
                for f in shown:
                    if self.functions:
                        lines.append(f.function)
                    lines.append(f"{f.file}:{f.line}")
            text = "\n".join(lines) + "\n"
        self._cache[id(frames)] = (frames, text)
        return text
