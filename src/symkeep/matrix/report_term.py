"""The rich terminal report: sizes and ✓/◐/✗ per probe (one symbol per toolchain), reasons, timings.

Column titles are never cut and every title is printed once. When a table does not fit the console at
its natural width, its columns get fixed widths no smaller than their longest word (titles and cells
wrap at spaces only), the variants are named by their short names (the size table maps them to their
flags), and the probe columns continue in further tables. The runtime table has one row per variant and
toolchain rather than a column group per toolchain. Piped output: pass a very wide console.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from symkeep.matrix import report_common as rc

__all__ = ["print_report", "runtime_table", "verdict_tables"]

_STYLE = {"ok": "green", "partial": "yellow", "fail": "red", "na": "dim", "error": "magenta"}

Col = tuple[str, str]  # (title, justify)


def _words(s: str) -> int:
    """The narrowest a text wrapped at spaces can get: its longest word."""
    return max((len(w) for w in s.split()), default=0)


def _min(t: Text) -> int:
    return len(t.plain) if t.no_wrap else _words(t.plain)


def _width(cols: Sequence[int]) -> int:
    """Width of a rich table with the default box: one padding space each side, a rule between columns."""
    return sum(cols) + 3 * len(cols) + 1


def _natural(cols: Sequence[Col], rows: Sequence[Sequence[Text]]) -> list[int]:
    return [max([len(c[0])] + [len(r[i].plain) for r in rows]) for i, c in enumerate(cols)]


def _narrowest(cols: Sequence[Col], rows: Sequence[Sequence[Text]]) -> list[int]:
    return [max([_words(c[0])] + [_min(r[i]) for r in rows]) for i, c in enumerate(cols)]


def _fit(cols: Sequence[Col], rows: Sequence[Sequence[Text]], width: int, **kw: Any) -> Table:
    """Natural widths when they fit; else the widest columns give up their room first,
    none narrower than its longest word (so nothing is cut; a too-narrow console gets a wider table)."""
    fixed: list[int | None] = [None] * len(cols)
    nat = _natural(cols, rows)
    excess = _width(nat) - width
    if excess > 0:
        mins = _narrowest(cols, rows)
        ws = list(nat)
        for i in sorted(range(len(ws)), key=lambda i: ws[i], reverse=True):  # widest first
            cut = min(excess, ws[i] - mins[i])
            ws[i] -= cut
            excess -= cut
            if excess <= 0:
                break
        fixed = list(ws)
    t = Table(header_style="bold", **kw)
    for (title, justify), w in zip(cols, fixed, strict=True):
        t.add_column(title, justify=justify, width=w)  # type: ignore[arg-type]
    for r in rows:
        t.add_row(*r, end_section=False)
    return t


def _size_text(r: dict[str, Any] | None, v: dict[str, Any]) -> Text:
    size = Text()
    if r is None or r.get("status") != "ok":
        size.append("error", style="magenta")
        return size
    s = r.get("size", {})
    size.append(rc.fmt_size(s.get("file")))
    d = rc.size_delta(s, v)
    if d:
        size.append(f" {d}", style="cyan")
    return size


def _probe_cell(row: dict[str, Any], p: str) -> Text:
    txt = Text(no_wrap=True)
    for i, r in enumerate(row["results"]):
        if i:
            txt.append(" ")
        st = rc.verdict(r, p)["status"]
        txt.append(rc.SYMBOLS.get(st, "?"), style=_STYLE.get(st, ""))
    return txt


def verdict_tables(report: dict[str, Any], width: int) -> tuple[list[Table], bool]:
    """The verdict grid: one table when it fits ``width`` at its natural width; else a size table
    (variant name, flags, sizes) and the probe columns split over tables keyed by the variant name.
    Also says whether it had to go narrow."""
    tcs = rc.toolchains(report)
    probes = report.get("probes", {})
    rows = rc.grid(report)
    title = f"symkeep matrix — {report.get('package')} ({report.get('target')})"
    size_cols: list[Col] = [(f"{tc.removeprefix('go')} size (Δ)", "right") for tc in tcs]
    sizes = [[_size_text(r, row["variant"]) for r in row["results"]] for row in rows]
    probe_cols: list[Col] = [(t, "center") for t in probes.values()]
    cells = [[_probe_cell(row, p) for p in probes] for row in rows]

    cols: list[Col] = [("variant", "left"), *size_cols, *probe_cols]
    full = [[Text(str(row["variant"]["label"])), *sz, *pc] for row, sz, pc in zip(rows, sizes, cells, strict=True)]
    if _width(_natural(cols, full)) <= width:
        return [_fit(cols, full, width, title=title)], False

    names = [Text(str(row["variant"]["name"]), no_wrap=True) for row in rows]
    tables = [_fit([("variant", "left"), ("flags", "left"), *size_cols],
                   [[n, Text(str(row["variant"]["label"])), *sz] for n, row, sz in zip(names, rows, sizes, strict=True)],
                   width, title=title)]
    name_w = max([len("variant")] + [len(n.plain) for n in names])
    chunks: list[list[int]] = [[]]
    widths = [name_w]
    for k, (t, _j) in enumerate(probe_cols):
        w = max(_words(t), *(_min(c[k]) for c in cells))
        if chunks[-1] and _width([*widths, w]) > width:
            chunks.append([])
            widths = [name_w]
        chunks[-1].append(k)
        widths.append(w)
    for chunk in chunks:
        tables.append(_fit([("variant", "left"), *(probe_cols[k] for k in chunk)],
                           [[n, *(c[k] for k in chunk)] for n, c in zip(names, cells, strict=True)],
                           width))
    return tables, True


def runtime_table(report: dict[str, Any], width: int, short_names: bool = False) -> Table:
    """One row per variant and toolchain: each column title once."""
    tcs = rc.toolchains(report)
    cols: list[Col] = [("variant", "left"), ("toolchain", "left"), ("build s", "right"), ("start-up ms", "right"),
                       ("RSS MiB", "right"), ("ops/CPU-s Δ", "right"), ("profile overhead", "right")]
    rows: list[list[Text]] = []
    for row in rc.runtime_rows(report):
        v = row["variant"]
        for i, (tc, c) in enumerate(zip(tcs, row["cells"], strict=True)):
            label = Text(str(v["name"] if short_names else v["label"]) if i == 0 else "", no_wrap=short_names)
            if c is None:
                rows.append([label, Text(tc), *(Text("—") for _ in range(5))])
                continue
            if c["overhead"] is None:
                ovh = "—" if not c["cpu_error"] else "n/a"
            else:
                lo, hi = c["overhead_spread"]
                ovh = f"{c['overhead']:.1f}% [{lo:.1f}…{hi:.1f}]"
            if v["name"] == "default":
                delta = "ref"
            else:
                delta = rc.fmt_pct(c["ops_delta"]) if c["ops_delta"] is not None else "—"
            rows.append([label, Text(tc), Text(rc.fmt_num(c["build_s"], 1)), Text(rc.fmt_num(c["startup_ms"], 0)),
                         Text(rc.fmt_num(c["rss_mib"], 1)), Text(delta), Text(ovh)])
    return _fit(cols, rows, width, title="Build and run time (median, spread)")


def print_report(report: dict[str, Any], console: Console) -> None:
    tables, narrow = verdict_tables(report, console.width)
    for t in tables:
        console.print(t)
    console.print(f"each cell: {'  '.join(rc.toolchains(report))}   ✓ names+lines  ◐ partial  ✗ fails  "
                  "! could not run", highlight=False, soft_wrap=not console.is_terminal)

    rs = rc.reasons(report)
    if rs:
        console.print("[bold]Why not ✓[/bold] (variant@toolchain)")
        for what, why, where in rs:
            console.print(f"  [bold]{what}[/bold] {', '.join(where)}: {why}", highlight=False, soft_wrap=True)

    console.print(runtime_table(report, console.width, short_names=narrow))

    recs = report.get("recommendations", {})
    if recs:
        console.print("[bold]Recommendations[/bold] (smallest variant that passes the scenario's probes)")
        for scen, rec in recs.items():
            parts = []
            for tc, r in rec["by_toolchain"].items():
                if r.get("variant"):
                    parts.append(f"{tc}: [green]{r['label']}[/green] ({rc.fmt_size(r['size'])}"
                                 f"{', ' + rc.fmt_pct(r['delta_vs_default_pct']) if r.get('delta_vs_default_pct') else ''})")
                else:
                    parts.append(f"{tc}: [red]none[/red] ({r['reason']})")
            console.print(f"  [bold]{scen}[/bold] — {rec['needs']}: " + "; ".join(parts), highlight=False,
                          soft_wrap=True)
    cached = sum(1 for r in report.get("results", []) if r.get("cached"))
    console.print(f"[dim]{len(report.get('results', []))} cells, {cached} from cache, "
                  f"{report.get('elapsed_seconds', 0):.1f}s[/dim]")
