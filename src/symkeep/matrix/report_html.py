"""Self-contained HTML report: inline CSS and SVG only (no scripts, fonts or external resources).

Bar charts of size by retention class per variant (one chart per toolchain), the verdict grid with the
evidence of every cell in its tooltip and in an evidence table, timings and the recommendations.
"""

from __future__ import annotations

from html import escape
from typing import Any

from symkeep.matrix import report_common as rc

__all__ = ["render_html"]

COLORS = {
    "code": "#4e79a7",
    "runtime tables": "#f28e2b",
    "symtab": "#e15759",
    "DWARF": "#76b7b2",
    "build info/notes": "#59a14f",
    "other": "#bab0ac",
}

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#222;background:#fff}
h1{font-size:22px}h2{font-size:18px;margin-top:28px}
table{border-collapse:collapse;font-size:13px;margin:8px 0}
th,td{border:1px solid #ddd;padding:4px 8px;text-align:center}
th{background:#f4f4f4}td.v{font-weight:600;font-size:15px}
td.label{text-align:left;white-space:nowrap;font-family:ui-monospace,monospace}
.ok{background:#d9f2d9;color:#1b6e1b}.partial{background:#fff2cc;color:#8a6d00}
.fail{background:#f8d7da;color:#a4161a}.error{background:#ead7f5;color:#6a1b9a}.na{color:#999}
.legend span{display:inline-block;margin-right:14px;font-size:13px}
.legend i{display:inline-block;width:12px;height:12px;margin-right:4px;vertical-align:middle}
.chart{margin:8px 0 18px 0}.small{font-size:12px;color:#555}
td.ev{text-align:left;font-family:ui-monospace,monospace;font-size:11px;max-width:900px;word-break:break-all}
"""


def _chart(report: dict[str, Any], col: int, tc: str) -> str:
    rows = []
    for row in rc.grid(report):
        r = row["results"][col]
        if r is not None and r.get("status") == "ok" and isinstance(r.get("size", {}).get("classes"), dict):
            rows.append((row["variant"], r["size"]))
    if not rows:
        return f'<p class="small">No size data for {escape(tc)}.</p>'
    maxsize = max(s["file"] for _, s in rows) or 1
    # Monospace 12px is ~7.3px a character: size the label column to the longest label (never cut).
    longest = max(len(v["label"]) for v, _ in rows)
    label_w, bar_w, bar_h, gap = max(200, int(longest * 7.4) + 16), 560, 18, 6
    h = len(rows) * (bar_h + gap) + 30
    w = label_w + bar_w + 150
    parts = [f'<svg class="size-chart" data-toolchain="{escape(tc)}" xmlns="http://www.w3.org/2000/svg" '
             f'width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img" '
             f'aria-label="size by retention class, {escape(tc)}">']
    for i, (v, s) in enumerate(rows):
        y = 10 + i * (bar_h + gap)
        parts.append(f'<text class="bar-label" x="{label_w - 8}" y="{y + 13}" text-anchor="end" font-size="12" '
                     f'font-family="monospace">{escape(v["label"])}</text>')
        x = float(label_w)
        for cls in rc.CLASSES:
            n = int(s["classes"].get(cls, 0))
            if n <= 0:
                continue
            wpx = bar_w * n / maxsize
            parts.append(f'<rect class="bar" data-variant="{escape(v["name"])}" data-class="{escape(cls)}" '
                         f'x="{x:.1f}" y="{y}" width="{max(wpx, 0.5):.1f}" height="{bar_h}" '
                         f'fill="{COLORS[cls]}"><title>{escape(v["label"])}: {escape(cls)} {rc.fmt_size(n)}'
                         f'</title></rect>')
            x += wpx
        d = rc.size_delta(s, v)
        extra = f" ({d})" if d else ""
        parts.append(f'<text x="{x + 6:.1f}" y="{y + 13}" font-size="12">{rc.fmt_size(s["file"])}{extra}</text>')
    parts.append("</svg>")
    return "".join(parts)


def render_html(report: dict[str, Any]) -> str:
    tcs = rc.toolchains(report)
    probes = report.get("probes", {})
    o: list[str] = ['<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">',
                    "<title>symkeep matrix</title>", f"<style>{_CSS}</style></head><body>"]
    o.append(f"<h1>symkeep matrix: <code>{escape(str(report.get('package')))}</code> "
             f"({escape(str(report.get('target')))})</h1>")
    o.append(f'<p class="small">Toolchains: {escape(", ".join(tcs))}. Profile seconds '
             f'{report.get("options", {}).get("profile_seconds")}, repetitions '
             f'{report.get("options", {}).get("repeat")}. Every verdict was decided by running the tool; '
             "hover a cell for the command and the output line that decided it.</p>")

    o.append("<h2>Size by retention class</h2>")
    o.append('<div class="legend">' + "".join(
        f'<span><i style="background:{COLORS[c]}"></i>{escape(c)}</span>' for c in rc.CLASSES) + "</div>")
    for i, tc in enumerate(tcs):
        o.append(f'<h3>{escape(tc)}</h3><div class="chart">{_chart(report, i, tc)}</div>')

    o.append("<h2>What still works</h2>")
    o.append('<p class="small">✓ names and lines · ◐ partial (names only) · ✗ fails · ! could not run · '
             "– not applicable</p>")
    o.append('<table class="verdicts"><thead><tr><th rowspan="2">variant</th>')
    for title in probes.values():
        o.append(f'<th colspan="{len(tcs)}">{escape(title)}</th>')
    o.append("</tr><tr>")
    for _ in probes:
        for tc in tcs:
            o.append(f"<th>{escape(tc.removeprefix('go'))}</th>")
    o.append("</tr></thead><tbody>")
    for row in rc.grid(report):
        v = row["variant"]
        o.append(f'<tr><td class="label">{escape(v["label"])}</td>')
        for p in probes:
            for tc, r in zip(tcs, row["results"], strict=True):
                vd = rc.verdict(r, p)
                st = vd.get("status", "error")
                tip = " — ".join(x for x in (vd.get("reason", ""), vd.get("command", ""), vd.get("line", "")) if x)
                o.append(f'<td class="v {escape(st)}" data-probe="{escape(p)}" data-variant="{escape(v["name"])}" '
                         f'data-toolchain="{escape(tc)}" title="{escape(tip)}">{rc.SYMBOLS.get(st, "?")}</td>')
        o.append("</tr>")
    o.append("</tbody></table>")

    rs = rc.reasons(report)
    if rs:
        o.append("<h2>Why not ✓</h2><table><tr><th>what</th><th>where</th><th>reason</th></tr>")
        for what, why, where in rs:
            o.append(f'<tr><td>{escape(what)}</td><td class="ev">{escape(", ".join(where))}</td>'
                     f'<td class="ev">{escape(why)}</td></tr>')
        o.append("</table>")

    o.append('<h2>Build and run time</h2><table class="runtime"><tr><th>variant</th><th>toolchain</th>'
             "<th>build s</th><th>start-up ms</th><th>RSS MiB</th><th>ops/CPU-s Δ</th>"
             "<th>profile overhead (median [min…max])</th></tr>")
    for row in rc.runtime_rows(report):
        n = len(row["cells"])
        for i, (tc, c) in enumerate(zip(tcs, row["cells"], strict=True)):
            o.append("<tr>")
            if i == 0:
                o.append(f'<td class="label" rowspan="{n}">{escape(row["variant"]["label"])}</td>')
            o.append(f"<td>{escape(tc)}</td>")
            if c is None:
                o.append("<td>—</td>" * 5 + "</tr>")
                continue
            o.append(f"<td>{rc.fmt_num(c['build_s'], 1)}</td>")
            o.append(f"<td>{rc.fmt_num(c['startup_ms'], 0)}</td><td>{rc.fmt_num(c['rss_mib'], 1)}</td>")
            o.append(f"<td>{escape(rc.fmt_pct(c['ops_delta'])) if c['ops_delta'] is not None else '—'}</td>")
            if c["overhead"] is None:
                o.append("<td>n/a</td>")
            else:
                lo, hi = c["overhead_spread"]
                o.append(f"<td>{c['overhead']:.1f}% [{lo:.1f}…{hi:.1f}]</td>")
            o.append("</tr>")
    o.append("</table>")

    recs = report.get("recommendations", {})
    if recs:
        o.append('<h2>Recommendations</h2><table class="recs"><tr><th>scenario</th><th>needs</th>')
        o.extend(f"<th>{escape(tc)}</th>" for tc in tcs)
        o.append("</tr>")
        for scen, rec in recs.items():
            o.append(f"<tr><td><b>{escape(scen)}</b></td><td class=\"ev\">{escape(rec['needs'])}</td>")
            for tc in tcs:
                r = rec["by_toolchain"].get(tc)
                if r and r.get("variant"):
                    o.append(f'<td class="ok" title="{escape(r["reason"])}">{escape(r["label"])}<br>'
                             f"{rc.fmt_size(r['size'])}</td>")
                else:
                    o.append(f'<td class="fail">{escape(r["reason"] if r else "—")}</td>')
            o.append("</tr>")
        o.append("</table>")

    o.append("<h2>Evidence</h2><table><tr><th>variant</th><th>toolchain</th><th>probe</th><th>verdict</th>"
             "<th>command</th><th>deciding output line</th></tr>")
    for row in rc.grid(report):
        for tc, r in zip(tcs, row["results"], strict=True):
            for p, title in probes.items():
                vd = rc.verdict(r, p)
                st = vd.get("status", "error")
                o.append(f'<tr><td class="label">{escape(row["variant"]["name"])}</td><td>{escape(tc)}</td>'
                         f'<td>{escape(title)}</td><td class="{escape(st)}">{rc.SYMBOLS.get(st, "?")} '
                         f'{escape(vd.get("reason", ""))}</td><td class="ev">{escape(vd.get("command", ""))}</td>'
                         f'<td class="ev">{escape(vd.get("line", ""))}</td></tr>')
    o.append("</table></body></html>")
    return "\n".join(o)
