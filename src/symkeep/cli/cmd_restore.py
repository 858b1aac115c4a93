"""`symkeep restore`: write an ELF debug companion (symtab + DWARF 4 + CFI) from .gopclntab.

Parses options, calls ``symkeep.restore.publish`` (plan: every destination checked; execute: build
and write), prints the summary. Nothing here decides what is written where.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

import click

from symkeep.cli.indexopt import index_cache, no_cache_option


@click.command("restore")
@click.argument("binary", type=click.Path(path_type=str))
@click.option("-o", "--output", "output", type=click.Path(path_type=str, allow_dash=True), default=None,
              help="Write the debug file here ('-' = standard output; default: BINARY.debug unless only "
                   "installing). An existing symlink to a regular file is written through; a directory, FIFO "
                   "or device is refused.")
@click.option("--install", "install_dir", type=click.Path(path_type=str), default=None,
              help="Also place it at DIR/.build-id/xx/yyyy.debug (gdb debug-file-directory layout; needs a GNU "
                   "build-id).")
@click.option("--perf-cache", is_flag=True,
              help="Also add it to perf's build-id cache (~/.debug, or $PERF_BUILDID_DIR), with an unwindable "
                   "copy of BINARY as the cache's 'elf' (see --perf-unwind; needs a GNU build-id).")
@click.option("--perf-unwind/--no-perf-unwind", "perf_unwind", default=True, show_default=True,
              help="With --perf-cache: also write the cache's 'elf' as a copy of BINARY carrying .eh_frame_hdr/"
                   ".eh_frame built from .gopclntab, so `perf report` of `perf record --call-graph=dwarf` data "
                   "unwinds through Go frames (and finds callers of frameless leaf functions, which frame-pointer "
                   "unwinding loses). Trade-off: perf (libunwind) only reads unwind tables from inside the "
                   "executable mapping, so the tables overwrite the code bytes of a run of functions in that "
                   "copy (never package main/the main module or signal trampolines; --json lists them): "
                   "`perf annotate` of those functions would show wrong instructions (or see "
                   "--perf-unwind-place). The binary itself is never modified.")
@click.option("--perf-unwind-place", "perf_unwind_place", type=click.Choice(["text", "rodata"]), default="text",
              show_default=True,
              help="Where the cached copy carries the unwind tables: 'text' (over a run of functions; works with "
                   "any perf recording) or 'rodata' (over .gopclntab, which perf never reads; keeps all code "
                   "bytes, but relies on perf recording the read-only data mapping, which perf 6.1 does for "
                   "--call-graph=dwarf).")
@click.option("--debuglink", "debuglink_out", type=click.Path(path_type=str), default=None,
              help="Write a copy of BINARY with a .gnu_debuglink section naming the debug file.")
@click.option("--json", "as_json", is_flag=True, help="Describe what was written as JSON on stdout.")
@no_cache_option
def command(binary: str, output: str | None, install_dir: str | None, perf_cache: bool, perf_unwind: bool,
            perf_unwind_place: str, debuglink_out: str | None, as_json: bool, no_cache: bool) -> None:
    """Synthesize an ELF debug file for a (stripped) Go BINARY from its .gopclntab.

    The file has .symtab (one symbol per Go function, named as the Go linker names them), DWARF 4 line
    tables and inline trees, and .debug_frame CFI, so nm, addr2line, llvm-symbolizer, gdb and perf
    work on -s -w binaries. Every destination is checked before anything is written.
    """
    from symkeep.errors import UsageError
    from symkeep.fsio import STDIO, check_input_file
    from symkeep.restore import PublishRequest, execute, plan
    from symkeep.symbolize import open_go_binary

    if as_json and output == STDIO:
        raise UsageError("--json and -o - both write to standard output; choose one")
    t0 = time.perf_counter()
    check_input_file(binary)
    gob = open_go_binary(binary, index=index_cache(no_cache))
    req = PublishRequest(binary, output=output, install_dir=install_dir, perf_cache=perf_cache,
                         perf_unwind=perf_unwind, perf_unwind_place=perf_unwind_place, debuglink=debuglink_out)
    done = execute(gob, plan(gob, req))
    elapsed = time.perf_counter() - t0
    res = done.result
    for w in done.warnings:
        click.echo(f"warning: {w}", err=True)
    if as_json:
        doc = {"binary": os.path.abspath(binary), "written": done.written, "seconds": round(elapsed, 3),
               "warnings": done.warnings, **res.as_dict()}
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
        return
    to_err = output == STDIO  # standard output carries the debug file itself
    click.echo(f"restored {res.functions} functions, {res.line_rows} line rows, {res.inlined} inlined calls "
               f"in {res.units} units ({len(res.data)} bytes, DWARF 4) in {elapsed:.2f}s", err=to_err)
    for k, v in done.written.items():
        click.echo(_line(k, v), err=to_err)


def _line(kind: str, v: Any) -> str:
    if kind != "perf_unwind":
        return f"  {kind}: {v}"
    lo, hi = v["region"]
    what = (f"bytes of {v['overwritten_section']} replaced there (perf never reads it)"
            if v["overwritten_section"] else
            f"code of {len(v['overwritten_functions'])} functions replaced there (perf annotate of them "
            "is wrong; --json lists them)")
    return f"  perf_unwind: {v['fdes']} FDEs in .eh_frame at {lo:#x}-{hi:#x} of the cached copy; {what}"
