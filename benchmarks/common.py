"""Small helpers shared by the benchmarks: timing external commands, finding big real Go binaries."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))


def time_cmd(cmd: Sequence[str], repeat: int = 5, stdin: bytes | None = None, env: dict[str, str] | None = None
             ) -> tuple[float, float]:
    """Median and spread (max-min) wall time of a command, after one warm-up run."""
    subprocess.run(cmd, input=stdin, capture_output=True, check=True, env=env)
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run(cmd, input=stdin, capture_output=True, check=True, env=env)
        times.append(time.perf_counter() - t0)
    return statistics.median(times), max(times) - min(times)


def big_go_binary(version: str = "1.27") -> Path:
    """The toolchain's own `compile` tool: a real ~30 MB Go program with >10k functions."""
    from fixtures.factory import toolchain

    tc = toolchain(version)
    return next((tc.goroot / "pkg" / "tool").glob("*/compile"))
