"""`inspect --json` against ground truth: `go version -m`, `go tool buildid`, `readelf -n/-S`."""

from __future__ import annotations

import json
import re
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from inspect_helpers import built

from fixtures.factory import (
    FixtureSpec,
    FixtureUnavailable,
    build_fixture,
    fixture_matrix,
    go_tool,
    toolchain,
)

NEWEST = "1.27"


def _spec_id(s: FixtureSpec) -> str:
    return str(s)


@cache
def _inspect(path: str) -> dict[str, Any]:
    from symkeep.inspect.report import inspect_path

    return inspect_path(path).to_json()


def _go_unquote(v: str) -> str:
    if v.startswith('"') and v.endswith('"'):
        return str(json.loads(v))
    return v


def go_version_m(path: Path) -> dict[str, Any]:
    """Parse `go version -m` of the newest toolchain (reads every build info format)."""
    tc = toolchain(NEWEST)
    out = subprocess.run([str(tc.go), "version", "-m", str(path)], capture_output=True, text=True,
                         env=tc.env(), check=False)
    res: dict[str, Any] = {"version": None, "path": None, "mod": None, "deps": [], "settings": []}
    if out.returncode != 0:
        return res
    lines = out.stdout.splitlines()
    res["version"] = lines[0].rsplit(": ", 1)[1].strip()
    for ln in lines[1:]:
        parts = ln.strip("\t").split("\t")
        if parts[0] == "path":
            res["path"] = parts[1]
        elif parts[0] == "mod":
            res["mod"] = parts[1:3]
        elif parts[0] == "dep":
            res["deps"].append(parts[1:3])
        elif parts[0] == "build":
            k, _, v = parts[1].partition("=")
            res["settings"].append((_go_unquote(k), _go_unquote(v)))
    return res


def readelf(args: list[str], path: Path) -> str:
    return subprocess.run(["readelf", "-W", *args, str(path)], capture_output=True, text=True, check=False).stdout


SPECS = fixture_matrix()


@pytest.mark.parametrize("spec", SPECS, ids=_spec_id)
def test_inspect_matches_go_version_m(spec: FixtureSpec) -> None:
    path = built(spec)
    rep = _inspect(str(path))
    gv = go_version_m(path)
    if gv["version"] is None and spec.variant == "nosections":
        # Go's reader needs section headers; we don't. The truth is the twin the copy was made from.
        gv = go_version_m(build_fixture(FixtureSpec(spec.toolchain, spec.goos, spec.goarch, "default")))
        assert gv["version"] is not None
    if gv["version"] is None:
        # No build info at all for `go version -m`: we must not invent one.
        assert rep["go"]["buildinfo"] is None
        return
    assert rep["go"]["version"] == gv["version"]
    assert rep["go"]["version_source"] == "buildinfo"
    bi = rep["go"]["buildinfo"]
    assert bi["path"] == gv["path"]
    if gv["mod"]:
        assert bi["main"]["path"] == gv["mod"][0]
        assert bi["main"]["version"] == gv["mod"][1]
    assert [[d["path"], d["version"]] for d in bi["deps"]] == gv["deps"]
    assert list(bi["settings"].items()) == gv["settings"]


@pytest.mark.parametrize("spec", SPECS, ids=_spec_id)
def test_inspect_matches_go_tool_buildid(spec: FixtureSpec) -> None:
    path = built(spec)
    tool = go_tool(NEWEST, "buildid")
    out = subprocess.run([str(tool), str(path)], capture_output=True, text=True, check=False)
    rep = _inspect(str(path))
    if out.returncode != 0:
        assert rep["go"]["build_id"] is None, out.stderr
    else:
        assert rep["go"]["build_id"] == out.stdout.strip()


ELF_SPECS = [s for s in SPECS if s.goos == "linux"]


@pytest.mark.parametrize("spec", ELF_SPECS, ids=_spec_id)
def test_inspect_matches_readelf(spec: FixtureSpec) -> None:
    path = built(spec)
    rep = _inspect(str(path))
    notes = readelf(["-n"], path)
    m = re.search(r"Build ID: ([0-9a-f]+)", notes)
    assert rep["gnu_build_id"] == (m.group(1) if m else None)
    # readelf -S: same section names, in order, with the same sizes in the file.
    secs = []
    for ln in readelf(["-S"], path).splitlines():
        mm = re.match(r"\s*\[\s*(\d+)\]\s+(\S+)\s+(\S+)\s+([0-9a-f]+)\s+([0-9a-f]+)\s+([0-9a-f]+)", ln)
        if mm and mm.group(1) != "0":
            size = int(mm.group(6), 16)
            secs.append((mm.group(2), 0 if mm.group(3) == "NOBITS" else size))
    ours = [(s["name"], s["size"]) for s in rep["sections"] if s["name"] or s["size"]]
    ours = [x for x in ours if x != ("", 0)]
    assert ours == secs
    assert rep["binary"]["section_headers"] if "binary" in rep else True
    assert rep["stripped"]["symtab"] == (".symtab" not in {n for n, _ in secs})
    has_dwarf = any(n.startswith((".debug_", ".zdebug_")) for n, _ in secs)
    assert rep["stripped"]["dwarf"] == (not has_dwarf)
    # The class totals account for every byte of the file.
    assert sum(c["bytes"] for c in rep["classes"]) >= rep["file_size"] - 64


def test_inspect_no_section_headers_agrees_with_twin() -> None:
    base = build_fixture(FixtureSpec("1.27", variant="default"))
    bare = build_fixture(FixtureSpec("1.27", variant="nosections"))
    a, b = _inspect(str(base)), _inspect(str(bare))
    assert b["section_headers"] is False
    assert b["sections"] == []
    for k in ("version", "build_id"):
        assert a["go"][k] == b["go"][k]
    assert a["go"]["buildinfo"] == b["go"]["buildinfo"]
    # Go's linker covers only the Go note with PT_NOTE: without section headers no tool can see the
    # GNU build-id any more (readelf -n agrees, see test_inspect_matches_readelf); we say where it is.
    assert a["gnu_build_id"] and b["gnu_build_id"] is None
    assert any(a["gnu_build_id"] in w for w in b["warnings"])
    for k in ("functions", "files", "magic", "generation"):
        assert a["go"]["pclntab"][k] == b["go"]["pclntab"][k]


@pytest.mark.parametrize("goarch", ["s390x"])
def test_big_endian(goarch: str) -> None:
    spec = FixtureSpec("1.27", "linux", goarch, "sw")
    path = build_fixture(spec)
    rep = _inspect(str(path))
    assert rep["endian"] == "big"
    assert rep["arch"] == goarch
    assert rep["go"]["version"] == go_version_m(path)["version"]
    assert rep["go"]["pclntab"]["functions"] > 100


def test_shared_library() -> None:
    try:
        path = build_fixture(FixtureSpec("1.27", variant="shared"))
    except FixtureUnavailable as e:
        pytest.skip(str(e))
    rep = _inspect(str(path))
    assert rep["type"] == "shared"
    assert rep["go"]["pclntab"]["functions"] > 100
    assert rep["go"]["version"] == go_version_m(path)["version"]


def test_stripped_pe_has_no_coff_symbols_but_inspects() -> None:
    path = build_fixture(FixtureSpec("1.27", "windows", "amd64", "sw"))
    rep = _inspect(str(path))
    assert rep["format"] == "pe"
    assert rep["stripped"]["symtab"] is True
    assert rep["go"]["pclntab"]["functions"] > 100
    gta = next(c for c in rep["consumers"] if c["name"].startswith("go tool"))
    assert gta["works"] is False


@pytest.mark.parametrize("variant,source", [("default", "symbol"), ("sw", "scan")])
def test_no_build_info(tmp_path: Path, variant: str, source: str) -> None:
    """Build info wiped (as in old or GOPATH builds): the version still comes out, with its source."""
    from symkeep.binfmt import open_binary

    src = build_fixture(FixtureSpec("1.24", variant=variant))
    b = open_binary(src)
    sec = b.section(".go.buildinfo")
    assert sec is not None
    data = bytearray(src.read_bytes())
    data[sec.offset : sec.offset + sec.file_size] = bytes(sec.file_size)
    b.close()
    wiped = tmp_path / "wiped"
    wiped.write_bytes(bytes(data))
    assert go_version_m(wiped)["version"] is None  # Go itself finds nothing any more
    rep = _inspect(str(wiped))
    assert rep["go"]["buildinfo"] is None
    assert rep["go"]["version"] == go_version_m(src)["version"]
    assert rep["go"]["version_source"] == source


def test_old_generation_binaries() -> None:
    """Registry-shipped Go 1.14–1.17 binaries: version per `go version`, pclntab magic per the bytes."""
    from fixtures.oldbins import old_binaries

    olds = old_binaries()
    assert {hex(o.magic) for o in olds} >= {"0xfffffffb", "0xfffffffa"}
    tc = toolchain(NEWEST)
    for o in olds:
        out = subprocess.run([str(tc.go), "version", str(o.path)], capture_output=True, text=True,
                             env=tc.env(), check=True)
        truth = out.stdout.rsplit(": ", 1)[1].split()[0]
        rep = _inspect(str(o.path))
        assert rep["go"]["version"] == truth, o.name
        assert int(rep["go"]["pclntab"]["magic"], 16) == o.magic, o.name
        assert rep["format"] == {"linux": "elf", "darwin": "macho", "windows": "pe"}[o.goos]
        assert rep["arch"] == o.goarch
        assert rep["go"]["pclntab"]["functions"] > 1000
