"""Per-variant errors: a package that does not build, a missing toolchain, a program with no pprof port.

Each must give a clear error in its own cells while the rest of the matrix completes (and no traceback).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .helpers import require_toolchains, run_cli

pytestmark = pytest.mark.slow

SLEEPER = """package main

import (
	"fmt"
	"time"
)

//go:noinline
func idle() { time.Sleep(time.Hour) }

func main() {
	fmt.Println("no pprof here")
	idle()
}
"""

BROKEN = """package main

func main() {
	undefinedFunction()
}
"""


def _pkg(tmp: Path, name: str, src: str) -> Path:
    d = tmp / name
    d.mkdir()
    (d / "go.mod").write_text(f"module example.com/{name}\n\ngo 1.19\n")
    (d / "main.go").write_text(src)
    return d


def test_missing_toolchain_and_silent_program(tmp_path: Path) -> None:
    require_toolchains("1.27")
    pkg = _pkg(tmp_path, "sleeper", SLEEPER)
    out = tmp_path / "r.json"
    p = run_cli([str(pkg), "--go", "1.27", "--go", "1.99", "--variants", "default,s",
                 "--probes", "runtime_pprof,nm,debuginfod,panic", "--startup-timeout", "2", "--repeat", "1",
                 "--profile-seconds", "0.2", "--cache-dir", str(tmp_path / "c"), "--json", "-o", str(out),
                 "--quiet"], tmp_path)
    assert p.returncode == 0, p.stderr
    assert "Traceback" not in p.stderr
    rep = json.loads(out.read_text())
    rows = {(r["toolchain_spec"], r["variant"]): r for r in rep["results"]}
    # the missing toolchain: every one of its cells is a clear error
    for v in ("default", "s"):
        r = rows[("1.99", v)]
        assert r["status"] == "error" and r["stage"] == "toolchain"
        assert "1.99" in r["error"] and "not found" in r["error"]
    # the 1.27 column still completed: built, sized, statically probed
    for v in ("default", "s"):
        r = rows[("1.27", v)]
        assert r["status"] == "ok", r
        assert r["size"]["file"] > 0
        assert "never answered" in r["runtime"]["error"] and "no pprof here" in r["runtime"]["error"]
        rp = r["probes"]["runtime_pprof"]
        assert rp["status"] == "error" and "pprof port" in rp["reason"]
        assert r["probes"]["panic"]["status"] == "na"
    assert rows[("1.27", "default")]["probes"]["nm"]["status"] == "ok"
    assert rows[("1.27", "s")]["probes"]["nm"]["status"] == "fail"
    # the terminal table renders the errors without a traceback
    p2 = run_cli([str(pkg), "--go", "1.27", "--go", "1.99", "--variants", "default,s",
                  "--probes", "runtime_pprof,nm,debuginfod,panic", "--startup-timeout", "2", "--repeat", "1",
                  "--profile-seconds", "0.2", "--cache-dir", str(tmp_path / "c"), "--quiet"], tmp_path)
    assert p2.returncode == 0, p2.stderr
    assert "not found" in p2.stdout and "never answered" in p2.stdout


def test_package_that_does_not_build(tmp_path: Path) -> None:
    require_toolchains("1.27")
    pkg = _pkg(tmp_path, "broken", BROKEN)
    out = tmp_path / "r.json"
    p = run_cli([str(pkg), "--go", "1.27", "--variants", "default,s,strip", "--probes", "nm",
                 "--cache-dir", str(tmp_path / "c"), "--json", "-o", str(out), "--quiet"], tmp_path)
    assert "Traceback" not in p.stderr
    assert p.returncode == 1  # nothing could be measured
    rep = json.loads(out.read_text())
    assert len(rep["results"]) == 3
    for r in rep["results"]:
        assert r["status"] == "error"
        assert "undefined: undefinedFunction" in r["error"] or "base variant" in r["error"]
    strip = next(r for r in rep["results"] if r["variant"] == "strip")
    assert strip["stage"] == "post" and "default" in strip["error"]


def test_bad_options_are_usage_errors(tmp_path: Path) -> None:
    p = run_cli(["--variants", "nosuchvariant", "--quiet"], tmp_path)
    assert p.returncode != 0 and "unknown variant" in p.stderr and "Traceback" not in p.stderr
    p = run_cli([str(tmp_path / "nope"), "--quiet"], tmp_path)
    assert p.returncode != 0 and "Traceback" not in p.stderr
    p = run_cli(["--probes", "bogus", "--quiet"], tmp_path)
    assert p.returncode == 2 and "unknown probe" in p.stderr
