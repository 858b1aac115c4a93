"""Build IDs against `go tool buildid` and `readelf -n` on real binaries."""

from __future__ import annotations

import os
import re
import struct
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fixtures.env import unavailable
from fixtures.factory import FixtureSpec, go_tool
from symkeep.binfmt import open_binary
from symkeep.errors import SymkeepError
from symkeep.golang.buildid import build_ids, gnu_build_id, go_build_id, is_redacted

from .helpers import get_fixture, matrix


@pytest.fixture(scope="module")
def buildid_tool() -> Path:
    try:
        return go_tool("1.27", "buildid")
    except SymkeepError as e:
        unavailable(f"go tool buildid unavailable: {e}")


def go_tool_buildid(tool: Path, path: Path) -> str:
    env = dict(os.environ, GOTOOLCHAIN="local")
    res = subprocess.run([str(tool), str(path)], capture_output=True, text=True, env=env, timeout=60)
    assert res.returncode == 0, res.stderr
    return res.stdout.strip()


def readelf_build_id(path: Path) -> str | None:
    res = subprocess.run(["readelf", "-n", "-W", str(path)], capture_output=True, text=True, timeout=60)
    m = re.search(r"Build ID: ([0-9a-f]+)", res.stdout)
    return m.group(1) if m else None


def expect_gnu_note(spec: FixtureSpec) -> bool:
    """FACTS.md 1: internal linker adds it from 1.24; external linking and -B gobuildid always do."""
    minor = int(spec.toolchain.split(".")[1])
    return spec.variant in ("extlink", "gobuildid") or minor >= 24


MATRIX = matrix()


@pytest.mark.parametrize("spec", MATRIX, ids=str)
def test_build_ids_match_tools(spec: FixtureSpec, buildid_tool: Path) -> None:
    path = get_fixture(spec)
    truth_go = go_tool_buildid(buildid_tool, path)
    with open_binary(path) as b:
        ids = build_ids(b)
        assert go_build_id(b) == truth_go == ids.go
        assert not ids.go_redacted
        assert len(truth_go.split("/")) == 4  # executables carry four hashes
        if spec.goos != "linux":
            assert ids.gnu is None
            return
        gnu = gnu_build_id(b)
    if spec.variant == "nosections":
        # readelf no longer finds the GNU note (PT_NOTE covers only the Go note): compare with the
        # unmodified binary it was made from
        base = get_fixture(FixtureSpec(spec.toolchain, spec.goos, spec.goarch, "default"))
        assert gnu == readelf_build_id(base)
        with open_binary(path) as b:
            assert gnu_build_id(b, scan=False) == readelf_build_id(path)
    else:
        assert gnu == readelf_build_id(path)
    if spec.goarch == "amd64":
        assert (gnu is not None) == expect_gnu_note(spec)


def _patch_go_note(src: Path, dst: Path, new_id: bytes) -> None:
    """Rewrite the Go build ID note's descriptor (as Bazel's `redacted` does), keeping the note size."""
    data = bytearray(src.read_bytes())
    i = data.find(b"Go\x00\x00", 0, 1 << 16)
    while i >= 0:
        namesz, descsz, typ = struct.unpack_from("<III", data, i - 12)
        if namesz == 4 and typ == 4:
            break
        i = data.find(b"Go\x00\x00", i + 1, 1 << 16)
    assert i >= 0
    assert len(new_id) <= descsz
    struct.pack_into("<I", data, i - 8, len(new_id))
    data[i + 4 : i + 4 + descsz] = new_id.ljust(descsz, b"\0")
    dst.write_bytes(bytes(data))


def test_redacted(tmp_path: Path, buildid_tool: Path) -> None:
    src = get_fixture(FixtureSpec("1.27", "linux", "amd64", "default"))
    dst = tmp_path / "redacted"
    _patch_go_note(src, dst, b"redacted")
    truth = go_tool_buildid(buildid_tool, dst)
    assert truth == "redacted"
    with open_binary(dst) as b:
        ids = build_ids(b)
    assert ids.go == truth and ids.go_redacted and is_redacted(ids.go)
    assert not is_redacted(None) and not is_redacted("a/b/c/d")


def test_raw_fallback_without_note(tmp_path: Path, buildid_tool: Path) -> None:
    """PE and Mach-O carry the ID as a raw string in text; ELF note removed -> the same raw scan."""
    src = get_fixture(FixtureSpec("1.27", "windows", "amd64", "default"))
    with open_binary(src) as b:
        assert b.notes() == [] or all(n.owner != "Go" for n in b.notes())
        assert go_build_id(b) == go_tool_buildid(buildid_tool, src)


@pytest.fixture(scope="module")
def elf_bytes() -> bytes:
    return get_fixture(FixtureSpec("1.27", "linux", "amd64", "sw")).read_bytes()


@settings(max_examples=150, deadline=2000, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(0, 8191), st.integers(0, 255)), min_size=1, max_size=16))
def test_fuzz_headers_and_notes(elf_bytes: bytes, tmp_path_factory: pytest.TempPathFactory,
                                muts: list[tuple[int, int]]) -> None:
    buf = bytearray(elf_bytes)
    for pos, val in muts:
        buf[64 + pos % 8192] = val  # program headers and the note area, not the ELF ident
    p = tmp_path_factory.getbasetemp() / "fuzz-bid.bin"
    p.write_bytes(bytes(buf))
    try:
        b = open_binary(p)
    except SymkeepError:
        return
    with b:
        ids = build_ids(b)
        assert ids.gnu is None or re.fullmatch("[0-9a-f]+", ids.gnu)
        assert ids.go is None or isinstance(ids.go, str)
