"""The rich terminal report: sizes and ✓/◐/✗ per probe (one symbol per toolchain), reasons, timings."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from symkeep.matrix import report_common as rc

__all__ = ["print_report"]

_STYLE = {"ok": "green", "partial": "yellow", "fail": "red", "na": "dim", "error": "magenta"}


def print_report(report: dict[str, Any], console: Console) -> None:
    tcs = rc.toolchains(report)
    probes = report.get("probes", {})
    t = Table(title=f"symkeep matrix — {report.get('package')} ({report.get('target')})",
              caption=f"each cell: {'  '.join(tcs)}   ✓ names+lines  ◐ partial  ✗ fails  ! could not run",
              show_lines=False, header_style="bold")
    t.add_column("variant", no_wrap=True)
    for tc in tcs:
        t.add_column(f"{tc.removeprefix('go')} size (Δ)", justify="right", no_wrap=True)
    for title in probes.values():
        t.add_column(title, justify="center")
    for row in rc.grid(report):
        v = row["variant"]
        sizes: list[Text] = []
        for r in row["results"]:
            size = Text()
            if r is None or r.get("status") != "ok":
                size.append("error", style="magenta")
            else:
                s = r.get("size", {})
                size.append(rc.fmt_size(s.get("file")))
                d = rc.size_delta(s, v)
                if d:
                    size.append(f" {d}", style="cyan")
            sizes.append(size)
        cells = []
        for p in probes:
            txt = Text()
            for i, r in enumerate(row["results"]):
                if i:
                    txt.append(" ")
                st = rc.verdict(r, p)["status"]
                txt.append(rc.SYMBOLS.get(st, "?"), style=_STYLE.get(st, ""))
            cells.append(txt)
        t.add_row(Text(v["label"]), *sizes, *cells)
    console.print(t)

    rs = rc.reasons(report)
    if rs:
        console.print("[bold]Why not ✓[/bold] (variant@toolchain)")
        for what, why, where in rs:
            console.print(f"  [bold]{what}[/bold] {', '.join(where)}: {why}", highlight=False, soft_wrap=True)

    rt = Table(title="Build and run time (median, spread)", header_style="bold")
    rt.add_column("variant", no_wrap=True)
    for tc in tcs:
        rt.add_column(f"{tc}\nbuild s / start ms / RSS MiB", justify="right")
        rt.add_column(f"{tc}\nops/CPU-s Δ / profile overhead", justify="right")
    for row in rc.runtime_rows(report):
        tcells: list[str] = []
        for c in row["cells"]:
            if c is None:
                tcells += ["—", "—"]
                continue
            tcells.append(" / ".join([rc.fmt_num(c["build_s"], 1), rc.fmt_num(c["startup_ms"], 0),
                                      rc.fmt_num(c["rss_mib"], 1)]))
            if c["overhead"] is None:
                tcells.append("—" if not c["cpu_error"] else "n/a")
            else:
                lo, hi = c["overhead_spread"]
                d = rc.fmt_pct(c["ops_delta"]) if c["ops_delta"] is not None and row["variant"]["name"] != "default" else "ref"
                tcells.append(f"{d} / {c['overhead']:.1f}% [{lo:.1f}…{hi:.1f}]")
        rt.add_row(row["variant"]["label"], *tcells)
    console.print(rt)

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
            console.print(f"  [bold]{scen}[/bold] — {rec['needs']}: " + "; ".join(parts), highlight=False)
    cached = sum(1 for r in report.get("results", []) if r.get("cached"))
    console.print(f"[dim]{len(report.get('results', []))} cells, {cached} from cache, "
                  f"{report.get('elapsed_seconds', 0):.1f}s[/dim]")
