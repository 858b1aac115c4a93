"""The HTML flame graph in real Chromium: search %, zoom, tooltips, inline and unsymbolized frames,
the label selector, no console errors. Screenshots are kept (path printed by the ``artifacts`` fixture).
Expected numbers come from the protobuf (flame_helpers), never from the viewer's code."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flame_helpers import read_pb, weight

from fixtures.chromium import wait_for
from symkeep.profile import profile_pb2


def render(profile: Path, out: Path, *args: str) -> Path:
    r = subprocess.run([sys.executable, "-m", "symkeep", "flamegraph", str(profile), "-o", str(out), *args],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    return out


class Page:
    def __init__(self, ctx: Any, path: Path) -> None:
        self.page = ctx.new_page()
        self.errors: list[str] = []
        self.page.on("console", lambda m: self.errors.append(f"console.{m.type}: {m.text}") if m.type in ("error", "warning") else None)
        self.page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))
        self.page.on("request", lambda r: self.errors.append(f"network: {r.url}") if not r.url.startswith("file:") else None)
        self.page.goto(path.as_uri())
        wait_for(self.page, "window.flame && window.flame.ready")

    def rect(self, name: str) -> dict[str, float] | None:
        """Page coordinates of the widest drawn frame called ``name``."""
        r: dict[str, float] | None = self.page.evaluate(
            """(name) => {
                const f = window.flame, d = f.drawn, c = document.getElementById('flame-canvas').getBoundingClientRect();
                let best = null;
                for (let k = 0; k < d.node.length; k++) {
                    if (f.frameName(d.node[k]) !== name) continue;
                    if (!best || d.w[k] > best.w) best = {node: d.node[k], x: d.x[k], y: d.y[k], w: d.w[k],
                        cx: c.left + d.x[k] + d.w[k] / 2, cy: c.top + d.y[k] + 8, inlined: f.inlined(d.node[k]),
                        kind: f.kind(d.node[k])};
                }
                return best;
            }""",
            name,
        )
        return r

    def drawn_names(self) -> list[str]:
        return list(self.page.evaluate("window.flame.drawn.node.map((i) => window.flame.frameName(i))"))

    def shot(self, artifacts: Path, name: str) -> None:
        self.page.screenshot(path=str(artifacts / f"{name}.png"), full_page=True)

    def close(self) -> None:
        self.page.close()


@pytest.fixture
def open_page(browser: Any) -> Iterator[Any]:
    pages: list[Page] = []

    def opener(path: Path) -> Page:
        pg = Page(browser, path)
        pages.append(pg)
        return pg

    yield opener
    for pg in pages:
        errs = pg.errors
        pg.close()
        assert not errs, errs


def _start_line(p: profile_pb2.Profile, name: str) -> tuple[str, int]:
    st = p.string_table
    f = next(f for f in p.function if st[f.name] == name)
    return st[f.filename], f.start_line


def test_search_zoom_tooltip_inline(cpuhog: tuple[Path, Path], tmp_path: Path, open_page: Any, artifacts: Path) -> None:
    p = read_pb(cpuhog[1])
    pg = open_page(render(cpuhog[1], tmp_path / "cpu.html"))
    pg.shot(artifacts, "cpuhog-first-paint")
    page = pg.page

    # inline frame visible and marked
    mix = pg.rect("main.mix")
    assert mix is not None and mix["inlined"] and mix["w"] > 50
    assert mix["kind"] == "main"

    # search: highlight + matched % = weight of samples whose stack holds main.mix
    page.fill("#flame-search", r"^main\.mix$")
    page.press("#flame-search", "Enter")
    want = 100.0 * weight(p, match=r"^main\.mix$") / weight(p)
    text = page.inner_text("#flame-matched")
    assert f"({want:.2f}%)" in text, (text, want)
    px = page.evaluate(
        """([x, y]) => { const c = document.getElementById('flame-canvas');
            const d = c.getContext('2d').getImageData(x * devicePixelRatio, y * devicePixelRatio, 1, 1).data;
            return [d[0], d[1], d[2]]; }""",
        [mix["x"] + 2, mix["y"] + 2],
    )
    assert px == [230, 0, 230], px
    pg.shot(artifacts, "cpuhog-search")
    page.click("#flame-clear")

    # tooltip: function, file:line (the function's start line from the profile), self/total
    spin = pg.rect("main.spin")
    assert spin is not None
    page.mouse.move(spin["cx"], spin["cy"])
    tip = page.inner_text("#flame-tip")
    file, line = _start_line(p, "main.spin")
    assert "main.spin" in tip and f"{file}:{line}" in tip, tip
    assert "total:" in tip and "self:" in tip
    pg.shot(artifacts, "cpuhog-tooltip")

    # click zooms: the clicked frame spans the whole width
    mix = pg.rect("main.mix")
    assert mix is not None
    page.mouse.click(mix["cx"], mix["cy"])
    zoomed = pg.rect("main.mix")
    width = page.evaluate("document.getElementById('flame-canvas').getBoundingClientRect().width")
    assert zoomed is not None and zoomed["x"] == 0 and abs(zoomed["w"] - width) < 1
    assert "zoomed to main.mix" in page.inner_text("#flame-status")
    pg.shot(artifacts, "cpuhog-zoom")
    page.click("#flame-reset")
    assert "zoomed" not in page.inner_text("#flame-status")


def test_unsymbolized_frames_visible(cpuhog: tuple[Path, Path], tmp_path: Path, open_page: Any, artifacts: Path) -> None:
    p = read_pb(cpuhog[1])
    q = profile_pb2.Profile()
    q.CopyFrom(p)
    # strip names from the runtime's locations only: a half-symbolized profile
    st = q.string_table
    fname = {f.id: st[f.name] for f in q.function}
    stripped = 0
    for loc in q.location:
        if loc.line and fname[loc.line[-1].function_id].startswith("runtime."):
            del loc.line[:]
            stripped += 1
    assert stripped
    raw = tmp_path / "half.pb"
    raw.write_bytes(q.SerializeToString())
    pg = open_page(render(raw, tmp_path / "half.html"))
    names = pg.drawn_names()
    unsym = [n for n in names if "+0x" in n]
    assert unsym, names
    r = pg.rect(unsym[0])
    assert r is not None and r["kind"] == "unsymbolized"
    assert any(n.startswith(cpuhog[0].name + "+0x") for n in unsym)
    assert "main.spin" in names
    pg.shot(artifacts, "cpuhog-half-symbolized")


def test_label_selector_filters(demo_labels: tuple[Path, Path], tmp_path: Path, open_page: Any, artifacts: Path) -> None:
    p = read_pb(demo_labels[1])
    busy, total = weight(p, tag="worker=busy"), weight(p)
    assert 0 < busy < total
    pg = open_page(render(demo_labels[1], tmp_path / "demo.html"))
    page = pg.page
    assert page.evaluate("window.flame.total(0)") == total
    page.select_option("#flame-labels", "worker=busy")
    assert page.evaluate("window.flame.total(0)") == busy
    names = set(pg.drawn_names())
    assert "main.busyWorker" in names
    assert not any(n.startswith("net/http.") for n in names), "request handling has no worker label"
    pg.shot(artifacts, "demo-label-busy")
    page.select_option("#flame-labels", "worker=(none)")
    assert page.evaluate("window.flame.total(0)") == total - busy
    assert "main.busyWorker" not in set(pg.drawn_names())
    assert "main.handleCrunch" in set(pg.drawn_names())
    pg.shot(artifacts, "demo-label-none")


def test_diff_and_icicle_render(demo_labels: tuple[Path, Path], cpuhog: tuple[Path, Path], tmp_path: Path,
                                open_page: Any, artifacts: Path) -> None:
    pg = open_page(render(demo_labels[1], tmp_path / "diff.html", "--diff", str(demo_labels[1]), "--icicle"))
    # a profile against itself: every frame unchanged (white-ish), root at the top
    root = pg.rect("all")
    assert root is not None and root["y"] == 0
    pg.shot(artifacts, "demo-diff-self")


def test_colours_match_python(cpuhog: tuple[Path, Path], tmp_path: Path, open_page: Any) -> None:
    from symkeep.flame.classify import color_of, fnv1a, packed_rgba

    pg = open_page(render(cpuhog[1], tmp_path / "c.html"))
    for kind, name in [("main", "main.spin"), ("runtime", "runtime.main"), ("stdlib", "net/http.(*conn).serve"),
                       ("deps", "github.com/x/y.Z[...]"), ("cgo", "__libc_start_main"), ("kernel", "ü")]:
        assert pg.page.evaluate("([k, n]) => window.flame.colorOf(k, n)", [kind, name]) == color_of(kind, name)
        # the colours a coarse payload ships are the ones the viewer would compute
        assert pg.page.evaluate("([k, n]) => window.flame.packedOf(k, n)", [kind, name]) == packed_rgba(
            kind, fnv1a(name) % 1000)


def test_coarse_first_paint_then_full_tree(demo_labels: tuple[Path, Path], tmp_path: Path, open_page: Any,
                                           artifacts: Path) -> None:
    """A big graph paints from a small payload first; the full tree replaces it with the same picture."""
    from symkeep.flame.html import HtmlOptions, render_html
    from symkeep.flame.load import load_samples
    from symkeep.flame.render import FlameOptions, graph

    _, _, tree = graph([load_samples(str(demo_labels[1]))], FlameOptions())
    plain = tmp_path / "plain.html"
    plain.write_bytes(render_html(tree, HtmlOptions()))
    coarse = tmp_path / "coarse.html"
    coarse.write_bytes(render_html(tree, HtmlOptions(coarse_above=0, coarse_share=0.05)))
    assert b'id="flame-coarse"' in coarse.read_bytes() and b'id="flame-coarse"' not in plain.read_bytes()
    a = open_page(plain)
    b = open_page(coarse)
    assert b.page.evaluate("window.flame.coarseNodes") < b.page.evaluate("window.flame.nodes") == tree.n
    assert sorted(a.drawn_names()) == sorted(b.drawn_names())  # after the full tree replaced the coarse one
    assert a.page.evaluate("window.flame.total(0)") == b.page.evaluate("window.flame.total(0)")
    b.page.select_option("#flame-labels", "worker=busy")
    assert b.page.evaluate("window.flame.total(0)") == weight(read_pb(demo_labels[1]), tag="worker=busy")
    b.shot(artifacts, "demo-coarse-then-full")


@pytest.mark.parametrize("coarse", [False, True])
def test_first_paint_draws_the_window_then_the_rest(demo_labels: tuple[Path, Path], tmp_path: Path, browser: Any,
                                                     coarse: bool) -> None:
    """In a short window the first draw covers the rows inside it; by ``ready`` the rest is drawn:
    the same frames and the same pixels as in a window tall enough for the whole graph."""
    from symkeep.flame.html import HtmlOptions, render_html
    from symkeep.flame.load import load_samples
    from symkeep.flame.render import FlameOptions, graph

    _, _, tree = graph([load_samples(str(demo_labels[1]))], FlameOptions())
    path = tmp_path / "g.html"
    path.write_bytes(render_html(tree, HtmlOptions(coarse_above=0 if coarse else tree.n + 1, coarse_share=0.01)))
    seen: dict[int, tuple[bool, list[str], str]] = {}
    for height in (3000, 160):
        page = browser.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))  # noqa: B023 - used before the next page
        page.set_viewport_size({"width": 1000, "height": height})
        page.goto(path.as_uri())
        wait_for(page, "window.flame && window.flame.ready")
        seen[height] = (
            page.evaluate("window.flame.timings.firstPartial"),
            sorted(page.evaluate("window.flame.drawn.node.map((i) => window.flame.frameName(i))")),
            page.evaluate("document.getElementById('flame-canvas').toDataURL()"),
        )
        page.close()
        assert not errors, errors
    assert seen[3000][0] is False and seen[160][0] is True  # the graph is taller than the short window
    assert seen[160][1] == seen[3000][1] and len(seen[160][1]) > 5
    assert seen[160][2] == seen[3000][2]
