"""Real profiles for the profile tests: recorded by running fixture programs (cached per session)."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from fixtures.env import cache_root, require_tool
from fixtures.perfrec import perf_record_script

sys.path.insert(0, str(Path(__file__).parent))

HERE = Path(__file__).parent


@pytest.fixture(scope="session")
def cpu_profile(fixture: Callable[..., Path], tmp_path_factory: pytest.TempPathFactory) -> Callable[..., tuple[Path, Path]]:
    """``cpu_profile(variant='sw', toolchain='1.27', seconds=1.5) -> (binary, profile)``: a real
    runtime/pprof CPU profile written by the cpuhog fixture itself."""
    cache: dict[tuple[str, str, float], tuple[Path, Path]] = {}

    def get(variant: str = "sw", toolchain: str = "1.27", seconds: float = 1.5) -> tuple[Path, Path]:
        key = (variant, toolchain, seconds)
        if key not in cache:
            binary = fixture(variant=variant, toolchain=toolchain, program="cpuhog")
            d = tmp_path_factory.mktemp(f"cpu-{variant}-{toolchain}")
            out = d / "cpu.pprof"
            subprocess.run([str(binary), str(out), str(seconds)], check=True, capture_output=True, timeout=120)
            cache[key] = (binary, out)
        return cache[key]

    return get


def _build_heapdump(toolchain: str) -> Path:
    from fixtures.factory import toolchain as get_tc
    from symkeep.build import build

    tc = get_tc(toolchain)
    src = HERE / "programs" / "heapdump"
    h = hashlib.sha256()
    for f in sorted(src.iterdir()):
        h.update(f.name.encode() + f.read_bytes())
    h.update(tc.version.encode())
    root = cache_root() / "fixtures"
    out = root / f"heapdump-{tc.version}-sw-{h.hexdigest()[:16]}"
    if not out.is_file():
        tmp = out.with_suffix(".tmp")
        build(tc, src, tmp, ldflags="-s -w")
        shutil.move(str(tmp), str(out))
    return out


@pytest.fixture(scope="session")
def heap_profile(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(binary, profile): a real heap profile (MemProfileRate=1) from a stripped program."""
    try:
        binary = _build_heapdump("1.27")
    except Exception as e:  # noqa: BLE001 - toolchain missing on this machine
        pytest.skip(f"cannot build heapdump: {e}")
    out = tmp_path_factory.mktemp("heap") / "heap.pprof"
    subprocess.run([str(binary), str(out)], check=True, capture_output=True, timeout=120)
    return binary, out


@pytest.fixture(scope="session")
def go_pprof(gotool: Callable[[str, str], Path]) -> Path:
    return gotool("1.27", "pprof")


@pytest.fixture(scope="session")
def perf_run(fixture: Callable[..., Path], tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """(binary copy, perf.data, perf script text) of a real `perf record -g` of the stripped cpuhog."""
    require_tool("perf")
    d = tmp_path_factory.mktemp("perfbid")
    exe = d / "cpuhog"
    shutil.copy(fixture(variant="sw", program="cpuhog"), exe)
    home = d / "home"
    home.mkdir()
    env = dict(os.environ, HOME=str(home))  # an empty perf build-id cache
    data = d / "perf.data"
    txt = d / "perf.txt"
    perf_record_script([str(exe), str(d / "x.prof"), "0.5"], data, txt, env)
    return exe, data, txt
