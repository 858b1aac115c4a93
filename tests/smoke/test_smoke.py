"""`symkeep smoke` on real Go services: passes on the demo (profiles checked with go tool pprof),
fails with exit 1 and one reason on a service without pprof and on one that crashes at start, and
never leaves a process behind (the process table is checked after every run, also after smoke itself
is sent SIGTERM or SIGKILL)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fixtures.factory import go_tool
from policy.builds import custom
from policy.helpers import run_cli
from symkeep.binfmt import open_binary
from symkeep.golang.buildid import gnu_build_id
from symkeep.policy.archive import BuildIdDirArchive
from symkeep.smoke import procs
from symkeep.smoke.profiles import analyze

PROGRAMS = Path(__file__).resolve().parent / "programs"


def _exe(tmp: Path, program: str | Path, name: str) -> Path:
    """A private copy, so the process table can be searched for exactly this file."""
    dst = tmp / name
    shutil.copy2(custom(program, name=name), dst)
    return dst


def running(exe: Path) -> list[int]:
    """Live processes whose executable is ``exe`` (read from /proc/*/exe)."""
    out = []
    for e in os.listdir("/proc"):
        if not e.isdigit():
            continue
        try:
            target = os.readlink(f"/proc/{e}/exe")
            stat = Path(f"/proc/{e}/stat").read_text()
        except OSError:
            continue
        if target.removesuffix(" (deleted)") == str(exe) and stat[stat.rfind(")") + 2] != "Z":
            out.append(int(e))
    return out


def test_smoke_passes_on_demo(tmp_path: Path) -> None:
    demo = _exe(tmp_path, "demo", "demo")
    saved = tmp_path / "profiles"
    r = run_cli(["smoke", "--seconds", "2", "--save-dir", str(saved), "--", str(demo), "-busy"], timeout=180)
    assert r.code == 0, r
    assert "PASS: endpoint" in r.stdout and "found by listener" in r.stdout
    assert "PASS: main module" in r.stdout and "PASS: build id" in r.stdout
    assert "worker" in r.stdout  # the demo's pprof.Do label
    assert running(demo) == []
    # the profiles smoke judged, read by the real go tool pprof: main functions and the label are there
    pprof = str(go_tool("1.27", "pprof"))
    env = {**os.environ, "HOME": str(tmp_path)}
    top = subprocess.run([pprof, "-top", str(saved / "goroutine.pb.gz")], capture_output=True, text=True, env=env,
                         check=True).stdout
    assert "main.main" in top
    tags = subprocess.run([pprof, "-tags", str(saved / "cpu.pb.gz")], capture_output=True, text=True, env=env).stdout
    assert "worker" in tags and "busy" in tags, tags


def test_smoke_fails_without_pprof_endpoint(tmp_path: Path) -> None:
    exe = _exe(tmp_path, PROGRAMS / "nopprof", "nopprof")
    r = run_cli(["smoke", "--seconds", "1", "--timeout", "20", "--", str(exe)], timeout=120)
    assert r.code == 1, r
    err = r.stderr.strip().splitlines()
    assert len(err) == 1 and "no pprof endpoint" in err[0] and "HTTP 404" in err[0], r.stderr
    assert running(exe) == []


def test_smoke_fails_on_crash_at_start(tmp_path: Path) -> None:
    exe = _exe(tmp_path, PROGRAMS / "crash", "crash")
    r = run_cli(["smoke", "--seconds", "1", "--", str(exe)], timeout=120)
    assert r.code == 1, r
    err = r.stderr.strip().splitlines()
    assert len(err) == 1 and "exited with status 2" in err[0] and "cannot load config" in err[0], r.stderr
    assert running(exe) == []


def _smoke_child(demo: Path, tmp: Path) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2] / "src") + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.Popen([sys.executable, "-m", "symkeep", "smoke", "--seconds", "60", "--", str(demo), "-busy"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp)


def _wait_for(exe: Path, timeout: float = 60) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pids = running(exe)
        if pids:
            return pids
        time.sleep(0.05)
    raise AssertionError(f"{exe} never started")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL])
def test_smoke_interrupted_leaves_nothing(tmp_path: Path, sig: signal.Signals) -> None:
    demo = _exe(tmp_path, "demo", "demo")
    child = _smoke_child(demo, tmp_path)
    try:
        _wait_for(demo)
        time.sleep(1.0)  # smoke is now waiting on the 60 s CPU profile
        child.send_signal(sig)
        _, err = child.communicate(timeout=60)
        assert child.returncode != 0
        if sig != signal.SIGKILL:
            assert child.returncode == 1 and b"interrupted by" in err, err
        deadline = time.monotonic() + 10  # SIGKILL: PR_SET_PDEATHSIG takes the service down
        while running(demo) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert running(demo) == []
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        for pid in running(demo):
            os.kill(pid, signal.SIGKILL)


def test_smoke_url_binary_and_store(tmp_path: Path) -> None:
    demo = _exe(tmp_path, "demo", "demo")
    other = _exe(tmp_path, PROGRAMS / "nopprof", "nopprof")
    st = procs.start([str(demo), "-busy"], tmp_path / "log")
    try:
        url = None
        for _ in range(400):
            ls = procs.listeners([st.pid])
            if ls:
                url = f"http://127.0.0.1:{ls[0].port}"
                break
            time.sleep(0.05)
        assert url
        r = run_cli(["smoke", "--url", url + "/debug/pprof/", "--seconds", "1", "--binary", str(demo)])
        assert r.code == 0 and "PASS: build id" in r.stdout, r
        r = run_cli(["smoke", "--url", url, "--seconds", "1", "--binary", str(other)])
        assert r.code == 1 and "not the binary that runs" in r.stderr, r
        syms = tmp_path / "syms"
        syms.mkdir()
        r = run_cli(["smoke", "--url", url, "--seconds", "1", "--binary", str(demo), "--store", f"debugdir:{syms}"])
        assert r.code == 1 and "not archived" in r.stderr, r
        with open_binary(demo) as b:
            bid = gnu_build_id(b)
        assert bid
        BuildIdDirArchive(syms).add(demo, bid, "executable")
        r = run_cli(["smoke", "--url", url, "--seconds", "1", "--binary", str(demo), "--store", f"debugdir:{syms}"])
        assert r.code == 0 and "PASS: archived" in r.stdout, r
    finally:
        st.stop()
    assert running(demo) == []


def test_unnamed_samples_fail_min_named(tmp_path: Path) -> None:
    """A real goroutine profile of the demo, with its names removed, fails the named-fraction check."""
    from doctor.helpers import strip_profile

    demo = _exe(tmp_path, "demo", "demo")
    saved = tmp_path / "p"
    assert run_cli(["smoke", "--seconds", "1", "--save-dir", str(saved), "--", str(demo)]).code == 0
    raw = strip_profile(saved / "goroutine.pb.gz", tmp_path / "raw.pb.gz")
    res = analyze("goroutine", "x", raw.read_bytes(), None, "demo")
    assert res.samples > 0 and res.named == 0 and res.main_functions == []
    good = analyze("goroutine", "x", (saved / "goroutine.pb.gz").read_bytes(), None, "demo")
    assert good.named == good.samples > 0 and "main.main" in good.main_functions


def test_listeners_from_proc(tmp_path: Path) -> None:
    """Our own sockets, found through /proc/PID/net/tcp{,6} and the fd inodes."""
    s4 = socket.socket(socket.AF_INET)
    s4.bind(("127.0.0.1", 0))
    s4.listen()
    s6 = socket.socket(socket.AF_INET6)
    try:
        s6.bind(("::1", 0))
        s6.listen()
        v6 = s6.getsockname()[1]
    except OSError:
        v6 = None
    not_listening = socket.socket(socket.AF_INET)
    not_listening.bind(("127.0.0.1", 0))
    try:
        got = {(ln.host, ln.port) for ln in procs.listeners([os.getpid()])}
        assert ("127.0.0.1", s4.getsockname()[1]) in got
        if v6:
            assert ("::1", v6) in got
        assert ("127.0.0.1", not_listening.getsockname()[1]) not in got
    finally:
        s4.close()
        s6.close()
        not_listening.close()


def test_usage_errors() -> None:
    assert run_cli(["smoke"]).code == 2
    assert run_cli(["smoke", "--url", "http://127.0.0.1:1", "--", "x"]).code == 2
    assert run_cli(["smoke", "--min-named", "2", "--url", "http://127.0.0.1:1"]).code == 2
    r = run_cli(["smoke", "--", "/nonexistent/prog"])
    assert r.code == 3 and "no such program" in r.stderr


def test_endpoint_from_flag(tmp_path: Path) -> None:
    demo = _exe(tmp_path, "demo", "demo")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    r = run_cli(["smoke", "--seconds", "1", "--", str(demo), "-addr", f"127.0.0.1:{port}"])
    assert r.code == 0, r
    assert f"http://127.0.0.1:{port}/debug/pprof/ answers (found by flag 127.0.0.1:{port})" in r.stdout
    assert running(demo) == []
