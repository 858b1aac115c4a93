"""Build info and Go version against `go version -m` (ground truth) on real binaries."""

from __future__ import annotations

import contextlib
import json
import os
import struct
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fixtures.factory import FixtureSpec, toolchain
from fixtures.oldbins import OldBinary
from symkeep.binfmt import open_binary
from symkeep.errors import FormatError, SymkeepError
from symkeep.golang.buildinfo import (
    BUILDINFO_MAGIC,
    BuildInfo,
    Module,
    go_version,
    parse_modinfo,
    quote,
    read_buildinfo,
    unquote,
)
from symkeep.golang.goversion import GoVersion

from .helpers import CROSS, TOOLCHAINS, get_fixture, matrix

NEWEST = "1.27"  # its `go version -m` reads every build info format


# -- ground truth -------------------------------------------------------------------------------------
def _env() -> dict[str, str]:
    e = dict(os.environ)
    e.update(GOTOOLCHAIN="local", GOFLAGS="-mod=mod", GOPROXY="off")
    return e


def _go_version_m(path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    try:
        go = toolchain(NEWEST).go
    except SymkeepError as e:
        pytest.skip(f"go {NEWEST} unavailable: {e}")
    return subprocess.run([str(go), "version", "-m", *args, str(path)], capture_output=True, text=True,
                          env=_env(), timeout=120)


def truth_json(path: Path) -> dict[str, Any]:
    res = _go_version_m(path, "-json")
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)  # type: ignore[no-any-return]


def truth_text(path: Path) -> str:
    res = _go_version_m(path)
    assert res.returncode == 0, res.stderr
    return res.stdout


def _truth_source(spec: FixtureSpec) -> Path:
    """The binary `go version -m` can read for this spec (1.27 no longer reads ELF without sections)."""
    if spec.variant == "nosections":
        return get_fixture(FixtureSpec(spec.toolchain, spec.goos, spec.goarch, "default", spec.program))
    return get_fixture(spec)


def _mod_json(m: Module | None) -> dict[str, Any] | None:
    if m is None:
        return None
    d: dict[str, Any] = {"Path": m.path, "Version": m.version}
    if m.sum:
        d["Sum"] = m.sum
    if m.replace is not None:
        d["Replace"] = _mod_json(m.replace)
    return d


def assert_matches_truth(bi: BuildInfo | None, truth: dict[str, Any]) -> None:
    assert bi is not None
    assert bi.parse_error is None
    assert bi.go_version == truth["GoVersion"]
    assert bi.path == truth.get("Path", "")
    assert _mod_json(bi.main) == (truth.get("Main") or None)
    assert [_mod_json(d) for d in bi.deps] == truth.get("Deps", [])
    assert bi.settings == [(s["Key"], s.get("Value", "")) for s in truth.get("Settings", [])]


def assert_text_matches(bi: BuildInfo, text: str) -> None:
    """Our re-rendering equals `go version -m` line for line (checks quoting both ways)."""
    body = "\n".join(text.rstrip("\n").split("\n")[1:])
    bi2 = BuildInfo(go_version="", path=bi.path, main=bi.main, deps=bi.deps, settings=bi.settings)
    mine = bi2.to_text().rstrip("\n")
    assert body == "\t" + mine.replace("\n", "\n\t")


# -- the matrix -----------------------------------------------------------------------------------------
MATRIX = matrix((*CROSS, ("1.21", "linux", "arm")))


@pytest.mark.parametrize("spec", MATRIX, ids=str)
def test_buildinfo_matches_go_version_m(spec: FixtureSpec) -> None:
    path = get_fixture(spec)
    truth_path = _truth_source(spec)
    with open_binary(path) as b:
        bi = read_buildinfo(b)
        assert_matches_truth(bi, truth_json(truth_path))
        assert bi is not None
        assert_text_matches(bi, truth_text(truth_path))
        v, src = go_version(b, bi)
        assert (v, src) == (truth_json(truth_path)["GoVersion"], "buildinfo")
        if spec.variant == "nosections":
            assert bi.source.startswith("segment")
        elif spec.goos == "darwin":
            assert bi.source == "section __go_buildinfo"
        elif spec.goos == "linux":
            assert bi.source == "section .go.buildinfo"


@pytest.mark.parametrize("tc", TOOLCHAINS)
def test_trimpath_hides_ldflags(tc: str) -> None:
    path = get_fixture(FixtureSpec(tc, "linux", "amd64", "trimpath"))
    truth = {s["Key"]: s.get("Value", "") for s in truth_json(path)["Settings"]}
    with open_binary(path) as b:
        bi = read_buildinfo(b)
    assert bi is not None
    assert truth.get("-trimpath") == "true" and bi.setting("-trimpath") == "true"
    assert "-ldflags" not in truth and bi.setting("-ldflags") is None
    assert bi.to_json()["settings"] == truth


@pytest.mark.parametrize("tc", ["1.21", "1.27"])
def test_sw_ldflags_setting_quoted(tc: str) -> None:
    path = get_fixture(FixtureSpec(tc, "linux", "amd64", "sw"))
    text = truth_text(path)
    assert '\tbuild\t-ldflags="-s -w"\n' in text  # go version -m quotes the value
    with open_binary(path) as b:
        bi = read_buildinfo(b)
    assert bi is not None and bi.setting("-ldflags") == "-s -w"
    assert '\nbuild\t-ldflags="-s -w"\n' in bi.raw_modinfo


# -- a module with a replaced dependency ---------------------------------------------------------------
DEP_GO_MOD = "module example.com/dep\n\ngo 1.19\n"
DEP_GO = 'package dep\n\nfunc Greet(s string) string { return "hello " + s }\n'
MAIN_GO_MOD = (
    "module example.com/withdep\n\ngo 1.19\n\nrequire example.com/dep v0.1.2\n\n"
    "replace example.com/dep v0.1.2 => ../dep\n"
)
MAIN_GO = (
    'package main\n\nimport (\n\t"fmt"\n\t"os"\n\n\t"example.com/dep"\n)\n\n'
    "func main() { fmt.Println(dep.Greet(os.Args[0])) }\n"
)


@pytest.fixture(scope="module")
def withdep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from symkeep.build.gobuild import build

    root = tmp_path_factory.mktemp("withdep")
    (root / "dep").mkdir()
    (root / "dep" / "go.mod").write_text(DEP_GO_MOD)
    (root / "dep" / "dep.go").write_text(DEP_GO)
    (root / "main").mkdir()
    (root / "main" / "go.mod").write_text(MAIN_GO_MOD)
    (root / "main" / "main.go").write_text(MAIN_GO)
    try:
        tc = toolchain(NEWEST)
    except SymkeepError as e:
        pytest.skip(str(e))
    out = root / "withdep"
    build(tc, root / "main", out, ldflags='-X "main.x=a b" -s', env={"GOFLAGS": "-mod=mod", "GOPROXY": "off"})
    return out


def test_replaced_dependency(withdep: Path) -> None:
    truth = truth_json(withdep)
    assert truth["Deps"][0].get("Replace")  # the fixture really has a replacement
    with open_binary(withdep) as b:
        bi = read_buildinfo(b)
    assert_matches_truth(bi, truth)
    assert bi is not None
    assert_text_matches(bi, truth_text(withdep))
    assert bi.deps[0].replace is not None and bi.deps[0].replace.path == "../dep"
    assert bi.setting("-ldflags") == next(s["Value"] for s in truth["Settings"] if s["Key"] == "-ldflags")


# -- binaries without build info -------------------------------------------------------------------------
def _zero_buildinfo(src: Path, dst: Path) -> None:
    data = bytearray(src.read_bytes())
    i = data.find(BUILDINFO_MAGIC)
    while i >= 0 and i % 16:
        i = data.find(BUILDINFO_MAGIC, i + 1)
    assert i >= 0
    # the header plus the inline strings (version + modinfo are < 4 KiB for these programs)
    end = min(len(data), i + 32 + 4096)
    nxt = data.find(b"\n\xf92C1\x86\x18 r\x00\x82B\x10A\x16\xd8\xf2", i)  # modinfo end sentinel
    if nxt > 0:
        end = nxt + 16
    data[i:end] = bytes(end - i)
    dst.write_bytes(bytes(data))


@pytest.mark.parametrize(
    "spec",
    [
        FixtureSpec("1.27", "linux", "amd64", "default"),
        FixtureSpec("1.27", "linux", "amd64", "sw"),
        FixtureSpec("1.19", "linux", "amd64", "default"),
        FixtureSpec("1.21", "linux", "amd64", "sw"),
        FixtureSpec("1.24", "linux", "amd64", "trimpath"),
        FixtureSpec("1.27", "windows", "amd64", "default"),
        FixtureSpec("1.27", "darwin", "arm64", "default"),
        FixtureSpec("1.27", "linux", "s390x", "default"),
    ],
    ids=str,
)
def test_no_buildinfo_falls_back(spec: FixtureSpec, tmp_path: Path) -> None:
    src = get_fixture(spec)
    real = truth_json(src)["GoVersion"]
    dst = tmp_path / src.name
    _zero_buildinfo(src, dst)
    res = _go_version_m(dst)
    assert res.returncode != 0  # really gone for Go itself too
    with open_binary(dst) as b:
        assert read_buildinfo(b) is None
        v, source = go_version(b)
        has_syms = b.symbol_go("runtime.buildVersion") is not None
    assert v == real
    assert source == ("symbol" if has_syms else "scan")


def test_version_scan_without_symbols(tmp_path: Path) -> None:
    """Stripped and build info removed: only the pattern scan is left, and it must be right."""
    src = get_fixture(FixtureSpec("1.24", "linux", "amd64", "strip"))
    dst = tmp_path / "x"
    _zero_buildinfo(src, dst)
    with open_binary(dst) as b:
        assert b.symbol_go("runtime.buildVersion") is None
        assert go_version(b) == (truth_json(src)["GoVersion"], "scan")


# -- the pre-1.18 pointer format, made from a real binary --------------------------------------------------
@pytest.mark.parametrize(
    "spec",
    [
        FixtureSpec("1.27", "linux", "amd64", "default"),
        FixtureSpec("1.27", "linux", "386", "default"),
        FixtureSpec("1.27", "linux", "s390x", "default"),
        FixtureSpec("1.21", "linux", "arm", "default"),
    ],
    ids=str,
)
def test_pointer_format(spec: FixtureSpec, tmp_path: Path) -> None:
    """Rewrite the header the way Go 1.13-1.17 wrote it: pointers to runtime.buildVersion/modinfo."""
    src = get_fixture(spec)
    with open_binary(src) as b:
        vsym, msym = b.symbol("runtime.buildVersion"), b.symbol("runtime.modinfo")
        assert vsym is not None and msym is not None
        sec = b.section(".go.buildinfo")
        assert sec is not None
        off, psize, big = sec.offset, b.ptr_size, b.byteorder == "big"
    data = bytearray(src.read_bytes())
    assert data[off : off + 14] == BUILDINFO_MAGIC
    fmt = (">" if big else "<") + ("Q" if psize == 8 else "I")
    hdr = BUILDINFO_MAGIC + bytes([psize, 1 if big else 0])
    hdr += struct.pack(fmt, vsym.value) + struct.pack(fmt, msym.value)
    data[off : off + 32 + 64] = hdr.ljust(32 + 64, b"\0")  # also drop the 1.18+ inline strings
    dst = tmp_path / src.name
    dst.write_bytes(bytes(data))
    truth = truth_json(dst)
    with open_binary(dst) as b:
        bi = read_buildinfo(b)
    assert_matches_truth(bi, truth)


def test_old_binaries(old_binaries: list[OldBinary]) -> None:
    """Go 1.14–1.17 release binaries (pointer-style build info): ours vs `go version -m -json`."""
    assert old_binaries
    checked = 0
    for ob in old_binaries:
        res = _go_version_m(ob.path, "-json")
        with open_binary(ob.path) as b:
            bi = read_buildinfo(b)
            v, _src = go_version(b, bi)
        if res.returncode == 0:
            truth = json.loads(res.stdout)
            assert_matches_truth(bi, truth)
            checked += 1
        else:
            assert bi is None, (ob.name, res.stderr)
        assert v == ob.go_version, ob.name
    print(f"{checked} of {len(old_binaries)} old binaries carry build info that go version -m reads")
    assert checked


# -- modinfo text and quoting ----------------------------------------------------------------------------
def test_quote_roundtrip_matches_json() -> None:
    for s in ["-s -w", 'a"b', "tab\there", "x=y", "back`tick", "nl\nx", "\x01\x7f", "é ü"]:
        q = quote(s)
        assert json.loads(q.replace("\\x01", "\\u0001").replace("\\x7f", "\\u007f")) == s
        assert unquote(q) == s
    assert unquote("`raw \\n`") == "raw \\n"
    assert unquote('"\\x41\\101\\u00e9"') == "AAé"
    for bad in ['"abc', '"a\\q"', "`a", '"\\400"', '"a"b"', "'a'", '"\\ud800"']:
        with pytest.raises(ValueError):
            unquote(bad)


def test_parse_modinfo_rules() -> None:
    text = (
        "path\texample.com/m\nmod\texample.com/m\t(devel)\t\ndep\tgolang.org/x/y\tv1.0.0\th1:abc=\n"
        'dep\ta/b\tv0.1.0\n=>\t../b\t(devel)\t\n\nbuild\t"key with space"=`v 1`\nbuild\tk=\n'
        "build\t-ldflags=\"-X \\\"main.v=1 2\\\"\"\ntrailing-without-newline"
    )
    path, main, deps, st_ = parse_modinfo(text)
    assert path == "example.com/m"
    assert main == Module("example.com/m", "(devel)", "")
    assert deps[0] == Module("golang.org/x/y", "v1.0.0", "h1:abc=")
    assert deps[1].replace == Module("../b", "(devel)", "")
    assert st_ == [("key with space", "v 1"), ("k", ""), ("-ldflags", '-X "main.v=1 2"')]
    for bad in ["build\t=v\n", "build\tk v=1\n", "build\tk=a b\n", "=>\ta\tb\tc\n", "mod\ta\n",
                'build\t"k"x\n', "build\tnoeq\n", 'build\tk="unterminated\n']:
        with pytest.raises(FormatError):
            parse_modinfo(bad)


def test_goversion_parse_and_order() -> None:
    v = GoVersion.parse("go1.21.13")
    assert (v.major, v.minor, v.patch) == (1, 21, 13) and v.is_release
    assert GoVersion.parse("go1.22rc1") < GoVersion.parse("go1.22.0") < GoVersion.parse("go1.22.1")
    assert GoVersion.parse("go1.22beta1") < GoVersion.parse("go1.22rc1")
    assert GoVersion.parse("go1.2") < GoVersion.parse("go1.10") < GoVersion.parse("go1.21.0")
    assert GoVersion.parse("go1.21.0 X:boringcrypto") == GoVersion.parse("go1.21.0")
    d = GoVersion.parse("devel go1.23-abcdef0 Tue Jan 2 15:04:05 2024 +0000")
    assert d.is_devel and d.minor == 23 and d > GoVersion.parse("go1.22.9") and d < "go1.23.0"
    assert GoVersion.parse("devel +b1a2c3d4 Mon").minor is None
    assert GoVersion.parse("go1.22rc1").at_least(22) and not GoVersion.parse("go1.21.13").at_least(22)
    assert GoVersion.parse("go1.21.13") >= "go1.21.13"
    with pytest.raises(SymkeepError):
        GoVersion.parse("python3.11")
    for tc in TOOLCHAINS:  # every real toolchain's version string parses to its own minor
        try:
            real = toolchain(tc).version
        except SymkeepError:
            continue
        assert GoVersion.parse(real if real.startswith("go") else "go" + real).minor == int(tc.split(".")[1])


# -- fuzz -------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def blob() -> tuple[bytes, int, int]:
    path = get_fixture(FixtureSpec("1.27", "linux", "amd64", "sw"))
    with open_binary(path) as b:
        sec = b.section(".go.buildinfo")
        assert sec is not None
        return path.read_bytes(), sec.offset, sec.file_size


@settings(max_examples=150, deadline=2000, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(0, 4095), st.integers(0, 255)), min_size=1, max_size=12))
def test_fuzz_buildinfo_section(blob: tuple[bytes, int, int], tmp_path_factory: pytest.TempPathFactory,
                                muts: list[tuple[int, int]]) -> None:
    data, off, size = blob
    buf = bytearray(data)
    for pos, val in muts:
        buf[off + pos % min(size, 4096)] = val
    p = tmp_path_factory.getbasetemp() / "fuzz.bin"
    p.write_bytes(bytes(buf))
    t0 = time.monotonic()
    with open_binary(p) as b:
        try:
            bi = read_buildinfo(b)
            assert bi is None or isinstance(bi.go_version, str)
        except SymkeepError:
            pass
        v, _src = go_version(b)
        assert v is None or isinstance(v, str)
    assert time.monotonic() - t0 < 2


@settings(max_examples=300, deadline=1000)
@given(st.text(alphabet=st.sampled_from(list("\t\n =\"`\\abxu0189path modep=>build")), max_size=200))
def test_fuzz_modinfo(text: str) -> None:
    with contextlib.suppress(FormatError):
        parse_modinfo(text)


def test_to_json_shape() -> None:
    bi = BuildInfo("go1.27.3", "p", Module("p", "(devel)"), [Module("d", "v1", "h1:x", Module("../d", "(devel)"))],
                   [("-a", "1"), ("B", "2")])
    j = bi.to_json()
    assert list(j["settings"]) == ["-a", "B"]
    assert j["deps"][0]["replace"] == {"path": "../d", "version": "(devel)"}

