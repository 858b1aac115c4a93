"""The library seams a server builds on (issue #16): ``symbolize_profile(bytes | Profile, resolver)``,
the ``BinaryResolver`` Protocol, engines owned by the resolver, converters that never touch the file
system, bounded caches, and one address rule shared with binfmt."""

from __future__ import annotations

import builtins
import os
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sk_profile_helpers import strip_symbols, weighted_agreement

from symkeep.binfmt import open_binary
from symkeep.golang.buildid import build_ids
from symkeep.profile import locate
from symkeep.profile.inputs import load_bytes
from symkeep.profile.lines import IdAllocator
from symkeep.profile.locate import Locator, binary_ids
from symkeep.profile.pprof import read_profile, serialize_profile
from symkeep.profile.resolver import BinaryRequest, EngineCache, FixedResolver, Resolved
from symkeep.profile.symbolizer import symbolize_profile
from symkeep.symbolize import GoEngine, open_go_binary

CpuProfile = Callable[..., tuple[Path, Path]]


class _Counting:
    """A real engine that counts close() calls (everything else is the engine's own)."""

    def __init__(self, engine: GoEngine) -> None:
        self._engine = engine
        self.closed = 0

    def close(self) -> None:
        self.closed += 1
        self._engine.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._engine, name)


class _ByBuildId:
    """A store-like resolver: engines by build ID only, never a path (what a server does)."""

    def __init__(self, engines: dict[str, GoEngine]) -> None:
        self.engines = engines
        self.asked: list[BinaryRequest] = []

    def resolve(self, request: BinaryRequest) -> Resolved:
        self.asked.append(request)
        eng = self.engines.get(request.build_id)
        if eng is None:
            return Resolved(None, failure="not in the store")
        return Resolved(eng, f"store:{request.build_id}", "store", verified=True)


def test_bytes_in_with_a_store_like_resolver(cpu_profile: CpuProfile, tmp_path: Path) -> None:
    binary, path = cpu_profile("sw")
    orig = read_profile(path)
    raw = strip_symbols(orig)
    raw.string_table[raw.mapping[0].filename] = "/nowhere/cpuhog"  # no path to find: only the build ID
    engine = _Counting(open_go_binary(binary))
    bid = build_ids(engine.binary).gnu
    assert bid
    store = _ByBuildId({bid: engine})  # type: ignore[dict-item]
    for data in (serialize_profile(raw), serialize_profile(raw, compress=False)):
        res = symbolize_profile(data, store)
        assert res.input_format == "pprof"
        mr = res.report.mappings[0]
        assert mr.found_by == "store" and mr.verified and mr.symbolized == mr.locations > 0
        assert weighted_agreement(orig, res.profile)[0] >= 0.999
        assert not res.report.warnings
    assert engine.closed == 0  # borrowed, never closed by the library
    assert engine.lookup(orig.location[0].address)  # still usable after the calls
    assert [r.build_id for r in store.asked] == [bid, bid]


def test_locator_owns_and_closes_its_engines(cpu_profile: CpuProfile) -> None:
    binary, path = cpu_profile("sw")
    opened: list[_Counting] = []

    def opener(p: str) -> GoEngine:
        e = _Counting(open_go_binary(p))
        opened.append(e)
        return e  # type: ignore[return-value]

    with Locator([str(binary)], use_env=False, debuginfod_urls=[], opener=opener) as loc:
        for _ in range(2):
            rep = symbolize_profile(strip_symbols(read_profile(path)), loc).report
            assert rep.symbolized > 0
        assert len(opened) == 1 and opened[0].closed == 0  # opened once, reused, left open
    assert opened[0].closed == 1


def test_fixed_resolver_and_return_addresses(cpu_profile: CpuProfile) -> None:
    binary, path = cpu_profile("sw")
    orig = read_profile(path)
    eng = open_go_binary(binary)
    q = strip_symbols(orig)
    res = symbolize_profile(q, FixedResolver(eng))
    assert res.profile is q and weighted_agreement(orig, q)[0] >= 0.999
    assert any("taken as given" in w for w in res.report.warnings)
    # Declaring every location a return address shifts the lookups by one byte: names still right for
    # non-entry PCs, and the API accepts the ids.
    q2 = strip_symbols(orig)
    ids = [loc.id for loc in q2.location]
    symbolize_profile(q2, FixedResolver(eng), return_addresses=ids)
    assert len([loc for loc in q2.location if loc.line]) == len(ids)


def test_converters_touch_no_files(perf_run: tuple[Path, Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """perf script and folded text become profiles without a stat, open or listdir of any path."""
    _, _, txt = perf_run
    data = txt.read_bytes()
    folded = b"cpuhog+0x63e81;cpuhog+0x4b10e 3\n0x401000;main.f 1\n"

    def refuse(*a: object, **k: object) -> None:
        raise AssertionError(f"file system touched: {a[:1]}")

    for name in ("stat", "lstat", "listdir", "open", "access", "scandir"):
        monkeypatch.setattr(os, name, refuse)
    monkeypatch.setattr(os.path, "getsize", refuse)
    monkeypatch.setattr(os.path, "isfile", refuse)
    monkeypatch.setattr(os.path, "exists", refuse)
    monkeypatch.setattr(builtins, "open", refuse)
    perf = load_bytes(data)
    fold = load_bytes(folded)
    monkeypatch.undo()
    assert perf.format == "perf" and len(perf.profile.location) > 10
    assert fold.format == "folded" and len(fold.profile.location) == 4


def test_build_id_cache_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(locate, "IDS_CACHE_SIZE", 16)
    for i in range(40):
        f = tmp_path / f"f{i}"
        f.write_bytes(b"not a binary")
        assert binary_ids(f) is None
    assert len(locate._ids_cache) <= 16


def test_engine_cache_is_bounded_and_closes(fixture: Callable[..., Path]) -> None:
    made: list[_Counting] = []

    def opener(p: str) -> GoEngine:
        made.append(_Counting(open_go_binary(p)))
        return made[-1]  # type: ignore[return-value]

    paths = [str(fixture(variant="sw", program=p)) for p in ("cpuhog", "callers")]
    cache = EngineCache(opener, capacity=1)
    a = cache.get(paths[0])
    assert cache.get(paths[0]) is a
    cache.get(paths[1])  # evicts the first (not closed: a caller may hold it)
    assert cache.get(paths[0]) is not a and made[0].closed == 0
    cache.close()
    assert [e.closed for e in made] == [0, 0, 1]


def test_id_allocator_past_the_top() -> None:
    ids = IdAllocator([3, (1 << 64) - 1])
    assert [ids.take() for _ in range(4)] == [1, 2, 4, 5]
    ids = IdAllocator([5, 9])
    assert [ids.take() for _ in range(2)] == [10, 11]


@pytest.mark.parametrize("variant", ["sw", "pie_sw"])
def test_offsets_to_vaddrs_is_the_scalar_rule(fixture: Callable[..., Path], variant: str) -> None:
    """The vectorized file offset -> address rule added to binfmt agrees with ``offset_to_vaddr``."""
    b = open_binary(fixture(variant=variant, program="cpuhog"))
    rng = random.Random(3)
    offs = [rng.randrange(0, b.length + 0x3000) for _ in range(5000)] + [0, b.length, (1 << 64) - 1]
    got, ok = b.offsets_to_vaddrs(np.array(offs, dtype=np.uint64))
    want = [b.offset_to_vaddr(o) for o in offs]
    assert [int(g) if k else None for g, k in zip(got.tolist(), ok.tolist(), strict=True)] == want
    assert any(w is not None for w in want) and any(w is None for w in want)


def test_binary_ids_is_the_one_record(fixture: Callable[..., Path]) -> None:
    """profile.locate uses golang.buildid.BuildIDs (no second record): matching rules on a real binary."""
    ids = binary_ids(fixture(variant="sw", program="cpuhog"))
    assert ids is not None and ids.gnu and ids.go
    assert ids.matches(ids.gnu.upper()) and ids.matches(ids.go) and ids.matches("")
    assert not ids.matches(ids.go.upper()) and not ids.matches("redacted")
    assert type(ids).__module__ == "symkeep.golang.buildid"
    assert os.path.basename(locate.__file__) == "locate.py"
