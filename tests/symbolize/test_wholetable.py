"""The one whole-binary table: ranges() served from it equal the exact per-function decoder's, for every
function, on both builds of the table (numpy and the per-function fallback), on real binaries."""

from __future__ import annotations

from pathlib import Path

import pytest

from fixtures.factory import FixtureSpec
from symkeep.symbolize import open_go_binary
from symkeep.symbolize.gobinary import ranges_switch
from symkeep.symbolize.wholetable import build_exact


def _all_equal(path: Path, expect: str) -> None:
    with open_go_binary(path) as g, open_go_binary(path) as ref:
        t = g.whole_table()
        assert t.kind == expect
        exact = build_exact(ref.state, ref.decoder)
        nranges = 0
        for i in range(g.nfunc):
            want = ref.decoder.ranges(i)
            assert t.ranges(i, g.cache) == want, (i, g.functions()[i].name)
            assert exact.ranges(i, ref.cache) == want, i
            nranges += len(want)
        assert nranges > g.nfunc


@pytest.mark.parametrize(("tc", "goarch", "variant"), [("1.27", "amd64", "sw"), ("1.19", "amd64", "sw"),
                                                      ("1.21", "ppc64le", "textsect"), ("1.27", "s390x", "sw")])
def test_table_ranges_equal_per_function(fixture, tc: str, goarch: str, variant: str) -> None:
    _all_equal(fixture(FixtureSpec(tc, "linux", goarch, variant, "callers" if variant == "sw" else "hello")), "bulk")


def test_old_generations(old_binaries) -> None:
    """1.16/1.17 tables are built by the numpy decoder, 1.2-1.15 ones by the per-function fallback."""
    done = set()
    for ob in old_binaries:
        if ob.goos != "linux":
            continue
        with open_go_binary(ob.path) as g:
            gen = g.pclntab.generation
        if gen in done:
            continue
        done.add(gen)
        _all_equal(ob.path, "exact" if gen == "1.2" else "bulk")
    assert done == {"1.2", "1.16"}


def test_ranges_walk_switches_to_the_table(fixture) -> None:
    """A caller that walks every function (restore, funcs --lines) is served by the shared table after
    the first ones; the answers do not change at the switch."""
    path = fixture(FixtureSpec("1.27", "linux", "amd64", "sw", "hello"))
    with open_go_binary(path) as g, open_go_binary(path) as ref:
        switch = ranges_switch(g.nfunc)
        got = [g.ranges(i) for i in range(g.nfunc)]
        assert g.table_kind == "bulk" and switch < g.nfunc
        assert got == [ref.decoder.ranges(i) for i in range(g.nfunc)]
        # the table is the one decode_all returns (built once)
        assert g.decode_all() is g.whole_table().table
