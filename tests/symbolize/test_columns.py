"""ChainColumns and RangeTable (symbolize/columns.py) on real chains from a Go binary."""

from __future__ import annotations

import numpy as np

from fixtures.factory import FixtureSpec
from symkeep.symbolize import open_go_binary
from symkeep.symbolize.columns import ChainColumns


def test_from_chains_round_trips_real_chains(fixture) -> None:
    with open_go_binary(fixture(FixtureSpec("1.27", "linux", "amd64", "sw", "callers"))) as g:
        pcs = np.random.default_rng(1).integers(int(g.entries[0]), int(g.entries[-1]), 3000).astype(np.uint64)
        pcs = np.concatenate([pcs, g.entries[-1:] + np.uint64(5)])  # past the last function: unknown
        chains = [tuple(c) for c in g.lookup_chains(pcs)]
        cols = ChainColumns.from_chains(chains)
        assert len(cols) == len(chains) and cols.nrows == sum(len(c) for c in chains)
        assert any(len(c) > 1 for c in chains) and any(not c for c in chains)
        for k, ch in enumerate(chains):
            assert cols.chain(k) == ch
            # the innermost-first order and the inlined flags survive: only the last frame is physical
            if ch:
                assert not cols.inlined[int(cols.off[k + 1]) - 1]
    empty = ChainColumns.empty()
    assert len(empty) == 0 and empty.nrows == 0


def test_range_table_lookup_is_a_right_search(fixture) -> None:
    """RangeTable.lookup: the range holding each PC (last start <= pc), unknown before the first start
    and from ``end`` on, exactly like the engine's own per-PC answers."""
    with open_go_binary(fixture(FixtureSpec("1.21", "linux", "amd64", "default", "hello"))) as g:
        t = g.decode_all()
        assert bool(np.all(t.starts[1:] > t.starts[:-1]))
        probes = np.concatenate([
            t.starts[:2000], t.starts[:2000] - np.uint64(1), np.array([0, t.end - 1, t.end, t.end + 5], dtype=np.uint64),
        ])
        ids = t.lookup(probes)
        for p, c in zip(probes.tolist(), ids.tolist(), strict=True):
            assert (t.cols.chain(c) if c >= 0 else ()) == tuple(g.lookup(p)), hex(p)
