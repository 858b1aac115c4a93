"""GoBinary API contract (HACKING.md): functions, function_at, lookup(_many), ranges, sp_deltas."""

from __future__ import annotations

from bisect import bisect_right

import numpy as np
import pytest

from fixtures.factory import FixtureSpec
from symkeep.errors import InputError, NotABinaryError, NotGoError
from symkeep.golang.functab import package_of
from symkeep.symbolize import Frame, GoBinary, PCRange, open_go_binary
from symkeep.symbolize.wholetable import build_exact


@pytest.fixture(scope="module")
def g27(fixture):
    with open_go_binary(fixture(FixtureSpec("1.27", "linux", "amd64", "sw", "hello"))) as g:
        yield g


def test_identity(g27: GoBinary) -> None:
    assert g27.go_version and g27.go_version.startswith("go1.27")
    assert g27.pclntab.generation == "1.20"
    assert g27.text_start_source == "moduledata.text"
    assert g27.binary.format == "elf"


def test_functions_sorted_and_function_at(g27: GoBinary) -> None:
    fs = g27.functions()
    assert len(fs) == g27.nfunc > 1000
    entries = [f.entry for f in fs]
    assert entries == sorted(entries)
    for f in list(fs)[::37]:
        assert f.end > f.entry and f.size == f.end - f.entry
        assert g27.function_at(f.entry) == f
        assert g27.function_at(f.end - 1) == f
        assert fs[f.index] == f
    assert g27.function_at(fs[0].entry - 1) is None
    assert g27.function_at(fs[-1].end) is None
    assert g27.lookup(fs[0].entry - 1) == []
    main = next(f for f in fs if f.name == "main.main")
    assert main.package == "main"
    assert main.file.endswith("main.go") and main.start_line > 0


def test_package_names() -> None:
    assert package_of("main.main") == "main"
    assert package_of("example.com/x/y.(*T).M") == "example.com/x/y"
    assert package_of("example.com/x/y.Sum[go.shape.int]") == "example.com/x/y"
    assert package_of("example.com/x.F[example.com/z.T]") == "example.com/x"
    assert package_of("type:.eq.main.T") == ""
    assert package_of("go:buildid") == ""


def test_lookup_many_equals_lookup_and_return_address(g27: GoBinary) -> None:
    rng = np.random.default_rng(5)
    pcs = rng.integers(int(g27.entries[0]) - 100, int(g27.entries[-1]) + 100, size=5000, dtype=np.uint64)
    many = g27.lookup_many(pcs)
    assert many == [g27.lookup(int(p)) for p in pcs]
    ra = g27.lookup_many(pcs, return_address=True)
    for p, got in zip(pcs.tolist(), ra, strict=True):
        f = g27.function_at(p)
        if f is None:
            assert got == []
        elif p > f.entry:
            assert got == g27.lookup(p - 1)
        else:
            assert got == g27.lookup(p)
    # results are fresh lists: mutating one does not affect another lookup
    some = next(r for r in many if r)
    some.clear()
    assert g27.lookup(int(pcs[many.index(some)])) != []
    assert g27.lookup_many([]) == []


def test_frames_shape(g27: GoBinary) -> None:
    n_inl = 0
    for f in list(g27.functions())[::5]:
        for r in g27.ranges(f):
            fr = r.frames
            assert all(isinstance(x, Frame) for x in fr)
            assert [x.inlined for x in fr] == [True] * (len(fr) - 1) + [False]
            assert fr[-1].function == f.name
            n_inl += len(fr) > 1
    assert n_inl > 50


def test_ranges_are_maximal_and_consistent(g27: GoBinary) -> None:
    for f in list(g27.functions())[::11]:
        rs = g27.ranges(f)
        assert all(isinstance(r, PCRange) for r in rs)
        assert rs, f.name
        assert rs[0].start == f.entry
        for a, b in zip(rs, rs[1:], strict=False):
            assert a.end <= b.start
            if a.end == b.start:
                assert a.frames != b.frames  # maximal: equal neighbours would have been merged
        for r in rs:
            assert f.entry <= r.start < r.end <= f.end
            assert g27.lookup(r.start) == list(r.frames) == g27.lookup(r.end - 1)
        # the ranges cover the whole function: past its line table (alignment bytes) the name alone
        assert rs[-1].end == f.end
        last = rs[-1].frames
        if last[0].file == "?":
            assert last == (Frame(f.name, "?", 0, f.start_line, False),)


def test_sp_deltas_match_debug_frame(fixture) -> None:
    """pcsp vs the CFA rows of .debug_frame (read by pyelftools): CFA = SP + delta + return address."""
    elftools = pytest.importorskip("elftools.elf.elffile")
    path = fixture(FixtureSpec("1.27", "linux", "amd64", "default", "hello"))
    with open(path, "rb") as fh, open_go_binary(path) as g:
        dwarf = elftools.ELFFile(fh).get_dwarf_info()
        from elftools.dwarf.callframe import FDE

        fdes = [e for e in dwarf.CFI_entries() if isinstance(e, FDE)]
        assert len(fdes) > 1000
        checked = 0
        for fde in fdes[::7]:
            fn = g.function_at(fde["initial_location"])
            assert fn is not None and fn.entry == fde["initial_location"]
            sp = g.sp_deltas(fn)
            starts = [a for a, _, _ in sp]
            for row in fde.get_decoded().table:
                k = bisect_right(starts, row["pc"]) - 1
                assert k >= 0 and sp[k][0] <= row["pc"] < sp[k][1]
                assert row["cfa"].offset == sp[k][2] + 8, (fn.name, hex(row["pc"]))
                checked += 1
    assert checked > 500


def test_errors(tmp_path) -> None:
    with pytest.raises(InputError):
        open_go_binary(tmp_path / "missing")
    p = tmp_path / "text"
    p.write_text("hello")
    with pytest.raises(NotABinaryError):
        open_go_binary(p)


def test_not_go(tmp_path) -> None:
    import shutil

    ls = shutil.which("ls")
    if ls is None:
        pytest.skip("no ls")
    with pytest.raises(NotGoError):
        open_go_binary(ls)


@pytest.mark.parametrize("toolchain", ["1.21", "1.27"])
@pytest.mark.parametrize("n", [3_000, 60_000])  # per-function path / bulk (numpy) path
def test_lookup_columns_equal_lookup(fixture, toolchain: str, n: int) -> None:
    """lookup_columns (what addr2line and symbolize format from) names the same frames as the
    exact per-function lookup, on both paths; unknown PCs are -1, never an empty chain."""
    with open_go_binary(fixture(FixtureSpec(toolchain, "linux", "amd64", "sw", "callers"))) as g:
        rng = np.random.default_rng(7)
        pcs = rng.integers(int(g.entries[0]) - 64, int(g.entries[-1]) + 64, size=n, dtype=np.int64)
        pcs = pcs.astype(np.uint64)
        for ra in (False, True):
            ids, cols = g.lookup_columns(pcs, return_address=ra)
            assert len(ids) == n and int(ids.max()) < len(cols)
            assert all(int(cols.off[c + 1]) > int(cols.off[c]) for c in range(len(cols)))
            deep = 0
            with open_go_binary(g.binary.path) as ref:
                for p, c in zip(pcs[::7].tolist(), ids[::7].tolist(), strict=True):
                    want = tuple(ref.lookup(p, return_address=ra))
                    got = cols.chain(c) if c >= 0 else ()
                    assert got == want, hex(p)
                    deep += len(want) > 1
            assert deep > 0  # inline chains are exercised


@pytest.mark.parametrize("toolchain", ["1.21", "1.27"])
def test_decode_all_equals_per_function_ranges(fixture, toolchain: str) -> None:
    """The whole-binary RangeTable (bulk) answers every range start and a random sample of PCs
    like the per-function lookup; the per-function fallback builds the same table."""
    path = fixture(FixtureSpec(toolchain, "linux", "amd64", "sw", "callers"))
    with open_go_binary(path) as g, open_go_binary(path) as ref:
        t = g.decode_all()
        assert g.table_kind == "bulk"  # the numpy path was taken
        rng = np.random.default_rng(3)
        pcs = np.concatenate([t.starts[::5], rng.integers(int(t.starts[0]) - 8, t.end + 8, 20_000).astype(np.uint64)])
        ids = t.lookup(pcs)
        for p, c in zip(pcs.tolist(), ids.tolist(), strict=True):
            assert (t.cols.chain(c) if c >= 0 else ()) == tuple(ref.lookup(p)), hex(p)
        t2 = build_exact(ref.state, ref.decoder).table  # the per-function decoder's table
        ids2 = t2.lookup(pcs)
        for p, c, c2 in zip(pcs.tolist()[::13], ids.tolist()[::13], ids2.tolist()[::13], strict=True):
            assert (t.cols.chain(c) if c >= 0 else ()) == (t2.cols.chain(c2) if c2 >= 0 else ()), hex(p)
