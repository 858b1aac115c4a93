"""``symkeep matrix``: build a program in many variants and measure size vs. what still works."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path
from typing import Any

import click

from symkeep.errors import InputError, UsageError
from symkeep.matrix.variants import DEFAULT_VARIANTS


def _split(s: str | None) -> list[str] | None:
    if s is None:
        return None
    try:
        return shlex.split(s)
    except ValueError as e:
        raise UsageError(f"cannot parse arguments {s!r}: {e}") from e


@click.command(name="matrix")
@click.argument("pkg", required=False, type=click.Path(file_okay=False, path_type=Path))
@click.option("--go", "go", multiple=True, metavar="PATH_OR_VERSION",
              help="Toolchain(s) to compare side by side (repeatable; comma-separated also works). "
                   "Default: the newest toolchain found.")
@click.option("--variants", metavar="LIST",
              help="Comma-separated default variant names and/or NAME=FLAGS[|post:strip|split|restore]; "
                   "a leading + adds to the defaults. Default: the full set: "
                   + ", ".join(v.name for v in DEFAULT_VARIANTS) + ".")
@click.option("--run-args", metavar="ARGS",
              help="Arguments that start the program with a pprof endpoint; {port} is replaced by a free "
                   "port, else the port is read from the first 127.0.0.1:PORT it prints. "
                   "Demo default: '-addr 127.0.0.1:0 -busy'.")
@click.option("--work-args", metavar="ARGS",
              help="Benchmark command printing ops_per_sec=N ({seconds} is replaced); the matrix appends "
                   "'-cpuprofile FILE' for the profiled run. Demo default: '-work {seconds}s'.")
@click.option("--panic-args", metavar="ARGS", help="Arguments that make the program panic (demo: -panic).")
@click.option("--gdb-break", metavar="FUNC", help="Function gdb breaks on (demo: main.crunch; else main.main).")
@click.option("--profile-seconds", type=float, default=2.0, show_default=True,
              help="Length of each benchmark run with and without a CPU profile.")
@click.option("--repeat", type=int, default=3, show_default=True,
              help="Repetitions of start-up and CPU measurements (median and spread are reported).")
@click.option("--probes", metavar="LIST", help="Only these probes (comma-separated names).")
@click.option("--jobs", "-j", type=int, default=0, help="Parallel builds (default: number of cores).")
@click.option("--startup-timeout", type=float, default=20.0, show_default=True,
              help="Seconds to wait for the pprof endpoint.")
@click.option("--no-cache", is_flag=True, help="Measure everything again (results are still stored).")
@click.option("--cache-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Default: ~/.cache/symkeep/matrix.")
@click.option("--json", "as_json", is_flag=True, help="Print the full JSON report (all raw measurements).")
@click.option("--markdown", "as_md", is_flag=True, help="Print a Markdown report.")
@click.option("--html", "html_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Write a self-contained HTML report to FILE.")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path),
              help="Write --json/--markdown output to FILE instead of stdout.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def command(pkg: Path | None, go: tuple[str, ...], variants: str | None, run_args: str | None,
            work_args: str | None, panic_args: str | None, gdb_break: str | None, profile_seconds: float,
            repeat: int, probes: str | None, jobs: int, startup_timeout: float, no_cache: bool,
            cache_dir: Path | None, as_json: bool, as_md: bool, html_file: Path | None,
            output: Path | None, quiet: bool) -> None:
    """Build PKG (default: the bundled demo service) in many variants and measure, per toolchain, the
    size by retention class, build/start-up time, RSS, CPU profiling overhead, and which tools still
    name the program's functions and lines (runtime pprof, go tool pprof, llvm-symbolizer, perf, nm,
    addr2line, gdb, panic traces, debuginfod, symkeep addr2line).
    """
    from rich.console import Console

    from symkeep.matrix.probes import PROBES
    from symkeep.matrix.runner import MatrixOptions, run_matrix
    from symkeep.matrix.variants import select_variants

    if as_json and as_md:
        raise click.UsageError("--json and --markdown are exclusive")
    if profile_seconds <= 0 or repeat < 1:
        raise click.UsageError("--profile-seconds must be > 0 and --repeat >= 1")
    if pkg is not None and not pkg.is_dir():
        raise InputError(f"{pkg}: no such package directory")
    probe_list: list[str] = []
    if probes:
        probe_list = [p.strip() for p in probes.split(",") if p.strip()]
        bad = [p for p in probe_list if p not in PROBES]
        if bad:
            raise click.UsageError(f"unknown probe(s) {', '.join(bad)}; known: {', '.join(PROBES)}")
    go_specs = [s.strip() for g in go for s in g.split(",") if s.strip()]
    opts = MatrixOptions(
        package=pkg, go=go_specs, variants=select_variants(variants), run_args=_split(run_args),
        work_args=_split(work_args), panic_args=_split(panic_args), gdb_break=gdb_break,
        profile_seconds=profile_seconds, repeat=repeat, jobs=jobs, startup_timeout=startup_timeout,
        cache=not no_cache, cache_dir=cache_dir, probes=probe_list,
    )
    err = Console(stderr=True)
    report = _run_with_progress(opts, err, quiet or not err.is_terminal, run_matrix)

    if html_file is not None:
        from symkeep.matrix.report_html import render_html

        html_file.write_text(render_html(report), encoding="utf-8")
        err.print(f"wrote {html_file}")
    text: str | None = None
    if as_json:
        text = json.dumps(report, indent=2, default=str) + "\n"
    elif as_md:
        from symkeep.matrix.report_md import render_markdown

        text = render_markdown(report)
    if text is not None:
        if output is not None:
            output.write_text(text, encoding="utf-8")
        else:
            sys.stdout.write(text)
    else:
        from symkeep.cli.render import Screen
        from symkeep.matrix.report_term import print_report

        print_report(report, Screen().rich_console())
    if not any(r.get("status") == "ok" for r in report.get("results", [])):
        sys.exit(1)


def _run_with_progress(opts: Any, console: Any, quiet: bool, run: Any) -> dict[str, Any]:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from symkeep.matrix.runner import Progress as Hooks

    if quiet:
        result: dict[str, Any] = run(opts)
        return result
    with Progress(TextColumn("[bold]{task.fields[phase]}[/bold] {task.description}"), BarColumn(),
                  MofNCompleteColumn(), TimeElapsedColumn(), console=console, transient=True) as bar:
        tasks: dict[str, Any] = {}

        def start(phase: str, total: int) -> None:
            tasks[phase] = bar.add_task("", total=total, phase=phase)

        def advance(phase: str, what: str) -> None:
            if phase in tasks:
                bar.update(tasks[phase], advance=1, description=what)

        result = run(opts, Hooks(start=start, advance=advance))
        return result
