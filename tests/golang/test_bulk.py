"""Bulk (numpy) pctab decoding: every answer equals the per-function decoder's, on real binaries."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from fixtures.env import toolchains_root, unavailable
from fixtures.factory import FixtureSpec
from symkeep.golang.bulk import KIND_FILE, KIND_INL, KIND_LINE, BulkUnsupported, PcTables
from symkeep.golang.pclntab import PclnTab
from symkeep.golang.pcvalue import decode_pcvalue_lists
from symkeep.symbolize import GoBinary, open_go_binary
from symkeep.symbolize.gobinary import BULK_MIN

COMPILE = toolchains_root() / "go1.27.3" / "go" / "pkg" / "tool" / "linux_amd64" / "compile"
N = 100_000


def _random_pcs(g: GoBinary, n: int, seed: int) -> np.ndarray:
    """Uniform PCs over the text (padding and a margin outside included), plus every entry and end."""
    ents = g.entries
    rng = np.random.default_rng(seed)
    lo, hi = int(ents[0]), int(ents[-1])
    pcs = rng.integers(max(lo - 64, 0), hi + 64, n, dtype=np.uint64)
    edges = np.concatenate([ents, ents[1:] - np.uint64(1)])[: n // 4]
    pcs[: len(edges)] = edges
    return pcs


def _per_function(path: Path, pcs: np.ndarray, return_address: bool) -> list[tuple[object, ...]]:
    with open_go_binary(path) as ref:
        return [tuple(ref.lookup(int(p), return_address)) for p in pcs.tolist()]


def _check_equal(path: Path, n: int = N, expect_bulk: bool = True) -> None:
    with open_go_binary(path) as g:
        pcs = _random_pcs(g, n, seed=7)
        assert len(pcs) >= BULK_MIN
        for ra in (False, True):
            got = g.lookup_chains(pcs, return_address=ra)
            assert (g.table_kind == "bulk") == expect_bulk
            want = _per_function(path, pcs, ra)
            bad = [i for i in range(len(pcs)) if got[i] != want[i]]
            assert not bad, (hex(int(pcs[bad[0]])), got[bad[0]], want[bad[0]], len(bad))
            # lookup_many goes through the same path and returns lists
            if not ra:
                many = g.lookup_many(pcs[:BULK_MIN])
                assert [tuple(x) for x in many] == want[:BULK_MIN]
        # interned: equal chains are the same objects, as on the per-function path
        got = g.lookup_chains(pcs)
        ref = [tuple(g.lookup(int(p))) for p in pcs[:2000].tolist()]
        assert all(x is y for a, b in zip(got, ref, strict=False) for x, y in zip(a, b, strict=True))
        assert sum(1 for c in got if c) > len(pcs) // 2  # not vacuous: most PCs are known


def test_compile_go127() -> None:
    if not COMPILE.exists():
        unavailable(f"{COMPILE} missing (go1.27.3 toolchain not installed)")
    _check_equal(COMPILE)


@pytest.mark.parametrize("toolchain", ["1.19", "1.21", "1.27"])
def test_fixtures_sw(fixture, toolchain: str) -> None:
    _check_equal(fixture(FixtureSpec(toolchain, variant="sw")), n=40_000)


@pytest.mark.parametrize("goarch", ["s390x", "arm64"])
def test_big_endian_and_quantum(fixture, goarch: str) -> None:
    path = fixture(FixtureSpec("1.27", "linux", goarch, "sw"))
    with open_go_binary(path) as g:
        assert g.pclntab.quantum == {"s390x": 2, "arm64": 4}[goarch]
        assert g.pclntab.byteorder == ("big" if goarch == "s390x" else "little")
    _check_equal(path, n=40_000)


def test_old_generations(old_binaries) -> None:
    """Go 1.16/1.17 tables go through the bulk path; 1.2-1.15 (interleaved layout) decline cleanly."""
    seen = set()
    for ob in old_binaries:
        with open_go_binary(ob.path) as g:
            gen = g.pclntab.generation
        if gen in seen:
            continue
        seen.add(gen)
        _check_equal(ob.path, n=25_000, expect_bulk=gen != "1.2")
    assert {"1.2", "1.16"} <= seen


def test_tables_match_decoder(fixture) -> None:
    """Each function's bulk values equal decode_pcvalue_lists at every range start and end - 1."""
    path = fixture(FixtureSpec("1.27", variant="sw"))
    with open_go_binary(path) as g:
        tab = g.pclntab
        bt = PcTables(tab, g.entries)
        ents = g.entries.tolist()
        checked = 0
        for i in range(0, g.nfunc, 3):
            raw = tab.read_func(i)
            offs = {KIND_FILE: raw.pcfile, KIND_LINE: raw.pcln}
            if raw.npcdata > 2:
                offs[KIND_INL] = raw.pcdata[2]
            for kind, off in offs.items():
                if off == 0:
                    continue
                ends, vals = decode_pcvalue_lists(tab.data, tab.pctab_base + off, ents[i], tab.quantum, ents[i + 1])
                starts = [ents[i], *ends[:-1]]
                probes = np.array(starts + [e - 1 for e in ends], dtype=np.uint64)
                got, ok = bt.values(kind, np.full(len(probes), i, dtype=np.int64), probes)
                assert ok.all() and got.tolist() == vals + vals
                checked += 1
        assert checked > 1500


def _mutated(tab: PclnTab, patch: dict[int, bytes]) -> PclnTab:
    d = bytearray(tab.data)
    for off, b in patch.items():
        d[off : off + len(b)] = b
    return PclnTab(bytes(d), tab.vaddr, tab.location)


def test_hostile_tables_decline(fixture) -> None:
    """Irregular tables raise BulkUnsupported (the caller keeps the per-function path)."""
    path = fixture(FixtureSpec("1.27", variant="sw"))
    with open_go_binary(path) as g:
        tab = g.pclntab
        PcTables(tab, g.entries)  # the pristine table is accepted
        e = "<" if tab.byteorder == "little" else ">"
        raw = tab.read_func(3)
        # pcln offset pointing into the middle of a multi-byte varint
        base = tab.pctab_offset
        region = tab.data[base : tab.pcln_offset]
        mid = next(k for k in range(1, len(region)) if region[k - 1] >= 0x80)
        bad = _mutated(tab, {raw.offset + 24: struct.pack(e + "I", mid)})
        with pytest.raises(BulkUnsupported):
            PcTables(bad, g.entries)
        # table offset past the pctab region
        bad = _mutated(tab, {raw.offset + 24: struct.pack(e + "I", len(region) + 5)})
        with pytest.raises(BulkUnsupported):
            PcTables(bad, g.entries)
        # overlong varint (6 continuation bytes) inside the region
        bad = _mutated(tab, {base + raw.pcln: b"\xff" * 6})
        with pytest.raises(BulkUnsupported):
            PcTables(bad, g.entries)
        # the end marker of the last table replaced: no end marker
        last = max(tab.read_func(i).pcln for i in range(g.nfunc))
        tail = tab.data[base + last : tab.pcln_offset]
        bad = _mutated(tab, {base + last: b"\x02\x01" * (len(tail) // 2)})
        with pytest.raises(BulkUnsupported):
            PcTables(bad, g.entries)
        # pre-1.16 generation
        tab.generation = "1.2"  # type: ignore[misc]
        with pytest.raises(BulkUnsupported):
            PcTables(tab, g.entries)


def test_fallback_when_bulk_fails(fixture, monkeypatch: pytest.MonkeyPatch) -> None:
    path = fixture(FixtureSpec("1.27", variant="sw"))

    def boom(self: PcTables, tab: PclnTab, entries: np.ndarray, ends: np.ndarray | None = None) -> None:
        raise BulkUnsupported("irregular")

    monkeypatch.setattr(PcTables, "__init__", boom)
    with open_go_binary(path) as g:
        pcs = _random_pcs(g, BULK_MIN, seed=3)
        got = g.lookup_chains(pcs)
        assert g.table_kind == "declined"
        assert got == _per_function(path, pcs, False)
