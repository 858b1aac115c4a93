"""``symkeep symbolize``: raw-address profiles (pprof, perf script, folded) -> names, files, lines."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from symkeep.errors import OutputError

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
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="pprof", show_default=True)
@click.option("--input-format", type=click.Choice(INPUTS), default="auto", show_default=True)
@click.option("--force", is_flag=True, help="Re-symbolize locations that already have names.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option("--no-debuginfod", is_flag=True, help="Ignore DEBUGINFOD_URLS.")
@click.option("--inline-suffix", default=" (inline)", show_default=True, help="Folded output: inline marker.")
@click.option("--lines", "with_lines", is_flag=True, help="Folded output: add 'file:line' to frames.")
@click.option("--sample-index", type=int, default=-1, help="Folded output: which sample value (default: last).")
@click.option("--no-gzip", is_flag=True, help="Write the pprof output uncompressed.")
@click.option("-q", "--quiet", is_flag=True, help="No summary.")
def command(
    profile: str,
    output: str,
    binaries: tuple[str, ...],
    search_dirs: tuple[str, ...],
    fmt: str,
    input_format: str,
    force: bool,
    as_json: bool,
    no_debuginfod: bool,
    inline_suffix: str,
    with_lines: bool,
    sample_index: int,
    no_gzip: bool,
    quiet: bool,
) -> None:
    """Symbolize PROFILE: a pprof profile, `perf script` output or folded stacks.

    Finds each mapping's binary (--binary, the mapping's path, build-ID directories,
    PPROF_BINARY_PATH, DEBUGINFOD_URLS), refuses one whose build ID differs, translates PIE/ASLR
    addresses and writes one Location per address with its full inline chain. The summary goes to
    stderr (with --json: JSON, to stdout when -o is a file).
    """
    from symkeep.cli.heap import keep_heap
    from symkeep.profile.folded import profile_to_folded
    from symkeep.profile.pprof import serialize_profile
    from symkeep.profile.summary import format_summary
    from symkeep.profile.symbolizer import symbolize_file

    keep_heap()
    if fmt == "pprof" and output == "-" and sys.stdout.isatty():
        raise click.UsageError("refusing to write a binary profile to a terminal: use -o FILE or --format folded")
    result = symbolize_file(
        profile,
        binaries=list(binaries),
        search_dirs=list(search_dirs),
        input_format=input_format,
        force=force,
        debuginfod=not no_debuginfod,
    )
    if fmt == "folded":
        data = profile_to_folded(
            result.profile, sample_index=sample_index, inline_suffix=inline_suffix, with_lines=with_lines
        ).encode()
    else:
        data = serialize_profile(result.profile, compress=not no_gzip)
    if output == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    else:
        try:
            Path(output).write_bytes(data)
        except OSError as e:
            raise OutputError(f"{output}: cannot write: {e.strerror or e}") from e
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
