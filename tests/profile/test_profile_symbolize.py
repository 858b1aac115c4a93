"""Strip a real in-process CPU profile of every symbol, symbolize it back, compare with the original."""

from __future__ import annotations

import http.server
import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sk_profile_helpers import frames_by_location, strip_symbols, weighted_agreement

from symkeep.binfmt import open_binary
from symkeep.errors import MismatchError
from symkeep.golang.buildid import gnu_build_id
from symkeep.profile.locate import Locator
from symkeep.profile.pprof import Profile, read_profile, write_profile
from symkeep.profile.symbolizer import symbolize_profile

CpuProfile = Callable[..., tuple[Path, Path]]


def _main_mapping(p: Profile):  # type: ignore[no-untyped-def]
    return p.mapping[0]


def _symbolize(p: Profile, **kw: object) -> tuple[Profile, object]:
    q = strip_symbols(p)
    loc = Locator(kw.pop("binaries", []), kw.pop("dirs", []), use_env=False, debuginfod_urls=[])  # type: ignore[arg-type]
    rep = symbolize_profile(q, loc, **kw).report  # type: ignore[arg-type]
    return q, rep


@pytest.mark.parametrize("toolchain", ["1.27", "1.24", "1.21"])
def test_stripped_cpu_profile_roundtrip(cpu_profile: CpuProfile, toolchain: str) -> None:
    binary, path = cpu_profile("sw", toolchain)
    orig = read_profile(path)
    q, rep = _symbolize(orig)
    agree, diffs = weighted_agreement(orig, q)
    print(f"go{toolchain} sw: agreement {agree:.4%} over {len(orig.sample)} samples")
    assert agree >= 0.999, diffs[:10]
    # The inline chain of the hot helper is back.
    fr = frames_by_location(q)
    assert any(len(v) >= 2 and v[0][0] == "main.mix" and v[1][0] == "main.spin" for v in fr.values())
    # start_line and file names present for every symbolized frame.
    m = _main_mapping(q)
    assert m.has_functions and m.has_filenames and m.has_line_numbers and m.has_inline_frames
    for frames in fr.values():
        for name, file, line, _start in frames:
            assert name and file.endswith((".go", ".s")) and line > 0
    mains = [f for f in q.function if q.string_table[f.name] == "main.spin"]
    want = [f for f in orig.function if orig.string_table[f.name] == "main.spin"]
    assert mains and want and mains[0].start_line == want[0].start_line


def test_stripped_pie_profile_at_random_address(cpu_profile: CpuProfile) -> None:
    binary, path = cpu_profile("pie_sw")
    orig = read_profile(path)
    m = _main_mapping(orig)
    b = open_binary(binary)
    assert b.kind == "pie"
    link_lo = min(s.vaddr for s in b.segments() if s.load)
    assert m.memory_start != link_lo, "mapping not relocated: the test would not exercise ASLR"
    q, rep = _symbolize(orig)
    agree, diffs = weighted_agreement(orig, q)
    print(f"pie_sw: agreement {agree:.4%}, mapping at {m.memory_start:#x} (link {link_lo:#x})")
    assert agree >= 0.999, diffs[:10]


def test_mismatched_build_id_refused(cpu_profile: CpuProfile, fixture: Callable[..., Path], tmp_path: Path) -> None:
    binary, path = cpu_profile("sw")
    other = fixture(variant="default", program="cpuhog")
    orig = read_profile(path)
    bid = orig.string_table[_main_mapping(orig).build_id]
    assert bid, "go1.27 runtime/pprof records the GNU build-id"
    assert gnu_build_id(open_binary(other)) != bid
    with pytest.raises(MismatchError, match="build ID"):
        _symbolize(orig, binaries=[str(other)])
    # CLI: exit code 7, one line, no traceback.
    stripped = tmp_path / "s.pprof"
    write_profile(strip_symbols(orig), stripped)
    r = subprocess.run(
        [sys.executable, "-m", "symkeep", "symbolize", str(stripped), "--binary", str(other), "-o", str(tmp_path / "o")],
        capture_output=True, text=True, timeout=120,
    )
    assert r.returncode == 7 and "Traceback" not in r.stderr and bid in r.stderr, r.stderr


def test_missing_binary_leaves_mapping_untouched(cpu_profile: CpuProfile) -> None:
    _, path = cpu_profile("sw")
    orig = read_profile(path)
    q0 = strip_symbols(orig)
    q0.string_table[_main_mapping(q0).filename] = "/nonexistent/dir/cpuhog"
    q = Profile()
    q.CopyFrom(q0)
    rep = symbolize_profile(q, Locator([], [], use_env=False, debuginfod_urls=[])).report
    assert q == q0  # untouched: no lines, no functions, flags unchanged
    mr = [m for m in rep.mappings if m.id == _main_mapping(q).id][0]
    assert mr.symbolized == 0 and mr.failed.get("binary not found") == mr.locations > 0


@pytest.mark.parametrize("layout", ["bid_name", "llvm", "dot_build_id", "basename", "pprof_env"])
def test_found_by_build_id_layouts(cpu_profile: CpuProfile, tmp_path: Path, layout: str, monkeypatch: pytest.MonkeyPatch) -> None:
    binary, path = cpu_profile("sw")
    orig = read_profile(path)
    q0 = strip_symbols(orig)
    m = _main_mapping(q0)
    bid = q0.string_table[m.build_id]
    q0.string_table[m.filename] = "/gone/cpuhog"
    dest = {
        "bid_name": tmp_path / bid / "cpuhog",
        "llvm": tmp_path / bid[:2] / (bid[2:] + ".debug"),
        "dot_build_id": tmp_path / ".build-id" / bid[:2] / (bid[2:] + ".debug"),
        "basename": tmp_path / "cpuhog",
        "pprof_env": tmp_path / bid / "cpuhog",
    }[layout]
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(binary, dest)
    if layout == "pprof_env":
        monkeypatch.setenv("PPROF_BINARY_PATH", f"/nonexistent{os.pathsep}{tmp_path}")
        loc = Locator([], [], use_env=True, debuginfod_urls=[])
    else:
        loc = Locator([], [str(tmp_path)], use_env=False, debuginfod_urls=[])
    rep = symbolize_profile(q0, loc).report
    mr = [x for x in rep.mappings if x.id == m.id][0]
    assert mr.binary == str(dest) and mr.symbolized == mr.locations
    agree, diffs = weighted_agreement(orig, q0)
    assert agree >= 0.999, diffs


def test_search_dir_copy_with_other_build_id_is_skipped(cpu_profile: CpuProfile, fixture: Callable[..., Path], tmp_path: Path) -> None:
    _, path = cpu_profile("sw")
    q0 = strip_symbols(read_profile(path))
    m = _main_mapping(q0)
    q0.string_table[m.filename] = "/gone/cpuhog"
    shutil.copy(fixture(variant="default", program="cpuhog"), tmp_path / "cpuhog")
    rep = symbolize_profile(q0, Locator([], [str(tmp_path)], use_env=False, debuginfod_urls=[])).report
    mr = [x for x in rep.mappings if x.id == m.id][0]
    assert mr.symbolized == 0 and "different build ID" in " ".join(mr.failed)
    assert any("build ID differs" in n for n in mr.notes)


@pytest.fixture()
def debuginfod_server(tmp_path: Path) -> Iterator[tuple[str, dict[str, Path], list[str]]]:
    files: dict[str, Path] = {}
    hits: list[str] = []

    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            hits.append(self.path)
            parts = self.path.strip("/").split("/")
            if len(parts) == 3 and parts[0] == "buildid" and parts[2] == "executable" and parts[1] in files:
                data = files[parts[1]].read_bytes()
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            else:
                self.send_response(404)
                self.end_headers()

        def log_message(self, *a: object) -> None:
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}", files, hits
    finally:
        srv.shutdown()
        srv.server_close()


def test_debuginfod_fetch_and_cache(cpu_profile: CpuProfile, tmp_path: Path, debuginfod_server: tuple[str, dict[str, Path], list[str]]) -> None:
    url, files, hits = debuginfod_server
    binary, path = cpu_profile("sw")
    orig = read_profile(path)
    bid = orig.string_table[_main_mapping(orig).build_id]
    files[bid] = binary
    cache = tmp_path / "cache"
    for _attempt in range(2):
        q = strip_symbols(orig)
        q.string_table[_main_mapping(q).filename] = "/gone/cpuhog"
        loc = Locator([], [], use_env=False, debuginfod_urls=["http://127.0.0.1:9/nothing", url], cache_dir=str(cache), timeout=5)
        rep = symbolize_profile(q, loc).report
        mr = rep.mappings[0]
        assert mr.found_by == "debuginfod" and mr.symbolized == mr.locations
        assert weighted_agreement(orig, q)[0] >= 0.999
    assert hits == [f"/buildid/{bid}/executable"]  # second run served from the cache
    assert (cache / bid / "executable").read_bytes() == binary.read_bytes()


def test_debuginfod_404_reported(cpu_profile: CpuProfile, tmp_path: Path, debuginfod_server: tuple[str, dict[str, Path], list[str]]) -> None:
    url, _, hits = debuginfod_server
    _, path = cpu_profile("sw")
    q = strip_symbols(read_profile(path))
    q.string_table[_main_mapping(q).filename] = "/gone/cpuhog"
    rep = symbolize_profile(q, Locator([], [], use_env=False, debuginfod_urls=[url], cache_dir=str(tmp_path), timeout=5)).report
    assert rep.mappings[0].symbolized == 0 and any("HTTP 404" in n for n in rep.mappings[0].notes)
    assert len(hits) == 1


def test_partly_symbolized_kept_unless_force(cpu_profile: CpuProfile) -> None:
    _, path = cpu_profile("sw")
    orig = read_profile(path)
    q = strip_symbols(orig)
    # Give the first location a (wrong) name someone else put there.
    f = q.function.add(id=999, name=len(q.string_table), system_name=len(q.string_table))
    q.string_table.append("someone.else")
    keep_id = q.location[0].id
    q.location[0].line.add(function_id=f.id, line=7)
    q2 = Profile()
    q2.CopyFrom(q)
    symbolize_profile(q, Locator([], use_env=False, debuginfod_urls=[]))
    assert frames_by_location(q)[keep_id] == [("someone.else", "", 7, 0)]
    m = _main_mapping(q)
    # One location has no file name and unknown inlining now: those flags must stay off.
    assert m.has_functions and m.has_line_numbers and not m.has_filenames and not m.has_inline_frames
    symbolize_profile(q2, Locator([], use_env=False, debuginfod_urls=[]), force=True)
    assert frames_by_location(q2)[keep_id] == frames_by_location(orig)[keep_id]
    assert weighted_agreement(orig, q2)[0] >= 0.999


def test_cli_json_summary(cpu_profile: CpuProfile, tmp_path: Path) -> None:
    _, path = cpu_profile("sw")
    orig = read_profile(path)
    stripped = tmp_path / "s.pprof"
    write_profile(strip_symbols(orig), stripped)
    out = tmp_path / "o.pprof"
    r = subprocess.run(
        [sys.executable, "-m", "symkeep", "symbolize", str(stripped), "-o", str(out), "--json"],
        capture_output=True, text=True, timeout=120,
    )
    assert r.returncode == 0, r.stderr
    js = json.loads(r.stdout)
    assert js["input_format"] == "pprof" and js["locations"] == len(orig.location)
    main = js["mappings"][0]
    assert main["symbolized"] == main["locations"] and main["binary"]
    assert weighted_agreement(orig, read_profile(out))[0] >= 0.999
