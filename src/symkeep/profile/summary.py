"""Human-readable summary of a symbolization run (the JSON form is ``Report.to_json``)."""

from __future__ import annotations

from symkeep.profile.report import Report, printable_path

__all__ = ["format_summary"]


def format_summary(report: Report) -> str:
    tot = report.locations
    named = report.symbolized + report.kept + report.named_by_input
    pct = (100.0 * named / tot) if tot else 100.0
    lines = [
        f"locations: {named}/{tot} with names ({pct:.1f}%): {report.symbolized} symbolized now, "
        f"{report.kept} already symbolized, {sum(report.failed.values())} without file:line"
    ]
    if report.named_by_input:
        lines.append(f"  ({report.named_by_input} of those named by the input's own symbols, e.g. perf's)")
    lines.extend(f"input: {n}" for n in report.input.lines())
    for m in report.mappings:
        if not m.locations:
            continue
        name = printable_path(m.filename) or "(no name)"
        bid = f" build-id {m.build_id}" if m.build_id else ""
        lines.append(f"  mapping {m.id} [{m.kind}] {name}{bid}: {m.symbolized + m.kept}/{m.locations} named")
        if m.binary:
            checked = ", build ID checked" if m.verified else ""
            lines.append(f"    binary: {printable_path(m.binary)} (found by {m.found_by}{checked})")
        for reason, n in sorted(m.failed.items(), key=lambda kv: -kv[1]):
            lines.append(f"    {n} unsymbolized: {reason}")
        for note in m.notes[:5]:
            lines.append(f"    note: {printable_path(note)}")
    lines.extend(f"warning: {printable_path(w)}" for w in report.warnings)
    return "\n".join(lines) + "\n"
