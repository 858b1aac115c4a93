"""The matrix reproduces facts that these tests check independently with the raw tools.

Every fact is checked twice: the raw tool (readelf, nm, gdb, perf, go version -m) run here on the
variant's binary, and the matrix's own verdict for the same binary; they must agree.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from fixtures.env import unavailable

from .helpers import MatrixRun, run

pytestmark = pytest.mark.slow

ALL = ("1.21", "1.27")


def _bin(m: MatrixRun, tc: str, variant: str) -> Path:
    r = m.result(tc, variant)
    assert r["status"] == "ok", r.get("error")
    return Path(r["binary"])


def _has_debug_sections(p: Path) -> bool:
    out = run(["readelf", "-S", "-W", str(p)])
    return ".debug_info" in out or ".zdebug_info" in out


def _has_gnu_build_id(p: Path) -> bool:
    return "NT_GNU_BUILD_ID" in run(["readelf", "-n", "-W", str(p)])


@pytest.mark.parametrize("tc", ALL)
def test_s_alone_drops_dwarf(matrix_run: MatrixRun, tc: str) -> None:
    assert _has_debug_sections(_bin(matrix_run, tc, "default"))  # the check can tell
    assert not _has_debug_sections(_bin(matrix_run, tc, "s"))
    assert matrix_run.result(tc, "s")["size"]["classes"]["DWARF"] == 0
    assert matrix_run.result(tc, "default")["size"]["classes"]["DWARF"] > 0


def test_s_w0_keeps_dwarf_on_122_plus_only(matrix_run: MatrixRun) -> None:
    assert not _has_debug_sections(_bin(matrix_run, "1.21", "s_w0"))
    assert _has_debug_sections(_bin(matrix_run, "1.27", "s_w0"))
    assert matrix_run.result("1.21", "s_w0")["size"]["classes"]["DWARF"] == 0
    assert matrix_run.result("1.27", "s_w0")["size"]["classes"]["DWARF"] > 0


def test_runtime_pprof_names_survive_every_variant(matrix_run: MatrixRun) -> None:
    checked = 0
    for r in matrix_run.report["results"]:
        if r["status"] != "ok":
            continue
        v = r["probes"]["runtime_pprof"]
        assert v["status"] == "ok", (r["toolchain"], r["variant"], v)
        checked += 1
    assert checked >= 20


@pytest.mark.parametrize("tc", ALL)
def test_runtime_profile_of_stripped_binary_names_functions_raw(matrix_run: MatrixRun, tc: str,
                                                                pprof_tool: dict[str, Path]) -> None:
    """Independently: the -s -w binary writes a CPU profile; `go tool pprof -raw` shows main.* with lines."""
    b = _bin(matrix_run, tc, "sw")
    with tempfile.TemporaryDirectory() as d:
        prof = Path(d) / "cpu.pprof"
        run([str(b), "-work", "0.5s", "-cpuprofile", str(prof)])
        out = run([str(pprof_tool[tc]), "-raw", "-symbolize=none", str(prof)])
    assert any("main.crunch" in ln and ".go:" in ln for ln in out.splitlines()), out[:2000]


@pytest.mark.parametrize("tc", ALL)
def test_nm_gdb_perf_fail_after_s(matrix_run: MatrixRun, tc: str) -> None:
    d, s = _bin(matrix_run, tc, "default"), _bin(matrix_run, tc, "s")
    # nm
    assert " T main.crunch" in run(["nm", str(d)])
    assert "no symbols" in run(["nm", str(s)], check=False)
    # gdb
    assert "main.crunch" in run(["gdb", "-batch", "-nx", "-ex", "info functions ^main\\.crunch$", str(d)])
    out = run(["gdb", "-batch", "-nx", "-ex", "info functions ^main\\.crunch$", str(s)], check=False)
    assert "main.crunch" not in out
    # perf (HOME empty so the build-id cache cannot name the stripped binary)
    assert "main.crunch" in _perf_top(d)
    assert "main.crunch" not in _perf_top(s)
    # ... and the matrix says the same
    for probe in ("nm", "gdb", "perf"):
        assert matrix_run.result(tc, "default")["probes"][probe]["status"] == "ok", probe
        assert matrix_run.result(tc, "s")["probes"][probe]["status"] == "fail", probe
        assert matrix_run.result(tc, "sw")["probes"][probe]["status"] == "fail", probe


def _perf_top(binary: Path) -> str:
    if shutil.which("perf") is None:
        unavailable("perf not installed")
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "HOME": home}
        data = Path(home) / "perf.data"
        r = subprocess.run(["perf", "record", "-q", "-e", "cpu-clock", "-o", str(data), "--", str(binary),
                            "-work", "0.5s"], capture_output=True, text=True, env=env, timeout=120)
        if r.returncode != 0:
            unavailable(f"perf record does not work here: {r.stderr[-300:]}")
        return run(["perf", "report", "-i", str(data), "--stdio", "--sort", "sym"], env=env)


def test_gnu_build_id(matrix_run: MatrixRun) -> None:
    expect = {
        ("1.21", "default"): False,
        ("1.27", "default"): True,
        ("1.27", "gobuildid"): True,
        ("1.21", "extlink"): True,
        ("1.27", "extlink"): True,
    }
    for (tc, variant), want in expect.items():
        assert _has_gnu_build_id(_bin(matrix_run, tc, variant)) is want, (tc, variant)
        assert (matrix_run.result(tc, variant)["probes"]["debuginfod"]["status"] == "ok") is want, (tc, variant)


def test_gobuildid_on_121_is_a_clean_variant_error(matrix_run: MatrixRun) -> None:
    r = matrix_run.result("1.21", "gobuildid")
    assert r["status"] == "error"
    assert r["stage"] == "build"
    assert "build failed" in r["error"] and "-B" in r["error"]
    assert "Traceback" not in r["error"]
    # the independent check: Go 1.21's linker really rejects it
    from symkeep.build.toolchain import get_toolchain

    tc = get_toolchain("1.21")
    with tempfile.TemporaryDirectory() as d:
        from symkeep.demo import demo_source_dir

        p = subprocess.run([str(tc.go), "build", "-ldflags=-B gobuildid", "-o", str(Path(d) / "x"), "."],
                           cwd=demo_source_dir(), env=tc.env(CGO_ENABLED="0"), capture_output=True, text=True)
    assert p.returncode != 0


@pytest.mark.parametrize("tc", ALL)
def test_trimpath_hides_ldflags_from_build_info(matrix_run: MatrixRun, tc: str) -> None:
    from symkeep.build.toolchain import get_toolchain

    go = str(get_toolchain(tc).go)
    plain = run([go, "version", "-m", str(_bin(matrix_run, tc, "sw"))])
    trim = run([go, "version", "-m", str(_bin(matrix_run, tc, "sw_trimpath"))])
    assert "-ldflags=" in plain
    assert "-ldflags=" not in trim and "-trimpath=true" in trim
    assert matrix_run.result(tc, "sw")["probes"]["buildinfo"]["status"] == "ok"
    assert matrix_run.result(tc, "sw_trimpath")["probes"]["buildinfo"]["status"] == "partial"


def test_every_verdict_carries_evidence(matrix_run: MatrixRun) -> None:
    n = 0
    for r in matrix_run.report["results"]:
        if r["status"] != "ok":
            assert r["error"]
            continue
        for name, v in r["probes"].items():
            assert v["status"] in ("ok", "partial", "fail", "na", "error"), (name, v)
            if v["status"] in ("ok", "partial", "fail"):
                assert v["command"], (r["variant"], name, v)
                assert v["line"], (r["variant"], name, v)
                n += 1
            if v["status"] in ("fail", "partial", "error", "na"):
                assert v["reason"], (r["variant"], name, v)
    assert n > 200


def test_raw_measurements_present(matrix_run: MatrixRun) -> None:
    for tc in ALL:
        d = matrix_run.result(tc, "default")
        assert d["size"]["file"] == Path(d["binary"]).stat().st_size
        # the classes account for every byte of the file
        assert sum(d["size"]["classes"].values()) == d["size"]["file"]
        assert d["runtime"]["startup_seconds"]["median"] > 0
        assert d["runtime"]["rss_ready_kb"]["median"] > 0
        assert d["runtime"]["cpu"]["ops_per_sec"]["median"] > 0
        assert "profile_overhead_pct" in d["runtime"]["cpu"]
        assert d["build"]["seconds"] > 0
        s = matrix_run.result(tc, "s")
        assert s["size"]["delta_vs_default_pct"] < -20
        # the cost of -gcflags=all=-l on the CPU-bound workload is measured against default
        assert "throughput_vs_default_pct" in matrix_run.result(tc, "noinline")["runtime"]["cpu"]
        # the split debug file is kept beside the stripped binary and gdb finds it through the debuglink
        sp = matrix_run.result(tc, "split")
        assert Path(sp["build"]["debug_file"]).is_file()
        assert not _has_debug_sections(Path(sp["binary"]))


def test_split_and_restore_give_gdb_back(matrix_run: MatrixRun) -> None:
    for tc in ALL:
        sp = Path(matrix_run.result(tc, "split")["binary"])
        out = run(["gdb", "-batch", "-nx", "-ex", "info line main.crunch", str(sp)], check=False)
        assert "hot.go" in out, out
        assert matrix_run.result(tc, "split")["probes"]["gdb"]["status"] == "ok"


def test_rerun_uses_cache(matrix_run: MatrixRun) -> None:
    assert all(r["cached"] for r in matrix_run.rerun_report["results"] if r["status"] == "ok")
    assert matrix_run.rerun_seconds < 0.10 * matrix_run.seconds, (matrix_run.rerun_seconds, matrix_run.seconds)


_EVIDENCE = re.compile(r"(0x[0-9a-f]+): go tool pprof says (\S+) (\S+):(\d+); the runtime said (\S+) (\S+):(\d+)")


@pytest.mark.parametrize("tc", ALL)
def test_extlink_sw_go_pprof_cell_shows_the_misattribution(matrix_run: MatrixRun, tc: str) -> None:
    """extlink_sw: C code before runtime.text and no .symtab; go tool pprof names the runtime profile's
    addresses wrongly. The cell is ✗ with a frame it named vs the runtime's; the raw go tool addr2line
    of the toolchain says the same wrong thing at that address, and on the extlink build (same .text,
    with .symtab) it says what the runtime said."""
    from fixtures.factory import go_tool

    sw, ext = matrix_run.result(tc, "extlink_sw"), matrix_run.result(tc, "extlink")
    v = sw["probes"]["go_pprof"]
    assert v["status"] == "fail" and "misattributes" in v["reason"], v
    m = _EVIDENCE.search(v["line"])
    assert m, v["line"]
    addr, said, right = m.group(1), (m.group(2), m.group(4)), (m.group(5), m.group(7))
    assert said != right
    assert ext["probes"]["go_pprof"]["status"] == "ok", ext["probes"]["go_pprof"]
    assert matrix_run.result(tc, "sw")["probes"]["go_pprof"]["status"] == "ok"
    # independently, with the raw tool (the demo is not PIE: runtime and link-time addresses agree)
    tool = str(go_tool(tc, "addr2line"))
    for binary, want in ((Path(sw["binary"]), said), (Path(ext["binary"]), right)):
        r = subprocess.run([tool, str(binary)], input=addr + "\n", capture_output=True, text=True, timeout=120)
        name, fileline = r.stdout.splitlines()[:2]
        assert (name, fileline.rpartition(":")[2]) == want, (binary.name, r.stdout)
    assert _text(Path(sw["binary"])) == _text(Path(ext["binary"]))
    # and inspect says so
    from symkeep.inspect.report import inspect_path

    go = {c.name: c for c in inspect_path(sw["binary"]).consumers}["go tool pprof / go tool addr2line"]
    assert not go.works and "bytes before runtime.text" in go.reason


def _text(p: Path) -> tuple[str, str]:
    """.text address and size (readelf)."""
    out = run(["readelf", "-S", "-W", str(p)])
    m = re.search(r"\s\.text\s+PROGBITS\s+([0-9a-f]+)\s+[0-9a-f]+\s+([0-9a-f]+)", out)
    assert m, out
    return m.group(1), m.group(2)
