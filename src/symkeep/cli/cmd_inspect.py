"""`symkeep inspect`: what a Go binary kept, and which tools still work on it."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from symkeep.cli.render import emit_json, human_bytes

if TYPE_CHECKING:
    from symkeep.inspect.report import InspectReport


@click.command("inspect")
@click.argument("binary", type=click.Path(dir_okay=True, path_type=str))
@click.option("--json", "as_json", is_flag=True, help="Machine-readable report.")
@click.option("--arch", default=None, help="Slice of a universal Mach-O (GOARCH name).")
@click.option("--sections", "show_sections", is_flag=True, help="List every section, not just the classes.")
def command(binary: str, as_json: bool, arch: str | None, show_sections: bool) -> None:
    """What BINARY kept (pclntab, build info, build IDs, symbols, DWARF) and what still works on it."""
    from symkeep.fsio import check_input_file
    from symkeep.inspect.report import inspect_path

    check_input_file(binary)  # a FIFO or device would block the reader: refuse it (exit 3)
    rep = inspect_path(binary, arch=arch)
    if as_json:
        emit_json(rep.to_json())
        return
    _render(rep, show_sections)


def _render(rep: InspectReport, show_sections: bool) -> None:
    from symkeep.cli.render import Column, Screen

    c = Screen()
    b, go = rep.binary, rep.go
    p = go["pclntab"]
    c.line((rep.path, "bold"), f"  {human_bytes(rep.file_size)}")
    c.line(f"  {b['format'].upper()} {b['arch']} {b['bits']}-bit {b['endian']}-endian {b['type']}",
           "" if b["section_headers"] else ("  (no section headers)", "yellow"))
    c.line(f"  Go {(go['version'] or '?').removeprefix('go')}  (version from {go['version_source']})")
    c.line(f"  pclntab: Go {p['generation']}+ format (magic {p['magic']}), {p['functions']:,} functions, "
           f"{p['files']:,} files, {human_bytes(p['size'])} at {p['offset']:#x} (found by {p['source']})")
    ts = go.get("text_start")
    c.line(f"  text start: {ts:#x} (from {go['text_start_source']})" if ts is not None else "  text start: ?")
    c.line("  Go build ID:  ", go["build_id"] or ("none", "red"),
           ("  (redacted)", "yellow") if go.get("build_id_redacted") else "")
    if b["format"] == "elf":
        c.line("  GNU build-id: ", rep.gnu_build_id or ("none", "red"))
    bi = go.get("buildinfo")
    if bi:
        c.line(f"  module: {bi['path'] or '?'}  ({len(bi['deps'])} deps)")
        for k, v in bi["settings"].items():
            c.line(f"    build {k}={v}")
    else:
        c.line("  build info: ", ("none", "yellow"))
    st = rep.stripped
    c.line("  symbol table: ", ("stripped", "red") if st["symtab"] else "present", "   DWARF: ",
           ("stripped", "red") if st["dwarf"] else f"present (v{rep.dwarf['version']})")

    c.line()
    c.table([Column("class", "fixed"), Column("bytes", "fixed", "right"), Column("%", "fixed", "right"),
             Column("what", "text")],
            [(cl["name"], f"{cl['bytes']:,}", f"{cl['percent']:.1f}", cl["help"]) for cl in rep.classes if cl["bytes"]],
            title="Where the bytes are")
    if show_sections:
        c.line()
        c.table([Column("name", "name"), Column("size", "fixed", "right"), Column("class", "fixed")],
                [(sec["name"], f"{sec['size']:,}", sec["class"]) for sec in rep.sections], title="Sections")
    yes, no = ("✓", "green"), ("✗", "red")
    c.line()
    c.table([Column("consumer", "name"), Column("names", "fixed", "center"), Column("lines", "fixed", "center"),
             Column("why", "text")],
            [(v.name, yes if v.works else no, "–" if v.lines is None else yes if v.lines else no, v.reason)
             for v in rep.consumers],
            title="What still works")
    if rep.advice:
        c.line()
        c.line(("Advice", "bold"))
        for a in rep.advice:
            c.line(f"  • {a}")
    for wmsg in rep.warnings:
        c.line(("warning:", "yellow"), f" {wmsg}")
