"""Hostile requests against `symkeep serve`: each is refused with the documented status, nothing leaks."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from server.harness import (
    Seaweed,
    ServeProc,
    gnu_build_id_readelf,
    http,
    make_token,
    raw_get,
    replicas,
    symkeep,
)


@pytest.fixture
def served(fixture: Callable[..., Path], tmp_path: Path):  # type: ignore[no-untyped-def]
    sw = fixture(variant="sw", toolchain="1.27")
    store = tmp_path / "store"
    symkeep("archive", "--store", str(store), "--no-synthesize", str(sw), check=True)
    with replicas(str(store), tmp_path, "--max-upload", "1M", n=1) as (servers, tok):
        yield servers[0].url, tok, sw, store


def test_traversal_and_bad_paths(served, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    url, tok, sw, _ = served
    bid = gnu_build_id_readelf(sw)
    # a real source, so that a lookup that escaped the index would have something to find
    src = tmp_path / "main.go"
    src.write_text("package main\n")
    st, _, body = http("PUT", f"{url}/buildid/{bid}/source{src}", data=src.read_bytes(),
                       headers={"Authorization": f"Bearer {tok}"})
    assert st == 201, body
    st, body = raw_get(url, f"/buildid/{bid}/source{src}")
    assert st == 200 and body == b"package main\n"
    for target in (f"/buildid/{bid}/source/../../../../etc/passwd",
                   f"/buildid/{bid}/source/%2e%2e/%2e%2e/etc/passwd",
                   f"/buildid/{bid}/source/%2E%2E%2F%2E%2E%2Fetc%2Fpasswd",
                   f"/buildid/{bid}/source{src.parent}/./main.go",
                   f"/buildid/{bid}/source{src.parent}//main.go",
                   f"/buildid/{bid}/source/etc/passwd%00.go",
                   f"/buildid/{bid}/source/etc/passwd"):
        st, body = raw_get(url, target)
        assert st in (400, 404), (target, st)
        assert b"root:" not in body
    st, body = raw_get(url, f"/buildid/{bid}/source/etc/passwd")
    assert st == 404  # a well-formed path that was never archived: the server's disk is never read


@pytest.mark.parametrize("bad", ["zz", "abc", "0123456789abcdeg", "a" * 130, "ab" * 200,
                                 "redacted", "x%2F..%2Fy", "%ff%fe", "..", "a/b/c/d/e"])
def test_malformed_build_ids(served, bad: str) -> None:  # type: ignore[no-untyped-def]
    url, *_ = served
    st, body = raw_get(url, f"/buildid/{bad}/executable")
    assert st in (400, 404), (bad, st, body)


def test_uploads_need_a_write_token(served, fixture: Callable[..., Path], tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    url, tok, _, _ = served
    other = fixture(variant="sw", toolchain="1.21")
    body = other.read_bytes()[: 900 << 10]  # under the 1M cap (the ID check comes after auth and size)
    target = f"{url}/buildid/{'ab' * 20}/executable"
    assert http("PUT", target, data=body)[0] == 401
    assert http("PUT", target, data=body, headers={"Authorization": "Bearer nope"})[0] == 401
    assert http("PUT", target, data=body, headers={"Authorization": f"Basic {tok}"})[0] == 401
    (tmp_path / "r").mkdir()
    _, rtok = make_token(tmp_path / "r", "reader", "read")
    # the reader token lives in another file: not accepted by this server at all
    assert http("PUT", target, data=body, headers={"Authorization": f"Bearer {rtok}"})[0] == 401
    # right token, but the file does not carry that build ID
    st, _, msg = http("PUT", target, data=body, headers={"Authorization": f"Bearer {tok}"})
    assert st in (409, 422), msg


def test_oversized_upload(served) -> None:  # type: ignore[no-untyped-def]
    url, tok, sw, _ = served
    bid = gnu_build_id_readelf(sw)
    big = sw.read_bytes()  # 1.5 MB > --max-upload 1M
    assert len(big) > 1 << 20
    st, _, msg = http("PUT", f"{url}/buildid/{bid}/executable", data=big, headers={"Authorization": f"Bearer {tok}"})
    assert st == 413, msg

    def chunks():  # type: ignore[no-untyped-def]
        for i in range(0, len(big), 65536):
            yield big[i:i + 65536]

    import urllib.request

    req = urllib.request.Request(f"{url}/buildid/{bid}/executable", data=chunks(), method="PUT",
                                 headers={"Authorization": f"Bearer {tok}", "Transfer-Encoding": "chunked"})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            st = r.status
    except urllib.error.HTTPError as e:
        st = e.code
    except OSError:
        st = 413  # the server may close the connection right after answering
    assert st == 413


def test_read_token_and_maxsize(fixture: Callable[..., Path], tmp_path: Path) -> None:
    sw = fixture(variant="sw", toolchain="1.27")
    store = tmp_path / "store"
    symkeep("archive", "--store", str(store), "--no-synthesize", str(sw), check=True)
    tf, tok = make_token(tmp_path, "reader", "read")
    bid = gnu_build_id_readelf(sw)
    with ServeProc(str(store), "--token-file", str(tf), "--read-token", "--no-upstream") as s:
        target = f"{s.url}/buildid/{bid}/executable"
        assert http("GET", target)[0] == 401
        assert http("GET", target, headers={"Authorization": "Bearer wrong"})[0] == 401
        st, hdr, body = http("GET", target, headers={"Authorization": f"Bearer {tok}"})
        assert st == 200 and body == sw.read_bytes()
        auth = {"Authorization": f"Bearer {tok}"}
        # a read token cannot upload
        assert http("PUT", target, data=body, headers=auth)[0] == 401
        st, _, _ = http("GET", target, headers={**auth, "X-DEBUGINFOD-MAXSIZE": "1000"})
        assert st == 406
        st, hdr, _ = http("HEAD", target, headers=auth)
        assert st == 200 and hdr["Content-Length"] == str(len(body)) == hdr["X-DEBUGINFOD-SIZE"]
        etag = hdr["ETag"]
        assert http("GET", target, headers={**auth, "If-None-Match": etag})[0] == 304
        st, hdr, part = http("GET", target, headers={**auth, "Range": "bytes=16-31"})
        assert st == 206 and part == body[16:32] and hdr["Content-Range"] == f"bytes 16-31/{len(body)}"
        st, _, part = http("GET", target, headers={**auth, "Range": "bytes=-10"})
        assert st == 206 and part == body[-10:]
        assert http("GET", target, headers={**auth, "Range": f"bytes={len(body)}-"})[0] == 416


def _tamper_blob_local(store: Path) -> None:
    blob = next(p for p in (store / "blobs").glob("*/*"))
    blob.chmod(0o644)
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0xFF
    blob.write_bytes(bytes(data))


def test_tampered_blob_is_never_served_and_verify_reports_it(fixture: Callable[..., Path], tmp_path: Path) -> None:
    sw = fixture(variant="sw", toolchain="1.27")
    store = tmp_path / "store"
    symkeep("archive", "--store", str(store), "--no-synthesize", str(sw), check=True)
    assert symkeep("store", "verify", "--store", str(store)).returncode == 0
    bid = gnu_build_id_readelf(sw)
    with ServeProc(str(store), "--no-upstream") as s:
        target = f"{s.url}/buildid/{bid}/executable"
        assert http("GET", target)[2] == sw.read_bytes()  # verified once, then cached by (inode, mtime, ...)
        _tamper_blob_local(store)
        st, _, body = http("GET", target)
        assert st == 422 and b"corrupt" in body
        st, _, body = http("GET", f"{s.url}/metrics")
        assert b"symkeep_integrity_failures_total" in body
    r = symkeep("store", "verify", "--store", str(store))
    assert r.returncode == 1 and "edited or swapped" in r.stdout


def test_tampered_blob_on_s3(seaweed: Seaweed, fixture: Callable[..., Path], tmp_path: Path) -> None:
    sw = fixture(variant="sw", toolchain="1.27")
    url = seaweed.new_store()
    symkeep("archive", "--store", url, "--no-synthesize", str(sw), check=True)
    bucket = url.split("/")[2]
    s3 = seaweed.client()
    exe_sha = __import__("hashlib").sha256(sw.read_bytes()).hexdigest()  # the executable's blob, not its index's
    key = next(o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="syms/blobs/")["Contents"]
               if exe_sha in o["Key"])
    data = bytearray(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    data[100] ^= 1
    s3.put_object(Bucket=bucket, Key=key, Body=bytes(data))
    with ServeProc(url, "--no-upstream", "--cache-dir", str(tmp_path / "c")) as s:
        st, _, body = http("GET", f"{s.url}/buildid/{gnu_build_id_readelf(sw)}/executable")
        assert st == 422 and b"corrupt" in body
    r = symkeep("store", "verify", "--store", url)
    assert r.returncode == 1 and "edited or swapped" in r.stdout


def test_tampered_audit_log(fixture: Callable[..., Path], tmp_path: Path) -> None:
    store = tmp_path / "store"
    symkeep("archive", "--store", str(store), str(fixture(variant="sw", toolchain="1.27")),
            str(fixture(variant="sw", toolchain="1.21")), check=True)
    r = symkeep("store", "verify", "--store", str(store), "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["audit_entries"] >= 4
    db = sqlite3.connect(store / "index.sqlite")
    (entry,) = db.execute("SELECT entry FROM audit WHERE seq=1").fetchone()
    d = json.loads(entry)
    d["uploader"] = "mallory"
    db.execute("UPDATE audit SET entry=? WHERE seq=1", (json.dumps(d),))
    db.commit()
    r = symkeep("store", "verify", "--store", str(store))
    assert r.returncode == 1 and "entry edited" in r.stdout
    d["uploader"] = json.loads(entry)["uploader"]
    db.execute("UPDATE audit SET entry=? WHERE seq=1", (entry,))
    db.execute("DELETE FROM audit WHERE seq=2")
    db.commit()
    r = symkeep("store", "verify", "--store", str(store))
    assert r.returncode == 1 and "deleted or inserted" in r.stdout
    db.close()


def test_swapped_record_is_reported(fixture: Callable[..., Path], tmp_path: Path) -> None:
    store = tmp_path / "store"
    symkeep("archive", "--store", str(store), "--no-synthesize", str(fixture(variant="sw", toolchain="1.27")),
            str(fixture(variant="sw", toolchain="1.21")), check=True)
    db = sqlite3.connect(store / "index.sqlite")
    rows = db.execute("SELECT rowid, record FROM records").fetchall()
    a, b = json.loads(rows[0][1]), json.loads(rows[-1][1])
    assert a["sha256"] != b["sha256"]
    a["sha256"], a["size"] = b["sha256"], b["size"]
    db.execute("UPDATE records SET record=?, sha256=? WHERE rowid=?", (json.dumps(a), a["sha256"], rows[0][0]))
    db.commit()
    db.close()
    r = symkeep("store", "verify", "--store", str(store))
    assert r.returncode == 1 and "record edited or swapped" in r.stdout
