"""``symkeep flamegraph``: profiles -> HTML / SVG / folded / speedscope flame graphs."""

from __future__ import annotations

import click

FORMATS = ("auto", "html", "svg", "folded", "speedscope")


def _tag(value: str) -> tuple[str, str]:
    from symkeep.errors import UsageError

    k, sep, v = value.partition("=")
    if not sep or not k:
        raise UsageError(f"--tag {value!r}: expected KEY=VALUE")
    return k, v


@click.command("flamegraph")
@click.argument("profiles", nargs=-1, required=True, type=click.Path(dir_okay=False, allow_dash=True))
@click.option("-o", "--output", required=True, help="Output file: .html, .svg, .folded or .speedscope.json ('-' = stdout).")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="auto", show_default=True,
              help="Output format (auto: from the output's name).")
@click.option("--sample-type", help="Sample type to draw (cpu, samples, alloc_space, ...; default: the profile's).")
@click.option("--tag", "tags", multiple=True, help="Only samples with pprof label KEY=VALUE (repeatable).")
@click.option("--group-by-label", "group_by", metavar="KEY", help="One root per value of pprof label KEY.")
@click.option("--focus", metavar="REGEX", help="Only samples with a frame matching REGEX.")
@click.option("--ignore", metavar="REGEX", help="Drop samples with a frame matching REGEX.")
@click.option("--diff", "diff_base", multiple=True, type=click.Path(dir_okay=False), metavar="BASE",
              help="Differential graph against BASE (repeatable: merged): grew red, shrank blue, normalised.")
@click.option("--icicle", is_flag=True, help="Root at the top.")
@click.option("--min-width", type=float, default=0.5, show_default=True,
              help="Frames narrower than this many pixels are not drawn.")
@click.option("--binary", "binaries", multiple=True, type=click.Path(), help="Symbolize raw profiles with this binary.")
@click.option("--search-dir", "search_dirs", multiple=True, type=click.Path(), help="Build-ID directory for binaries.")
@click.option("--input-format", type=click.Choice(("auto", "pprof", "perf", "folded")), default="auto",
              show_default=True)
@click.option("--main-module", default="", help="Module path coloured as 'main' (default: from the binary's build info).")
@click.option("--title", default="", help="Title of the graph.")
@click.option("--json", "as_json", is_flag=True,
              help="Print what was drawn as JSON (stdout; stderr when the graph goes to stdout).")
def command(
    profiles: tuple[str, ...], output: str, fmt: str, sample_type: str | None, tags: tuple[str, ...],
    group_by: str | None, focus: str | None, ignore: str | None, diff_base: tuple[str, ...], icicle: bool,
    min_width: float, binaries: tuple[str, ...], search_dirs: tuple[str, ...], input_format: str,
    main_module: str, title: str, as_json: bool,
) -> None:
    """Draw a flame graph of PROFILE... (pprof, gzip or not; perf script; folded stacks).

    Several profiles are merged. Raw addresses are symbolized when --binary is given; what stays
    unsymbolized is drawn as module+0xOFFSET. Colours: runtime, stdlib, main module, dependencies,
    cgo, kernel, unsymbolized (see README).
    """
    from symkeep.errors import UsageError
    from symkeep.flame.load import load_samples, main_module_of
    from symkeep.flame.render import FlameOptions, format_from_path, render
    from symkeep.fsio import OutputTarget

    if fmt == "auto":
        if output == "-":
            raise UsageError("--format is required when writing to stdout")
        fmt = format_from_path(output)
    target = OutputTarget.check(output)
    if min_width < 0:
        raise UsageError("--min-width must be >= 0")
    opts = FlameOptions(
        sample_type=sample_type,
        tags=tuple(_tag(t) for t in tags),
        group_by_label=group_by,
        focus=focus,
        ignore=ignore,
        icicle=icicle,
        min_width=min_width,
        title=title or " + ".join(p.rsplit("/", 1)[-1] for p in profiles),
        subtitle=("diff vs " + ", ".join(diff_base)) if diff_base else "",
        main_module=main_module or main_module_of(binaries),
    )
    kw = {"binaries": binaries, "search_dirs": search_dirs, "input_format": input_format}
    main = [load_samples(p, **kw) for p in profiles]  # type: ignore[arg-type]
    base = [load_samples(p, **kw) for p in diff_base]  # type: ignore[arg-type]
    stats: dict[str, object] = {}
    target.write(render(fmt, main, opts, base, stats))
    if as_json:
        import json
        import sys

        stats.update({"format": fmt, "output": output, "profiles": list(profiles), "diff": list(diff_base)})
        (sys.stderr if target.is_stdout else sys.stdout).write(json.dumps(stats, indent=2) + "\n")
