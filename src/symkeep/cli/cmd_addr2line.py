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

REMOTE_BATCH = 1 << 20  # --server: bytes of tokens per request (at most ~2 MiB with the read: under any sane body cap)


@click.command("addr2line")
@click.option("-e", "--exe", "binary", default=None, type=click.Path(path_type=str), help="The Go binary.")
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
@click.option("--server", default=None, metavar="URL",
              help="Answer on this `symkeep serve` (the build looked up in its store by BIN's build ID; default "
                   "$SYMKEEP_SERVER; '' = locally).")
@click.option("--build-id", default=None, metavar="ID", help="With --server: the build, instead of -e BIN.")
@no_cache_option
@click.argument("addrs", nargs=-1)
def command(binary: str | None, functions: bool, inlines: bool, show_addr: bool, pretty_print: bool, as_json: bool,
            return_addresses: bool, as_offset: bool, arch: str | None, server: str | None, build_id: str | None,
            no_cache: bool, addrs: tuple[str, ...]) -> None:
    """Translate ADDRS (hex; read from stdin when none are given) like binutils `addr2line -f -i`.

    Works on binaries stripped with -s -w: answers come from .gopclntab. An address is hex digits with
    an optional 0x; anything else, and unknown addresses, print `??` / `??:0` (text) or `"frames": []`
    (JSON). Stdin is streamed in constant memory and answered in batches; output is flushed after
    each batch, so a co-process writing one line gets its answer at once.
    """
    if _remote(server, binary, build_id, arch, addrs, {
            "functions": functions, "inlines": inlines, "addresses": show_addr, "pretty": pretty_print,
            "json": as_json, "return_addresses": return_addresses, "offsets": as_offset}):
        return
    if binary is None:
        raise click.UsageError("Missing option '-e' / '--exe'.")
    if build_id is not None:
        raise click.UsageError("--build-id needs --server (or $SYMKEEP_SERVER)")
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


def _remote(server: str | None, binary: str | None, build_id: str | None, arch: str | None,
            addrs: tuple[str, ...], flags: dict[str, bool]) -> bool:
    """``--server URL`` (or $SYMKEEP_SERVER): stdin in batches to ``POST /addr2line``, answers printed as
    they come. The build is ``--build-id`` or the build ID of ``-e BIN`` (GNU, else Go). False when no
    server is chosen."""
    from symkeep.store.remote import SymkeepServer, server_url

    url = server_url(server)
    if url is None:
        return False
    from symkeep.errors import NotFoundError

    if arch is not None:
        raise click.UsageError("--arch cannot be used with --server")
    if build_id is None:
        if binary is None:
            raise click.UsageError("--server needs -e BIN or --build-id ID")
        from symkeep.binfmt import open_binary
        from symkeep.fsio import check_input_file
        from symkeep.golang.buildid import build_ids

        check_input_file(binary)
        ids = build_ids(open_binary(binary))
        build_id = ids.gnu or (ids.go if not ids.go_redacted else None)
        if not build_id:
            raise NotFoundError(f"{binary}: no build ID to ask the server with (use --build-id)")
    out: Any = getattr(sys.stdout, "buffer", None) or _TextOut(sys.stdout)
    with SymkeepServer(url) as srv:
        if addrs:
            out.write(srv.addr2line_tokens(build_id, flags, addrs))
            out.flush()
            return True
        for piece in srv.addr2line(build_id, flags, stdin_batches(sys.stdin, batch_bytes=REMOTE_BATCH)):
            out.write(piece)
            out.flush()
    return True


class _TextOut:
    """Bytes writes onto a text-only stdout (a replaced ``sys.stdout`` without ``.buffer``)."""

    def __init__(self, out: IO[str]) -> None:
        self.out = out

    def write(self, b: bytes) -> None:
        self.out.write(b.decode())

    def flush(self) -> None:
        self.out.flush()
