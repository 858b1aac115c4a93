"""`symkeep inspect`: what a Go binary kept, and which tools still work on it."""

from __future__ import annotations

import click

from symkeep.cli.render import console, emit_json, human_bytes


@click.command("inspect")
@click.argument("binary", type=click.Path(dir_okay=True, path_type=str))
@click.option("--json", "as_json", is_flag=True, help="Machine-readable report.")
@click.option("--arch", default=None, help="Slice of a universal Mach-O (GOARCH name).")
@click.option("--sections", "show_sections", is_flag=True, help="List every section, not just the classes.")
def command(binary: str, as_json: bool, arch: str | None, show_sections: bool) -> None:
    """What BINARY kept (pclntab, build info, build IDs, symbols, DWARF) and what still works on it."""
    from symkeep.inspect.report import inspect_path

    rep = inspect_path(binary, arch=arch)
    if as_json:
        emit_json(rep.to_json())
        return
    _render(rep, show_sections)


def _render(rep: object, show_sections: bool) -> None:
    from rich.table import Table

    from symkeep.inspect.report import InspectReport

    assert isinstance(rep, InspectReport)
    c = console()
    b, go = rep.binary, rep.go
    p = go["pclntab"]
    c.print(f"[bold]{rep.path}[/bold]  {human_bytes(rep.file_size)}")
    c.print(f"  {b['format'].upper()} {b['arch']} {b['bits']}-bit {b['endian']}-endian {b['type']}"
            + ("" if b["section_headers"] else "  [yellow](no section headers)[/yellow]"))
    c.print(f"  Go {(go['version'] or '?').removeprefix('go')}  (version from {go['version_source']})")
    c.print(f"  pclntab: Go {p['generation']}+ format (magic {p['magic']}), {p['functions']:,} functions, "
            f"{p['files']:,} files, {human_bytes(p['size'])} at {p['offset']:#x} (found by {p['source']})")
    ts = go.get("text_start")
    c.print(f"  text start: {ts:#x} (from {go['text_start_source']})" if ts is not None else "  text start: ?")
    gid = go["build_id"] or "[red]none[/red]"
    if go.get("build_id_redacted"):
        gid += " [yellow](redacted)[/yellow]"
    c.print(f"  Go build ID:  {gid}")
    if b["format"] == "elf":
        c.print(f"  GNU build-id: {rep.gnu_build_id or '[red]none[/red]'}")
    bi = go.get("buildinfo")
    if bi:
        c.print(f"  module: {bi['path'] or '?'}  ({len(bi['deps'])} deps)")
        for k, v in bi["settings"].items():
            val = v if len(v) <= 60 else v[:57] + "..."
            c.print(f"    build {k}={val}", overflow="ellipsis", no_wrap=True)
    else:
        c.print("  build info: [yellow]none[/yellow]")
    st = rep.stripped
    c.print(f"  symbol table: {'[red]stripped[/red]' if st['symtab'] else 'present'}   "
            f"DWARF: {'[red]stripped[/red]' if st['dwarf'] else 'present (v' + str(rep.dwarf['version']) + ')'}")

    t = Table(title="Where the bytes are", title_justify="left")
    t.add_column("class")
    t.add_column("bytes", justify="right")
    t.add_column("%", justify="right")
    t.add_column("what")
    for cl in rep.classes:
        if cl["bytes"]:
            t.add_row(cl["name"], f"{cl['bytes']:,}", f"{cl['percent']:.1f}", cl["help"])
    c.print(t)
    if show_sections:
        s = Table(title="Sections", title_justify="left")
        for col in ("name", "size", "class"):
            s.add_column(col)
        for sec in rep.sections:
            s.add_row(sec["name"], f"{sec['size']:,}", sec["class"])
        c.print(s)

    w = Table(title="What still works", title_justify="left")
    w.add_column("consumer")
    w.add_column("names", justify="center")
    w.add_column("lines", justify="center")
    w.add_column("why")
    for v in rep.consumers:
        lines = "–" if v.lines is None else "[green]✓[/green]" if v.lines else "[red]✗[/red]"
        w.add_row(v.name, "[green]✓[/green]" if v.works else "[red]✗[/red]", lines, v.reason)
    c.print(w)
    if rep.advice:
        c.print("[bold]Advice[/bold]")
        for a in rep.advice:
            c.print(f"  • {a}")
    for wmsg in rep.warnings:
        c.print(f"[yellow]warning:[/yellow] {wmsg}")
