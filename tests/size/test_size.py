"""symkeep size on real binaries: totals equal the file size, code per package agrees with
`go tool nm -size`, predicted -s/-w savings agree with the rebuilt variants."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from fixtures.chromium import wait_for
from symkeep.golang.functab import package_of
from symkeep.size.analyze import analyze

TOOLCHAINS = ("1.19", "1.21", "1.22", "1.24", "1.26", "1.27")
VARIANTS = ("default", "s", "w", "sw", "pie", "strip", "extlink")
CROSS = [("1.21", "darwin", "amd64"), ("1.27", "darwin", "arm64"), ("1.21", "windows", "amd64"),
         ("1.27", "windows", "amd64"), ("1.27", "linux", "arm64"), ("1.27", "linux", "386")]


def _tiles(path: Path) -> None:
    rep = analyze(path)
    sp = rep.spans
    size = path.stat().st_size
    assert rep.file_size == size
    assert sp.total() == size
    assert sp.start[0] == 0 and sp.end[-1] == size
    assert (sp.start[1:] == sp.end[:-1]).all(), "spans must tile the file"
    assert (sp.end > sp.start).all()
    assert rep.stats["overlap_bytes"] == 0
    assert sum(r.bytes for r in rep.group("package")) == size
    assert sum(r.bytes for r in rep.group("section")) == size
    assert rep.stats["functions"] > 1000 and rep.stats["code_bytes"] > 100_000


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("toolchain", TOOLCHAINS)
def test_totals_equal_file_size_linux(fixture: Callable[..., Path], toolchain: str, variant: str) -> None:
    _tiles(fixture(toolchain=toolchain, variant=variant))


@pytest.mark.parametrize("variant", ("default", "sw"))
@pytest.mark.parametrize("toolchain, goos, goarch", CROSS)
def test_totals_equal_file_size_cross(fixture: Callable[..., Path], toolchain: str, goos: str, goarch: str,
                                      variant: str) -> None:
    _tiles(fixture(toolchain=toolchain, goos=goos, goarch=goarch, variant=variant))


def _nm_code_by_package(nm: Path, binary: Path) -> Counter[str]:
    out = subprocess.run([str(nm), "-size", str(binary)], capture_output=True, text=True, timeout=120, check=True)
    c: Counter[str] = Counter()
    for line in out.stdout.splitlines():
        parts = line.split(None, 3)
        if len(parts) == 4 and parts[2] in ("T", "t"):
            c[package_of(parts[3].removesuffix(".abi0")) or "(go generated)" if parts[3].startswith(("type:", "go:"))
              else package_of(parts[3].removesuffix(".abi0")) or "(no package)"] += int(parts[1])
    return c


@pytest.mark.parametrize("toolchain", TOOLCHAINS)
def test_code_per_package_matches_go_tool_nm(fixture: Callable[..., Path], gotool: Callable[[str, str], Path],
                                             toolchain: str) -> None:
    binary = fixture(toolchain=toolchain, variant="default", program="callers")
    want = _nm_code_by_package(gotool("1.27", "nm"), binary)
    # the stripped twin: the same code, attributed from .gopclntab alone
    rep = analyze(fixture(toolchain=toolchain, variant="sw", program="callers"))
    got = {r.name: r.parts["code"] for r in rep.group("package")}
    checked = 0
    for pkg, n in want.items():
        if n < 2048 or pkg.startswith("("):
            continue
        assert abs(got.get(pkg, 0) - n) <= 0.01 * n, (pkg, got.get(pkg), n)
        checked += 1
    assert checked >= 10
    assert abs(sum(got.values()) - sum(want.values())) <= 0.01 * sum(want.values())


@pytest.mark.parametrize("toolchain", TOOLCHAINS)
def test_predicted_savings_match_rebuilt_variants(fixture: Callable[..., Path], toolchain: str) -> None:
    default = fixture(toolchain=toolchain, variant="default")
    sav = analyze(default).savings()
    size = default.stat().st_size
    for flag, variant in (("-w", "w"), ("-s", "s")):
        actual = size - fixture(toolchain=toolchain, variant=variant).stat().st_size
        assert abs(sav[flag] - actual) <= 0.02 * actual, (flag, sav[flag], actual)
    # what -s leaves has nothing left to save
    assert analyze(fixture(toolchain=toolchain, variant="s")).savings() == {"-w": 0, "-s": 0}


def test_dwarf_and_symtab_per_package(fixture: Callable[..., Path]) -> None:
    rep = analyze(fixture(toolchain="1.27", variant="default"))
    rows = {r.name: r for r in rep.group("package")}
    for pkg in ("runtime", "fmt", "main"):
        assert rows[pkg].parts["dwarf"] > 0 and rows[pkg].parts["symtab"] > 0, pkg
    # DWARF units are named by package: the units cover nearly all .debug_info
    named = sum(r.parts["dwarf"] for r in rows.values() if not r.name.startswith("("))
    assert named >= 0.97 * rep.part_total("dwarf")


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "symkeep", "size", *args], capture_output=True, text=True, timeout=300)


def test_cli_json_and_table_agree(fixture: Callable[..., Path]) -> None:
    b = fixture(toolchain="1.27", variant="sw")
    r = run(str(b), "--json", "--by", "module")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["total"] == b.stat().st_size == sum(x["bytes"] for x in doc["rows"])
    assert "example.com/hello" in {x["name"] for x in doc["rows"]}
    t = run(str(b))
    assert t.returncode == 0
    assert t.stdout.splitlines()[-1].split()[:2] == ["total", f"{b.stat().st_size:,}"]


def test_cli_diff_sums_to_growth(fixture: Callable[..., Path]) -> None:
    old = fixture(toolchain="1.27", variant="sw", program="hello")
    new = fixture(toolchain="1.27", variant="sw", program="callers")
    r = run(str(new), "--diff", str(old), "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    rows = doc["diff"]["rows"]
    assert sum(x["delta"] for x in rows) == new.stat().st_size - old.stat().st_size
    t = run(str(new), "--diff", str(old))
    assert t.returncode == 0 and "delta" in t.stdout.splitlines()[1]


def test_budget_file(fixture: Callable[..., Path], tmp_path: Path) -> None:
    b = fixture(toolchain="1.27", variant="default")
    size = b.stat().st_size
    ok = tmp_path / "ok.budget"
    ok.write_text(f"# release budget\ntotal {size}\nclass dwarf {size}B\nsavings -w 100MiB\n")
    r = run(str(b), "--budget", str(ok))
    assert r.returncode == 0, r.stderr
    over = tmp_path / "over.budget"
    over.write_text("total 1MB\nclass dwarf 0\npackage runtime 10KiB\n")
    r = run(str(b), "--budget", str(over))
    assert r.returncode == 1
    assert r.stderr.count("budget OVER") == 3 and "3 of 3 size budgets exceeded" in r.stderr
    bad = tmp_path / "bad.budget"
    bad.write_text("total lots\n")
    r = run(str(b), "--budget", str(bad))
    assert r.returncode == 2 and "bad size" in r.stderr and "Traceback" not in r.stderr


def test_bad_inputs(tmp_path: Path) -> None:
    txt = tmp_path / "t.txt"
    txt.write_text("hello\n")
    for path, code in ((tmp_path / "missing", 3), (txt, 4), (Path("/bin/true"), 5)):
        r = run(str(path))
        assert r.returncode == code, (path, r.stderr)
        assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_treemap_in_browser(fixture: Callable[..., Path], tmp_path: Path, browser: object, artifacts: Path) -> None:
    b = fixture(toolchain="1.27", variant="default")
    out = tmp_path / "tm.html"
    r = run(str(b), "--html", str(out), "--top", "3")
    assert r.returncode == 0, r.stderr
    page = browser.new_page()  # type: ignore[attr-defined]
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(out.as_uri())
    wait_for(page, "window.treemap && window.treemap.ready")
    assert "std" in page.evaluate("window.treemap.boxes")
    page.screenshot(path=str(artifacts / "size-treemap.png"))
    page.click(".tm-box[data-name='std']")
    assert page.evaluate("window.treemap.path")[-1] == "std"
    assert "runtime" in page.evaluate("window.treemap.boxes")
    page.click(".tm-box[data-name='runtime']")
    assert set(page.evaluate("window.treemap.boxes")) >= {"code", "pclntab", "dwarf", "symtab"}
    page.screenshot(path=str(artifacts / "size-treemap-runtime.png"))
    page.close()
    assert not errors, errors
    _ = np  # numpy is used by the size package; keep the import honest for mypy-less runs


def _generic_name(name: str) -> str:
    """``pkg.F[go.shape.int]`` -> ``pkg.F[...]``: the symbol table and .gopclntab spell shapes differently
    in some versions; compare instantiations of one generic function as a multiset of sizes."""
    out, depth = [], 0
    for ch in name:
        if ch == "[":
            if depth == 0:
                out.append("[...]")
            depth += 1
        elif ch == "]":
            depth -= 1
        elif depth == 0:
            out.append(ch)
    return "".join(out)


def test_function_code_matches_go_tool_nm(fixture: Callable[..., Path], gotool: Callable[[str, str], Path]) -> None:
    """Methods, closures and generic instantiations: each function's code bytes (from the stripped
    binary) equal its symbol size on the unstripped twin, for the great majority of functions."""
    default = fixture(toolchain="1.27", variant="default", program="callers")
    out = subprocess.run([str(gotool("1.27", "nm")), "-size", str(default)], capture_output=True, text=True,
                         timeout=120, check=True)
    want: dict[str, list[int]] = {}
    for line in out.stdout.splitlines():
        parts = line.split(None, 3)
        if len(parts) == 4 and parts[2] in ("T", "t"):
            want.setdefault(_generic_name(parts[3]), []).append(int(parts[1]))
    rep = analyze(fixture(toolchain="1.27", variant="sw", program="callers"))
    sp, nm = rep.spans, rep.spans.names
    sel = sp.part == 0  # ledger.PARTS[0] == "code"
    got: dict[str, list[int]] = {}
    for f, n in zip(sp.function[sel].tolist(), sp.size[sel].tolist(), strict=True):
        got.setdefault(_generic_name(nm[f]), []).append(int(n))
    common = [n for n in got if n in want]
    same = [n for n in common if sorted(got[n]) == sorted(want[n])]
    assert len(common) > 1000 and len(same) >= 0.9 * len(common), (len(same), len(common))
    examples = {
        "method": next(n for n in same if ".(*" in n and "[" not in n),
        "closure": next(n for n in same if ".func1" in n),
        "generic": next(n for n in same if "[...]" in n),
    }
    assert all(examples.values()), examples


@pytest.mark.parametrize("how", ["truncate-half", "truncate-tail", "zero-pclntab-body", "garble-debug-info"])
def test_damaged_binaries_fail_cleanly(fixture: Callable[..., Path], tmp_path: Path, how: str) -> None:
    """Damaged input: a one-line error with a documented code, or a report that still adds up."""
    from symkeep.binfmt import open_binary

    src = fixture(toolchain="1.27", variant="default")
    data = bytearray(src.read_bytes())
    b = open_binary(src)
    if how == "truncate-half":
        data = data[: len(data) // 2]
    elif how == "truncate-tail":
        data = data[:-4096]
    elif how == "zero-pclntab-body":
        s = b.section(".gopclntab")
        assert s is not None
        data[s.offset + 64: s.offset + s.file_size // 2] = bytes(s.file_size // 2 - 64)
    else:
        s = b.section(".debug_info")
        assert s is not None
        data[s.offset + 24: s.offset + s.file_size] = b"\xa5" * (s.file_size - 24)
    bad = tmp_path / "bad"
    bad.write_bytes(bytes(data))
    r = run(str(bad), "--json")
    assert r.returncode in (0, 4, 5, 6), r.stderr
    assert "Traceback" not in r.stderr
    if r.returncode:
        assert len(r.stderr.strip().splitlines()) == 1 and r.stderr.startswith("symkeep: error:")
    else:
        assert json.loads(r.stdout)["total"] == len(data)
