"""``symkeep flamegraph`` as a library call: profiles + options -> output bytes (what the CLI and
``symkeep serve`` both call)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from symkeep.errors import UsageError
from symkeep.flame.html import HtmlOptions, render_html
from symkeep.flame.outputs import render_folded, render_folded_diff, render_speedscope, render_svg
from symkeep.flame.pbsamples import RawSamples
from symkeep.flame.stacks import Interner, StackSet, from_samples, pick_sample_type
from symkeep.flame.tree import FlameTree, build_tree

__all__ = ["FORMATS", "FlameOptions", "format_from_path", "graph", "render", "stackset", "summarize"]

FORMATS = ("html", "svg", "folded", "speedscope")


@dataclass(frozen=True)
class FlameOptions:
    sample_type: str | None = None
    tags: tuple[tuple[str, str], ...] = ()
    group_by_label: str | None = None
    focus: str | None = None
    ignore: str | None = None
    icicle: bool = False
    min_width: float = 0.5
    title: str = "symkeep flame graph"
    subtitle: str = ""
    main_module: str = ""
    extra: dict[str, str] = field(default_factory=dict)


def format_from_path(path: str) -> str:
    """html / svg / folded / speedscope from an output name (``.speedscope.json``, ``.json``, ...)."""
    low = path.lower()
    if low.endswith((".html", ".htm")):
        return "html"
    if low.endswith(".svg"):
        return "svg"
    if low.endswith((".folded", ".txt", ".collapsed")):
        return "folded"
    if low.endswith(".json"):
        return "speedscope"
    raise UsageError(f"{path}: cannot tell the format from the name; use --format {'|'.join(FORMATS)}")


def stackset(profiles: Sequence[RawSamples], opts: FlameOptions, it: Interner) -> StackSet:
    """Every profile's rows in one table (same sample type by name), filtered as ``opts`` says."""
    if not profiles:
        raise UsageError("no profile given")
    out: StackSet | None = None
    want = opts.sample_type
    for rs in profiles:
        idx = pick_sample_type(rs, want)
        ss = from_samples(rs, it, idx, opts.main_module)
        want = want or ss.sample_type  # the next profiles must have the same type
        out = ss if out is None else out.concat(ss)
    assert out is not None
    out = out.filter_tags(list(opts.tags)).focus(opts.focus).ignore(opts.ignore)
    return out.group_by_label(opts.group_by_label)


def graph(profiles: Sequence[RawSamples], opts: FlameOptions,
          base: Sequence[RawSamples] = ()) -> tuple[StackSet, StackSet | None, FlameTree]:
    it = Interner()
    main = stackset(profiles, opts, it)
    bset = None
    if base:
        bopts = FlameOptions(**{**opts.__dict__, "sample_type": opts.sample_type or main.sample_type})
        bset = stackset(base, bopts, it)
    return main, bset, build_tree(main, bset)


def summarize(ss: StackSet, tree: FlameTree | None = None) -> dict[str, object]:
    """What was drawn (``symkeep flamegraph --json``): totals, frames by class, inline and unsymbolized."""
    import numpy as np

    it = ss.interner
    used = np.unique(ss.fr).tolist() if len(ss.fr) else []
    by_kind: dict[str, int] = {}
    for f in used:
        by_kind[it.frames[f].kind] = by_kind.get(it.frames[f].kind, 0) + 1
    labels = sorted({lb for i in np.unique(ss.ls).tolist() for lb in it.labelsets[i]})
    out: dict[str, object] = {
        "sample_type": ss.sample_type,
        "unit": ss.unit,
        "total": ss.total(),
        "stacks": ss.rows,
        "frames": len(used),
        "frames_by_class": by_kind,
        "inlined_frames": sum(1 for f in used if it.frames[f].inlined),
        "labels": labels,
    }
    if tree is not None:
        out["nodes"] = tree.n
    return out


def render(fmt: str, profiles: Sequence[RawSamples], opts: FlameOptions, base: Sequence[RawSamples] = (),
           stats: dict[str, object] | None = None) -> bytes:
    """The output bytes; ``stats`` (when given) is filled with :func:`summarize` of what was drawn."""
    stats = stats if stats is not None else {}
    if fmt not in FORMATS:
        raise UsageError(f"unknown format {fmt!r} (one of {', '.join(FORMATS)})")
    if fmt == "speedscope" and base:
        raise UsageError("--diff has no speedscope form (speedscope has no differential view): use html, svg or folded")
    if fmt in ("folded", "speedscope"):
        it = Interner()
        main = stackset(profiles, opts, it)
        stats.update(summarize(main))
        if fmt == "speedscope":
            return render_speedscope(main, name=opts.title)
        if base:
            bopts = FlameOptions(**{**opts.__dict__, "sample_type": opts.sample_type or main.sample_type})
            return render_folded_diff(main, stackset(base, bopts, it))
        return render_folded(main)
    main, _, tree = graph(profiles, opts, base)
    stats.update(summarize(main, tree))
    if fmt == "svg":
        return render_svg(tree, title=opts.title, icicle=opts.icicle, min_width=opts.min_width)
    return render_html(tree, HtmlOptions(title=opts.title, subtitle=opts.subtitle, icicle=opts.icicle,
                                         min_width=opts.min_width))
