"""`symkeep restore` destinations: checked before any work, never a non-regular file replaced, nothing
left behind when refused (issue #11 rows 4 and 13), `-o -`, `--json`, and the library's plan/execute.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from fixtures.env import unavailable
from fixtures.factory import FixtureSpec, FixtureUnavailable, build_fixture
from symkeep.errors import NotFoundError, OutputError, UsageError
from symkeep.restore import PublishRequest, execute, plan, restore_result
from symkeep.symbolize import open_go_binary

TIMEOUT = 300


def _fixture(tc: str) -> Path:
    try:
        return build_fixture(FixtureSpec(toolchain=tc, variant="sw", program="hello"))
    except FixtureUnavailable as e:
        pytest.skip(str(e))


@pytest.fixture(scope="module")
def with_id() -> Path:
    """Go 1.27 internal linking writes a GNU build-id note."""
    return _fixture("1.27")


@pytest.fixture(scope="module")
def without_id() -> Path:
    """Go 1.21 internal linking writes none."""
    return _fixture("1.21")


def run(*args: str | Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "symkeep", "restore", *map(str, args)], capture_output=True,
                          timeout=TIMEOUT, env={**os.environ, **(env or {})})


def _err(r: subprocess.CompletedProcess[bytes]) -> str:
    err = r.stderr.decode()
    assert "Traceback" not in err and err.startswith("symkeep: error:") and err.count("\n") == 1, err
    return err


def _tree(d: Path) -> list[str]:
    return sorted(str(p.relative_to(d)) for p in d.rglob("*"))


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


@contextlib.contextmanager
def unwritable_dir(d: Path) -> Iterator[Path]:
    """A directory nobody can create files in: mode 555, or as root (which ignores modes) immutable."""
    d.mkdir()
    if os.geteuid() != 0:
        d.chmod(0o555)
        try:
            yield d
        finally:
            d.chmod(0o755)
        return
    r = subprocess.run(["chattr", "+i", str(d)], capture_output=True)
    if r.returncode != 0:
        unavailable(f"cannot make a directory unwritable as root here (chattr +i: {r.stderr.decode().strip()})")
    try:
        yield d
    finally:
        subprocess.run(["chattr", "-i", str(d)], check=True)


# -- -o: symlinks, devices, FIFOs, directories ----------------------------------------------------------


def test_output_symlink_to_regular_file_is_written_through(with_id: Path, tmp_path: Path) -> None:
    real = tmp_path / "real.debug"
    real.write_bytes(b"old")
    link = tmp_path / "link.debug"
    link.symlink_to(real)
    r = run(with_id, "-o", link)
    assert r.returncode == 0, r.stderr
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert real.read_bytes() == restore_result(open_go_binary(with_id)).data
    assert _tree(tmp_path) == ["link.debug", "real.debug"]


@pytest.mark.parametrize("kind", ["device", "symlink_to_device", "fifo", "directory", "dangling_symlink"])
def test_output_never_replaces_a_non_regular_file(kind: str, with_id: Path, tmp_path: Path) -> None:
    dev = Path("/dev/null")
    if kind in ("device", "symlink_to_device") and os.geteuid() == 0:
        dev = tmp_path / "null"  # our own node: a regression must not replace the system's /dev/null
        os.mknod(dev, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    target = {"device": dev, "symlink_to_device": tmp_path / "out.debug", "fifo": tmp_path / "fifo",
              "directory": tmp_path / "d", "dangling_symlink": tmp_path / "out.debug"}[kind]
    if kind == "symlink_to_device":
        target.symlink_to(dev)
    elif kind == "dangling_symlink":
        target.symlink_to(tmp_path / "nowhere" / "x")
    elif kind == "fifo":
        os.mkfifo(target)
    elif kind == "directory":
        target.mkdir()
    before = _tree(tmp_path)
    r = run(with_id, "-o", target)
    assert r.returncode == 3, r.stderr
    err = _err(r)
    assert str(target) in err
    assert _tree(tmp_path) == before
    if kind in ("device", "symlink_to_device"):
        assert stat.S_ISCHR(os.stat(dev).st_mode)
        if kind == "device":
            assert "-o -" in err  # the hint for standard output
    if kind == "fifo":
        assert stat.S_ISFIFO(os.lstat(target).st_mode)
    if kind in ("symlink_to_device", "dangling_symlink"):
        assert target.is_symlink()


def test_output_dash_writes_the_debug_file_to_stdout(with_id: Path, tmp_path: Path) -> None:
    r = run(with_id, "-o", "-")
    assert r.returncode == 0, r.stderr
    assert r.stdout == restore_result(open_go_binary(with_id)).data
    assert b"restored " in r.stderr and b"debug_file: <stdout>" in r.stderr
    for extra in (["--json"], ["--debuglink", str(tmp_path / "linked")]):
        r = run(with_id, "-o", "-", *extra)
        assert r.returncode == 2 and not r.stdout, (extra, r.stderr)
        _err(r)
    assert _tree(tmp_path) == []


def test_output_or_debuglink_onto_the_input_binary_is_refused(with_id: Path, tmp_path: Path) -> None:
    exe = tmp_path / "hello"
    exe.write_bytes(with_id.read_bytes())
    sha = _sha(exe)
    for args in (["-o", exe], ["--debuglink", exe]):
        r = run(exe, *args)
        assert r.returncode == 2, r.stderr
        _err(r)
        assert _sha(exe) == sha
    assert _tree(tmp_path) == ["hello"]


def test_fifo_as_the_binary_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "bin"
    os.mkfifo(fifo)
    r = run(fifo, "-o", tmp_path / "x.debug")
    assert r.returncode == 3 and "FIFO" in _err(r)
    assert _tree(tmp_path) == ["bin"]


# -- every destination checked before anything is written ---------------------------------------------


@pytest.mark.parametrize("dest", ["output", "install", "debuglink", "perf-cache"])
@pytest.mark.parametrize("how", ["unwritable", "not_a_directory"])
def test_unwritable_destination_leaves_nothing(dest: str, how: str, with_id: Path, tmp_path: Path) -> None:
    ok = tmp_path / "ok"
    ok.mkdir()
    with contextlib.ExitStack() as stack:
        if how == "unwritable":
            bad = stack.enter_context(unwritable_dir(tmp_path / "bad"))
        else:
            (tmp_path / "file").write_text("x")
            bad = tmp_path / "file" / "sub"
        out = bad / "x.debug" if dest == "output" else ok / "x.debug"
        args: list[str | Path] = ["-o", out, "--install", bad if dest == "install" else ok / "ids",
                                  "--debuglink", bad / "linked" if dest == "debuglink" else ok / "linked",
                                  "--perf-cache"]
        env = {"PERF_BUILDID_DIR": str(bad / "cache" if dest == "perf-cache" else ok / "cache")}
        r = run(with_id, *args, env=env)
        assert r.returncode == 3, r.stderr
        _err(r)
        assert _tree(ok) == [], _tree(ok)
    if how == "unwritable":
        assert _tree(tmp_path / "bad") == []


@pytest.mark.parametrize("flag", ["--install", "--perf-cache"])
def test_missing_gnu_build_id_is_exit_1_before_writing(flag: str, without_id: Path, tmp_path: Path) -> None:
    args: list[str | Path] = ["-o", tmp_path / "x.debug", flag]
    if flag == "--install":
        args.append(tmp_path / "ids")
    r = run(without_id, *args, env={"PERF_BUILDID_DIR": str(tmp_path / "cache")})
    assert r.returncode == 1, r.stderr
    err = _err(r)
    assert "GNU build-id" in err and "-B=gobuildid" in err and flag in err
    assert _tree(tmp_path) == []


def test_no_build_id_warning_and_json(without_id: Path, tmp_path: Path) -> None:
    r = run(without_id, "-o", tmp_path / "x.debug", "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["gnu_build_id"] is None and doc["go_build_id"] and doc["dwarf_version"] == 4
    assert doc["written"] == {"debug_file": str(tmp_path / "x.debug")}
    assert any("no GNU build-id" in w for w in doc["warnings"])
    assert b"warning:" in r.stderr and b"no GNU build-id" in r.stderr


def test_json_lists_every_destination(with_id: Path, tmp_path: Path) -> None:
    r = run(with_id, "-o", tmp_path / "x.debug", "--install", tmp_path / "ids", "--debuglink", tmp_path / "linked",
            "--perf-cache", "--json", env={"PERF_BUILDID_DIR": str(tmp_path / "cache")})
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    bid = subprocess.run(["readelf", "-n", str(with_id)], capture_output=True, text=True).stdout
    assert doc["gnu_build_id"] and f"Build ID: {doc['gnu_build_id']}" in bid
    w = doc["written"]
    assert set(w) == {"debug_file", "build_id_file", "perf_cache_file", "perf_cache_elf", "perf_unwind",
                      "perf_cache_link", "debuglink_binary", "debuglink_name"}
    bid_hex = doc["gnu_build_id"]
    assert w["build_id_file"] == str(tmp_path / "ids" / ".build-id" / bid_hex[:2] / f"{bid_hex[2:]}.debug")
    assert Path(w["perf_cache_link"]).is_symlink() and Path(w["perf_cache_link"]).resolve() == \
        Path(w["perf_cache_file"]).parent
    assert w["debuglink_name"] == "x.debug" and doc["warnings"] == []
    data = (tmp_path / "x.debug").read_bytes()
    assert Path(w["build_id_file"]).read_bytes() == data == Path(w["perf_cache_file"]).read_bytes()


# -- library: plan writes nothing; execute rolls back what it created ---------------------------------------


def test_plan_writes_nothing_and_execute_rolls_back(with_id: Path, without_id: Path, tmp_path: Path) -> None:
    gob = open_go_binary(with_id)
    (tmp_path / "d").mkdir()
    req = PublishRequest(str(with_id), output=str(tmp_path / "a.debug"), debuglink=str(tmp_path / "d" / "linked"),
                         install_dir=str(tmp_path / "ids"))
    p = plan(gob, req)
    assert _tree(tmp_path) == ["d"]
    assert [k for k, _ in p.targets()] == ["debug_file", "build_id_file", "debuglink_binary"]
    (tmp_path / "d").rmdir()  # the last destination becomes unwritable between plan and execute
    (tmp_path / "d").write_text("now a file")
    with pytest.raises(OutputError):
        execute(gob, p)
    assert not (tmp_path / "a.debug").exists()
    assert not list((tmp_path / "ids").rglob("*.debug"))
    with pytest.raises(NotFoundError):
        plan(open_go_binary(without_id), PublishRequest(str(without_id), install_dir=str(tmp_path / "ids")))
    with pytest.raises(UsageError):
        plan(gob, PublishRequest(str(with_id), output="-", debuglink=str(tmp_path / "l")))
    # A file that existed before a failed run is not deleted by the rollback.
    keep = tmp_path / "keep.debug"
    keep.write_bytes(b"old")
    (tmp_path / "e").mkdir()
    p = plan(gob, PublishRequest(str(with_id), output=str(keep), debuglink=str(tmp_path / "e" / "linked")))
    (tmp_path / "e").rmdir()
    (tmp_path / "e").write_text("now a file")
    with pytest.raises(OutputError):
        execute(gob, p)
    assert keep.exists()
