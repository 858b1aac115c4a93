"""Memory is O(distinct locations) within the budget README states (issue #11 row 6): the peak RSS of
`symkeep symbolize` grows by at most BUDGET_MB per 100,000 more distinct locations (pprof input and
folded input), measured on the real CLI over a real stripped binary."""

from __future__ import annotations

import gzip
from collections.abc import Callable
from pathlib import Path

import pytest
from sk_profile_helpers import run_symkeep

from symkeep.profile.pprof import Profile
from symkeep.symbolize import open_go_binary

BUDGET_MB = 50  # README "Limits" states it; measured 23-37 MB per 100k locations
SMALL, LARGE = 20_000, 180_000


def _pcs(binary: Path, n: int) -> list[int]:
    """``n`` distinct PCs spread evenly over every function's body."""
    gb = open_go_binary(binary)
    every = [pc for f in gb.functions() for pc in range(f.entry + 1, f.end)]
    assert len(every) >= n, (len(every), n)
    step = len(every) / n
    return [every[int(k * step)] for k in range(n)]


def _pprof(binary: Path, pcs: list[int], out: Path) -> None:
    p = Profile(string_table=["", "samples", "count", str(binary)])
    p.sample_type.add(type=1, unit=2)
    p.mapping.add(id=1, filename=3)  # link-time addresses (non-PIE): identity
    for i, a in enumerate(pcs, 1):
        p.location.add(id=i, mapping_id=1, address=a)
    for i in range(0, len(pcs), 8):
        p.sample.add(location_id=list(range(i + 1, min(i + 9, len(pcs) + 1))), value=[1])
    out.write_bytes(gzip.compress(p.SerializeToString(), 1))


def _folded(pcs: list[int], out: Path) -> None:
    with out.open("w") as fh:
        for i in range(0, len(pcs), 8):
            fh.write(";".join(f"{a:#x}" for a in reversed(pcs[i:i + 8])) + " 1\n")


@pytest.mark.parametrize("kind", ["pprof", "folded"])
def test_memory_per_100k_locations(fixture: Callable[..., Path], tmp_path: Path, kind: str) -> None:
    binary = fixture(variant="default", program="cpuhog")  # the largest text of the fixtures' programs
    pcs = _pcs(binary, LARGE)
    peaks = []
    for n in (SMALL, LARGE):
        src = tmp_path / f"in{n}.{kind}"
        (_pprof(binary, pcs[:n], src) if kind == "pprof" else _folded(pcs[:n], src))
        r = run_symkeep(["symbolize", str(src), "--binary", str(binary), "-o", str(tmp_path / "out"), "-q"],
                        timeout=600, mem_cap=2 << 30)
        assert r.code == 0, r.stderr
        peaks.append(r.max_rss)
    per_100k = (peaks[1] - peaks[0]) / (LARGE - SMALL) * 100_000 / (1 << 20)
    print(f"{kind}: peak {peaks[0] >> 20} MB at {SMALL}, {peaks[1] >> 20} MB at {LARGE}: {per_100k:.1f} MB per 100k")
    assert per_100k <= BUDGET_MB
