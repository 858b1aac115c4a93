"""``symkeep symbolize``: raw-address profiles (pprof, perf script, folded) -> names, files, lines."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from typing import BinaryIO

import click

from symkeep.cli.indexopt import index_cache, no_cache_option

FORMATS = ("pprof", "folded")
INPUTS = ("auto", "pprof", "perf", "folded")


@click.command("symbolize")
@click.argument("profile", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("-o", "--output", default="-", show_default=True, help="Output file ('-' = stdout).")
@click.option("--binary", "binaries", multiple=True, type=click.Path(), help="Binary to use (repeatable).")
@click.option(
    "--search-dir", "search_dirs", multiple=True, type=click.Path(),
    help="Directory searched by build ID/name (repeatable; PPROF_BINARY_PATH is searched too).",
)
@click.option("--store", "store_url", default=None, metavar="URL",
              help="Also look binaries up by build ID in this symkeep store (directory, file:// or s3://).")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="pprof", show_default=True)
@click.option("--input-format", type=click.Choice(INPUTS), default="auto", show_default=True)
@click.option("--perf-data", type=click.Path(dir_okay=False),
              help="perf.data the perf script text came from: check binaries against its build IDs.")
@click.option("--max-input", default="1G", show_default=True,
              help="Memory budget for reading the input (e.g. 512M, 4G); see README 'Limits'.")
@click.option("--force", is_flag=True, help="Re-symbolize locations that already have names.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option("--no-debuginfod", is_flag=True, help="Ignore DEBUGINFOD_URLS.")
@click.option("--inline-suffix", default="_[i]", show_default=True, help="Folded output: inline frame marker.")
@click.option("--kernel-suffix", default="_[k]", show_default=True, help="Folded output: kernel frame marker.")
@click.option("--lines", "with_lines", is_flag=True, help="Folded output: add 'file:line' to frames.")
@click.option("--sample-index", type=int, default=-1, help="Folded output: which sample value (default: last).")
@click.option("--no-gzip", is_flag=True, help="Write the pprof output uncompressed.")
@click.option("-q", "--quiet", is_flag=True, help="No summary.")
@click.option("--server", default=None, metavar="URL",
              help="Symbolize on this `symkeep serve` (binaries from its store by build ID; default "
                   "$SYMKEEP_SERVER; '' = locally).")
@no_cache_option
def command(
    profile: str,
    output: str,
    binaries: tuple[str, ...],
    search_dirs: tuple[str, ...],
    store_url: str | None,
    fmt: str,
    input_format: str,
    perf_data: str | None,
    max_input: str,
    force: bool,
    as_json: bool,
    no_debuginfod: bool,
    inline_suffix: str,
    kernel_suffix: str,
    with_lines: bool,
    sample_index: int,
    no_gzip: bool,
    quiet: bool,
    server: str | None,
    no_cache: bool,
) -> None:
    """Symbolize PROFILE: a pprof profile, `perf script` output or folded stacks ('-' = stdin).

    Finds each mapping's binary (--binary, the mapping's path, build-ID directories,
    PPROF_BINARY_PATH, DEBUGINFOD_URLS, then --store), refuses one whose build ID differs (and a --binary that is
    not Go or matches no mapping), translates PIE/ASLR addresses and writes one Location per
    address with its full inline chain. The summary goes to stderr (with --json: JSON, to stdout
    when -o is a file).
    """
    if _remote(server, profile, output, binaries, search_dirs, store_url, fmt, input_format, perf_data, max_input,
               force, as_json, inline_suffix, kernel_suffix, with_lines, sample_index, no_gzip, quiet):
        return
    import gc

    from symkeep.cli.heap import keep_heap
    from symkeep.fsio import OutputTarget
    from symkeep.profile.files import symbolize_file
    from symkeep.profile.folded import folded_lines
    from symkeep.profile.limits import Limits, parse_size
    from symkeep.profile.pprof import serialize_profile
    from symkeep.profile.summary import format_summary

    limits = Limits(max_input=parse_size(max_input))
    if fmt == "pprof" and output == "-" and sys.stdout.isatty():
        raise click.UsageError("refusing to write a binary profile to a terminal: use -o FILE or --format folded")
    target = OutputTarget.check(output)
    keep_heap()
    # Hundreds of thousands of small objects and nothing that makes cycles: a short-lived process
    # need not let the cyclic GC rescan them over and over.
    gc.disable()
    with ExitStack() as stack:
        fallback = None
        if store_url is not None:
            from symkeep.store import open_store
            from symkeep.store.resolver import StoreResolver

            store = open_store(store_url)
            stack.callback(store.close)
            fallback = stack.enter_context(StoreResolver(store))
        result = symbolize_file(
            profile,
            binaries=list(binaries),
            search_dirs=list(search_dirs),
            input_format=input_format,
            force=force,
            debuginfod=not no_debuginfod,
            limits=limits,
            perf_data=perf_data,
            fallback=fallback,
            index=index_cache(no_cache),
        )
    if fmt == "folded":
        lines = folded_lines(
            result.profile, sample_index=sample_index, inline_suffix=inline_suffix, kernel_suffix=kernel_suffix,
            with_lines=with_lines,
        )
        target.write(ln.encode("utf-8", "surrogateescape") for ln in lines)
    else:
        target.write(serialize_profile(result.profile, compress=not no_gzip))
    if quiet:
        return
    summary = result.report.to_json()
    summary["input_format"] = result.input_format
    if as_json:
        text = json.dumps(summary, indent=2, sort_keys=True) + "\n"
        if output == "-":
            sys.stderr.write(text)
        else:
            sys.stdout.write(text)
    else:
        sys.stderr.write(f"input: {result.input_format}\n" + format_summary(result.report))


def _remote(server: str | None, profile: str, output: str, binaries: tuple[str, ...], search_dirs: tuple[str, ...],
            store_url: str | None, fmt: str, input_format: str, perf_data: str | None, max_input: str,
            force: bool, as_json: bool, inline_suffix: str, kernel_suffix: str, with_lines: bool,
            sample_index: int, no_gzip: bool, quiet: bool) -> bool:
    """``--server URL`` (or $SYMKEEP_SERVER): send the profile to ``POST /symbolize`` and print what the
    local command prints. False when no server is chosen."""
    import os

    from symkeep.store.remote import SymkeepServer, server_url

    url = server_url(server)
    if url is None:
        return False
    from symkeep.errors import UsageError
    from symkeep.fsio import OutputTarget, check_input_file
    from symkeep.profile.limits import parse_size

    for bad, flag in ((binaries, "--binary"), (search_dirs, "--search-dir"), (store_url, "--store")):
        if bad:
            raise UsageError(f"{flag} cannot be used with --server (the server finds binaries in its store by "
                             "build ID; --server '' symbolizes locally)")
    parse_size(max_input)
    if fmt == "pprof" and output == "-" and sys.stdout.isatty():
        raise click.UsageError("refusing to write a binary profile to a terminal: use -o FILE or --format folded")
    target = OutputTarget.check(output)
    params = {"format": fmt, "input_format": input_format, "max_input": max_input, "sample_index": str(sample_index),
              "inline_suffix": inline_suffix, "kernel_suffix": kernel_suffix, "lines": "1" if with_lines else "0",
              "force": "1" if force else "0", "gzip": "0" if no_gzip else "1"}
    head = b""
    if perf_data is not None:  # perf script text has no build IDs: send perf.data's, read here
        from symkeep.profile.perfdata import read_build_ids

        head = json.dumps({"build_ids": read_build_ids(perf_data), "build_id_source": perf_data}).encode() + b"\n"
    with ExitStack() as stack:
        srv = stack.enter_context(SymkeepServer(url))
        fh = sys.stdin.buffer if profile == "-" else stack.enter_context(check_input_file(profile).open("rb"))
        size = None if profile == "-" else os.fstat(fh.fileno()).st_size
        if not head:  # streamed: a file with its length, stdin chunked; never read whole here
            res = srv.symbolize(fh, params, length=size)
        else:
            body = _chain(head, fh)
            res = srv.symbolize(body, params, length=None if size is None else len(head) + size,
                                content_type="application/x-symkeep-profile")
    target.write(res.output)
    if quiet:
        return True
    if as_json:
        text = json.dumps(res.report, indent=2, sort_keys=True) + "\n"
        (sys.stderr if output == "-" else sys.stdout).write(text)
    else:
        sys.stderr.write(f"input: {res.input_format}\n" + res.summary)
    return True


def _chain(head: bytes, fh: BinaryIO) -> Iterator[bytes]:
    yield head
    while block := fh.read(1 << 16):
        yield block
