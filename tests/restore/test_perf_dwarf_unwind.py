"""`symkeep restore --perf-cache`: perf's `--call-graph=dwarf` unwinds a `-s -w` Go binary.

perf 6.1 unwinds with libunwind, which reads only `.eh_frame_hdr`/`.eh_frame` from the cached `elf` copy
(Go binaries have neither). The unwindable copy is checked three ways: its CFI against Go's own
`.debug_frame` of the unstripped twin (readelf), its search table against llvm-readelf's FDE list, and
end to end with perf: after restore the frameless leaf `main.leaf` is attributed to its caller
`main.spin`; frame-pointer unwinding (`-g`) of the same program loses that caller (measured contrast).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from fixtures.factory import FixtureSpec, FixtureUnavailable, build_fixture
from symkeep.restore.ehframe import PRESERVE, unwindable_copy
from symkeep.restore.model import FUNC_FLAG_TOPFRAME
from symkeep.symbolize import open_go_binary

from .tools import have


def _fixture(tc: str, arch: str, prog: str, variant: str) -> Path:
    try:
        return build_fixture(FixtureSpec(toolchain=tc, goarch=arch, variant=variant, program=prog))
    except FixtureUnavailable as e:
        pytest.skip(str(e))


# -- readelf / llvm-readelf parsing ---------------------------------------------------------------

Rows = list[tuple[int, tuple[tuple[str, str], ...]]]


def readelf_cfi(path: Path, section: str) -> dict[tuple[int, int], Rows]:
    """{(pc_begin, pc_end): [(loc, ((column, rule), ...)), ...]} from `readelf --debug-dump=frames-interp`."""
    out = subprocess.run(["readelf", "-W", "--debug-dump=frames-interp", str(path)], capture_output=True,
                         text=True, timeout=300).stdout
    res: dict[tuple[int, int], Rows] = {}
    cur: tuple[int, int] | None = None
    cols: list[str] = []
    sec = ""
    for ln in out.splitlines():
        if ln.startswith("Contents of the "):
            sec, cur = ln.split()[3], None
            continue
        if sec != section:
            continue
        m = re.search(r"FDE cie=\w+ pc=([0-9a-f]+)\.\.([0-9a-f]+)", ln)
        if m:
            cur = (int(m[1], 16), int(m[2], 16))
            res[cur] = []
            continue
        if cur is None:
            continue
        if not ln.strip():
            cur = None  # the FDE's table ends at a blank line ("ZERO terminator" lines follow)
            continue
        parts = ln.split()
        if parts and parts[0] == "LOC":
            cols = parts[1:]
        elif parts and re.fullmatch(r"[0-9a-f]{8,16}", parts[0]):
            res[cur].append((int(parts[0], 16), tuple(zip(cols, parts[1:], strict=False))))
    return res


def _rule_at(rows: Rows, pc: int) -> tuple[tuple[str, str], ...] | None:
    val = None
    for loc, r in rows:
        if loc <= pc:
            val = r
    return val


def _differs(go: Rows, ours: Rows, end: int) -> bool:
    pcs = sorted({loc for loc, _ in go} | {loc for loc, _ in ours})
    return any(_rule_at(go, pc) != _rule_at(ours, pc) for pc in pcs if pc < end)


CFI_CASES = [
    ("1.27", "amd64", "cpuhog"),
    ("1.19", "amd64", "cpuhog"),  # pre-1.21 prologue (SUBQ first, BP saved inside the frame)
    ("1.27", "arm64", "hello"),  # link register
]


@pytest.mark.skipif(not have("readelf"), reason="needs binutils readelf")
@pytest.mark.parametrize("case", CFI_CASES, ids=["-".join(c) for c in CFI_CASES])
def test_eh_frame_matches_go_debug_frame(case: tuple[str, str, str], tmp_path: Path) -> None:
    tc, arch, prog = case
    stripped = _fixture(tc, arch, prog, "sw")
    twin = _fixture(tc, arch, prog, "default")
    gob = open_go_binary(stripped)
    copy = tmp_path / "copy.elf"
    copy.write_bytes(unwindable_copy(gob).data)
    ours = readelf_cfi(copy, ".eh_frame")
    go = readelf_cfi(twin, ".debug_frame")
    assert len(go) > 500, f"readelf found only {len(go)} FDEs in Go's .debug_frame"
    top = {f.entry for f in gob.functions() if f.flags & FUNC_FLAG_TOPFRAME}
    missing = [hex(k[0]) for k in go if k not in ours]
    bad, top_diff = [], []
    for k, rows in go.items():
        if k in ours and _differs(rows, ours[k], k[1]):
            (top_diff if k[0] in top else bad).append(k)
    print(f"{tc}/{arch}/{prog}: {len(go)} Go FDEs, {len(ours)} ours, {len(bad)} differ, "
          f"{len(top_diff)} TopFrame functions differ (return address marked undefined on purpose)")
    assert not missing, missing[:10]
    assert not bad, [(hex(k[0]), go[k][:5], ours[k][:5]) for k in bad[:3]]
    # The only allowed difference: TopFrame functions, where we stop unwinders (ra undefined).
    for k in top_diff:
        assert all(dict(r).get("ra", dict(r).get("x30")) == "u" for _, r in ours[k]), (hex(k[0]), ours[k][:3])


def _llvm_fdes(path: Path) -> dict[int, int]:
    """{FDE address: initial_location} from `llvm-readelf --unwind`."""
    out = subprocess.run(["llvm-readelf", "--unwind", str(path)], capture_output=True, text=True,
                         timeout=300).stdout
    fdes: dict[int, int] = {}
    cur: int | None = None
    for ln in out.splitlines():
        m = re.match(r"\s*\[0x([0-9a-f]+)\] FDE ", ln)
        if m:
            cur = int(m[1], 16)
            continue
        m = re.match(r"\s*initial_location: 0x([0-9a-f]+)", ln)
        if m and cur is not None:
            fdes[cur] = int(m[1], 16)
            cur = None
    return fdes


def _sections(path: Path) -> dict[str, tuple[int, int, int]]:
    out = subprocess.run(["readelf", "-SW", str(path)], capture_output=True, text=True, check=True).stdout
    res = {}
    for m in re.finditer(r"\]\s+(\S+)\s+\S+\s+([0-9a-f]{16})\s+([0-9a-f]{6,})\s+([0-9a-f]{6,})", out):
        res[m[1]] = (int(m[2], 16), int(m[3], 16), int(m[4], 16))
    return res


def _exec_load(path: Path) -> tuple[int, int, int]:
    out = subprocess.run(["readelf", "-lW", str(path)], capture_output=True, text=True, check=True).stdout
    for ln in out.splitlines():
        p = ln.split()
        if p and p[0] == "LOAD" and "E" in p[6:-1]:
            return int(p[1], 16), int(p[2], 16), int(p[4], 16)
    raise AssertionError("no executable LOAD segment")


@pytest.mark.skipif(not (have("readelf") and have("llvm-readelf")), reason="needs readelf, llvm-readelf")
def test_copy_layout_and_search_table(tmp_path: Path) -> None:
    stripped = _fixture("1.27", "amd64", "cpuhog", "sw")
    twin = _fixture("1.27", "amd64", "cpuhog", "default")
    gob = open_go_binary(stripped)
    uc = unwindable_copy(gob)
    copy = tmp_path / "copy.elf"
    copy.write_bytes(uc.data)
    orig = stripped.read_bytes()

    # Sections as perf finds them: inside the executable segment's file range, address = offset + bias.
    off, vaddr, filesz = _exec_load(copy)
    secs = _sections(copy)
    for name in (".eh_frame_hdr", ".eh_frame"):
        addr, soff, size = secs[name]
        assert off <= soff and soff + size <= off + filesz, (name, hex(soff), size)
        assert addr - soff == vaddr - off, name
    assert secs[".text"] == _sections(stripped)[".text"]

    # Outside the overwritten region (and the ELF header's e_sh* fields) the original bytes are kept.
    r0, r1 = uc.region[0] - vaddr + off, uc.region[1] - vaddr + off
    assert orig[64:r0] == uc.data[64:r0] and orig[r1:] == uc.data[r1:len(orig)]
    assert orig[:0x28] == uc.data[:0x28]
    # ... including the hot code, and nothing of package main was overwritten.
    twin_syms = subprocess.run(["nm", "-S", str(twin)], capture_output=True, text=True, check=True).stdout
    mains = [(int(a, 16), int(s, 16), n) for a, s, _, n in (ln.split() for ln in twin_syms.splitlines()
                                                           if len(ln.split()) == 4) if n.startswith("main.")]
    assert {n for _, _, n in mains} >= {"main.spin", "main.leaf", "main.main"}
    for a, s, n in mains:
        assert orig[a - vaddr + off: a - vaddr + off + s] == uc.data[a - vaddr + off: a - vaddr + off + s], n
    assert uc.overwritten and not any(n.startswith("main.") or n in PRESERVE for n in uc.overwritten)

    # The binary-search table (decoded here by hand) points at exactly the FDEs llvm-readelf lists.
    haddr, hoff, hsize = secs[".eh_frame_hdr"]
    hdr = uc.data[hoff: hoff + hsize]
    assert hdr[:4] == bytes([1, 0x1B, 0x03, 0x3B])
    eh_ptr, count = struct.unpack_from("<iI", hdr, 4)
    assert haddr + 4 + eh_ptr == secs[".eh_frame"][0]
    table = [struct.unpack_from("<ii", hdr, 12 + 8 * i) for i in range(count)]
    starts = [haddr + a for a, _ in table]
    assert starts == sorted(starts) and len(set(starts)) == count
    fdes = _llvm_fdes(copy)
    assert len(fdes) == count == uc.fdes
    assert all(fdes.get(haddr + f) == haddr + a for a, f in table)
    entries = {f.entry for f in gob.functions()}
    assert set(starts) <= entries and len(starts) >= len(entries) - 5


@pytest.mark.skipif(not (have("readelf") and have("llvm-readelf")), reason="needs readelf, llvm-readelf")
def test_rodata_placement_keeps_all_code(tmp_path: Path) -> None:
    stripped = _fixture("1.27", "amd64", "cpuhog", "sw")
    gob = open_go_binary(stripped)
    uc = unwindable_copy(gob, place="rodata")
    copy = tmp_path / "copy.elf"
    copy.write_bytes(uc.data)
    orig = stripped.read_bytes()
    off, _, filesz = _exec_load(copy)
    # Every byte of the executable segment after the ELF header (whose e_sh* fields change) is kept.
    assert uc.data[0x40 : off + filesz] == orig[0x40 : off + filesz]
    assert not uc.overwritten and uc.overwritten_section == ".gopclntab"
    secs = _sections(copy)
    pcln_addr, pcln_off, pcln_size = secs[".gopclntab"]
    for name in (".eh_frame_hdr", ".eh_frame"):
        addr, soff, size = secs[name]
        assert pcln_off <= soff and soff + size <= pcln_off + pcln_size, name
        assert addr - soff == pcln_addr - pcln_off, name
    assert len(_llvm_fdes(copy)) == uc.fdes


# -- perf end to end ------------------------------------------------------------------------------

def _perf_ok() -> bool:
    if not have("perf"):
        return False
    r = subprocess.run(["perf", "record", "-e", "cpu-clock", "-o", "/dev/null", "true"], capture_output=True)
    return r.returncode == 0


def _chains(data: Path, env: dict[str, str]) -> list[list[str]]:
    """Per sample of the workload, its callchain's symbol names, innermost first (`perf script`)."""
    out = subprocess.run(["perf", "script", "-F", "comm,ip,sym", "--no-inline", "-i", str(data)], env=env,
                         capture_output=True, text=True, timeout=300).stdout
    chains: list[list[str]] = []
    cur: list[str] | None = None
    for ln in out.splitlines():
        if not ln.strip():
            if cur is not None:
                chains.append(cur)
            cur = None
        elif not ln.startswith(("\t", " ")):
            cur = [] if ln.split()[0] == "cpuhog" else None
        elif cur is not None:
            parts = ln.split(None, 1)
            cur.append(parts[1].strip() if len(parts) > 1 else "")
    if cur is not None:
        chains.append(cur)
    return chains


def _leaf_callers(chains: list[list[str]]) -> tuple[int, int, int]:
    """(samples in main.leaf, of which with main.spin as caller, of which also main.main above)."""
    leaf = [c for c in chains if c and c[0] == "main.leaf"]
    spin = [c for c in leaf if len(c) > 1 and c[1] == "main.spin"]
    full = [c for c in spin if "main.main" in c[2:] and "runtime.main" in c[2:]]
    return len(leaf), len(spin), len(full)


@pytest.mark.skipif(not _perf_ok(), reason="perf cannot record here (not installed or perf_event_paranoid)")
def test_perf_dwarf_unwind_finds_callers_of_frameless_leaf(tmp_path: Path) -> None:
    stripped = _fixture("1.27", "amd64", "cpuhog", "sw")
    exe = tmp_path / "cpuhog"
    shutil.copy2(stripped, exe)
    digest = hashlib.sha256(exe.read_bytes()).hexdigest()
    home = tmp_path / "home"
    home.mkdir()
    env = {**os.environ, "HOME": str(home)}
    env.pop("PERF_BUILDID_DIR", None)
    dwarf, fp = tmp_path / "dwarf.data", tmp_path / "fp.data"
    for data, mode in ((dwarf, ["--call-graph=dwarf"]), (fp, ["-g"])):
        subprocess.run(["perf", "record", "-e", "cpu-clock", *mode, "-o", str(data), str(exe),
                        # 6 s of wall time: on a busy 2-core machine the program gets a fraction of a core
                        str(tmp_path / "out.prof"), "6"], env=env, check=True, capture_output=True, timeout=300)

    def restore(*extra: str) -> None:
        subprocess.run([sys.executable, "-m", "symkeep", "restore", str(exe), "-o", str(tmp_path / "c.debug"),
                        "--perf-cache", *extra], env=env, check=True, capture_output=True, timeout=300)

    # Names but no unwind tables (debug file only): dwarf unwinding stops at the leaf.
    restore("--no-perf-unwind")
    n0, spin0, _ = _leaf_callers(_chains(dwarf, env))
    # With the unwindable elf copy.
    restore()
    n1, spin1, full1 = _leaf_callers(_chains(dwarf, env))
    nfp, spinfp, _ = _leaf_callers(_chains(fp, env))
    print(f"main.leaf samples with caller main.spin: dwarf without .eh_frame {spin0}/{n0}, "
          f"dwarf with .eh_frame {spin1}/{n1} ({full1} up to runtime.main), frame pointers {spinfp}/{nfp}")
    assert n1 >= 20 and nfp >= 20, "too few samples in main.leaf to judge"
    assert spin1 >= 0.9 * n1 and full1 >= 0.9 * n1
    assert spin0 == 0  # the debug file alone does not unwind: the copy's .eh_frame does
    assert spinfp == 0  # frame pointers skip the frameless leaf's caller
    # Tables over .gopclntab instead of code: the data mapping perf records in dwarf mode serves them.
    restore("--perf-unwind-place", "rodata")
    n2, spin2, full2 = _leaf_callers(_chains(dwarf, env))
    print(f"with the tables over .gopclntab: {spin2}/{n2} ({full2} up to runtime.main)")
    assert spin2 >= 0.9 * n2 and full2 >= 0.9 * n2
    restore()
    # perf's cache copy was replaced (new inode), the binary itself untouched.
    assert hashlib.sha256(exe.read_bytes()).hexdigest() == digest
    cached = next(home.glob(".debug/**/elf"))
    assert not os.path.samefile(cached, exe)
    # And perf report shows the leaf under its caller.
    rep = subprocess.run(["perf", "report", "--stdio", "--no-children", "--no-inline", "-i", str(dwarf)],
                         env=env, capture_output=True, text=True, timeout=300).stdout
    m = re.search(r"\[\.\] main\.leaf\s*\n(?:.*\n){0,3}?\s*---main\.leaf\s*\n\s*main\.spin\s*\n", rep)
    assert m, rep[:4000]


def _hdr_table(data: bytes, addr: int, off: int) -> list[tuple[int, int]]:
    (count,) = struct.unpack_from("<I", data, off + 8)
    return [(addr + a, addr + f) for a, f in (struct.unpack_from("<ii", data, off + 12 + 8 * i) for i in range(count))]


@pytest.mark.skipif(not (have("readelf") and have("llvm-readelf")), reason="needs readelf, llvm-readelf")
def test_external_link_keeps_c_unwind_entries(tmp_path: Path) -> None:
    """External linking leaves a small .eh_frame_hdr for the C objects: the merged table keeps its entries
    (perf takes the first section named .eh_frame_hdr, so the original ones are renamed)."""
    exe = _fixture("1.26", "amd64", "hello", "extlink")
    secs0 = _sections(exe)
    if ".eh_frame_hdr" not in secs0:
        pytest.skip("this external link produced no .eh_frame_hdr")
    orig = exe.read_bytes()
    a0, o0, _ = secs0[".eh_frame_hdr"]
    c_entries = _hdr_table(orig, a0, o0)
    assert c_entries, "empty original table"
    uc = unwindable_copy(open_go_binary(exe))
    copy = tmp_path / "copy.elf"
    copy.write_bytes(uc.data)
    secs = _sections(copy)
    assert secs[".eh_frame_hdr.orig"] == secs0[".eh_frame_hdr"]
    a1, o1, _ = secs[".eh_frame_hdr"]
    merged = _hdr_table(uc.data, a1, o1)
    assert [s for s, _ in merged] == sorted(s for s, _ in merged)
    assert set(c_entries) <= set(merged)
    assert len(merged) == uc.fdes + len(c_entries)
    # Every table entry points at an FDE for that start, per llvm-readelf (ours and the C ones).
    fdes = _llvm_fdes(copy)
    c_fdes = {f for _, f in c_entries}
    assert all(fdes.get(f) == s for s, f in merged if f not in c_fdes)
