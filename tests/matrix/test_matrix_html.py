"""The HTML report opens in headless Chromium: charts and table render, no console errors, no
external resources."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from fixtures.env import unavailable

from .helpers import MatrixRun, png_pixels

pytestmark = pytest.mark.slow


def _chromium() -> str:
    for c in ("chromium", "chromium-browser", "google-chrome"):
        p = shutil.which(c)
        if p:
            return p
    unavailable("no chromium")


def _browse(html: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory() as prof:
        return subprocess.run(
            [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--no-first-run", "--disable-component-update", "--disable-sync", f"--user-data-dir={prof}",
             *extra, html.resolve().as_uri()],
            capture_output=True, text=True, timeout=180,
        )


def test_html_is_self_contained(matrix_run: MatrixRun) -> None:
    text = matrix_run.html.read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", text)
    assert "<script" not in text and "@import" not in text and "url(" not in text


def test_html_dom_renders_charts_and_grid(matrix_run: MatrixRun) -> None:
    p = _browse(matrix_run.html, "--dump-dom")
    assert p.returncode == 0, p.stderr[-2000:]
    dom = p.stdout
    rep = matrix_run.report
    tcs = [t["version"] for t in rep["toolchains"]]
    assert dom.count('class="size-chart"') == len(tcs)
    # one bar segment per non-empty class of every variant that built
    segs = sum(1 for r in rep["results"] if r["status"] == "ok" for n in r["size"]["classes"].values() if n > 0)
    assert len(re.findall(r'<rect class="bar"', dom)) == segs
    # the verdict grid: one cell per variant x probe x toolchain, with the JSON's verdicts
    cells = re.findall(r'<td class="v (\w+)" data-probe="(\w+)" data-variant="([\w.]+)" data-toolchain="([\w.]+)"',
                       dom)
    assert len(cells) == len(rep["variants"]) * len(rep["probes"]) * len(tcs)
    got = {(tc, v, pr): st for st, pr, v, tc in cells}
    for r in rep["results"]:
        for pr, vd in r.get("probes", {}).items():
            assert got[(r["toolchain"], r["variant"], pr)] == vd["status"]
    assert "Recommendations" in dom and "embedded" in dom


def test_html_screenshot_not_blank_and_no_console_errors(matrix_run: MatrixRun, tmp_path: Path) -> None:
    shot = tmp_path / "shot.png"
    p = _browse(matrix_run.html, f"--screenshot={shot}", "--window-size=1400,1800", "--enable-logging=stderr",
                "--v=0")
    assert shot.is_file(), p.stderr[-2000:]
    errors = [ln for ln in p.stderr.splitlines() if "CONSOLE" in ln and ("rror" in ln or "Uncaught" in ln)]
    assert not errors, errors
    w, h, rows = png_pixels(shot.read_bytes())
    assert (w, h) == (1400, 1800)
    # not blank: many distinct colours, and the chart colours (code bars #4e79a7) appear
    step = 4
    colours = set()
    for y in range(0, h, 7):
        row = rows[y]
        bpp = len(row) // w
        for x in range(0, w, 5):
            colours.add(row[x * bpp : x * bpp + 3])
    assert len(colours) > 50, len(colours)
    near = [c for c in colours if abs(c[0] - 0x4E) < 12 and abs(c[1] - 0x79) < 12 and abs(c[2] - 0xA7) < 12]
    assert near, "no code-bar colour on the screenshot"
    assert step
