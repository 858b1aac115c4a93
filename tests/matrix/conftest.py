"""Session fixtures for the matrix tests (see helpers.py)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from .helpers import TOOLCHAINS, MatrixRun, require_toolchains, run_cli


@pytest.fixture(scope="session")
def matrix_run(tmp_path_factory: pytest.TempPathFactory) -> MatrixRun:
    require_toolchains(*TOOLCHAINS)
    d = tmp_path_factory.mktemp("matrix")
    # SYMKEEP_MATRIX_JOBS: parallel builds (default: the number of cores; 1 on a shared machine)
    jobs = ["-j", os.environ["SYMKEEP_MATRIX_JOBS"]] if os.environ.get("SYMKEEP_MATRIX_JOBS") else []
    args = ["--go", TOOLCHAINS[0], "--go", TOOLCHAINS[1], "--profile-seconds", "0.3", "--repeat", "1", *jobs,
            "--cache-dir", str(d / "cache"), "--json", "-o", str(d / "report.json"),
            "--html", str(d / "report.html"), "--quiet"]
    t0 = time.monotonic()
    p = run_cli(args, d)
    first = time.monotonic() - t0
    assert p.returncode == 0, p.stderr[-3000:]
    assert "Traceback" not in p.stderr, p.stderr
    report = json.loads((d / "report.json").read_text())
    t0 = time.monotonic()
    p2 = run_cli(args[:-5] + ["--json", "-o", str(d / "report2.json"), "--quiet"], d)
    second = time.monotonic() - t0
    assert p2.returncode == 0, p2.stderr[-3000:]
    return MatrixRun(report, d / "report.html", first, second, json.loads((d / "report2.json").read_text()),
                     p.stderr, args[:-6], d)


@pytest.fixture(scope="session")
def pprof_tool() -> dict[str, Path]:
    from symkeep.build.toolchain import build_go_tool, get_toolchain

    require_toolchains(*TOOLCHAINS)
    return {v: build_go_tool(get_toolchain(v), "pprof") for v in TOOLCHAINS}
