"""`symkeep demo` (issue #10.7): phases with real progress, a line per phase when piped, real paths.

Builds come from the shared Go build cache (a few seconds when warm). Ground truth: `go version -m`
for what each binary was built with, `go tool addr2line` for the addresses the demo symbolizes.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fixtures.factory import go_tool


def _go_version_m(path: Path, go: str) -> str:
    return subprocess.run([go, "version", "-m", str(path)], capture_output=True, text=True, check=True).stdout


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, list[tuple[float, str]], float]:
    """One piped run: (out dir, stdout, [(seconds since start, stderr line)], total seconds)."""
    out = tmp_path_factory.mktemp("demo")
    env = dict(os.environ)
    env.pop("SYMKEEP_DEBUG", None)
    t0 = time.monotonic()
    p = subprocess.Popen([sys.executable, "-m", "symkeep", "demo", "--out", str(out)], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env=env)
    assert p.stderr is not None and p.stdout is not None
    lines = [(time.monotonic() - t0, ln.rstrip("\n")) for ln in p.stderr]  # read as they come
    stdout = p.stdout.read()
    assert p.wait(timeout=900) == 0, lines
    return out, stdout, lines, time.monotonic() - t0


def test_a_line_per_phase_when_piped(demo_run: tuple[Path, str, list[tuple[float, str]], float]) -> None:
    _, _, lines, total = demo_run
    text = [ln for _, ln in lines]
    starts = [ln for ln in text if ln.endswith(" ...")]
    dones = [ln for ln in text if re.search(r": done in \d+\.\ds", ln)]
    assert [s.split(" with ")[0] for s in starts[:3]] == ["symkeep: build default", "symkeep: build -w",
                                                          "symkeep: build -s -w"]
    assert any("inspect" in s for s in starts) and any("symbolize" in s for s in starts)
    assert len(starts) == len(dones) == 5
    assert all("gogo" not in ln for ln in text)
    ver = re.search(r"with Go (\d+\.\d+\.\d+)", starts[0])
    assert ver
    # the first line comes before the builds are done, not after
    assert lines[0][0] < lines[1][0] <= total
    assert re.search(r"packages compiled", dones[0])


def test_binaries_are_where_it_says_and_built_as_named(demo_run: tuple[Path, str, list[tuple[float, str]], float]
                                                        ) -> None:
    out, stdout, _, _ = demo_run
    from symkeep.build.toolchain import find_toolchains

    go = str(find_toolchains()[-1].go)
    assert f"Binaries in {out} (named after their -ldflags):" in stdout.splitlines()
    for name, flags in (("demo", None), ("demo_w", "-w"), ("demo_s_w", "-s -w")):
        path = out / name
        assert path.is_file()
        assert re.search(rf"^\s+{name}\s+{re.escape(flags or 'default')}$", stdout, re.M)
        vm = _go_version_m(path, go)
        if flags:
            assert re.search(rf"build\s+-ldflags=\"?{re.escape(flags)}\"?$", vm, re.M), vm
        else:
            assert "-ldflags" not in vm
    assert f"Next: `symkeep inspect {out / 'demo_s_w'}` for the full report." in stdout


def test_symbolized_addresses_agree_with_go_tool_addr2line(
        demo_run: tuple[Path, str, list[tuple[float, str]], float]) -> None:
    out, stdout, _, _ = demo_run
    from symkeep.build.toolchain import find_toolchains

    minor = ".".join(find_toolchains()[-1].version.removeprefix("go").split(".")[:2])
    rows = [ln.split() for ln in stdout.splitlines() if re.match(r"^  0x[0-9a-f]+  ", ln)]
    assert len(rows) >= 3
    addrs = sorted({r[0] for r in rows})
    tool = go_tool(minor, "addr2line")
    res = subprocess.run([str(tool), str(out / "demo_s_w")], input="".join(a + "\n" for a in addrs),
                         capture_output=True, text=True, check=True).stdout.splitlines()
    truth = {a: (res[2 * k], res[2 * k + 1]) for k, a in enumerate(addrs)}
    for addr in addrs:
        frames = [r for r in rows if r[0] == addr]
        assert frames[-1][1] == truth[addr][0]  # go tool names the outermost function
        assert frames[0][2] == truth[addr][1]  # and the innermost file:line


def test_json(tmp_path: Path, demo_run: tuple[Path, str, list[tuple[float, str]], float]) -> None:
    out = demo_run[0]
    r = subprocess.run([sys.executable, "-m", "symkeep", "demo", "--json", "-q", "--out", str(out)],
                       capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""  # -q: no progress
    doc = json.loads(r.stdout)
    assert doc["directory"] == str(out)
    assert [(v["variant"], Path(v["path"]).name) for v in doc["variants"]] == [
        ("default", "demo"), ("-w", "demo_w"), ("-s -w", "demo_s_w")]
    assert doc["variants"][2]["report"]["stripped"] == {"symtab": True, "dwarf": True}
