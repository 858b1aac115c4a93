"""`symkeep doctor` names the right cause on staged scenarios, each made with real binaries, real
profiles and real tools (go tool pprof, perf record/buildid-cache/report, unshare), and each cause
checked against what the real tool does."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

from fixtures.env import require_tool, unavailable
from fixtures.factory import go_tool
from policy.builds import custom
from policy.helpers import run_cli
from symkeep.doctor import DoctorInputs, SystemView, diagnose
from symkeep.doctor.model import CAUSES
from symkeep.profile.pprof import read_profile

from .helpers import copy_exe, names, perf_ok, perf_record, run_cpuhog, strip_profile

NAMED: set[str] = set()


def _problems(rep) -> list[str]:  # type: ignore[no-untyped-def]
    return rep.causes()


def _expect(rep, cause: str, only: bool = True):  # type: ignore[no-untyped-def]
    NAMED.add(cause)
    probs = _problems(rep)
    assert cause in probs, rep.to_text()
    if only:
        assert probs == [cause], rep.to_text()
    return next(f for f in rep.problems() if f.cause == cause)


def test_cgo_binary_profiled_with_go_tool_pprof(tmp_path: Path) -> None:
    """The trap: `go tool pprof -symbolize=local` on a stripped cgo build names the wrong functions."""
    exe = custom("cpuhog", ldflags="-linkmode=external -s -w", cgo=True, name="extlink_sw")
    good = run_cpuhog(exe, tmp_path / "cpu.pprof")  # runtime/pprof: symbolized in-process, right
    raw = strip_profile(good, tmp_path / "raw.pb.gz")
    home = tmp_path / "home"
    home.mkdir()
    env = {**os.environ, "HOME": str(home), "PPROF_BINARY_PATH": str(home), "PPROF_TMPDIR": str(home)}
    out = tmp_path / "gotool.pb.gz"
    subprocess.run([str(go_tool("1.27", "pprof")), "-symbolize=local", "-proto", f"-output={out}", str(exe), str(raw)],
                   env=env, check=True, capture_output=True, timeout=300)
    truth, tool = names(read_profile(good)), names(read_profile(out))
    common = [a for a in truth if a in tool]
    wrong = sum(1 for a in common if truth[a] != tool[a])
    assert common and wrong >= 0.5 * len(common), (wrong, len(common))  # the real tool really misnames
    rep = diagnose(DoctorInputs(binary=str(exe), profile=str(out)), SystemView(home=str(home)))
    f = _expect(rep, "cgo-text-start")
    assert f.data["shift"] > 0 and f.data["agree_shifted"] >= 0.75 * (f.data["locations"] - f.data["agree"])
    # the fix it gives works: re-symbolized by symkeep, the names agree with the runtime's own profile
    fixed = tmp_path / "fixed.pb.gz"
    r = run_cli(["symbolize", str(out), "--binary", str(exe), "--force", "-o", str(fixed), "-q"])
    assert r.code == 0, r
    assert "cgo-text-start" not in _problems(diagnose(DoctorInputs(binary=str(exe), profile=str(fixed)),
                                                      SystemView(home=str(home))))
    again = names(read_profile(fixed))
    assert sum(1 for a in common if again.get(a) == truth[a]) >= 0.95 * len(common)
    # the runtime's own profile of the same binary is right: the doctor says so (no problem)
    ok = diagnose(DoctorInputs(binary=str(exe), profile=str(good)), SystemView(home=str(home)))
    assert "cgo-text-start" not in _problems(ok)
    assert any(x.cause == "cgo-text-start" and x.status == "info" for x in ok.findings)


def test_stale_binary(tmp_path: Path) -> None:
    a = custom("cpuhog", name="build-a")
    b = custom("cpuhog", ldflags="-X main.deployed=2", name="build-b")
    prof = run_cpuhog(a, tmp_path / "cpu.pprof", 1)
    from policy.tools import readelf_gnu_build_id

    assert readelf_gnu_build_id(a) != readelf_gnu_build_id(b)
    rep = diagnose(DoctorInputs(binary=str(b), profile=str(prof)), SystemView(home=str(tmp_path)))
    f = _expect(rep, "stale-binary")
    assert readelf_gnu_build_id(a) in f.message and readelf_gnu_build_id(b) in f.message
    assert "stale-binary" not in _problems(diagnose(DoctorInputs(binary=str(a), profile=str(prof)),
                                                    SystemView(home=str(tmp_path))))


def test_stale_binary_running_process(tmp_path: Path) -> None:
    """A process whose binary was replaced on disk after it started (/proc/PID/exe '(deleted)')."""
    exe = copy_exe(custom("cpuhog", name="build-a"), tmp_path / "svc")
    p = subprocess.Popen([str(exe), str(tmp_path / "o.pprof"), "30"], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.3)
        exe.unlink()
        copy_exe(custom("cpuhog", ldflags="-X main.deployed=2", name="build-b"), tmp_path / "svc")
        rep = diagnose(DoctorInputs(pid=p.pid), SystemView(home=str(tmp_path)))
        f = _expect(rep, "stale-binary", only=False)
        assert "(deleted)" in " ".join(f.evidence)
        assert set(_problems(rep)) <= {"stale-binary", "perf-paranoid", "kptr-restrict"}
    finally:
        p.kill()
        p.wait()


def test_unsymbolized_pprof(tmp_path: Path, fixture) -> None:
    exe = fixture(variant="sw", program="cpuhog")
    prof = run_cpuhog(exe, tmp_path / "cpu.pprof", 1)
    raw = strip_profile(prof, tmp_path / "raw.pb.gz")
    f = _expect(diagnose(DoctorInputs(profile=str(raw))), "unsymbolized-profile")
    assert f.data["unsymbolized"] == f.data["locations"] > 0
    fixed = tmp_path / "fixed.pb.gz"
    r = run_cli(["symbolize", str(raw), "--binary", str(exe), "-o", str(fixed)])
    assert r.code == 0, r
    assert _problems(diagnose(DoctorInputs(profile=str(fixed)))) == []


def _stage_proc(root: Path, paranoid: int, kptr: int, kallsyms_zero: bool) -> Path:
    (root / "sys" / "kernel").mkdir(parents=True)
    (root / "sys" / "kernel" / "perf_event_paranoid").write_text(f"{paranoid}\n")
    (root / "sys" / "kernel" / "kptr_restrict").write_text(f"{kptr}\n")
    addr = "0000000000000000" if kallsyms_zero else "ffffffff81000000"
    (root / "kallsyms").write_text("".join(f"{addr} T sym{i}\n" for i in range(5)))
    return root


def test_perf_event_paranoid(tmp_path: Path) -> None:
    root = _stage_proc(tmp_path / "p3", 3, 0, False)
    f = _expect(diagnose(DoctorInputs(), SystemView(root, euid=1000)), "perf-paranoid")
    assert "= 3" in f.evidence[0] and "CAP_PERFMON" in f.fix
    ok = _stage_proc(tmp_path / "p1", 1, 0, False)
    assert _problems(diagnose(DoctorInputs(), SystemView(ok, euid=1000))) == []
    assert _problems(diagnose(DoctorInputs(), SystemView(root, euid=0))) == []  # root is exempt


def test_kptr_restrict(tmp_path: Path) -> None:
    root = _stage_proc(tmp_path / "k2", 1, 2, True)
    f = _expect(diagnose(DoctorInputs(), SystemView(root, euid=0)), "kptr-restrict")
    assert any("only zero addresses" in e for e in f.evidence)
    r = run_cli(["doctor", "--proc-root", str(root)])
    assert r.code == 1 and "PROBLEM kptr-restrict" in r.stdout
    assert run_cli(["doctor", "--proc-root", str(_stage_proc(tmp_path / "k0", 1, 0, False))]).code == 0


def _leaf_chains(perf: str, data: Path, home: Path) -> list[list[str]]:
    out = subprocess.run([perf, "script", "-F", "comm,ip,sym", "--no-inline", "-i", str(data)],
                         env={**os.environ, "HOME": str(home)}, capture_output=True, text=True, timeout=300).stdout
    chains, cur = [], None
    for ln in out.splitlines():
        if not ln.strip():
            cur = None
        elif not ln.startswith(("\t", " ")):
            cur = [] if ln.split()[0] == "cpuhog" else None
            if cur is not None:
                chains.append(cur)
        elif cur is not None:
            parts = ln.split(None, 1)
            cur.append(parts[1].strip() if len(parts) > 1 else "")
    return [c for c in chains if c and c[0] == "main.leaf"]


def test_frameless_leaf_under_frame_pointer_unwinding(tmp_path: Path, fixture) -> None:
    perf = perf_ok()
    exe = copy_exe(fixture(variant="default", program="cpuhog"), tmp_path / "cpuhog")
    home = tmp_path / "home"
    # cpuhog burns CPU for a wall-clock time: on a busy machine it gets fewer samples, so record longer
    # until main.leaf has enough samples to judge (a sample count, not a time, is what the test needs).
    for seconds in (2.0, 5.0, 12.0):
        data = perf_record(exe, tmp_path / "fp.data", home, ["-g"], seconds=seconds)
        leaf = _leaf_chains(perf, data, home)
        if len(leaf) >= 10:
            break
    assert len(leaf) >= 10
    # perf's own stacks (named from .symtab): main.leaf's caller main.spin is missing
    assert all(len(c) > 1 and c[1] != "main.spin" for c in leaf), leaf[:3]
    f = _expect(diagnose(DoctorInputs(binary=str(exe), perf_data=str(data)), SystemView(home=str(home))),
                "frameless-leaf")
    assert f.data["frameless"].get("main.leaf", 0) >= 0.8 * len(leaf)
    assert any(e.startswith("main.leaf:") and "main.main" in e for e in f.evidence)
    # dwarf mode on the same binary: the cause is the missing .eh_frame, not frame pointers
    dw = perf_record(exe, tmp_path / "dw.data", home, ["--call-graph=dwarf"])
    rep = diagnose(DoctorInputs(binary=str(exe), perf_data=str(dw)), SystemView(home=str(home)))
    assert "frameless-leaf" not in _problems(rep)
    NAMED.add("dwarf-unwind-no-cfi")
    assert any(x.cause == "dwarf-unwind-no-cfi" and x.status in ("problem", "info") for x in rep.findings)


def test_stripped_binary_under_perf(tmp_path: Path, fixture) -> None:
    perf = perf_ok()
    exe = copy_exe(fixture(variant="sw", program="cpuhog"), tmp_path / "cpuhog")
    home = tmp_path / "home"
    data = perf_record(exe, tmp_path / "p.data", home, [])
    rep_txt = subprocess.run([perf, "report", "--stdio", "--sort", "sym", "-i", str(data)],
                             env={**os.environ, "HOME": str(home)}, capture_output=True, text=True).stdout
    assert "main." not in rep_txt and re.search(r"\[\.\] 0x[0-9a-f]+", rep_txt), rep_txt[:2000]
    rep = diagnose(DoctorInputs(binary=str(exe), perf_data=str(data)), SystemView(home=str(home)))
    _expect(rep, "stripped-for-consumer")


def test_poisoned_perf_cache(tmp_path: Path, fixture) -> None:
    """~/.debug holds the unstripped twin (same GNU build-id): perf names the stripped binary from it."""
    perf = perf_ok()
    twin = fixture(variant="default", program="cpuhog")
    exe = copy_exe(fixture(variant="strip", program="cpuhog"), tmp_path / "cpuhog")
    home = tmp_path / "home"
    home.mkdir()
    env = {**os.environ, "HOME": str(home)}
    subprocess.run([perf, "buildid-cache", "-a", str(twin)], env=env, check=True, capture_output=True)
    data = perf_record(exe, tmp_path / "p.data", home, [])
    rep_txt = subprocess.run([perf, "report", "--stdio", "--sort", "sym", "-i", str(data)], env=env,
                             capture_output=True, text=True).stdout
    assert "main.spin" in rep_txt or "main.mix" in rep_txt, rep_txt[:2000]  # named from the cache, not the binary
    rep = diagnose(DoctorInputs(binary=str(exe), perf_data=str(data)), SystemView(home=str(home)))
    f = _expect(rep, "perf-cache-twin", only=False)
    assert "stripped-for-consumer" not in _problems(rep)  # perf does name it ... through the twin
    import hashlib

    twin_sha = hashlib.sha256(twin.read_bytes()).hexdigest()
    assert any(twin_sha in e and ".symtab present" in e for e in f.evidence), f.evidence
    clean = diagnose(DoctorInputs(binary=str(exe)), SystemView(home=str(tmp_path / "empty")))
    assert "perf-cache-twin" not in _problems(clean)


def test_missing_gnu_build_id(fixture) -> None:
    from policy.tools import readelf_gnu_build_id

    old, new = fixture(variant="default", toolchain="1.21"), fixture(variant="default", toolchain="1.27")
    assert readelf_gnu_build_id(old) is None and readelf_gnu_build_id(new)
    f = _expect(diagnose(DoctorInputs(binary=str(old)), SystemView(home="/nonexistent")), "no-gnu-build-id")
    assert "-B gobuildid" in f.fix
    assert "no-gnu-build-id" not in _problems(diagnose(DoctorInputs(binary=str(new)), SystemView(home="/nonexistent")))


def test_trimpath_sources(fixture) -> None:
    f = _expect(diagnose(DoctorInputs(binary=str(fixture(variant="trimpath"))), SystemView(home="/nonexistent")),
                "trimpath-sources")
    assert "-trim_path" in f.fix
    assert "trimpath-sources" not in _problems(diagnose(DoctorInputs(binary=str(fixture(variant="default"))),
                                                        SystemView(home="/nonexistent")))


def test_mount_namespace(tmp_path: Path, fixture) -> None:
    unshare = require_tool("unshare")
    if os.geteuid() != 0:
        unavailable("a new mount namespace needs root")
    exe = fixture(variant="sw", program="cpuhog")
    p = subprocess.Popen([unshare, "--mount", "--propagation", "private", str(exe), str(tmp_path / "o.pprof"), "60"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            if os.readlink(f"/proc/{p.pid}/ns/mnt") != os.readlink("/proc/self/ns/mnt"):
                break
            time.sleep(0.05)
        rep = diagnose(DoctorInputs(pid=p.pid), SystemView(home=str(tmp_path)))
        f = _expect(rep, "mount-namespace", only=False)
        assert f"/proc/{p.pid}/root" in f.fix
        assert set(_problems(rep)) <= {"mount-namespace", "perf-paranoid", "kptr-restrict", "stripped-for-consumer",
                                      "no-gnu-build-id"}
    finally:
        p.send_signal(signal.SIGKILL)
        p.wait()
    me = diagnose(DoctorInputs(pid=os.getpid()), SystemView(home=str(tmp_path)))  # python: Go checks skipped
    assert "mount-namespace" not in _problems(me)
    assert any(x.status == "skip" and "Go checks skipped" in x.message for x in me.findings)


def test_cli_no_traceback_and_json(tmp_path: Path, fixture) -> None:
    r = run_cli(["doctor", "--binary", str(tmp_path / "missing")])
    assert r.code == 3 and "Traceback" not in r.stderr
    r = run_cli(["doctor", "--pid", "999999999"])
    assert r.code == 3 and "no such process" in r.stderr
    r = run_cli(["doctor", "--json", "--binary", str(fixture(variant="default", toolchain="1.21"))])
    assert r.code == 1
    import json

    assert "no-gnu-build-id" in json.loads(r.stdout)["problems"]


def test_at_least_eight_causes_named() -> None:
    """The scenarios above name at least eight distinct causes (their `_expect(report, CAUSE)` calls)."""
    import ast

    tree = ast.parse(Path(__file__).read_text())
    named = {c.args[1].value for c in ast.walk(tree) if isinstance(c, ast.Call) and isinstance(c.func, ast.Name)
             and c.func.id == "_expect" and len(c.args) > 1 and isinstance(c.args[1], ast.Constant)}
    named |= {c.args[0].value for c in ast.walk(tree) if isinstance(c, ast.Call) and isinstance(c.func, ast.Attribute)
              and c.func.attr == "add" and isinstance(c.func.value, ast.Name) and c.func.value.id == "NAMED"
              and isinstance(c.args[0], ast.Constant)}
    assert len(named) >= 8 and set(CAUSES) >= named, sorted(named)
