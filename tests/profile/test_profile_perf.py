"""perf record -g of a stripped fixture -> perf script -> symkeep symbolize, checked against
`go tool addr2line` and read back by `go tool pprof`. Also folded stacks in and out."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from sk_profile_helpers import frames_by_location

from fixtures.env import unavailable
from symkeep.binfmt import open_binary
from symkeep.profile.files import symbolize_file
from symkeep.profile.folded import profile_to_folded
from symkeep.profile.mapping import Translator
from symkeep.profile.pprof import read_profile

pytestmark = pytest.mark.skipif(shutil.which("perf") is None, reason="perf not installed")


def _perf(tmp: Path, binary: Path, record_args: list[str], script_args: list[str]) -> Path:
    home = tmp / "home"  # empty HOME: perf's build-id cache must not name anything for us
    home.mkdir(exist_ok=True)
    env = dict(os.environ, HOME=str(home))
    data = tmp / "perf.data"
    r = subprocess.run(
        ["perf", "record", "-e", "cpu-clock", *record_args, "-o", str(data), str(binary), str(tmp / "x.prof"), "1"],
        capture_output=True, text=True, env=env, timeout=120,
    )
    if r.returncode != 0:
        unavailable(f"perf record not permitted here: {r.stderr.strip()[-200:]}")
    out = tmp / "perf.txt"
    with out.open("w") as fh:
        subprocess.run(["perf", "script", "-i", str(data), *script_args], stdout=fh, stderr=subprocess.DEVNULL, env=env, check=True, timeout=120)
    return out


def _addr2line(tool: Path, binary: Path, addrs: list[int]) -> list[tuple[str, str, int]]:
    inp = "".join(f"{a:#x}\n" for a in addrs)
    r = subprocess.run([str(tool), str(binary)], input=inp, capture_output=True, text=True, timeout=120, check=True)
    lines = r.stdout.splitlines()
    out = []
    for i in range(0, len(lines), 2):
        file, _, ln = lines[i + 1].rpartition(":")
        out.append((lines[i], file, int(ln) if ln.isdigit() else 0))
    return out


def _check_against_addr2line(prof, binary: Path, tool: Path, ret_ok: bool = True) -> float:  # type: ignore[no-untyped-def]
    """Every symbolized location of the binary's mappings vs go tool addr2line (one frame per PC: the
    outer function's name with the innermost file:line). Returns the agreement fraction."""
    b = open_binary(binary)
    st = prof.string_table
    fr = frames_by_location(prof)
    todo: list[tuple[list[tuple[str, str, int, int]], int]] = []
    for m in prof.mapping:
        if st[m.filename] != str(binary):
            continue
        tr = Translator(b, m.memory_start, m.memory_limit, m.file_offset)
        for loc in prof.location:
            if loc.mapping_id == m.id and fr[loc.id] and fr[loc.id][0][1]:
                link = tr.to_link(loc.address)
                assert link is not None
                todo.append((fr[loc.id], link))
    # Return addresses: we looked them up at addr-1 (not at entries); ask addr2line the same.
    ok = 0
    queries = []
    for _frames, link in todo:
        queries.append(link)
    truth = _addr2line(tool, binary, queries)
    for (frames, link), (name, file, line) in zip(todo, truth, strict=True):
        t1 = _addr2line_match(frames, name, file, line)
        if not t1 and link > 0:
            t1 = _addr2line_match(frames, *_addr2line(tool, binary, [link - 1])[0])
        ok += t1
    return ok / max(len(todo), 1)


def _addr2line_match(frames: list[tuple[str, str, int, int]], name: str, file: str, line: int) -> bool:
    return frames[-1][0] == name and frames[0][1] == file and frames[0][2] == line


def test_perf_callchains_symbolized(fixture: Callable[..., Path], gotool: Callable[[str, str], Path], tmp_path: Path) -> None:
    binary = fixture(variant="sw", program="cpuhog")
    txt = _perf(tmp_path, binary, ["-g"], [])
    res = symbolize_file(str(txt), debuginfod=False)
    assert res.input_format == "perf"
    prof = res.profile
    fr = frames_by_location(prof)
    names = {f[0] for v in fr.values() for f in v}
    assert {"main.spin", "main.leaf", "runtime.main"} <= names
    # hot functions carry files and lines; the inlined helper appears as an inline frame
    for v in fr.values():
        for name, file, line, _ in v:
            if name in ("main.spin", "main.leaf", "main.mix"):
                assert file.endswith("main.go") and line > 0
    assert any(len(v) >= 2 and v[0][0] == "main.mix" and v[1][0] == "main.spin" for v in fr.values())
    # weight: most CPU is in main.spin / main.leaf / main.mix
    hot = sum(s.value[0] for s in prof.sample if fr[s.location_id[0]] and fr[s.location_id[0]][-1][0] in ("main.spin", "main.leaf"))
    assert hot / sum(s.value[0] for s in prof.sample) > 0.5
    agree = _check_against_addr2line(prof, binary, gotool("1.27", "addr2line"))
    print(f"perf -g: {len(fr)} locations, agreement with go tool addr2line {agree:.2%}")
    assert agree >= 0.99
    # folded output: root first, inline frames marked, counts add up
    folded = profile_to_folded(prof, sample_index=0)
    assert "main.mix_[i]" in folded
    assert sum(int(ln.rsplit(" ", 1)[1]) for ln in folded.splitlines()) == sum(s.value[0] for s in prof.sample)


def test_perf_output_read_by_go_pprof(fixture: Callable[..., Path], go_pprof: Path, tmp_path: Path) -> None:
    binary = fixture(variant="sw", program="cpuhog")
    txt = _perf(tmp_path, binary, ["-g"], [])
    out = tmp_path / "out.pprof"
    r = subprocess.run([sys.executable, "-m", "symkeep", "symbolize", str(txt), "-o", str(out)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    env = dict(os.environ, HOME=str(tmp_path), PPROF_BINARY_PATH="/nonexistent")
    top = subprocess.run([str(go_pprof), "-top", "-nodefraction=0", str(out)], capture_output=True, text=True, timeout=120, env=env)
    raw = subprocess.run([str(go_pprof), "-raw", str(out)], capture_output=True, text=True, timeout=120, env=env)
    assert top.returncode == 0 and raw.returncode == 0
    assert top.stderr == "" and raw.stderr == "", top.stderr + raw.stderr
    assert re.search(r"main\.spin", top.stdout) and re.search(r"main\.leaf", top.stdout)
    assert re.search(r"main\.mix .*main\.go:\d+", raw.stdout)


@pytest.mark.parametrize("mode", ["ip_sym_dso", "ip_sym_dso_g", "mmap_events"])
def test_perf_script_variants_pie(fixture: Callable[..., Path], gotool: Callable[[str, str], Path], tmp_path: Path, mode: str) -> None:
    binary = fixture(variant="pie_sw", program="cpuhog")
    rec = ["-g"] if mode == "ip_sym_dso_g" else []
    script = ["--show-mmap-events"] if mode == "mmap_events" else ["-F", "ip,sym,dso"]
    if mode == "ip_sym_dso":
        script = ["-F", "ip,sym,dso", "--show-mmap-events"]  # PIE runtime addresses need the mmap
    txt = _perf(tmp_path, binary, rec, script)
    res = symbolize_file(str(txt), debuginfod=False)
    fr = frames_by_location(res.profile)
    names = {f[0] for v in fr.values() for f in v}
    assert "main.spin" in names or "main.leaf" in names, sorted(names)[:20]
    agree = _check_against_addr2line(res.profile, binary, gotool("1.27", "addr2line"))
    print(f"perf {mode} (PIE): agreement with go tool addr2line {agree:.2%}")
    assert agree >= 0.99


def test_folded_offsets_match_perf(fixture: Callable[..., Path], tmp_path: Path) -> None:
    """Folded stacks of `module+0xOFF` frames (built from perf's file offsets) symbolize to the same
    stacks as the perf script input they came from."""
    binary = fixture(variant="sw", program="cpuhog")
    txt = _perf(tmp_path, binary, ["-g"], ["-F", "ip,dso"])
    res = symbolize_file(str(txt), debuginfod=False)
    blocks = [b for b in txt.read_text().split("\n\n") if b.strip()]
    lines = []
    base = binary.name
    for b in blocks:
        frames = []
        for ln in b.splitlines():
            ip, _, dso = ln.strip().partition(" ")
            if dso.strip("()") == str(binary):
                frames.append(f"{base}+0x{ip}")
        if frames:
            lines.append(";".join(reversed(frames)) + " 1")
    folded_in = tmp_path / "in.folded"
    folded_in.write_text("\n".join(lines) + "\n")
    r = subprocess.run(
        [sys.executable, "-m", "symkeep", "symbolize", str(folded_in), "--binary", str(binary), "--format", "folded", "-q"],
        capture_output=True, text=True, timeout=300,
    )
    assert r.returncode == 0, r.stderr
    # Same stacks as the perf path restricted to the binary's frames.
    from_perf = profile_to_folded(_only_mapping(res.profile, str(binary)), sample_index=0)
    assert _norm(r.stdout) == _norm(from_perf)
    assert "main.mix_[i]" in r.stdout


def _only_mapping(prof, path: str):  # type: ignore[no-untyped-def]
    from symkeep.profile.pprof import Profile

    q = Profile()
    q.CopyFrom(prof)
    keep = {m.id for m in q.mapping if q.string_table[m.filename] == path}
    locs = {loc.id for loc in q.location if loc.mapping_id in keep}
    samples = []
    for s in q.sample:
        ids = [i for i in s.location_id if i in locs]
        if ids:
            samples.append((ids, list(s.value)))
    del q.sample[:]
    for ids, v in samples:
        q.sample.add(location_id=ids, value=[v[0]] * len(v))  # value 0: how many perf samples
    return q


def _norm(folded: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for ln in folded.splitlines():
        k, _, v = ln.rpartition(" ")
        out[k] = out.get(k, 0) + int(v)
    return out


def test_folded_hex_addresses_from_real_profile(cpu_profile: Callable[..., tuple[Path, Path]], tmp_path: Path) -> None:
    """Bare link-time hex addresses (non-PIE) with --binary give the in-process profile's stacks."""
    binary, path = cpu_profile("sw")
    orig = read_profile(path)
    main = orig.mapping[0].id
    addr = {loc.id: loc.address for loc in orig.location if loc.mapping_id == main}
    lines = []
    keep = []
    for s in orig.sample:
        if all(i in addr for i in s.location_id):
            # Go's profile stores callers as "return PC - 1"; folded producers write return PCs.
            ids = list(s.location_id)
            fr = [f"{addr[i] + (1 if k else 0):#x}" for k, i in enumerate(ids)]
            lines.append(";".join(reversed(fr)) + f" {s.value[0]}")
            keep.append(s)
    f = tmp_path / "in.folded"
    f.write_text("\n".join(lines) + "\n")
    res = symbolize_file(str(f), binaries=[str(binary)], debuginfod=False)
    assert res.input_format == "folded"
    got = _norm(profile_to_folded(res.profile))
    want = _norm(profile_to_folded(_subset(orig, keep), sample_index=0))
    assert got == want
    assert res.report.symbolized == len(res.profile.location)


def _subset(prof, samples):  # type: ignore[no-untyped-def]
    from symkeep.profile.pprof import Profile

    q = Profile()
    q.CopyFrom(prof)
    del q.sample[:]
    for s in samples:
        q.sample.add(location_id=list(s.location_id), value=list(s.value))
    return q
