"""`symkeep split`: a stripped executable and its debug file (objcopy), or a synthesized one."""

from __future__ import annotations

import json
import sys

import click


@click.command("split")
@click.argument("binary", type=click.Path(path_type=str))
@click.option("-o", "--output", "stripped", default=None, help="Stripped executable (default BINARY.stripped).")
@click.option("--debug-out", default=None, help="Debug file (default BINARY.debug).")
@click.option("--synthesize", is_flag=True,
              help="Write the debug file synthesized from .gopclntab (for an already stripped Go binary).")
@click.option("--objcopy", default=None, help="objcopy to use (default: objcopy, else llvm-objcopy).")
@click.option("--json", "as_json", is_flag=True, help="Describe what was written as JSON.")
def command(binary: str, stripped: str | None, debug_out: str | None, synthesize: bool, objcopy: str | None,
            as_json: bool) -> None:
    """Split an ELF BINARY into a stripped executable (with a .gnu_debuglink) and a debug file
    (what objcopy --only-keep-debug + strip --strip-debug --strip-unneeded give; build-id notes kept)."""
    from symkeep.store.split import split_binary

    res = split_binary(binary, stripped, debug_out, synthesize=synthesize, objcopy=objcopy)
    if as_json:
        sys.stdout.write(json.dumps(res.as_dict(), indent=2) + "\n")
        return
    click.echo(f"stripped: {res.stripped} ({res.stripped_size} bytes)")
    click.echo(f"debug:    {res.debug} ({res.debug_size} bytes, {res.method})")
