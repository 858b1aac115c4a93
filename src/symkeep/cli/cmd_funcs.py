"""`symkeep funcs`: the function table from .gopclntab, streamed."""

from __future__ import annotations

import json
import re
import sys
from typing import Any

import click


def _record(gob: Any, fn: Any, with_lines: bool) -> dict[str, Any]:
    rec: dict[str, Any] = {
        "name": fn.name,
        "package": fn.package,
        "entry": f"{fn.entry:#x}",
        "end": f"{fn.end:#x}",
        "size": fn.size,
        "file": fn.file,
        "start_line": fn.start_line,
        "flags": list(fn.flag_names) if hasattr(fn, "flag_names") else [],
        "func_id": fn.func_id,
    }
    if with_lines:
        outer = [r.frames[-1].line for r in gob.ranges(fn) if r.frames and r.frames[-1].line > 0]
        rec["end_line"] = max(outer) if outer else None
    return rec


@click.command("funcs")
@click.argument("binary", type=click.Path(path_type=str))
@click.option("--json", "as_json", is_flag=True, help="One JSON array.")
@click.option("--ndjson", is_flag=True, help="One JSON object per line, streamed.")
@click.option("--lines", "with_lines", is_flag=True, help="Also decode each function's line table (end_line).")
@click.option("--filter", "pattern", default=None, help="Only functions whose name matches this regex.")
@click.option("--arch", default=None, help="Slice of a universal Mach-O (GOARCH name).")
def command(binary: str, as_json: bool, ndjson: bool, with_lines: bool, pattern: str | None,
            arch: str | None) -> None:
    """List every function recorded in BINARY's .gopclntab (works on stripped binaries)."""
    from symkeep.symbolize import open_go_binary

    try:
        rx = re.compile(pattern) if pattern else None
    except re.error as e:
        raise click.BadParameter(f"bad regex: {e}", param_hint="--filter") from e
    gob = open_go_binary(binary, arch=arch)
    funcs = (f for f in gob.functions() if rx is None or rx.search(f.name))
    out = sys.stdout
    if ndjson:
        for fn in funcs:
            out.write(json.dumps(_record(gob, fn, with_lines)) + "\n")
        out.flush()
        return
    if as_json:
        out.write("[")
        for i, fn in enumerate(funcs):
            out.write(("," if i else "") + "\n  " + json.dumps(_record(gob, fn, with_lines)))
        out.write("\n]\n")
        return
    from rich.table import Table

    from symkeep.cli.render import console

    t = Table(show_edge=False, box=None)
    for col in ("entry", "size", "name", "file:line"):
        t.add_column(col, justify="right" if col in ("size",) else "left", no_wrap=col != "name")
    n = 0
    for fn in funcs:
        rec = _record(gob, fn, with_lines)
        loc = f"{fn.file}:{fn.start_line}" if fn.start_line else (fn.file or "?")
        if with_lines and rec.get("end_line"):
            loc += f"-{rec['end_line']}"
        t.add_row(rec["entry"], str(fn.size), fn.name, loc)
        n += 1
    console().print(t)
    console().print(f"{n:,} functions")
