"""symkeep's pclntab symbolization vs ``go tool addr2line`` of the matching toolchain.

go tool addr2line (debug/gosym) prints, per PC, the *outer* (physical) function name and the
*innermost* file:line (pcfile/pcln are innermost), so we compare ``frames[-1].function`` and
``frames[0].file:line``. Where it prints ``?`` no function covers the PC; where it prints a name with
``:-1`` (or an empty file) the PC is alignment padding after a function's code, which the pcln table
does not cover: symkeep answers ``[]`` (unknown) for both, and ``function_at`` still names the
function for padding (its [entry, next entry) range, like gosym).
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from fixtures.factory import CROSS_TARGETS, CROSS_TOOLCHAINS, MATRIX_TOOLCHAINS, FixtureSpec
from symkeep.symbolize import GoBinary, open_go_binary

NATIVE_TOOLCHAINS = MATRIX_TOOLCHAINS
CROSS = tuple(t for t in CROSS_TARGETS if t != ("windows", "arm64"))  # windows/arm64 is not compared
BIG_N = 20_000
SMALL_N = 2_000


def go_addr2line(tool: Path, binary: Path, pcs: list[int]) -> list[tuple[str, str, int]]:
    """(name, file, line) per PC from go tool addr2line."""
    inp = "".join(f"{pc:#x}\n" for pc in pcs)
    r = subprocess.run([str(tool), str(binary)], input=inp, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert len(lines) == 2 * len(pcs), (len(lines), len(pcs), r.stderr[:500])
    out = []
    for k in range(len(pcs)):
        name = lines[2 * k]
        fl = lines[2 * k + 1]
        file, _, ln = fl.rpartition(":")
        out.append((name, file, int(ln)))
    return out


def random_pcs(g: GoBinary, n: int, seed: int) -> list[int]:
    """Uniform PCs over [first entry, end of text) plus a few just outside."""
    rng = np.random.default_rng(seed)
    lo = int(g.entries[0])
    hi = int(g.entries[-1])
    pcs = rng.integers(lo, hi, size=n, dtype=np.uint64).tolist()
    pcs += [lo - 1, lo, hi - 1, hi, hi + 17]
    # every function entry of a sample of functions, and the byte before the next entry (padding)
    idx = rng.integers(0, g.nfunc, size=min(200, g.nfunc)).tolist()
    for i in idx:
        pcs.append(int(g.entries[i]))
        pcs.append(int(g.entries[i + 1]) - 1)
    return [int(p) for p in pcs]


def compare(g: GoBinary, tool: Path, binary: Path, pcs: list[int]) -> tuple[int, list[str]]:
    truth = go_addr2line(tool, binary, pcs)
    ours = g.lookup_many(pcs)
    bad: list[str] = []
    for pc, (name, file, line), frames in zip(pcs, truth, ours, strict=True):
        if name == "?":
            if frames or g.function_at(pc) is not None:
                bad.append(f"{pc:#x}: go says no function, we say {frames[:1]} / {g.function_at(pc)}")
            continue
        if line == -1 or file == "":
            fn = g.function_at(pc)
            if frames or fn is None or fn.name != name:
                bad.append(f"{pc:#x}: go says padding of {name}, we say {frames[:1]} / {fn}")
            continue
        if not frames:
            bad.append(f"{pc:#x}: go says {name} {file}:{line}, we say unknown")
            continue
        got = (frames[-1].function, frames[0].file, frames[0].line)
        if got != (name, file, line):
            bad.append(f"{pc:#x}: go says {(name, file, line)}, we say {got}")
    return len(pcs), bad


def _check(
    fixture: Callable[..., Path],
    gotool: Callable[[str, str], Path],
    spec: FixtureSpec,
    n: int,
    tool_version: str = "",
) -> None:
    path = fixture(spec)
    tool = gotool(tool_version or spec.toolchain, "addr2line")
    with open_go_binary(path) as g:
        total, bad = compare(g, tool, path, random_pcs(g, n, seed=hash(str(spec)) & 0xFFFF))
    assert not bad, f"{len(bad)}/{total} disagree, first: " + "\n".join(bad[:10])


@pytest.mark.parametrize("variant", ["default", "sw"])
@pytest.mark.parametrize("tc", NATIVE_TOOLCHAINS)
def test_linux_amd64_matches_go_addr2line(fixture, gotool, tc: str, variant: str) -> None:
    n = BIG_N if (tc, variant) in (("1.27", "sw"), ("1.21", "default")) else SMALL_N
    _check(fixture, gotool, FixtureSpec(tc, "linux", "amd64", variant, "hello"), n)


@pytest.mark.parametrize("variant", ["pie", "pie_sw", "trimpath", "s", "strip", "extlink", "shared"])
@pytest.mark.parametrize("tc", ["1.19", "1.27"])
def test_linux_amd64_variants_match_go_addr2line(fixture, gotool, tc: str, variant: str) -> None:
    # Go 1.19's own addr2line answers "?" for every PC of a 1.19 PIE or shared object (its debug/gosym
    # takes the text start from the unrelocated header); 1.27's reads 1.19 tables correctly.
    tool_version = "1.27" if tc == "1.19" and variant in ("pie", "pie_sw", "shared") else ""
    _check(fixture, gotool, FixtureSpec(tc, "linux", "amd64", variant, "hello"), SMALL_N, tool_version)


@pytest.mark.parametrize("tc", ["1.19", "1.27"])
def test_no_section_headers_matches_default(fixture, gotool, tc: str) -> None:
    """Without section headers go tool addr2line reads nothing; the default build (same bytes) is the truth."""
    path = fixture(FixtureSpec(tc, "linux", "amd64", "nosections", "hello"))
    truth = fixture(FixtureSpec(tc, "linux", "amd64", "default", "hello"))
    with open_go_binary(path) as g:
        assert g.location.source == "scan"
        total, bad = compare(g, gotool(tc, "addr2line"), truth, random_pcs(g, SMALL_N, seed=5))
    assert not bad, f"{len(bad)}/{total} disagree, first: " + "\n".join(bad[:10])


@pytest.mark.parametrize("prog", ["callers", "cpuhog"])
def test_other_programs_match_go_addr2line(fixture, gotool, prog: str) -> None:
    _check(fixture, gotool, FixtureSpec("1.27", "linux", "amd64", "sw", prog), SMALL_N)


@pytest.mark.parametrize("variant", ["default", "sw"])
@pytest.mark.parametrize(("goos", "goarch"), CROSS)
@pytest.mark.parametrize("tc", CROSS_TOOLCHAINS)
def test_cross_matches_go_addr2line(fixture, gotool, tc: str, goos: str, goarch: str, variant: str) -> None:
    spec = FixtureSpec(tc, goos, goarch, variant, "hello")
    path = fixture(spec)
    tool = gotool(tc, "addr2line")
    # go tool addr2line cannot read a stripped PE (it needs the COFF runtime.pclntab symbols): then the
    # truth comes from the default build of the same program, whose text is identical (checked).
    truth_path = path
    probe = subprocess.run([str(tool), str(path)], input="0x0\n", capture_output=True, text=True, timeout=120)
    if probe.returncode != 0:
        if variant == "default":
            pytest.fail(f"go tool addr2line cannot read {spec}: {probe.stderr.strip()[:200]}")
        truth_path = fixture(FixtureSpec(tc, goos, goarch, "default", "hello"))
    with open_go_binary(path) as g:
        if truth_path != path:
            with open_go_binary(truth_path) as gd:
                assert [(f.name, f.entry) for f in gd.functions()] == [
                    (f.name, f.entry) for f in g.functions()
                ]
        total, bad = compare(g, tool, truth_path, random_pcs(g, SMALL_N, seed=7))
    assert not bad, f"{len(bad)}/{total} disagree, first: " + "\n".join(bad[:10])


def test_batch_speed_vs_go_addr2line(fixture, gotool) -> None:
    """A 1,000,000-PC batch through lookup_many is competitive with go tool addr2line.

    CPU time, not wall time: the CI machine is shared, and both sides are measured the same way
    (our process time vs the child's user+sys time from wait4).
    """
    import os
    import time

    spec = FixtureSpec("1.27", "linux", "amd64", "sw", "hello")
    path = fixture(spec)
    tool = gotool("1.27", "addr2line")
    with open_go_binary(path) as g:
        rng = np.random.default_rng(1)
        pcs = rng.integers(int(g.entries[0]), int(g.entries[-1]), size=1_000_000, dtype=np.uint64)
        t0 = time.process_time()
        res = g.lookup_many(pcs)
        ours = time.process_time() - t0
        assert len(res) == len(pcs)
        sample = pcs[:100_000].tolist()
        single = [g.lookup(pc) for pc in sample]
        # best of 3 rounds: the machine is shared, a single round measures the neighbours too
        best = float("inf")
        for _ in range(3):
            t0 = time.process_time()
            for pc in sample:
                g.lookup(pc)
            best = min(best, time.process_time() - t0)
        per_s = len(sample) / best
        assert single == res[:100_000]
    inp = "".join(f"{int(pc):#x}\n" for pc in pcs).encode()
    inpath = path.parent / f".pcs-{os.getpid()}"
    try:
        inpath.write_bytes(inp)
        with open(inpath, "rb") as fin:
            proc = subprocess.Popen([str(tool), str(path)], stdin=fin, stdout=subprocess.DEVNULL)
            _, status, ru = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)
    finally:
        inpath.unlink(missing_ok=True)
    assert proc.returncode == 0
    theirs = ru.ru_utime + ru.ru_stime
    print(
        f"lookup_many 1M: {ours:.2f}s CPU, go tool addr2line 1M: {theirs:.2f}s CPU, cached lookups {per_s:.0f}/s"
    )
    assert per_s >= 100_000
    assert ours <= 2 * theirs


def test_old_generations_match_go_addr2line(old_binaries, gotool) -> None:
    """Go 1.14-1.17 release binaries (pclntab magics 0xfffffffb / 0xfffffffa) from registry packages,
    against go tool addr2line of a modern toolchain (debug/gosym still reads these generations)."""
    tool = gotool("1.27", "addr2line")
    gens: set[str] = set()
    compared = 0
    for ob in old_binaries:
        with open_go_binary(ob.path) as g:
            assert g.pclntab.magic == ob.magic
            gens.add(g.pclntab.generation)
            probe = subprocess.run([str(tool), str(ob.path)], input="0x0\n", capture_output=True, text=True)
            if probe.returncode != 0:
                continue  # e.g. stripped PE: go tool addr2line needs COFF runtime.pclntab symbols
            total, bad = compare(g, tool, ob.path, random_pcs(g, SMALL_N, seed=3))
            assert not bad, f"{ob.name}: {len(bad)}/{total} disagree: " + "\n".join(bad[:10])
            compared += 1
            if g.pclntab.generation == "1.16":
                # 1.16/1.17 inline trees: 20-byte records behind absolute funcdata pointers
                inl = [r for f in list(g.functions())[::10] for r in g.ranges(f) if len(r.frames) > 1]
                assert inl, f"{ob.name}: no inlined frames decoded"
    assert gens == {"1.2", "1.16"}
    assert compared >= 4


def test_old_inline_call_sites_agree(old_binaries) -> None:
    """Before Go 1.20 each inline record also stores its call site's line: it must equal the line that
    the walk computes for the caller frame (pcln at entry + parentPc). Two independent encodings."""
    checked = 0
    for ob in old_binaries:
        with open_go_binary(ob.path) as g:
            for f in list(g.functions())[::7]:
                raw = g._raw(f.index)
                tree = g._inline_tree(raw)
                if tree is None:
                    continue
                pcinl = g._table(raw, raw.pcdata[2], f.entry, f.end)
                for r in g.ranges(f):
                    if len(r.frames) < 2:
                        continue
                    rec = tree.get(pcinl.value_at(r.start))
                    assert rec is not None
                    assert r.frames[1].line == rec.call_line, (ob.name, f.name, hex(r.start))
                    checked += 1
    assert checked > 1000


def test_large_real_binary_matches_go_addr2line(gotool) -> None:
    """The toolchain's own compiler (~28 MB, ~20k functions, built by the Go release process)."""
    from fixtures.factory import toolchain

    tc = toolchain("1.27")
    tools = sorted(Path(tc.goroot, "pkg", "tool").glob("*/compile"))
    if not tools:
        pytest.skip("toolchain ships no compile binary")
    path = tools[0]
    with open_go_binary(path) as g:
        assert g.nfunc > 10_000
        total, bad = compare(g, gotool("1.27", "addr2line"), path, random_pcs(g, BIG_N, seed=9))
    assert not bad, f"{len(bad)}/{total} disagree, first: " + "\n".join(bad[:10])
