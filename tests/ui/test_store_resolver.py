"""``StoreResolver``: binaries for the symbolizer from the store, on a directory store and on S3
(SeaweedFS). The truth is the runtime's own names for the same samples (the profile cpuhog wrote
in-process), never symkeep's output."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from sk_profile_helpers import weighted_agreement
from ui_helpers import Hog, go_build_id

from server.harness import gnu_build_id_readelf, symkeep
from symkeep.profile.pprof import read_profile, serialize_profile
from symkeep.profile.resolver import BinaryRequest
from symkeep.profile.symbolizer import symbolize_profile
from symkeep.store import open_store
from symkeep.store.resolver import StoreEngines, StoreResolver


def _archive(store: str, *paths: Path) -> None:
    symkeep("archive", "--store", store, *map(str, paths), check=True)


def _file_mapping(report: object) -> dict[str, object]:
    maps = [m for m in report.to_json()["mappings"] if m["kind"] == "file"]  # type: ignore[attr-defined]
    assert len(maps) == 1, maps
    return maps[0]


def test_symbolizes_from_the_store_by_gnu_build_id(store_url: str, hog: Callable[[str], Hog]) -> None:
    h = hog("1.27")
    _archive(store_url, h.binary)
    truth = read_profile(h.truth)
    st = open_store(store_url)
    try:
        with StoreResolver(st) as res:
            out = symbolize_profile(h.raw.read_bytes(), res)
        m = _file_mapping(out.report)
        assert m["build_id"] == gnu_build_id_readelf(h.binary) and m["verified"] is True and m["found_by"] == "store (build ID)", m
        assert str(m["binary"]).startswith("store executable "), m
        assert m["symbolized"] == m["locations"] > 0, m
        agree, diffs = weighted_agreement(truth, out.profile)
        assert agree == 1.0, diffs[:5]
    finally:
        st.close()


def test_go_build_id_and_never_the_mapping_path(store_url: str, hog: Callable[[str], Hog], tmp_path: Path,
                                                buildid_tool: Path) -> None:
    """A mapping naming the Go build ID is found by it; the mapping's file name (a path on the
    profiled machine) is never opened, even when a different binary of that name exists here."""
    h27, h21 = hog("1.27"), hog("1.21")
    _archive(store_url, h27.binary)
    go_id = go_build_id(buildid_tool, h27.binary)
    p = read_profile(h27.raw)
    decoy = tmp_path / h27.binary.name
    decoy.write_bytes(h21.binary.read_bytes())  # a real Go binary at the mapping's base name, other code
    st_idx = {s: i for i, s in enumerate(p.string_table)}
    p.string_table.append(go_id)
    p.string_table.append(str(decoy))
    p.mapping[0].build_id = len(p.string_table) - 2
    p.mapping[0].filename = len(p.string_table) - 1
    assert st_idx  # the table was not empty
    st = open_store(store_url)
    try:
        with StoreResolver(st) as res:
            out = symbolize_profile(serialize_profile(p), res)
        m = _file_mapping(out.report)
        assert m["build_id"] == go_id and m["verified"] is True and str(m["binary"]).startswith("store "), m
        agree, diffs = weighted_agreement(read_profile(h27.truth), out.profile)
        assert agree == 1.0, diffs[:5]
    finally:
        st.close()


def test_unknown_build_and_no_build_id(tmp_path: Path, hog: Callable[[str], Hog], buildid_tool: Path) -> None:
    h27, h21 = hog("1.27"), hog("1.21")
    store = str(tmp_path / "store")
    _archive(store, h21.binary)  # only the 1.21 build is archived
    st = open_store(store)
    try:
        with StoreResolver(st) as res:
            out = symbolize_profile(h27.raw.read_bytes(), res)
            m = _file_mapping(out.report)
            assert m["symbolized"] == 0 and m["failures"] == {"build not in the store": m["locations"]}, m
            # Go 1.21 without a GNU build-id: runtime/pprof records no build ID for the mapping
            raw21 = h21.raw.read_bytes()
            out = symbolize_profile(raw21, res)
            m = _file_mapping(out.report)
            assert m["build_id"] == "" and m["symbolized"] == 0, m
            assert "records no build ID" in next(iter(m["failures"])), m
        go21 = go_build_id(buildid_tool, h21.binary)
        with StoreResolver(st, build=go21) as res:  # the caller names the build: used, marked unverified
            out = symbolize_profile(raw21, res)
        m = _file_mapping(out.report)
        assert m["verified"] is False and m["symbolized"] == m["locations"] > 0, m
        assert "not checked" in str(m["found_by"]), m
        assert any("was not checked against a build ID" in w for w in out.report.warnings), out.report.warnings
        agree, diffs = weighted_agreement(read_profile(h21.truth), out.profile)
        assert agree == 1.0, diffs[:5]
    finally:
        st.close()


def test_filed_under_an_id_it_does_not_carry_is_unverified(tmp_path: Path, hog: Callable[[str], Hog]) -> None:
    """An uploader may file a file under an explicit key (``archive --key``): the resolver uses it
    but reports the build ID as unchecked, with the IDs the file really carries."""
    h27 = hog("1.27")
    p = read_profile(h27.raw)
    fake = "0123456789abcdef0123456789abcdef01234567"
    p.string_table.append(fake)
    p.mapping[0].build_id = len(p.string_table) - 1
    st = open_store(str(tmp_path / "store"))
    try:
        st.ingest(h27.binary, keys=[fake])
        with StoreResolver(st) as res:
            out = symbolize_profile(serialize_profile(p), res)
        m = _file_mapping(out.report)
        assert m["verified"] is False and m["symbolized"] == m["locations"], m
        assert any("carries" in n for n in m["notes"]), m  # type: ignore[union-attr]
    finally:
        st.close()


def test_engine_lru_is_bounded_and_opens_once(tmp_path: Path, hog: Callable[[str], Hog], buildid_tool: Path) -> None:
    h27, h21 = hog("1.27"), hog("1.21")
    store = str(tmp_path / "store")
    _archive(store, h27.binary, h21.binary)
    ids = [go_build_id(buildid_tool, h.binary) for h in (h27, h21)]
    st = open_store(store)
    opened: list[str] = []
    lock = threading.Lock()

    def opener(path: str):  # type: ignore[no-untyped-def]
        from symkeep.symbolize import open_go_binary

        with lock:
            opened.append(path)
        return open_go_binary(path)

    try:
        engines = StoreEngines(max_engines=8)
        res = StoreResolver(st, engines=engines, opener=opener)
        reqs = [BinaryRequest("x", ids[0], True)] * 16
        out: list[object] = []

        def work(r: BinaryRequest) -> None:
            got = res.resolve(r)
            with lock:
                out.append(got.engine)

        threads = [threading.Thread(target=work, args=(r,)) for r in reqs]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert len(opened) == 1 and len({id(e) for e in out}) == 1 and out[0] is not None
        s = engines.stats()
        assert (s.open, s.opened, s.hits) == (1, 1, 15), s

        # count bound: one engine kept
        one = StoreEngines(max_engines=1)
        r1 = StoreResolver(st, engines=one)
        assert r1.resolve(BinaryRequest("x", ids[0], True)).engine is not None
        assert r1.resolve(BinaryRequest("x", ids[1], True)).engine is not None
        s = one.stats()
        assert (s.open, s.evicted) == (1, 1), s
        # byte bound: the two builds (executable + its symbol index, what an engine maps) do not fit in
        # the smaller one's size plus one byte
        def mapped(bid: str) -> int:
            recs = st.records(bid)
            return sum({r.sha256: r.size for r in recs if r.kind in ("executable", "index")}.values())

        sizes = [mapped(b) for b in ids]
        assert all(s > 0 for s in sizes)
        small = min(sizes)
        few = StoreEngines(max_engines=8, max_bytes=small + 1)
        r2 = StoreResolver(st, engines=few)
        for bid in ids + ids:
            assert r2.resolve(BinaryRequest("x", bid, True)).engine is not None
        s = few.stats()
        assert s.open == 1 and s.bytes <= max(sizes), s
        assert s.evicted >= 3, s
        one.close()
        few.close()
        engines.close()
    finally:
        st.close()


@pytest.mark.parametrize("bad", ["", "not a build id!", "ab"])
def test_bad_or_missing_ids_are_answers_not_errors(tmp_path: Path, bad: str) -> None:
    st = open_store(str(tmp_path / "store"))
    try:
        r = StoreResolver(st).resolve(BinaryRequest("/bin/x", bad, True))
        assert r.engine is None and r.failure and not r.verified
    finally:
        st.close()


def test_cli_symbolize_with_a_store(tmp_path: Path, hog: Callable[[str], Hog]) -> None:
    """``symkeep symbolize --store``: a mapping whose binary is nowhere on this machine is found in
    the store by its build ID."""
    h = hog("1.27")
    store = str(tmp_path / "store")
    _archive(store, h.binary)
    p = read_profile(h.raw)
    p.string_table.append("/srv/elsewhere/cpuhog")
    p.mapping[0].filename = len(p.string_table) - 1
    raw = tmp_path / "raw.pb.gz"
    raw.write_bytes(serialize_profile(p))
    out = tmp_path / "out.pb.gz"
    r = symkeep("symbolize", str(raw), "--no-debuginfod", "-o", str(out), "--json")
    assert r.returncode == 0, r.stderr
    assert "binary not found" in r.stdout
    r = symkeep("symbolize", str(raw), "--no-debuginfod", "--store", store, "-o", str(out), "--json")
    assert r.returncode == 0, r.stderr
    import json

    m = [m for m in json.loads(r.stdout)["mappings"] if m["kind"] == "file"][0]
    assert m["found_by"] == "store (build ID)" and m["verified"] and m["symbolized"] == m["locations"] > 0, m
    agree, diffs = weighted_agreement(read_profile(h.truth), read_profile(out))
    assert agree == 1.0, diffs[:5]
