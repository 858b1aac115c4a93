"""Every command's text output through a pipe is complete (issue #10.6), and fits a terminal's width.

Piped output was hard-wrapped at 80 columns with cells cut (`symkeep funcs BIN | grep NAME` found
nothing). Ground truth comes from real tools: `nm` of the unstripped twin for function names and
entries, `go tool buildid` and `readelf -n` for the build IDs. Binaries are copied under a long
directory name so that any wrapping or eliding of paths shows.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from cliutil import on_terminal, piped

from fixtures.factory import FixtureSpec, build_fixture, go_tool


@pytest.fixture(scope="module")
def longdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("out") / ("a-directory-name-long-enough-that-wrapping-at-80-columns-would-show" * 2)
    d.mkdir()
    return d


@pytest.fixture(scope="module")
def stripped(longdir: Path) -> Path:
    dst = longdir / "hello_s_w"
    shutil.copy(build_fixture(FixtureSpec("1.27", variant="sw")), dst)
    return dst


@pytest.fixture(scope="module")
def twin_main_funcs() -> dict[str, int]:
    """Functions and their entries from `nm` of the unstripped build of the same program (names nm lists
    once: static duplicates are left out)."""
    nm = subprocess.run(["nm", str(build_fixture(FixtureSpec("1.27", variant="default")))], capture_output=True,
                        text=True, check=True).stdout
    pairs = [(m.group(2), int(m.group(1), 16)) for m in re.finditer(r"^([0-9a-f]+) [Tt] (\S+)$", nm, re.M)]
    names = [n for n, _ in pairs]
    return {n: e for n, e in pairs if names.count(n) == 1}


def test_funcs_piped_rows_are_whole_and_greppable(stripped: Path, twin_main_funcs: dict[str, int]) -> None:
    r = piped("funcs", str(stripped))
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["entry", "size", "name", "file:line"]
    assert lines[-1].endswith(" functions")
    rows: dict[str, list[tuple[int, str]]] = {}
    for ln in lines[1:-1]:
        entry, _size, rest = ln.split(maxsplit=2)
        name, _, loc = rest.rpartition("  ")  # names may hold single spaces; columns are 2+ apart
        rows.setdefault(name.strip(), []).append((int(entry, 16), loc.strip()))
    # every function nm names in the twin is a row of its own with the same entry, as `grep NAME` needs
    # (nm spells ABI0 wrappers NAME.abi0, .gopclntab NAME: FACTS.md 2a)
    hits = [(n, e) for n, e in twin_main_funcs.items() if e in {x for x, _ in rows.get(n.removesuffix(".abi0"), [])}]
    assert len(hits) >= 0.95 * len(twin_main_funcs)
    mains = {n for n in twin_main_funcs if n.startswith("main.")}
    assert mains and mains <= {n for n, _ in hits}
    longest = max((n.removesuffix(".abi0") for n, _ in hits), key=len)
    assert len(longest) > 30
    assert [ln for ln in lines if longest in ln.split()]  # `| grep` finds the longest name whole
    recs = [json.loads(x) for x in piped("funcs", "--ndjson", str(stripped)).stdout.splitlines()]
    assert len(recs) == len(lines) - 2
    assert all(any(loc.startswith(x["file"]) for _, loc in rows[x["name"]]) for x in recs if x["file"])


def test_inspect_piped_keeps_ids_and_paths_whole(stripped: Path) -> None:
    r = piped("inspect", str(stripped))
    assert r.returncode == 0, r.stderr
    out = r.stdout
    gid = subprocess.run([str(go_tool("1.27", "buildid")), str(stripped)], capture_output=True, text=True,
                         check=True).stdout.strip()
    notes = subprocess.run(["readelf", "-n", str(stripped)], capture_output=True, text=True, check=True).stdout
    gnu = re.search(r"Build ID: ([0-9a-f]+)", notes)
    assert gnu
    lines = out.splitlines()
    assert any(ln.split() == ["Go", "build", "ID:", gid] for ln in lines)
    assert any(ln.split() == ["GNU", "build-id:", gnu.group(1)] for ln in lines)
    assert lines[0].startswith(str(stripped.resolve()) + "  ")
    # the advice names the real path, whole, in a command that can be pasted
    adv = [ln for ln in lines if "symkeep restore" in ln]
    assert adv and f"symkeep restore {stripped} -o {stripped}.debug " in adv[0]
    # each consumer verdict is one row holding its whole reason
    rep = json.loads(piped("inspect", "--json", str(stripped)).stdout)
    for v in rep["consumers"]:
        assert [ln for ln in lines if ln.startswith(v["name"] + " ") and ln.endswith(v["reason"])], v
    assert max(len(ln) for ln in lines) > 80  # really longer than a terminal would have wrapped


def test_addr2line_piped_pretty_lines_are_whole(stripped: Path, twin_main_funcs: dict[str, int]) -> None:
    mains = {n: e for n, e in twin_main_funcs.items() if n.startswith("main.")}
    addrs = [f"{e:#x}" for e in mains.values()]
    r = piped("addr2line", "-f", "-i", "-p", "-a", "-e", str(stripped), "--", *addrs)
    assert r.returncode == 0, r.stderr
    heads = [ln for ln in r.stdout.splitlines() if not ln.startswith(" (inlined by) ")]
    assert len(heads) == len(addrs)
    for ln, (name, e) in zip(heads, mains.items(), strict=True):
        assert ln.startswith(f"0x{e:016x}: {name} at ")


def test_restore_and_symbolize_summaries_piped(stripped: Path, longdir: Path) -> None:
    out = longdir / "hello.debug"
    r = piped("restore", str(stripped), "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert f"  debug_file: {out}" in r.stdout.splitlines()
    folded = longdir / "stacks.folded"
    recs = [json.loads(x) for x in piped("funcs", "--ndjson", "--filter", r"^main\.", str(stripped)).stdout.splitlines()]
    folded.write_text("".join(f"{int(x['entry'], 16) + 1:#x} 3\n" for x in recs))
    r = piped("symbolize", str(folded), "--binary", str(stripped), "--format", "folded")
    assert r.returncode == 0, r.stderr
    assert f"    binary: {stripped} (found by --binary)" in r.stderr.splitlines()
    assert {ln.rsplit(" ", 1)[0] for ln in r.stdout.splitlines()} == {x["name"] for x in recs}


@pytest.mark.parametrize("columns", [80, 120])
def test_terminal_tables_fit_and_keep_names(stripped: Path, columns: int) -> None:
    code, text = on_terminal("funcs", "--filter", r"^main\.|^runtime\.(main|gcBgMarkWorker)", str(stripped),
                             columns=columns)
    assert code == 0, text
    lines = text.splitlines()
    assert all(len(ln) <= columns for ln in lines), max(lines, key=len)
    recs = [json.loads(x) for x in piped("funcs", "--ndjson", "--filter", r"^main\.|^runtime\.(main|gcBgMarkWorker)",
                                         str(stripped)).stdout.splitlines()]
    for x in recs:
        row = [ln for ln in lines if ln.startswith(x["entry"] + " ")]
        assert row and f"  {x['name']}  " in row[0]  # the name whole
        loc = f"{x['file']}:{x['start_line']}"
        # the path may be shortened from the left, never at its end
        assert loc in row[0] or (row[0].rstrip().rpartition("…")[2] and loc.endswith(row[0].rpartition("…")[2]))
    code, text = on_terminal("inspect", str(stripped), columns=columns)
    assert code == 0, text
    table_lines = [ln for ln in text.splitlines() if ln.startswith(("runtime/pprof", "gdb ", "code "))]
    assert len(table_lines) == 3 and all(len(ln) <= columns for ln in table_lines)


def test_matrix_terminal_report_piped_is_whole(tmp_path: Path) -> None:
    """matrix's report (matrix.report_term, given cli.render's console): nothing wrapped or cut when piped.
    A small run (two toolchains, two variants and the default, the probes that need no profiling: a
    table ~180 columns wide); the JSON of the same (cached) run is the truth."""
    probes = "nm,addr2line,llvm_symbolizer,symkeep_addr2line,buildinfo,debuginfod,gdb,go_pprof,panic"
    args = ["matrix", "--go", "1.21", "--go", "1.27", "--variants", "sw,s_w0", "--probes", probes, "--repeat", "1",
            "--profile-seconds", "0.2", "--cache-dir", str(tmp_path / "mx"), "-q"]
    r = piped(*args, timeout=900)
    assert r.returncode == 0, r.stderr
    rep = json.loads(piped(*args, "--json").stdout)
    lines = r.stdout.splitlines()
    assert "\x1b[" not in r.stdout
    for v in rep["variants"]:  # each variant's row holds its whole label
        assert any(f" {v['label']} " in ln for ln in lines), v["label"]
    for title in rep["probes"].values():  # each probe's column title is whole, on the header line
        assert any(f" {title} " in ln for ln in lines), title
    rows = [ln for ln in lines if ln.startswith("│ ")]
    # no cell wrapped: one line per variant in the verdict table, one per variant and toolchain in the
    # runtime table
    assert len(rows) == len(rep["variants"]) * (1 + len(rep["toolchains"]))
    for scen, rec in rep["recommendations"].items():  # each recommendation is one line, its needs whole
        assert any(ln.startswith(f"  {scen} — {rec['needs']}: ") for ln in lines), scen
    assert max(len(ln) for ln in lines) > 160
