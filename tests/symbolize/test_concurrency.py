"""8 threads share engines for 30 s: lookups (single and bulk), restore and symbolize on the same and on
different binaries give the answers of a single-threaded run, and memory stays bounded.

The engines get a small cache bound (2 MiB), so eviction and interning resets happen all the time
while other threads read: the cache's own accounting must stay under the bound at every sample, and
the process RSS must not grow between the first and the last third of the run (a leak would).
"""

from __future__ import annotations

import random
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from fixtures.factory import FixtureSpec
from symkeep.profile.locate import Locator
from symkeep.profile.pprof import parse_profile, serialize_profile
from symkeep.profile.symbolizer import symbolize_profile
from symkeep.restore import restore_result
from symkeep.symbolize import Frame, GoBinary, open_go_binary

pytestmark = pytest.mark.slow

THREADS = 8
SECONDS = 30.0
BOUND = 2 << 20
Chains = list[tuple[Frame, ...]]


def _rss() -> int:
    with open("/proc/self/status") as fh:
        for ln in fh:
            if ln.startswith("VmRSS:"):
                return int(ln.split()[1]) << 10
    return 0


class _Shared:
    """The shared engine handed to the symbolizer, which closes what its opener returns."""

    def __init__(self, g: GoBinary) -> None:
        self._g = g

    def close(self) -> None:
        pass

    def __getattr__(self, name: str) -> Any:
        return getattr(self._g, name)


def _columns_as_chains(g: GoBinary, pcs: np.ndarray) -> Chains:
    ids, cols = g.lookup_columns(pcs)
    return [cols.chain(int(c)) if c >= 0 else () for c in ids.tolist()]


def _pcs(g: GoBinary, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(int(g.entries[0]) - 32, int(g.entries[-1]) + 32, n, dtype=np.int64).astype(np.uint64)


def test_eight_threads_thirty_seconds(fixture, tmp_path: Path) -> None:
    paths = {
        "a": fixture(FixtureSpec("1.27", "linux", "amd64", "sw", "cpuhog")),
        "b": fixture(FixtureSpec("1.21", "linux", "amd64", "sw", "callers")),
    }
    prof_path = tmp_path / "cpu.pprof"
    subprocess.run([str(paths["a"]), str(prof_path), "1.5"], check=True, capture_output=True, timeout=120)
    raw_profile = prof_path.read_bytes()

    # -- single-threaded reference answers, from fresh engines --------------------------------------
    small: dict[str, np.ndarray] = {}
    bulk: dict[str, np.ndarray] = {}
    want_small: dict[str, Chains] = {}
    want_bulk: dict[str, Chains] = {}
    want_restore: dict[str, bytes] = {}
    for k, p in paths.items():
        with open_go_binary(p) as g:
            small[k] = _pcs(g, 300, seed=1)
            bulk[k] = _pcs(g, 25_000, seed=2)
            want_small[k] = [tuple(g.lookup(int(x))) for x in small[k].tolist()]
            want_bulk[k] = _columns_as_chains(g, bulk[k])
        with open_go_binary(p) as g:
            want_restore[k] = restore_result(g).data

    def symbolized(opener: Callable[[str], Any]) -> bytes:
        # The library borrows the resolver's engines and never closes them; the Locator owns what its
        # opener returns (a fresh engine, or the shared one wrapped so that close() keeps it open).
        with Locator([str(paths["a"])], use_env=False, debuginfod_urls=[], opener=opener) as loc:
            res = symbolize_profile(parse_profile(raw_profile), loc)
        return serialize_profile(res.profile, compress=False)

    want_profile = symbolized(lambda p: open_go_binary(p))
    assert want_profile != raw_profile

    # -- the shared engines, small bound ----------------------------------------------------------------
    shared = {k: open_go_binary(p, cache_bytes=BOUND) for k, p in paths.items()}
    errors: list[str] = []
    counts: dict[str, int] = {"small": 0, "bulk": 0, "restore": 0, "symbolize": 0}
    lock = threading.Lock()
    stop = time.monotonic() + SECONDS
    samples: list[tuple[float, int, int]] = []  # (time, rss, max cache bytes of the engines)

    def task(kind: str, k: str, rng: random.Random) -> None:
        g = shared[k]
        if kind == "small":
            idx = rng.sample(range(len(small[k])), 50)
            got = [tuple(g.lookup(int(small[k][i]))) for i in idx]
            ok = got == [want_small[k][i] for i in idx]
            ok &= [tuple(c) for c in g.lookup_chains(small[k])] == want_small[k]
        elif kind == "bulk":
            ok = _columns_as_chains(g, bulk[k]) == want_bulk[k]
        elif kind == "restore":
            ok = restore_result(_Shared(g)).data == want_restore[k]  # type: ignore[arg-type]
        else:
            ok = symbolized(lambda _p: _Shared(shared["a"])) == want_profile
        with lock:
            counts[kind] += 1
            if not ok:
                errors.append(f"{kind} on {k}: answer differs from the single-threaded run")

    def worker(n: int) -> None:
        rng = random.Random(n)
        kinds = ["small", "small", "bulk", "restore", "symbolize"]
        while time.monotonic() < stop:
            kind = rng.choice(kinds)
            k = "a" if (kind == "symbolize" or n % 2 == 0) else rng.choice("ab")  # same and different binaries
            try:
                task(kind, k, rng)
            except Exception as e:  # noqa: BLE001 - every failure is reported, none may happen
                with lock:
                    errors.append(f"{kind} on {k}: {type(e).__name__}: {e}")

    def monitor() -> None:
        t0 = time.monotonic()
        while time.monotonic() < stop:
            used = max(g.cache_stats().bytes for g in shared.values())
            samples.append((time.monotonic() - t0, _rss(), used))
            time.sleep(0.25)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(THREADS)] + [threading.Thread(target=monitor)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=SECONDS + 120)
    assert not any(t.is_alive() for t in threads), "a thread hangs"
    stats = {k: g.cache_stats() for k, g in shared.items()}
    for g in shared.values():
        g.close()
    print(f"tasks {counts}; cache {stats}; rss MB first/last third "
          f"{max(r for t, r, _ in samples if t < SECONDS / 3) >> 20}/{max(r for t, r, _ in samples if t > 2 * SECONDS / 3) >> 20}")
    assert not errors, errors[:5]
    assert all(v >= 2 for v in counts.values()), counts
    # the cache's own accounting never passed the bound, and the bound was exercised
    assert max(u for _, _, u in samples) <= BOUND
    assert sum(s.evictions + s.intern_resets for s in stats.values()) > 0
    # no growth: the last third of the run peaks no higher than the first third (+ slack for the allocator)
    first = max(r for t, r, _ in samples if t < SECONDS / 3)
    last = max(r for t, r, _ in samples if t > 2 * SECONDS / 3)
    assert last <= first + (64 << 20), (first >> 20, last >> 20)
