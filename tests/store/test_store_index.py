"""Symbol indexes in the store: built once at archive time (or on first use when missing), mapped by
every engine that opens the build, never accepted from a client, and the answers are the engine's own
(checked on a directory store and on S3/SeaweedFS, against an engine that never saw an index)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from server.harness import ServeProc, cli_env, http, symkeep
from symkeep.profile.resolver import BinaryRequest
from symkeep.store import open_store
from symkeep.store.resolver import StoreEngines, StoreResolver
from symkeep.symbolize import open_go_binary
from symkeep.symbolize.indexfile import IndexFile


def _pcs(path: Path) -> np.ndarray:
    with open_go_binary(path) as g:
        e = g.entries
        rng = np.random.default_rng(3)
        return np.concatenate([e[:-1] + np.uint64(1), rng.integers(int(e[0]), int(e[-1]), 4000, dtype=np.uint64)])


def _index_records(store: str, bid: str) -> list[object]:
    st = open_store(store)
    try:
        return [r for r in st.records(bid) if r.kind == "index"]
    finally:
        st.close()


def _ids(path: Path) -> tuple[str, str]:
    from symkeep.binfmt import open_binary
    from symkeep.golang.buildid import build_ids

    with open_binary(path) as b:
        ids = build_ids(b)
    assert ids.gnu and ids.go
    return ids.gnu, ids.go


def test_archive_stores_the_index_and_engines_map_it(store_url: str, fixture) -> None:
    b = fixture(toolchain="1.27", variant="pie_sw", program="callers")
    gnu, go = _ids(b)
    out = symkeep("archive", "--store", store_url, "--json", str(b), check=True)
    doc = json.loads(out.stdout)
    assert any(r["kind"] == "index" for r in doc["results"]), doc["results"]
    for bid in (gnu, go):
        (rec,) = _index_records(store_url, bid)
    st = open_store(store_url)
    try:
        with open_go_binary(b) as ref:
            key = ref.index_key
            pcs = _pcs(b)
            want = ref.lookup_chains(pcs)
            want_one = [tuple(ref.lookup(int(p))) for p in pcs[:50].tolist()]
        assert IndexFile.open(st.blob_file(rec)).meta["key"] == key  # the index of this very binary
        res = StoreResolver(st, engines=StoreEngines())
        got = res.resolve(BinaryRequest("x", gnu, True))
        assert got.engine is not None and got.verified
        assert got.engine.lookup_chains(pcs[:50]) == want_one
        assert got.engine.table_kind == "index"  # mapped, not decoded
        assert got.engine.lookup_chains(pcs) == want
        res.close()
    finally:
        st.close()


def test_a_store_without_index_gets_one_on_first_use(store_url: str, fixture) -> None:
    b = fixture(toolchain="1.27", variant="sw", program="callers")
    gnu, _go = _ids(b)
    st = open_store(store_url)
    try:
        st.ingest(b, kind="executable")  # as an older symkeep archived it: no index
        assert not _index_records(store_url, gnu)
        with open_go_binary(b) as ref:
            pcs = _pcs(b)
            want = ref.lookup_chains(pcs)
        res = StoreResolver(st, engines=StoreEngines())
        eng = res.resolve(BinaryRequest("x", gnu, True)).engine
        assert eng is not None and eng.lookup_chains(pcs) == want
        assert eng.table_kind == "bulk"  # decoded once, here ...
        assert _index_records(store_url, gnu)  # ... and stored for everyone else
        res.close()
        res2 = StoreResolver(st, engines=StoreEngines())  # another worker / replica
        eng2 = res2.resolve(BinaryRequest("x", gnu, True)).engine
        assert eng2 is not None and eng2.lookup_chains(pcs) == want and eng2.table_kind == "index"
        res2.close()
    finally:
        st.close()


def test_index_filed_under_the_id_of_another_binary_is_not_used(tmp_path: Path, fixture) -> None:
    a = fixture(toolchain="1.27", variant="sw", program="callers")
    other = fixture(toolchain="1.27", variant="sw", program="hello")
    gnu, _ = _ids(a)
    store = str(tmp_path / "store")
    st = open_store(store)
    try:
        st.ingest(a, kind="executable")
        from symkeep.store.symindex import ingest_index
        from symkeep.symbolize.symindex import encode

        with open_go_binary(other) as g:  # a wrong index in the slot of a's build
            ingest_index(st, encode(g.state, g.whole_table(), g.index_key), [gnu], "test", "wrong.symidx")
        with open_go_binary(a) as ref:
            pcs = _pcs(a)
            want = ref.lookup_chains(pcs)
        eng = StoreResolver(st, engines=StoreEngines()).resolve(BinaryRequest("x", gnu, True)).engine
        assert eng is not None and eng.lookup_chains(pcs) == want and eng.table_kind != "index"
    finally:
        st.close()


def test_server_builds_the_index_on_upload_and_refuses_uploaded_indexes(tmp_path: Path, fixture) -> None:
    b = fixture(toolchain="1.27", variant="sw", program="callers")
    gnu, _ = _ids(b)
    store = str(tmp_path / "store")
    with ServeProc(store, "--no-upstream", env=cli_env(SYMKEEP_TOKENS="ci:s3cret")) as srv:
        symkeep("archive", "--server", srv.url, "--token", "s3cret", str(b), check=True)
        code, _h, body = http("PUT", f"{srv.url}/buildid/{gnu}/index", data=b"SYMKIDX\0" + b"\0" * 100,
                              headers={"Authorization": "Bearer s3cret"})
        assert code == 404 and b"unknown debuginfod request kind" in body  # not a kind a client may PUT
    assert len(_index_records(store, gnu)) == 1
