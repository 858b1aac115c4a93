"""Markdown report: the same tables as the terminal, plus the evidence of every ✗."""

from __future__ import annotations

from typing import Any

from symkeep.matrix import report_common as rc

__all__ = ["render_markdown"]


def _esc(s: str) -> str:
    return s.replace("|", "\\|").replace("\n", " ")


def render_markdown(report: dict[str, Any]) -> str:
    tcs = rc.toolchains(report)
    probes = report.get("probes", {})
    out = [f"# symkeep matrix: `{report.get('package')}` ({report.get('target')})", ""]
    out.append(f"Toolchains (one symbol per toolchain in each cell): {', '.join(f'`{t}`' for t in tcs)}. "
               "✓ names and lines, ◐ partial, ✗ fails, ! could not run, – not applicable.")
    out.append("")
    head = ["variant", *(f"size {t}" for t in tcs), *probes.values()]
    out.append("| " + " | ".join(head) + " |")
    out.append("|" + "|".join("---" for _ in head) + "|")
    for row in rc.grid(report):
        v = row["variant"]
        sizes = []
        for r in row["results"]:
            if r is None or r.get("status") != "ok":
                sizes.append("error")
            else:
                s = r.get("size", {})
                d = rc.size_delta(s, v)
                sizes.append(rc.fmt_size(s.get("file")) + (f" ({d})" if d else ""))
        cells = [" ".join(rc.SYMBOLS.get(rc.verdict(r, p)["status"], "?") for r in row["results"]) for p in probes]
        out.append("| " + " | ".join([_esc(v["label"]), *sizes, *cells]) + " |")
    out.append("")
    rs = rc.reasons(report)
    if rs:
        out.append("## Why not ✓")
        out.append("")
        for what, why, where in rs:
            out.append(f"- **{_esc(what)}** ({', '.join(where)}): {_esc(why)}")
        out.append("")
    out.append("## Build and run time")
    out.append("")
    head = ["variant", "toolchain", "build s", "start-up ms", "RSS MiB", "ops/CPU-s Δ", "profile overhead"]
    out.append("| " + " | ".join(head) + " |")
    out.append("|" + "|".join("---" for _ in head) + "|")
    for row in rc.runtime_rows(report):
        for i, (tc, c) in enumerate(zip(tcs, row["cells"], strict=True)):
            cells = [_esc(row["variant"]["label"]) if i == 0 else "", f"`{tc}`"]
            if c is None:
                cells += ["—"] * 5
            else:
                cells += [rc.fmt_num(c["build_s"], 1), rc.fmt_num(c["startup_ms"], 0), rc.fmt_num(c["rss_mib"], 1)]
                if row["variant"]["name"] == "default":
                    cells.append("ref")
                else:
                    cells.append(rc.fmt_pct(c["ops_delta"]) if c["ops_delta"] is not None else "—")
                if c["overhead"] is None:
                    cells.append("n/a")
                else:
                    lo, hi = c["overhead_spread"]
                    cells.append(f"{c['overhead']:.1f}% [{lo:.1f}…{hi:.1f}]")
            out.append("| " + " | ".join(cells) + " |")
    out.append("")
    recs = report.get("recommendations", {})
    if recs:
        out.append("## Recommendations")
        out.append("")
        for scen, rec in recs.items():
            parts = []
            for tc, r in rec["by_toolchain"].items():
                parts.append(f"`{tc}`: **{_esc(r['label'])}** ({rc.fmt_size(r['size'])})" if r.get("variant")
                             else f"`{tc}`: none ({_esc(r['reason'])})")
            out.append(f"- **{scen}** ({rec['needs']}): " + "; ".join(parts))
        out.append("")
    return "\n".join(out)
