"""Hostile requests to ``POST /symbolize`` and ``/addr2line`` on a real server: every one ends in a one-line
4xx (or 503) within seconds, and the workers keep answering (no hung worker, no runaway memory).

Inputs are real: a gzip bomb of empty strings, a profile of 10 million (empty) locations, a real profile
cut short, random bytes, an addresses body over the cap (with and without Content-Length), work that
overruns ``--api-timeout``, and more concurrent work than ``--api-jobs`` + ``--api-queue`` admit."""

from __future__ import annotations

import gzip
import http.client as httpc
import os
import random
import threading
import time
from collections.abc import Callable
from pathlib import Path

from server.api_fixtures import ApiHog
from server.harness import ServeProc, http
from symkeep.binfmt import open_binary
from symkeep.golang.buildid import build_ids
from symkeep.symbolize import open_go_binary


def _one_line(body: bytes) -> str:
    assert body.startswith(b"symkeep: error: ") and body.count(b"\n") == 1, body[:300]
    return body.decode()


def _healthy(url: str, within: float = 5.0) -> float:
    t0 = time.monotonic()
    st, _, _ = http("GET", url + "/healthz", timeout=within)
    took = time.monotonic() - t0
    assert st == 200 and took < within
    return took


def _chunked(url: str, path: str, blocks: int, block: bytes) -> tuple[int, bytes]:
    host, port = url.removeprefix("http://").split(":")
    c = httpc.HTTPConnection(host, int(port), timeout=60)
    try:
        c.request("POST", path, body=(block for _ in range(blocks)), encode_chunked=True,
                  headers={"Transfer-Encoding": "chunked"})
        r = c.getresponse()
        return r.status, r.read()
    except (BrokenPipeError, ConnectionResetError):  # the server may close while we still send
        return 413, b"symkeep: error: closed (--api-max-body)\n"
    finally:
        c.close()


def test_hostile_profiles(api_server: ServeProc, api_hog: Callable[[str], ApiHog]) -> None:
    url = api_server.url
    raw = gzip.decompress(api_hog("1.27").raw.read_bytes())
    bomb = gzip.compress(b"\x32\x00" * 40_000_000, compresslevel=9)  # 80 MB of empty strings
    ten_m = gzip.compress(b"\x22\x00" * 10_000_000, compresslevel=9)  # 10M locations
    assert len(bomb) < 1 << 20 and len(ten_m) < 1 << 20
    cases = [
        (bomb, 413, "--api-max-input"),
        (ten_m, 413, "--api-max-input"),
        (raw[: len(raw) // 2], 422, ""),  # truncated protobuf
        (gzip.compress(raw)[:-40], 422, ""),  # truncated gzip stream
        (random.Random(1).randbytes(100_000), 422, ""),
        (os.urandom(5 << 20), 413, "--api-max-body"),
    ]
    for body, status, needle in cases:
        t0 = time.monotonic()
        st, _, got = http("POST", url + "/symbolize", body)
        took = time.monotonic() - t0
        assert st == status, (st, got[:200])
        assert needle in _one_line(got)
        assert took < 30, took
        _healthy(url)
    st, _, got = http("POST", url + "/symbolize?max_input=1K", api_hog("1.27").raw.read_bytes())
    assert st == 413 and "--api-max-input" in _one_line(got)
    for q in ("format=svg", "input_format=elf", "report=xml", "sample_index=x", "gzip=maybe"):
        st, _, got = http("POST", f"{url}/symbolize?{q}", raw)
        assert st == 400, q
        _one_line(got)
    st, _, got = http("POST", url + "/symbolize", b"")
    assert st == 422 and "empty input" in _one_line(got)
    for head in (b"not json\n", b'{"build_ids": [1]}\n', b'{"build_ids": {"a": 1}}\n', b"no newline"):
        st, _, got = http("POST", url + "/symbolize", head + raw, {"Content-Type": "application/x-symkeep-profile"})
        assert st == 422 and "x-symkeep-profile" in _one_line(got), head
    st, got = _chunked(url, "/symbolize", 100, b"\x32\x00" * 32768)  # 6.5 MB, no Content-Length
    assert st == 413 and "--api-max-body" in _one_line(got)
    # the workers still symbolize
    st, _, _ = http("POST", url + "/symbolize", api_hog("1.27").raw.read_bytes())
    assert st == 200


def test_huge_addresses_body(api_server: ServeProc, api_hog: Callable[[str], ApiHog]) -> None:
    gnu = build_ids(open_binary(api_hog("1.27").binary)).gnu
    path = f"/addr2line?build_id={gnu}"
    st, _, got = http("POST", api_server.url + path, b"0x401000\n" * 600_000)  # 5.4 MB
    assert st == 413 and "--api-max-body" in _one_line(got)
    st, got = _chunked(api_server.url, path, 200, b"0x401000\n" * 4000)  # 7 MB, no Content-Length
    assert st == 413
    st, _, got = http("POST", api_server.url + path, b"1\n" * 2_000_000)  # 4 MB of tokens: at the cap
    assert st == 200 and got.count(b"\n") == 2_000_000
    _healthy(api_server.url)


def test_timeout_and_saturation(api_store: Path, api_hog: Callable[[str], ApiHog]) -> None:
    """One job slot, no queue, a 50 ms limit: a big request overruns (413 naming --api-timeout) but its
    thread keeps the slot while it runs, so the next request gets 503 + Retry-After at once; the event loop
    answers /healthz meanwhile; once the thread ends, requests are served again."""
    hog = api_hog("1.27")
    gob = open_go_binary(hog.binary)
    fns = list(gob.functions())
    rnd = random.Random(5)
    pcs = [rnd.randrange(f.entry, f.end) for f in (rnd.choice(fns) for _ in range(380_000))]
    big = "".join(f"{pc:x}\n" for pc in pcs).encode()
    gnu = build_ids(open_binary(hog.binary)).gnu
    path = f"/addr2line?build_id={gnu}&functions=1&inlines=1&addresses=1&json=1"
    with ServeProc(str(api_store), "--workers", "1", "--no-upstream", "--no-ui", "--api-jobs", "1",
                   "--api-queue", "0", "--api-timeout", "0.05") as s:
        results: dict[str, tuple[int, dict[str, str], bytes]] = {}
        t = threading.Thread(target=lambda: results.update(big=http("POST", s.url + path, big)))
        t.start()
        t.join(60)
        st, _, got = results["big"]
        assert st == 413 and "--api-timeout" in _one_line(got)
        st, hdr, got = http("POST", s.url + path, b"401000\n")
        assert st == 503 and int(hdr["Retry-After"]) > 0, (st, got)
        _one_line(got)
        assert _healthy(s.url, 2.0) < 2.0
        deadline = time.monotonic() + 60
        while True:  # the overrunning thread ends and gives its slot back
            st, _, got = http("POST", s.url + f"/addr2line?build_id={gnu}&functions=1", b"0x401000\n")
            if st == 200:
                break
            assert st in (503, 413) and time.monotonic() < deadline, (st, got)
            time.sleep(0.2)
        assert got.count(b"\n") == 2
