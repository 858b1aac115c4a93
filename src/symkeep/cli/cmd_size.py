"""``symkeep size``: every byte of a Go binary attributed to packages, tables and sections."""

from __future__ import annotations

import shutil
import sys

import click

from symkeep.size.analyze import BY

_COLS = ("code", "padding", "pclntab", "funcdata", "types", "data", "symtab", "dwarf", "other")


def _table(headers: list[str], rows: list[list[str]]) -> str:
    """Plain columns: the first left-aligned, the rest right-aligned. Piped output is never cut;
    on a terminal the name column is shortened to fit the width."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    if sys.stdout.isatty():
        room = shutil.get_terminal_size((120, 24)).columns - sum(widths[1:]) - 2 * (len(widths) - 1)
        widths[0] = max(12, min(widths[0], room))
    out = []
    for r in [headers, *rows]:
        name = r[0] if len(r[0]) <= widths[0] else "…" + r[0][-(widths[0] - 1):]
        cells = [name.ljust(widths[0])] + [c.rjust(w) for c, w in zip(r[1:], widths[1:], strict=True)]
        out.append("  ".join(cells).rstrip())
    return "\n".join(out) + "\n"


@click.command("size")
@click.argument("binary", type=click.Path(dir_okay=False))
@click.option("--by", type=click.Choice(BY), default="package", show_default=True, help="Group bytes by.")
@click.option("--diff", "old", type=click.Path(dir_okay=False), metavar="OLD", help="Growth per group since OLD.")
@click.option("--budget", type=click.Path(dir_okay=False), metavar="FILE",
              help="Check size limits (see README 'Budget file'); exit 1 when one is over.")
@click.option("--json", "as_json", is_flag=True, help="JSON on stdout.")
@click.option("--html", "html_out", metavar="FILE", help="Write a zoomable treemap (self-contained HTML).")
@click.option("--top", type=int, default=0, help="Show only the N largest groups (default: all).")
def command(binary: str, by: str, old: str | None, budget: str | None, as_json: bool, html_out: str | None,
            top: int) -> None:
    """Attribute EVERY byte of BINARY: function code, pclntab rows and funcdata to their function and
    package, symbol table and DWARF per package (what -s / -w would save), the rest per section.
    The rows always add up to the file size."""
    import json

    from symkeep.errors import NotFoundError
    from symkeep.fsio import OutputTarget, check_input_file
    from symkeep.size.analyze import analyze
    from symkeep.size.budget import check_budget, parse_budget
    from symkeep.size.diff import diff_reports
    from symkeep.size.treemap import render_treemap

    target = OutputTarget.check(html_out) if html_out else None
    budgets = None
    if budget:
        bp = check_input_file(budget)
        budgets = parse_budget(bp.read_text("utf-8", errors="replace"), budget)
    rep = analyze(binary)
    old_rep = analyze(old) if old else None
    if target is not None:
        target.write(render_treemap(rep))
    verdicts = check_budget(rep, budgets) if budgets is not None else []
    if as_json:
        doc = rep.to_json(by)
        if old_rep is not None:
            doc["diff"] = {"old": old_rep.path, "old_file_size": old_rep.file_size,
                           "rows": [r.to_json() for r in diff_reports(old_rep, rep, by)]}
        if budgets is not None:
            doc["budget"] = [{"scope": v.budget.scope, "name": v.budget.name, "limit": v.budget.limit,
                              "actual": v.actual, "over": v.over} for v in verdicts]
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
    elif old_rep is not None:
        rows = diff_reports(old_rep, rep, by)
        if top:
            rows = rows[:top]
        d = rep.file_size - old_rep.file_size
        sys.stdout.write(f"{old_rep.path} -> {rep.path}: {old_rep.file_size:,} -> {rep.file_size:,} bytes "
                         f"({d:+,})\n")
        sys.stdout.write(_table([by, "old", "new", "delta"],
                                [[r.name, f"{r.old:,}", f"{r.new:,}", f"{r.delta:+,}"] for r in rows if r.delta]))
    else:
        rows_ = rep.group(by)
        shown = rows_[:top] if top else rows_
        sav = rep.savings()
        sys.stdout.write(f"{rep.path}: {rep.file_size:,} bytes, Go {rep.go_version or '?'}, {rep.format}/{rep.arch}; "
                         f"-w would save {sav['-w']:,}, -s {sav['-s']:,}\n")
        cols = [c for c in _COLS if any(r.parts.get(c) for r in rows_)]
        body = [[r.name, f"{r.bytes:,}", f"{100.0 * r.bytes / rep.file_size:.2f}"] +
                [f"{r.parts.get(c, 0):,}" for c in cols] for r in shown]
        if top and len(rows_) > top:
            rest = rows_[top:]
            body.append([f"({len(rest)} more)", f"{sum(r.bytes for r in rest):,}",
                         f"{100.0 * sum(r.bytes for r in rest) / rep.file_size:.2f}"] +
                        [f"{sum(r.parts.get(c, 0) for r in rest):,}" for c in cols])
        body.append(["total", f"{rep.spans.total():,}", "100.00"] +
                    [f"{sum(r.parts.get(c, 0) for r in rows_):,}" for c in cols])
        sys.stdout.write(_table([by, "bytes", "%", *cols], body))
    if verdicts:
        over = [v for v in verdicts if v.over]
        if not as_json:
            for v in verdicts:
                what = "total" if v.budget.scope == "total" else f"{v.budget.scope} {v.budget.name}"
                sys.stderr.write(f"budget {'OVER' if v.over else 'ok  '} {what}: {v.actual:,} of {v.budget.limit:,} bytes\n")
        if over:
            raise NotFoundError(f"{len(over)} of {len(verdicts)} size budgets exceeded")
