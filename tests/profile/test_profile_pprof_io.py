"""pprof profile.proto I/O on real runtime/pprof profiles, and rejection of things that are not profiles."""

from __future__ import annotations

import gzip
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from symkeep.errors import FormatError, LimitError, SymkeepError
from symkeep.profile.pprof import parse_profile, read_profile, serialize_profile, write_profile


def _raw(path: Path) -> bytes:
    data = path.read_bytes()
    return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data


@pytest.mark.parametrize("kind", ["cpu", "heap"])
def test_roundtrip_real_profiles_lossless(
    kind: str, cpu_profile: Callable[..., tuple[Path, Path]], heap_profile: tuple[Path, Path], tmp_path: Path
) -> None:
    path = cpu_profile("sw")[1] if kind == "cpu" else heap_profile[1]
    p = read_profile(path)
    assert len(p.sample) > 0 and len(p.location) > 0 and len(p.function) > 0
    for compress in (True, False):
        out = tmp_path / f"rt-{compress}.pprof"
        write_profile(p, out, compress=compress)
        assert (out.read_bytes()[:2] == b"\x1f\x8b") == compress
        q = read_profile(out)
        assert q == p  # message equality: every field, including unknown ones
        # Re-encoding is deterministic and parses back to what Go's encoder wrote.
        assert serialize_profile(q, compress=False) == serialize_profile(p, compress=False)
    # Parsing Go's raw bytes and re-parsing our encoding give the same message.
    assert parse_profile(serialize_profile(p, compress=False)) == parse_profile(_raw(path))


def test_roundtrip_readable_by_go_pprof(cpu_profile: Callable[..., tuple[Path, Path]], go_pprof: Path, tmp_path: Path) -> None:
    binary, path = cpu_profile("sw")
    out = tmp_path / "rt.pprof"
    write_profile(read_profile(path), out)
    a = subprocess.run([str(go_pprof), "-raw", str(path)], capture_output=True, text=True, timeout=120)
    b = subprocess.run([str(go_pprof), "-raw", str(out)], capture_output=True, text=True, timeout=120)
    assert a.returncode == 0 and b.returncode == 0, b.stderr
    assert a.stdout == b.stdout and b.stderr == a.stderr


@pytest.mark.parametrize(
    "data,needle",
    [
        (b"", "empty"),
        (b"hello, this is text\n", "not a pprof profile"),
        (b"\x1f\x8b\x08\x00\x00\x00\x00\x00", "gzip"),  # truncated gzip
        (gzip.compress(b"garbage that is not protobuf \xff\xff\xff", mtime=0), "not a pprof profile"),
        (b"\x7fELF\x02\x01\x01" + b"\0" * 57, "not a pprof profile"),
    ],
)
def test_not_a_profile(data: bytes, needle: str) -> None:
    with pytest.raises(FormatError, match=needle):
        parse_profile(data)


def test_gzip_bomb_is_bounded() -> None:
    bomb = gzip.compress(b"\0" * (8 << 20))
    from symkeep.profile.pprof import decompress

    with pytest.raises(LimitError, match="exceeds"):
        decompress(bomb, limit=1 << 20)


def test_cli_rejects_non_profile_cleanly(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pprof"
    bad.write_bytes(b"\x08\x96\x01" * 50)
    r = subprocess.run(
        [sys.executable, "-m", "symkeep", "symbolize", str(bad), "-o", str(tmp_path / "o.pprof")],
        capture_output=True, text=True, timeout=60,
    )
    assert r.returncode == 6, r.stderr
    assert "Traceback" not in r.stderr and "not a pprof profile" in r.stderr


@settings(max_examples=300, deadline=2000, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=4096))
def test_fuzz_random_bytes(data: bytes) -> None:
    try:
        p = parse_profile(data)
    except SymkeepError:
        return
    # Accepted: it must be a structurally valid profile (we validated it) and re-serialize.
    parse_profile(serialize_profile(p))


@pytest.fixture(scope="module")
def real_raw(cpu_profile: Callable[..., tuple[Path, Path]]) -> bytes:
    return _raw(cpu_profile("sw")[1])


@settings(max_examples=200, deadline=3000, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fuzz_mutated_real_profile(real_raw: bytes, data: st.DataObject) -> None:
    """Flip, cut and splice bytes of a real profile: a typed error or a valid profile, never a crash."""
    b = bytearray(real_raw)
    for _ in range(data.draw(st.integers(1, 8))):
        i = data.draw(st.integers(0, len(b) - 1))
        b[i] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(1, len(b)))
    blob = bytes(b[:cut])
    try:
        p = parse_profile(blob)
    except SymkeepError:
        return
    from symkeep.profile.locate import Locator
    from symkeep.profile.symbolizer import symbolize_profile

    symbolize_profile(p, Locator([], use_env=False))  # must not raise anything but SymkeepError
