"""The terminal and Markdown reports of the real two-toolchain matrix run: column titles are never cut,
each title is printed once, terminals get tables no wider than they are, piped output is complete."""

from __future__ import annotations

import io
import re

import pytest
from rich.console import Console

from symkeep.matrix.report_md import render_markdown
from symkeep.matrix.report_term import print_report

from .helpers import MatrixRun, run_cli

pytestmark = pytest.mark.slow

# rich marks a cut cell or title with "…" at its end; the report's own "…" sits between two numbers
# (the spread of the profiling overhead, "[1.6…2.0]").
_CUT = re.compile(r"…(?![-−\d.]+\])")


def _render(report: dict, width: int) -> str:
    buf = io.StringIO()
    print_report(report, Console(file=buf, width=width, force_terminal=True, color_system=None))
    return buf.getvalue()


def _header_words(text: str) -> set[str]:
    """Words in the table header rows (between the ┏ and ┡ rules)."""
    words: set[str] = set()
    inside = False
    for ln in text.splitlines():
        if ln.startswith("┏"):
            inside = True
        elif ln.startswith("┡"):
            inside = False
        elif inside:
            words.update(w for cell in ln.split("┃") for w in cell.split())
    return words


@pytest.mark.parametrize("width", [80, 120, 200])
def test_terminal_tables_fit_and_no_title_is_cut(matrix_run: MatrixRun, width: int) -> None:
    rep = matrix_run.report
    text = _render(rep, width)
    table_lines = [ln for ln in text.splitlines() if ln[:1] in "┏┃┡│└├"]
    assert table_lines
    too_wide = [ln for ln in table_lines if len(ln) > width]
    assert not too_wide, too_wide[:3]
    assert not _CUT.search(text), [ln for ln in text.splitlines() if _CUT.search(ln)][:5]
    heads = _header_words(text)
    for title in rep["probes"].values():
        assert set(title.split()) <= heads, (title, width)
    for title in ("build s", "start-up ms", "RSS MiB", "ops/CPU-s Δ", "profile overhead"):
        assert set(title.split()) <= heads, title
    # every verdict symbol of every cell is there: one per toolchain, per probe, per variant
    symbols = sum(ln.count(s) for ln in table_lines for s in "✓◐✗!–")
    assert symbols >= len(rep["probes"]) * len(rep["results"])
    # the runtime table names each toolchain once per variant, not once per column
    for tc in (t["version"] for t in rep["toolchains"]):
        assert sum(ln.count(tc) for ln in table_lines) == sum(
            1 for v in rep["variants"] if not v["name"].endswith(".base"))


def test_piped_output_is_complete(matrix_run: MatrixRun) -> None:
    """`symkeep matrix` through a pipe (cached: fast): one verdict table, nothing wrapped or cut."""
    p = run_cli([*matrix_run.args, "--quiet"], matrix_run.cwd)
    assert p.returncode == 0, p.stderr[-2000:]
    out = p.stdout
    assert not _CUT.search(out)
    rep = matrix_run.report
    labels = [v["label"] for v in rep["variants"] if not v["name"].endswith(".base")]
    rows = [ln for ln in out.splitlines() if ln.startswith("│")]
    for lb in labels:  # each label whole on one table row
        assert any(f"│ {lb} " in ln for ln in rows), lb
    head = next(ln for ln in out.splitlines() if ln.startswith("┃") and "variant" in ln)
    for title in rep["probes"].values():
        assert f" {title} " in head, title  # on one line: not wrapped
    assert sum(1 for ln in out.splitlines() if ln.startswith("┏")) == 2  # verdicts + runtime, no split


def test_markdown_titles_once(matrix_run: MatrixRun) -> None:
    md = render_markdown(matrix_run.report)
    tables = [[ln for ln in block.splitlines() if ln.startswith("|")] for block in md.split("\n\n")]
    tables = [t for t in tables if t]
    assert len(tables) >= 2
    for t in tables:
        head = [c.strip() for c in t[0].strip("|").split("|")]
        assert len(head) == len(set(head)), head
        assert all(len([c for c in row.strip("|").split("|")]) == len(head) for row in t[2:]
                   if "\\|" not in row), t[0]
