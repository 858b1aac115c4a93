"""`symkeep funcs`: the function table from .gopclntab (records: :mod:`symkeep.symbolize.funclist`)."""

from __future__ import annotations

import json
import re
import sys

import click

from symkeep.cli.indexopt import index_cache, no_cache_option


@click.command("funcs")
@click.argument("binary", type=click.Path(path_type=str))
@click.option("--json", "as_json", is_flag=True, help="One JSON array.")
@click.option("--ndjson", is_flag=True, help="One JSON object per line, streamed.")
@click.option("--lines", "with_lines", is_flag=True, help="Also decode each function's line table (end_line).")
@click.option("--filter", "pattern", default=None, help="Only functions whose name matches this regex.")
@click.option("--arch", default=None, help="Slice of a universal Mach-O (GOARCH name).")
@no_cache_option
def command(binary: str, as_json: bool, ndjson: bool, with_lines: bool, pattern: str | None,
            arch: str | None, no_cache: bool) -> None:
    """List every function recorded in BINARY's .gopclntab (works on stripped binaries).

    Text output: entry, size, name, file:line, one function per row; piped, rows are never cut or
    wrapped (`symkeep funcs BIN | grep NAME` works); on a terminal, paths are shortened first to fit.
    """
    from symkeep.symbolize import open_go_binary
    from symkeep.symbolize.funclist import func_record, iter_functions, location

    try:
        rx = re.compile(pattern) if pattern else None
    except re.error as e:
        raise click.BadParameter(f"bad regex: {e}", param_hint="--filter") from e
    from symkeep.fsio import check_input_file

    check_input_file(binary)  # a FIFO or device would block the reader: refuse it (exit 3)
    gob = open_go_binary(binary, arch=arch, index=index_cache(no_cache) if with_lines else None)
    funcs = iter_functions(gob, rx)
    out = sys.stdout
    if ndjson:
        for fn in funcs:
            out.write(json.dumps(func_record(gob, fn, with_lines)) + "\n")
        return
    if as_json:
        out.write("[")
        for i, fn in enumerate(funcs):
            out.write(("," if i else "") + "\n  " + json.dumps(func_record(gob, fn, with_lines)))
        out.write("\n]\n")
        return
    from symkeep.cli.render import Column, Screen

    rows = []
    for fn in funcs:
        rec = func_record(gob, fn, with_lines)
        rows.append((rec["entry"], str(fn.size), fn.name, location(rec)))
    scr = Screen()
    scr.table([Column("entry", "fixed"), Column("size", "fixed", "right"), Column("name", "name"),
               Column("file:line", "path")], rows)
    scr.line(f"{len(rows):,} functions")
