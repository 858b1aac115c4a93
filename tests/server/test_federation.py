"""Federation: a miss goes to an upstream elfutils `debuginfod`, and the answer is kept in the store."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from fixtures.env import require_tool
from server.harness import ServeProc, debuginfod_find, free_port_pair, gnu_build_id_readelf, http, symkeep


def test_federated_miss_is_fetched_and_cached(fixture: Callable[..., Path], tmp_path: Path) -> None:
    require_tool("debuginfod")
    full = fixture(variant="default", toolchain="1.27")
    src = tmp_path / "upstream"
    src.mkdir()
    shutil.copy2(full, src / "hello")
    port = free_port_pair(set())
    up = subprocess.Popen(["debuginfod", "-p", str(port), "-d", str(tmp_path / "db.sqlite"), "-F", str(src)],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    upstream = f"http://127.0.0.1:{port}"
    gnu = gnu_build_id_readelf(full)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # wait for its scan to index the file
            try:
                if http("GET", f"{upstream}/buildid/{gnu}/executable", timeout=10)[0] == 200:
                    break
            except OSError:
                pass
            time.sleep(0.3)
        else:
            raise AssertionError("upstream debuginfod never indexed the fixture")
        store = tmp_path / "store"
        with ServeProc(str(store), "--upstream", upstream) as s:
            r = debuginfod_find(s.url, tmp_path / "c1", "debuginfo", gnu)
            assert r.returncode == 0, r.stderr
            assert Path(r.stdout.strip()).read_bytes() == full.read_bytes()  # elfutils: the ELF is its own debuginfo
            assert http("GET", f"{s.url}/buildid/{'ab' * 20}/executable")[0] == 404
            st, _, body = http("GET", f"{s.url}/metrics")
            assert b'result="hit"' in body
    finally:
        os.kill(up.pid, signal.SIGTERM)
        up.wait(timeout=30)
    # upstream gone: the copy in the store answers
    with ServeProc(str(store), "--no-upstream") as s:
        r = debuginfod_find(s.url, tmp_path / "c2", "debuginfo", gnu)
        assert r.returncode == 0 and Path(r.stdout.strip()).read_bytes() == full.read_bytes()
    recs = [json.loads(x) for x in symkeep("store", "ls", "--store", str(store), "--json", check=True).stdout.split("\n") if x]
    assert recs and all(x["uploader"] == f"upstream:{upstream}" for x in recs)
    assert symkeep("store", "verify", "--store", str(store)).returncode == 0


def test_federation_keeps_upstream_archive_header(fixture: Callable[..., Path], tmp_path: Path) -> None:
    """elfutils serves a binary out of a .deb with X-DEBUGINFOD-ARCHIVE; symkeep stores and repeats it."""
    require_tool("debuginfod")
    dpkg = require_tool("dpkg-deb")
    full = fixture(variant="default", toolchain="1.27")
    pkg = tmp_path / "pkg"
    (pkg / "DEBIAN").mkdir(parents=True)
    (pkg / "usr" / "bin").mkdir(parents=True)
    shutil.copy2(full, pkg / "usr" / "bin" / "hello")
    (pkg / "DEBIAN" / "control").write_text("Package: hello\nVersion: 1.0\nArchitecture: amd64\n"
                                            "Maintainer: t <t@example.com>\nDescription: test\n")
    repo = tmp_path / "repo"
    repo.mkdir()
    deb = repo / "hello_1.0_amd64.deb"
    subprocess.run([dpkg, "-b", str(pkg), str(deb)], check=True, capture_output=True)
    port = free_port_pair(set())
    up = subprocess.Popen(["debuginfod", "-p", str(port), "-d", str(tmp_path / "db.sqlite"),
                           "-Z", ".deb=dpkg-deb --fsys-tarfile", str(repo)],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    upstream = f"http://127.0.0.1:{port}"
    gnu = gnu_build_id_readelf(full)
    try:
        deadline = time.monotonic() + 60
        hdr: dict[str, str] = {}
        while time.monotonic() < deadline:
            try:
                st, hdr, _ = http("GET", f"{upstream}/buildid/{gnu}/executable", timeout=10)
                if st == 200:
                    break
            except OSError:
                pass
            time.sleep(0.3)
        assert hdr.get("X-DEBUGINFOD-ARCHIVE") == str(deb)
        with ServeProc(str(tmp_path / "store"), "--upstream", upstream) as s:
            st, h2, body = http("GET", f"{s.url}/buildid/{gnu}/executable")
            assert st == 200 and body == full.read_bytes()
            assert h2["X-DEBUGINFOD-ARCHIVE"] == str(deb)
    finally:
        os.kill(up.pid, signal.SIGTERM)
        up.wait(timeout=30)
