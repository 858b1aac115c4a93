"""Real profiles and a real browser for the flame graph tests.

- ``cpuhog``: the cpuhog fixture (Go 1.27, -s -w) writing its own runtime/pprof CPU profile (an
  inlined hot helper, a frameless leaf).
- ``demo_labels``: the bundled demo service (Go 1.27, -s -w) run with ``-busy`` (a worker under
  ``pprof.Do(..., pprof.Labels("worker", "busy"))``) while the test hits ``/crunch`` (no label);
  the CPU profile comes from its ``/debug/pprof/profile`` endpoint, so it has labelled and
  unlabelled samples.
- ``browser``, ``artifacts``: see ``chromium.py``.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from fixtures.env import cache_root, unavailable

sys.path.insert(0, str(Path(__file__).parent))



@pytest.fixture(scope="session")
def cpuhog(fixture: Callable[..., Path], tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    binary = fixture(variant="sw", toolchain="1.27", program="cpuhog")
    out = tmp_path_factory.mktemp("cpuhog") / "cpu.pprof"
    subprocess.run([str(binary), str(out), "1.5"], check=True, capture_output=True, timeout=120)
    return binary, out


def build_demo(toolchain: str = "1.27", ldflags: str = "-s -w") -> Path:
    from fixtures.factory import toolchain as get_tc
    from symkeep.build import build
    from symkeep.demo import demo_source_dir

    tc = get_tc(toolchain)
    src = demo_source_dir()
    h = hashlib.sha256()
    for f in sorted(src.iterdir()):
        if f.suffix in (".go", ".mod"):
            h.update(f.name.encode() + f.read_bytes())
    h.update(tc.version.encode() + ldflags.encode())
    out = cache_root() / "fixtures" / f"flame-demo-{tc.version}-{h.hexdigest()[:16]}"
    if not out.is_file():
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(out.name + f".tmp{os.getpid()}")
        build(tc, src, tmp, ldflags=ldflags)
        os.replace(tmp, out)
    return out


@pytest.fixture(scope="session")
def demo_labels(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(demo binary, CPU profile with worker=busy samples and unlabelled /crunch samples)."""
    try:
        binary = build_demo()
    except Exception as e:  # noqa: BLE001 - a missing toolchain is an environment gap
        unavailable(f"cannot build the demo with Go 1.27: {e}")
    proc = subprocess.Popen([str(binary), "-busy", "-addr", "127.0.0.1:0"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        base = line.strip().split("http://", 1)[1].split("/debug", 1)[0]
        stop = time.monotonic() + 3.5
        def hammer() -> None:  # unlabelled CPU work on request goroutines
            while time.monotonic() < stop:
                with urllib.request.urlopen(f"http://{base}/crunch?seed=7&rounds=2000000", timeout=10) as r:
                    r.read()
        th = threading.Thread(target=hammer)
        th.start()
        with urllib.request.urlopen(f"http://{base}/debug/pprof/profile?seconds=3", timeout=30) as r:
            data = r.read()
        th.join()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    out = tmp_path_factory.mktemp("demo") / "demo-cpu.pb.gz"
    out.write_bytes(data)
    return binary, out

