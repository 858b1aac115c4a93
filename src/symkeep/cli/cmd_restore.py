"""`symkeep restore`: write an ELF debug companion (symtab + DWARF 4 + CFI) from .gopclntab."""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

import click

NO_BUILD_ID_WARNING = (
    "warning: {path} has no GNU build-id note, so gdb/perf/debuginfod cannot find a debug file for it by "
    "build ID. Rebuild with -ldflags=-B=gobuildid (Go 1.22+; derives a GNU build-id from the Go build "
    "ID, default from Go 1.24 with the internal linker) or use --debuglink."
)


@click.command("restore")
@click.argument("binary", type=click.Path(path_type=str))
@click.option("-o", "--output", "output", type=click.Path(path_type=str), default=None,
              help="Write the debug file here (default: BINARY.debug unless only installing).")
@click.option("--install", "install_dir", type=click.Path(path_type=str), default=None,
              help="Also place it at DIR/.build-id/xx/yyyy.debug (gdb debug-file-directory layout).")
@click.option("--perf-cache", is_flag=True,
              help="Also add it to perf's build-id cache (~/.debug, or $PERF_BUILDID_DIR), with an unwindable "
                   "copy of BINARY as the cache's 'elf' (see --perf-unwind).")
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
def command(binary: str, output: str | None, install_dir: str | None, perf_cache: bool, perf_unwind: bool,
            perf_unwind_place: str, debuglink_out: str | None, as_json: bool) -> None:
    """Synthesize an ELF debug file for a (stripped) Go BINARY from its .gopclntab.

    The file has .symtab (one symbol per Go function), DWARF 4 line tables and inline trees, and
    .debug_frame CFI, so nm, addr2line, llvm-symbolizer, gdb and perf work on -s -w binaries.
    """
    from symkeep.errors import InputError
    from symkeep.restore import restore_result, write_atomic
    from symkeep.symbolize import open_go_binary

    t0 = time.perf_counter()
    gob = open_go_binary(binary)
    res = restore_result(gob)
    elapsed = time.perf_counter() - t0
    written: dict[str, Any] = {}
    if output is None and install_dir is None and not perf_cache:
        output = binary + ".debug"
    if output is None and debuglink_out is not None:
        output = binary + ".debug"
    if output is not None:
        write_atomic(output, res.data)
        written["debug_file"] = os.path.abspath(output)
    warnings: list[str] = []
    if res.gnu_build_id is None and (install_dir or perf_cache or not as_json):
        warnings.append(NO_BUILD_ID_WARNING.format(path=binary))
    if install_dir is not None:
        if res.gnu_build_id is None:
            raise InputError(f"--install needs a GNU build-id; {binary} has none (-ldflags=-B=gobuildid)")
        from symkeep.restore.install import install_build_id

        written["build_id_file"] = str(install_build_id(install_dir, res.gnu_build_id, res.data))
    if perf_cache:
        if res.gnu_build_id is None:
            raise InputError(f"--perf-cache needs a GNU build-id; {binary} has none (-ldflags=-B=gobuildid)")
        from symkeep.restore.install import install_perf_cache

        elf: bytes | None = None
        unwind_info: dict[str, Any] | None = None
        if perf_unwind:
            from symkeep.restore.ehframe import unwindable_copy

            uc = unwindable_copy(gob, place=perf_unwind_place)
            elf = uc.data
            unwind_info = uc.as_dict()
        path = install_perf_cache(binary, res.gnu_build_id, res.data, elf=elf)
        written["perf_cache_file"] = str(path)
        if unwind_info is not None:
            written["perf_cache_elf"] = str(path.parent / "elf")
            written["perf_unwind"] = unwind_info
    if debuglink_out is not None:
        from symkeep.restore.debuglink import write_debuglinked_copy

        assert output is not None
        write_debuglinked_copy(binary, debuglink_out, output, res.data)
        written["debuglink_binary"] = os.path.abspath(debuglink_out)
        written["debuglink_name"] = os.path.basename(output)
    for w in warnings:
        click.echo(w, err=True)
    if as_json:
        doc = {"binary": os.path.abspath(binary), "written": written, "seconds": round(elapsed, 3),
               "warnings": warnings, **res.as_dict()}
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
        return
    click.echo(f"restored {res.functions} functions, {res.line_rows} line rows, {res.inlined} inlined calls "
               f"in {res.units} units ({len(res.data)} bytes, DWARF 4) in {elapsed:.2f}s")
    for k, v in written.items():
        if k == "perf_unwind":
            lo, hi = v["region"]
            what = (f"bytes of {v['overwritten_section']} replaced there (perf never reads it)"
                    if v["overwritten_section"] else
                    f"code of {len(v['overwritten_functions'])} functions replaced there (perf annotate of them "
                    "is wrong; --json lists them)")
            click.echo(f"  perf_unwind: {v['fdes']} FDEs in .eh_frame at {lo:#x}-{hi:#x} of the cached copy; {what}")
            continue
        click.echo(f"  {k}: {v}")
