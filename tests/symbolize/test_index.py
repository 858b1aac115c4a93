"""The per-build symbol index: answers with and without it are identical, frame for frame, on every
fixture the factory builds and on the old registry binaries; a reloaded index is the table it saved.

Three readers of one index are compared with the engine that never saw an index (per-function decoder
for single PCs, the whole table for batches): ``GoBinary(index=...)`` after a reload (table kind
"index"), :class:`IndexedLookups` (no binary at all) and the pure-Python :class:`QuickIndex` (its text
against the numpy renderer's, every layout).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fixtures.factory import FixtureSpec, fixture_matrix
from symkeep.symbolize import GoBinary, open_go_binary
from symkeep.symbolize.a2ltext import Layout
from symkeep.symbolize.addr2line import Addresses, Renderer
from symkeep.symbolize.indexfile import IndexFile
from symkeep.symbolize.indexload import IndexedLookups
from symkeep.symbolize.quick import QuickIndex
from symkeep.symbolize.symindex import IndexCache

LAYOUTS = [Layout(functions=True, inlines=True), Layout(functions=True), Layout(), Layout(json=True),
           Layout(functions=True, inlines=True, addresses=True, pretty=True), Layout(addresses=True),
           Layout(functions=True, inlines=True, return_addresses=True), Layout(pretty=True, inlines=True)]


def _pcs(g: GoBinary, n: int = 6000, seed: int = 5) -> np.ndarray:
    """Entries, last bytes, every range start of a sample of functions, random PCs (padding and
    outside the text included)."""
    ents = g.entries
    rng = np.random.default_rng(seed)
    lo, hi = int(ents[0]), int(ents[-1])
    rand = rng.integers(max(lo - 64, 0), hi + 64, n, dtype=np.uint64)
    edges = np.concatenate([ents, ents[1:] - np.uint64(1)])
    sample = rng.choice(g.nfunc, min(g.nfunc, 200), replace=False)
    starts = [r.start for i in sample.tolist() for r in g.ranges(int(i))]
    return np.concatenate([rand, edges, np.array(starts, dtype=np.uint64)])


def _check(path: Path, tmp: Path) -> None:
    cache = IndexCache(tmp / "index")
    with open_go_binary(path) as ref, open_go_binary(path, index=cache) as first:
        pcs = _pcs(ref)
        want = {ra: [tuple(ref.lookup(int(p), ra)) for p in pcs.tolist()] for ra in (False, True)}
        assert sum(1 for c in want[False] if c) > len(pcs) // 3  # not vacuous
        assert first.lookup_chains(pcs[:10]) == want[False][:10]
        assert cache.events[-1] == "saved", cache.events
        key = first.index_key
    with open_go_binary(path, index=cache) as g:
        for ra in (False, True):
            for n in (1, 7, len(pcs)):  # every batch size goes through the index
                assert g.lookup_chains(pcs[:n], ra) == want[ra][:n], (ra, n)
        assert g.table_kind == "index" and cache.events[-1] == "hit", cache.events
        with open_go_binary(path) as ref:  # the exact per-function decoder
            assert [g.ranges(i) for i in range(0, g.nfunc, 5)] == [ref.decoder.ranges(i) for i in range(0, g.nfunc, 5)]
        ix = IndexFile.open(cache.path_for(key))
        lk = IndexedLookups(ix)
        for ra in (False, True):
            assert lk.lookup_chains(pcs, ra) == want[ra], ra
        data = b"".join(b"0x%x\n" % p for p in pcs[:3000].tolist()) + b"zz 0x0x1 -1 " + b"f" * 300 + b"\n"
        for lay in LAYOUTS:
            numpy_text = b"".join(Renderer(g, lay).answer(Addresses.of_bytes(data)))
            index_text = b"".join(Renderer(lk, lay, bits=lk.ptr_bits).answer(Addresses.of_bytes(data)))
            quick_text = QuickIndex(ix, lay).answer(data)
            assert numpy_text == index_text == quick_text, lay
        lk.close()


@pytest.mark.parametrize("spec", fixture_matrix(), ids=lambda s: f"{s.toolchain}-{s.goos}-{s.goarch}-{s.variant}-{s.program}")
def test_index_equals_engine(fixture, spec: FixtureSpec, tmp_path: Path) -> None:
    _check(fixture(spec), tmp_path)


def test_index_equals_engine_old_binaries(old_binaries, tmp_path: Path) -> None:
    """Go 1.2-1.17 formats (ELF, Mach-O, PE) from registry packages: indexes built by both table
    builders (numpy for 1.16/1.17, the per-function fallback before)."""
    done = 0
    for k, ob in enumerate(old_binaries):
        _check(ob.path, tmp_path / str(k))
        done += 1
    assert done >= 5
