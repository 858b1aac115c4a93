"""The web UI in real Chromium (Debian's, driven by Playwright), against a real ``symkeep serve``:
the build list with the IDs ``readelf -n`` and ``go tool buildid`` print, search, a build's inspect
verdicts (spot-checked with the real tools) and size treemap (its total = the file's size), uploading
a raw profile of a stripped binary and finding the hottest function ``go tool pprof -top`` names in
the runtime's own profile, the shareable link in a fresh browser context. No console errors, no
request leaves the server; screenshots go to the ``artifacts`` directory."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from ui_helpers import EVIL_MODULE, EVIL_NAME, EVIL_REVISION, Hog, go_build_id, hostile_build

from fixtures.chromium import wait_for
from server.harness import ServeProc, gnu_build_id_readelf, symkeep
from symkeep.profile.pprof import read_profile

VIEWPORT = {"width": 1400, "height": 900}


class Tab:
    """A page of the UI that records console errors/warnings, page errors and any request that is
    not to the server."""

    def __init__(self, ctx: Any, base: str) -> None:
        self.base = base
        self.page = ctx.new_page()
        self.errors: list[str] = []
        self.page.on("console", lambda m: self.errors.append(f"console.{m.type}: {m.text}")
                     if m.type in ("error", "warning") else None)
        self.page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))
        self.page.on("request", lambda r: None if r.url.startswith((base, "data:", "about:"))
                     else self.errors.append(f"network: {r.url}"))
        self.page.on("dialog", lambda d: (self.errors.append(f"dialog: {d.message}"), d.dismiss()))

    def go(self, path: str) -> None:
        self.page.goto(self.base + path)

    def shot(self, artifacts: Path, name: str, full: bool = True) -> None:
        # (a sandboxed frame is painted only in the viewport: full-page shots show it blank)
        self.page.screenshot(path=str(artifacts / f"ui-{name}.png"), full_page=full)

    def wait_flame(self) -> None:
        wait_for(self.page, "window.flame && window.flame.ready")

    def frame_rect(self, name: str) -> dict[str, float] | None:
        r: dict[str, float] | None = self.page.evaluate(
            """(name) => {
                const f = window.flame, d = f.drawn;
                let best = null;
                for (let k = 0; k < d.node.length; k++)
                    if (f.frameName(d.node[k]) === name && (!best || d.w[k] > best.w)) best = {x: d.x[k], w: d.w[k]};
                return best;
            }""", name)
        return r

    def matched_percent(self, regex: str) -> float:
        self.page.fill("#flame-search", regex)
        self.page.press("#flame-search", "Enter")
        text = self.page.inner_text("#flame-matched")
        m = re.search(r"\(([\d.]+)%\)", text)
        assert m, text
        return float(m.group(1))


@pytest.fixture
def tabs(browser: Any, ui_server: ServeProc) -> Iterator[Callable[..., Tab]]:
    made: list[tuple[Tab, Any]] = []

    def make(fresh: bool = False) -> Tab:
        ctx = browser.browser.new_context(viewport=VIEWPORT) if fresh else browser
        t = Tab(ctx, ui_server.url)
        made.append((t, ctx if fresh else None))
        return t

    yield make
    errors = [e for t, _ in made for e in t.errors]
    for t, ctx in made:
        t.page.close()
        if ctx is not None:
            ctx.close()
    assert not errors, errors


def _rows(tab: Tab) -> list[dict[str, str]]:
    rows: list[dict[str, str]] = tab.page.eval_on_selector_all(
        "tr.build", "rs => rs.map(r => ({gnu: r.dataset.gnu, go: r.dataset.go, text: r.innerText}))")
    return rows


def _has_gnu_note(binary: Path) -> bool:
    out = subprocess.run(["readelf", "-n", str(binary)], capture_output=True, text=True, check=True).stdout
    return "Build ID:" in out


def test_build_list_ids_and_search(tabs: Callable[..., Tab], hog: Callable[[str], Hog], buildid_tool: Path,
                                   artifacts: Path) -> None:
    h27, h21 = hog("1.27"), hog("1.21")
    gnu27 = gnu_build_id_readelf(h27.binary)
    go27, go21 = go_build_id(buildid_tool, h27.binary), go_build_id(buildid_tool, h21.binary)
    assert not _has_gnu_note(h21.binary)  # Go 1.21's internal linker writes no GNU build-id
    t = tabs()
    t.go("/ui/")
    rows = _rows(t)
    assert {(r["gnu"], r["go"]) for r in rows} == {(gnu27, go27), ("", go21)}, rows
    for r in rows:
        assert r["go"] in r["text"] and (not r["gnu"] or r["gnu"] in r["text"])
    t.shot(artifacts, "builds")
    # nm on the stripped executable: "no symbols", and the list says ✗ for it
    nm = subprocess.run(["nm", str(h27.binary)], capture_output=True, text=True)
    assert not nm.stdout and "no symbols" in nm.stderr
    mark = t.page.inner_text(f'tr.build[data-gnu="{gnu27}"] td[data-consumer="nm / objdump"]')
    assert mark == "✗"
    # search: by Go version, by GNU build-id, by a prefix of the Go build ID, and a miss
    for q, want in (("go1.21", [go21]), ("1.27.3", [go27]), (gnu27, [go27]), (go21.split("/")[0][:10], [go21]),
                    ("cpuhog", [go21, go27])):
        t.page.fill("#build-search", q)
        t.page.press("#build-search", "Enter")
        t.page.wait_for_load_state()
        got = sorted(r["go"] for r in _rows(t))
        assert got == sorted(want), (q, got)
        assert f"{len(want)} of 2 builds match" in t.page.inner_text("#build-count")
    t.page.fill("#build-search", "no-such-module")
    t.page.press("#build-search", "Enter")
    t.page.wait_for_load_state()
    assert not _rows(t) and "No builds match" in t.page.inner_text("main")
    t.shot(artifacts, "builds-search-miss")


def _pprof_top(go_pprof: Path, profile: Path, home: Path) -> list[tuple[str, float, float]]:
    """(function, flat %, cum %) rows of ``go tool pprof -top``."""
    out = subprocess.run([str(go_pprof), "-top", str(profile)], capture_output=True, text=True, timeout=120,
                         env=dict(os.environ, HOME=str(home)), check=True).stdout
    rows = []
    for line in out.splitlines():
        m = re.match(r"^\s*\S+\s+([\d.]+)%\s+[\d.]+%\s+\S+\s+([\d.]+)%\s+(.+?)(?: \(inline\))?$", line)
        if m:
            rows.append((m.group(3), float(m.group(1)), float(m.group(2))))
    assert rows, out
    return rows


def test_build_page_verdicts_and_treemap(tabs: Callable[..., Tab], hog: Callable[[str], Hog],
                                         gotool: Callable[[str, str], Path], artifacts: Path) -> None:
    h = hog("1.27")
    gnu = gnu_build_id_readelf(h.binary)
    t = tabs()
    t.go("/ui/")
    t.page.click(f'tr.build[data-gnu="{gnu}"] td.mod a')
    t.page.wait_for_load_state()
    assert t.page.inner_text("#gnu-build-id") == gnu
    assert t.page.inner_text("#go-build-id") == go_build_id(gotool("1.27", "buildid"), h.binary)
    verdicts = dict(t.page.eval_on_selector_all(
        "#consumers tr.consumer", "rs => rs.map(r => [r.dataset.consumer, r.querySelector('.verdict').innerText])"))
    assert len(verdicts) == 10, verdicts
    # spot checks with the real tools at an address the runtime itself named main.spin
    truth = read_profile(h.truth)
    st = truth.string_table
    fname = {f.id: st[f.name] for f in truth.function}
    addr = next(loc.address for loc in truth.location if loc.line and fname[loc.line[-1].function_id] == "main.spin")
    a2l = subprocess.run([str(gotool("1.27", "addr2line")), str(h.binary)], input=f"{addr:#x}\n",
                         capture_output=True, text=True, timeout=60)
    assert a2l.stdout.splitlines()[0] == "main.spin", a2l.stdout
    assert verdicts["go tool pprof / go tool addr2line"] == "✓"
    llvm = subprocess.run(["llvm-symbolizer", f"--obj={h.binary}", f"{addr:#x}"], capture_output=True, text=True,
                          timeout=60)
    assert llvm.stdout.splitlines()[0] == "??", llvm.stdout
    assert verdicts["google/pprof + llvm-symbolizer"] == "✗"
    assert verdicts["nm / objdump"] == "✗" and verdicts["symkeep"] == "✓"
    # the size treemap: drawn in its frame, its total is the file's size
    frame = next(f for f in t.page.frames if "/ui/build/treemap" in f.url)
    wait_for(frame, "window.treemap && window.treemap.ready")
    assert "std" in frame.evaluate("window.treemap.boxes")
    assert f"{h.binary.stat().st_size:,} bytes" in frame.inner_text("body")
    t.shot(artifacts, "build-page")
    t.page.locator("#treemap").scroll_into_view_if_needed()
    t.shot(artifacts, "build-page-treemap", full=False)


def test_upload_hottest_function_and_share_link(tabs: Callable[..., Tab], hog: Callable[[str], Hog],
                                                gotool: Callable[[str, str], Path], tmp_path: Path,
                                                artifacts: Path) -> None:
    h = hog("1.27")
    top = _pprof_top(gotool("1.27", "pprof"), h.truth, tmp_path)
    hottest, _, cum = top[0]
    t = tabs()
    t.go("/ui/profiles")
    t.page.set_input_files("#profile-file", str(h.raw))
    with t.page.expect_navigation(url=re.compile(r"/ui/p/[0-9a-f]{64}")):
        t.page.click("#upload-button")
    t.wait_flame()
    rect = t.frame_rect(hottest)
    assert rect is not None and rect["w"] > 20, (hottest, rect)
    assert abs(t.matched_percent(f"^{re.escape(hottest)}$") - cum) <= 0.011, (hottest, cum)
    t.shot(artifacts, "profile-uploaded")
    link = t.page.get_attribute("#share-link", "href")
    assert link and t.page.url.endswith(link)
    # the shareable link in a fresh browser context (no cookies, no cache): the same graph
    t2 = tabs(fresh=True)
    t2.go(link)
    t2.wait_flame()
    rect2 = t2.frame_rect(hottest)
    assert rect2 == rect
    assert abs(t2.matched_percent(f"^{re.escape(hottest)}$") - cum) <= 0.011
    t2.shot(artifacts, "profile-shared-link")


def test_profile_a_build_without_build_ids(tabs: Callable[..., Tab], hog: Callable[[str], Hog], buildid_tool: Path,
                                           gotool: Callable[[str, str], Path], tmp_path: Path, artifacts: Path) -> None:
    """Go 1.21 writes no GNU build-id, so its profile names no build: uploaded from the build's page,
    the build is used (and the page says the build ID was not checked)."""
    h = hog("1.21")
    hottest, _, cum = _pprof_top(gotool("1.27", "pprof"), h.truth, tmp_path)[0]
    go21 = go_build_id(buildid_tool, h.binary)
    t = tabs()
    t.go("/ui/")
    t.page.click(f'tr.build[data-go="{go21}"] td.mod a')
    t.page.wait_for_load_state()
    t.page.set_input_files("#profile-file", str(h.raw))
    with t.page.expect_navigation(url=re.compile(r"/ui/p/[0-9a-f]{64}\?build=")):
        t.page.click("#upload-button")
    t.wait_flame()
    assert t.frame_rect(hottest) is not None
    assert abs(t.matched_percent(f"^{re.escape(hottest)}$") - cum) <= 0.011
    t.page.click("#symbolize-report summary")
    row = t.page.inner_text("tr.mapping")
    assert "store (build chosen by the caller, build ID not checked)" in row and "\tno\t" in row, row
    t.shot(artifacts, "profile-of-build")


def test_hostile_metadata_shows_as_text(browser: Any, hog: Callable[[str], Hog], buildid_tool: Path,
                                        tmp_path: Path, artifacts: Path) -> None:
    """The hostile build of test_ui_http in the browser: the markup is shown as text, nothing runs
    (a dialog or a script error would be recorded), and the build page opens by its Go build ID."""
    evil = hostile_build(hog("1.21").binary, tmp_path / "bin")
    store = tmp_path / "store"
    symkeep("archive", "--store", str(store), str(evil), check=True)
    go_id = go_build_id(buildid_tool, evil)
    with ServeProc(str(store), "--no-upstream", "--ui-profiles", str(tmp_path / "prof")) as s:
        t = Tab(browser, s.url)
        try:
            t.go("/ui/")
            assert EVIL_MODULE.decode() in t.page.inner_text("tr.build td.mod")
            assert EVIL_NAME in t.page.inner_text("tr.build .file")
            assert t.page.evaluate("document.querySelectorAll('main script, main img').length") == 0
            t.page.click("tr.build td.mod a")
            t.page.wait_for_load_state()
            assert t.page.inner_text("#go-build-id") == go_id
            assert EVIL_MODULE.decode() in t.page.inner_text("#build-title")
            assert EVIL_REVISION.decode() in t.page.inner_text("table.settings")
            assert t.page.evaluate("document.querySelectorAll('main script, main img').length") == 0
            t.shot(artifacts, "hostile-metadata")
        finally:
            t.page.close()
        assert not t.errors, t.errors
