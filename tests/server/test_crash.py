"""Crash safety and races: SIGKILL mid-upload and mid-archive, and N uploaders of one build ID."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from server.harness import ServeProc, cli_env, gnu_build_id_readelf, http, make_token, replicas, symkeep


def _verify(store: str) -> dict[str, object]:
    r = symkeep("store", "verify", "--store", store, "--json")
    doc: dict[str, object] = json.loads(r.stdout)
    assert r.returncode == 0 and doc["ok"], r.stdout + r.stderr
    return doc


def _records(store: str) -> list[dict[str, object]]:
    r = symkeep("store", "ls", "--store", store, "--json", check=True)
    return [json.loads(x) for x in r.stdout.splitlines()]


def test_sigkill_during_large_upload(store_url: str, fixture: Callable[..., Path], tmp_path: Path) -> None:
    sw = fixture(variant="sw", toolchain="1.27")
    tf, tok = make_token(tmp_path)
    cache = tmp_path / "cache"
    s = ServeProc(store_url, "--token-file", str(tf), "--no-upstream", "--cache-dir", str(cache))
    try:
        host, port = s.url.removeprefix("http://").split(":")
        bid = gnu_build_id_readelf(sw)
        total = 200 << 20
        conn = socket.create_connection((host, int(port)))
        conn.sendall((f"PUT /buildid/{bid}/executable HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {tok}\r\n"
                      f"Content-Length: {total}\r\n\r\n").encode())
        chunk = sw.read_bytes()[: 1 << 20]
        for _ in range(40):  # 40 MiB of 200 MiB, then the server dies
            conn.sendall(chunk)
        time.sleep(0.5)
        staged = list((Path(store_url) / "tmp").iterdir()) if not store_url.startswith("s3://") else \
            list((cache / "tmp").iterdir())
        assert staged and staged[0].stat().st_size > 0  # the upload was in flight
        s.kill(signal.SIGKILL)
        conn.close()
    finally:
        s.stop()
    assert _records(store_url) == []
    doc = _verify(store_url)
    assert doc["blobs"] == 0 and doc["records"] == 0
    # the next server (or any store user) sweeps the dead process's staging file
    with ServeProc(store_url, "--no-upstream", "--cache-dir", str(cache)) as s2:
        assert http("GET", f"{s2.url}/buildid/{bid}/executable")[0] == 404
    left = (cache / "tmp") if store_url.startswith("s3://") else (Path(store_url) / "tmp")
    assert list(left.iterdir()) == []


def test_sigkill_during_archive(store_url: str, fixture: Callable[..., Path], tmp_path: Path) -> None:
    src = tmp_path / "bins"
    src.mkdir()
    for tc in ("1.21", "1.27"):
        for v in ("sw", "default", "pie_sw"):
            shutil.copy2(fixture(variant=v, toolchain=tc), src / f"hello-{tc}-{v}")
    env = cli_env()
    p = subprocess.Popen([sys.executable, "-m", "symkeep", "archive", "--store", store_url, str(src)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    deadline = time.monotonic() + 120
    recs: list[dict[str, object]] = []
    while time.monotonic() < deadline and p.poll() is None:
        recs = _records(store_url) if (store_url.startswith("s3://") or Path(store_url).exists()) else []
        if recs:
            break
        time.sleep(0.05)
    if p.poll() is None:
        os.kill(p.pid, signal.SIGKILL)
    p.wait(timeout=30)
    assert p.returncode == -signal.SIGKILL, "archive finished before it could be killed"
    doc = _verify(store_url)  # every record's blob is whole; the chain is intact
    assert doc["records"] == len(_records(store_url)) >= 1
    # and the store is usable: a re-run completes the job
    r = symkeep("archive", "--store", store_url, str(src), "--json", check=True)
    assert json.loads(r.stdout)["errors"] == []
    final = _records(store_url)
    assert {x["kind"] for x in final} == {"executable", "synthesized", "index"}
    assert _verify(store_url)["records"] == len(final)


def test_concurrent_uploads_one_winner(store_url: str, fixture: Callable[..., Path], tmp_path: Path) -> None:
    sw = fixture(variant="sw", toolchain="1.27")
    base = sw.read_bytes()
    n = 6
    variants = [base + b"\0" * (i + 1) for i in range(n)]  # same ELF, same build IDs, different bytes
    bid = gnu_build_id_readelf(sw)
    with replicas(store_url, tmp_path) as (servers, tok):
        stop = threading.Event()
        seen: list[tuple[int, bytes]] = []

        def reader() -> None:
            while not stop.is_set():
                st, _, body = http("GET", f"{servers[1].url}/buildid/{bid}/executable")
                seen.append((st, body))

        def put(i: int) -> int:
            srv = servers[i % len(servers)].url
            return http("PUT", f"{srv}/buildid/{bid}/executable", data=variants[i],
                        headers={"Authorization": f"Bearer {tok}"})[0]

        rt = threading.Thread(target=reader)
        rt.start()
        with ThreadPoolExecutor(n) as ex:
            codes = list(ex.map(put, range(n)))
        time.sleep(1.5)  # past the replicas' 1 s lookup cache
        stop.set()
        rt.join()
        assert sorted(codes) == [201] + [409] * (n - 1), codes
        winner = variants[codes.index(201)]
        for srv in servers:
            st, _, body = http("GET", f"{srv.url}/buildid/{bid}/executable")
            assert st == 200 and body == winner
        assert seen
        for st, body in seen:  # readers saw "not there yet" or the whole winner, never an error
            assert st in (200, 404), st
            assert st == 404 or body == winner
    doc = _verify(store_url)
    recs = [r for r in _records(store_url) if r["kind"] == "executable"]
    assert len(recs) == 2 and {r["sha256"] for r in recs} == {recs[0]["sha256"]}  # GNU + Go ID, one winner
    idx = [r for r in _records(store_url) if r["kind"] == "index"]  # the winner's index, built by its server
    assert len(idx) == 2 and len({r["sha256"] for r in idx}) == 1
    assert doc["records"] == 4
