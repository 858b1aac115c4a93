"""Each "what still works" verdict is checked against the real tool on real fixtures.

For every linux/amd64 variant of every toolchain, we ask nm, binutils addr2line, llvm-symbolizer,
gdb and the matching `go tool addr2line` about an address inside `main.main`, and assert that each
tool did what `inspect` predicted: named the function (or not), gave a line (or not).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from inspect_helpers import built

from fixtures.factory import (
    MATRIX_TOOLCHAINS,
    VARIANTS,
    FixtureSpec,
    go_tool,
)

CASES = [
    FixtureSpec(tc, "linux", "amd64", v, "hello")
    for tc in MATRIX_TOOLCHAINS
    for v in VARIANTS
    if VARIANTS[v].target is None  # (textsect is a ppc64le build)
]


def _run(cmd: list[str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=120, check=False)


def _verdict(rep: dict, prefix: str) -> dict:
    return next(c for c in rep["consumers"] if c["name"].startswith(prefix))


def _main_addr(path: Path) -> int:
    from symkeep.symbolize import open_go_binary

    gob = open_go_binary(str(path))
    fn = next(f for f in gob.functions() if f.name == "main.main")
    return fn.entry


def _line_ok(s: str) -> bool:
    m = re.search(r":(\d+)", s)
    return bool(m) and int(m.group(1)) > 0 and not s.startswith("??")


@pytest.mark.parametrize("spec", CASES, ids=str)
def test_verdicts_match_real_tools(spec: FixtureSpec) -> None:
    from symkeep.inspect.report import inspect_path

    path = built(spec)
    if spec.variant == "shared":
        pytest.skip("a c-shared library has no main.main to ask about")
    rep = inspect_path(str(path)).to_json()
    addr = _main_addr(path)
    a = f"{addr:#x}"

    # nm
    nm = _run(["nm", str(path)])
    nm_names = nm.returncode == 0 and re.search(r"\s[Tt] main\.main$", nm.stdout, re.M) is not None
    assert _verdict(rep, "nm")["works"] == nm_names, nm.stderr[-300:]

    # binutils addr2line
    out = _run(["addr2line", "-f", "-e", str(path), a]).stdout.splitlines()
    v = _verdict(rep, "binutils addr2line")
    assert v["works"] == (len(out) >= 1 and out[0] == "main.main"), out
    assert v["lines"] == (len(out) >= 2 and _line_ok(out[1])), out

    # llvm-symbolizer (what google/pprof runs)
    out = _run(["llvm-symbolizer", f"--obj={path}", a]).stdout.splitlines()
    v = _verdict(rep, "google/pprof")
    assert v["works"] == (len(out) >= 1 and out[0] == "main.main"), out
    assert v["lines"] == (len(out) >= 2 and _line_ok(out[1])), out

    # gdb
    g = _run(["gdb", "-batch", "-nx", "-ex", f"info symbol {a}", "-ex", f"info line *{a}", str(path)])
    text = g.stdout + g.stderr
    v = _verdict(rep, "gdb")
    # Names come from minimal symbols (`info symbol`) or from DWARF (`info line` prints <main.main>).
    named = "main.main in section" in text or re.search(r"<main\.main(\+\d+)?>", text) is not None
    assert v["works"] == named, text[-500:]
    assert v["lines"] == (re.search(r'Line \d+ of "', text) is not None), text[-500:]

    # go tool addr2line of the toolchain that built the binary
    tool = go_tool(spec.toolchain, "addr2line")
    out = _run([str(tool), str(path)], stdin=a + "\n")
    lines = out.stdout.splitlines()
    v = _verdict(rep, "go tool")
    worked = out.returncode == 0 and len(lines) >= 2 and lines[0] == "main.main"
    assert v["works"] == worked, (out.stdout + out.stderr)[-500:]
    if worked:
        assert v["lines"] == _line_ok(lines[1])

    # symkeep itself never loses names
    assert _verdict(rep, "symkeep")["works"] is True
