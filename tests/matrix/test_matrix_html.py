"""The HTML report opens in headless Chromium: charts and table render, no console errors, no
external resources; measured in the real browser: no label or column title is clipped, every verdict
cell shows the JSON's verdict in its colour."""

from __future__ import annotations

import json
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
    colours = set()
    for y in range(0, h, 7):
        row = rows[y]
        bpp = len(row) // w
        for x in range(0, w, 5):
            colours.add(row[x * bpp : x * bpp + 3])
    assert len(colours) > 50, len(colours)

    def seen(hexrgb: str) -> bool:
        r, g, b = (int(hexrgb[i : i + 2], 16) for i in (1, 3, 5))
        return any(abs(c[0] - r) < 12 and abs(c[1] - g) < 12 and abs(c[2] - b) < 12 for c in colours)

    # every retention class that some variant has is drawn in its colour (the charts are at the top)
    from symkeep.matrix.report_html import COLORS

    present = {c for r in matrix_run.report["results"] if r["status"] == "ok"
               for c, n in r["size"]["classes"].items() if n > 0}
    missing = [c for c in present if not seen(COLORS[c])]
    assert not missing, missing


# Measures the rendered page (in a copy of the report: the report itself has no scripts) and writes
# the numbers into the DOM, which --dump-dom then prints.
_MEASURE = """<script>
window.addEventListener('load', () => {
  const out = {labels: [], cells: [], heads: []};
  for (const svg of document.querySelectorAll('svg.size-chart')) {
    const bars = svg.querySelectorAll('rect.bar');
    const x0 = bars.length ? Math.min(...[...bars].map(b => b.x.baseVal.value)) : 0;
    for (const t of svg.querySelectorAll('text.bar-label')) {
      const b = t.getBBox();
      out.labels.push({text: t.textContent, left: b.x, right: b.x + b.width, bars: x0});
    }
  }
  for (const td of document.querySelectorAll('td.v')) {
    out.cells.push({probe: td.dataset.probe, variant: td.dataset.variant, toolchain: td.dataset.toolchain,
                    text: td.innerText.trim(), bg: getComputedStyle(td).backgroundColor,
                    fits: td.scrollWidth <= td.clientWidth});
  }
  for (const th of document.querySelectorAll('th')) {
    out.heads.push({text: th.innerText, fits: th.scrollWidth <= th.clientWidth && th.scrollHeight <= th.clientHeight});
  }
  const pre = document.createElement('pre');
  pre.id = 'measured';
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>"""

_BG = {"ok": "rgb(217, 242, 217)", "partial": "rgb(255, 242, 204)", "fail": "rgb(248, 215, 218)",
       "error": "rgb(234, 215, 245)"}


def test_html_rendered_labels_titles_and_cells(matrix_run: MatrixRun, tmp_path: Path) -> None:
    page = tmp_path / "measure.html"
    page.write_text(matrix_run.html.read_text().replace("</body>", _MEASURE + "</body>"))
    p = _browse(page, "--dump-dom", "--virtual-time-budget=10000", "--window-size=1400,1800")
    assert p.returncode == 0, p.stderr[-2000:]
    m = re.search(r'<pre id="measured">(.*?)</pre>', p.stdout, re.S)
    assert m, p.stdout[-2000:]
    got = json.loads(m.group(1).replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", '"'))
    rep = matrix_run.report

    # Size charts: every label whole (the variant's full label), inside the SVG, left of the bars.
    labels = {v["label"] for v in rep["variants"] if not v["name"].endswith(".base")}
    assert got["labels"] and {x["text"] for x in got["labels"]} <= labels
    assert max(len(x["text"]) for x in got["labels"]) == max(len(lb) for lb in labels)  # the longest is shown
    clipped = [x for x in got["labels"] if x["left"] < 0 or x["right"] > x["bars"]]
    assert not clipped, clipped

    # Verdict grid: each cell shows the JSON's verdict symbol in that verdict's colour, nothing overflows.
    from symkeep.matrix.report_common import SYMBOLS

    want = {(r["toolchain"], r["variant"], pr): vd["status"] for r in rep["results"]
            for pr, vd in r.get("probes", {}).items()}
    checked = 0
    for c in got["cells"]:
        st = want.get((c["toolchain"], c["variant"], c["probe"]))
        if st is None:
            continue
        assert c["text"] == SYMBOLS[st], c
        if st in _BG:
            assert c["bg"] == _BG[st], c
        assert c["fits"], c
        checked += 1
    assert checked >= len(want) * 0.9
    statuses = set(want.values())
    assert {"ok", "fail"} <= statuses  # both colours were really checked

    # Column titles: none clipped, and each title of the runtime table once.
    assert all(h["fits"] for h in got["heads"]), [h for h in got["heads"] if not h["fits"]]
    dom = p.stdout
    runtime = dom[dom.index('class="runtime"'):]
    runtime = runtime[: runtime.index("</table>")]
    heads = re.findall(r"<th>(.*?)</th>", runtime)
    assert len(heads) == len(set(heads)), heads
