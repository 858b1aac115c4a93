"""`symkeep addr2line`: addresses to function, file:line and inline frames, addr2line-compatible.

Parsing, batching and every output layout live in :mod:`symkeep.symbolize.addr2line`; this command
reads stdin (deciding when a batch is complete: the batch is full, or no more input is ready now, so a
co-process gets each answer at once) and writes the bytes it gets back.
"""

from __future__ import annotations

import gc
import sys
from typing import IO, Any

import click

from symkeep.cli.heap import keep_heap
from symkeep.cli.indexopt import index_cache, no_cache_option
from symkeep.cli.stdin import stdin_batches


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
@no_cache_option
@click.argument("addrs", nargs=-1)
def command(binary: str, functions: bool, inlines: bool, show_addr: bool, pretty_print: bool, as_json: bool,
            return_addresses: bool, as_offset: bool, arch: str | None, no_cache: bool, addrs: tuple[str, ...]) -> None:
    """Translate ADDRS (hex; read from stdin when none are given) like binutils `addr2line -f -i`.

    Works on binaries stripped with -s -w: answers come from .gopclntab. An address is hex digits with
    an optional 0x; anything else, and unknown addresses, print `??` / `??:0` (text) or `"frames": []`
    (JSON). Stdin is streamed in constant memory and answered in batches; output is flushed after
    each batch, so a co-process writing one line gets its answer at once.
    """
    from symkeep.fsio import check_input_file
    from symkeep.symbolize import open_go_binary
    from symkeep.symbolize.addr2line import Addresses, Layout, Renderer

    check_input_file(binary)  # a FIFO or device would block the reader: refuse it (exit 3)
    gc.disable()  # millions of short-lived objects, no cycles: the cyclic GC would only rescan them
    keep_heap()
    gob = open_go_binary(binary, arch=arch, index=index_cache(no_cache))
    r = Renderer(gob, Layout(functions=functions, inlines=inlines, addresses=show_addr, pretty=pretty_print,
                             json=as_json, return_addresses=return_addresses, offsets=as_offset))
    sys.stdout.flush()
    out: Any = getattr(sys.stdout, "buffer", None) or _TextOut(sys.stdout)  # answers are UTF-8 bytes
    if addrs:
        for piece in r.answer(Addresses.of_tokens(addrs)):
            out.write(piece)
        out.flush()
        return
    for batch in stdin_batches(sys.stdin):
        for piece in r.answer(Addresses.of_bytes(batch)):
            out.write(piece)
        out.flush()


class _TextOut:
    """Bytes writes onto a text-only stdout (a replaced ``sys.stdout`` without ``.buffer``)."""

    def __init__(self, out: IO[str]) -> None:
        self.out = out

    def write(self, b: bytes) -> None:
        self.out.write(b.decode())

    def flush(self) -> None:
        self.out.flush()
