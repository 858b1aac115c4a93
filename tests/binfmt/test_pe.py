"""PE reader tests on real windows binaries built by real Go toolchains.

Ground truth: Go's ``debug/pe`` (the dumper built by test_macho), GNU ``objdump -h`` (x86 PE) and
``llvm-readobj --file-headers`` (every machine).
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from symkeep.binfmt import open_binary
from symkeep.binfmt import pe_constants as C
from symkeep.binfmt.pe import PEFile
from symkeep.errors import FormatError, NotABinaryError, SymkeepError

from .helpers import (
    TOOLCHAINS,
    VARIANTS,
    cut_points,
    ff_bytes,
    fixture,
    go_dump,
    go_testdata,
    gt_tool,
    ids,
    llvm_mc_assemble,
    llvm_tool,
    mutate,
    patch,
    truncations,
    typed_errors_only,
)

WINDOWS = ("amd64", "386", "arm64")
CASES = [(tc, a, v) for tc in TOOLCHAINS for a in WINDOWS for v in VARIANTS]


@pytest.mark.parametrize("case", CASES, ids=ids)
def test_matches_debug_pe(case: tuple[str, str, str]) -> None:
    tc, goarch, variant = case
    path = fixture(tc, "windows", goarch, variant)
    gt = go_dump("pe", path)
    with open_binary(path) as b:
        assert isinstance(b, PEFile)
        assert b.format == "pe" and b.byteorder == "little"
        assert b.arch == goarch
        assert b.machine == gt["Machine"]
        assert (
            b.bits
            == (64 if gt["Magic"] == C.OPTIONAL_MAGIC_PE32_PLUS else 32)
            == (32 if goarch == "386" else 64)
        )
        assert b.image_base == gt["ImageBase"]
        assert b.entry == gt["ImageBase"] + gt["AddressOfEntryPoint"]
        assert b.kind == ("shared" if gt["Characteristics"] & C.IMAGE_FILE_DLL else "exe") == "exe"
        secs = b.sections()
        assert len(secs) == gt["NumberOfSections"] == len(gt["Sections"])
        for s, g in zip(secs, gt["Sections"], strict=True):
            assert s.name == g["Name"]  # long names resolved from the string table, like debug/pe
            assert s.addr == gt["ImageBase"] + g["VirtualAddress"]
            assert s.size == (g["VirtualSize"] or g["Size"])
            assert s.offset == g["Offset"]
            assert s.file_size == (0 if g["Offset"] == 0 else min(g["Size"], s.size))
            ch = g["Characteristics"]
            assert s.write == bool(ch & C.IMAGE_SCN_MEM_WRITE)
            assert s.execute == bool(ch & (C.IMAGE_SCN_MEM_EXECUTE | C.IMAGE_SCN_CNT_CODE))
            assert s.alloc == (not ch & C.IMAGE_SCN_MEM_DISCARDABLE)
            if s.file_size:
                assert (
                    bytes(b.section_data(s)[:16])
                    == path.read_bytes()[g["Offset"] : g["Offset"] + min(16, s.file_size)]
                )
        segs = b.segments()
        assert [(g.name, g.vaddr, g.memsz, g.offset, g.filesz) for g in segs] == [
            (s.name, s.addr, s.size, s.offset, s.file_size) for s in secs
        ]
        assert all(g.load for g in segs)
        text = b.section(".text")
        assert text is not None and text.execute and text.addr <= b.entry < text.end
        # the Go build ID string sits at the start of .text
        assert b"\xff Go build ID: " in bytes(b.section_data(text)[:256])
        names = {s.name for s in secs}
        syms = b.symbols()
        assert [(s.name, s.section_index) for s in syms] == [
            (g["Name"], g["SectionNumber"] - 1 if g["SectionNumber"] > 0 else None) for g in gt["Symbols"]
        ]
        for s, g in zip(syms, gt["Symbols"], strict=True):
            if g["SectionNumber"] > 0:
                assert s.value == secs[g["SectionNumber"] - 1].addr + g["Value"]
                assert secs[s.section_index].addr <= s.value <= secs[s.section_index].end  # type: ignore[index]
            else:
                assert s.value == g["Value"]
        if variant == "sw":
            # stripped PE: no COFF symbols (the linker still points at an empty table + string table)
            assert gt["NumberOfSymbols"] == 0 and syms == [] and b.symbol_go("main.main") is None
            assert not any(n.startswith((".debug", ".zdebug")) for n in names)
        else:
            assert len(syms) > 500
            mm = b.symbol_go("main.main")
            assert mm is not None and mm.kind == "func" and text.addr <= mm.value < text.end
            rt = b.symbol_go("runtime.text")
            assert rt is not None and rt.value == text.addr
            dwarf = [s for s in secs if s.name.startswith((".debug_", ".zdebug_"))]
            assert dwarf, "default Go PE builds carry DWARF in long-named sections"
            assert {s.compressed for s in dwarf} == {s.name.startswith(".zdebug") for s in dwarf}
            # the long names really came from the string table (raw header names are "/N")
            raw = {r.name: r.raw_name for r in b.raw_sections()}
            long = [n for n in raw if len(n) > 8]
            assert long and all(raw[n].startswith(b"/") for n in long)
        assert b.notes() == []


def objdump_sections(path: Path) -> list[tuple[str, int, int, int]]:
    res = subprocess.run(["objdump", "-h", str(path)], capture_output=True, text=True)
    if res.returncode != 0:
        pytest.skip(f"binutils objdump cannot read this PE: {res.stderr.strip()[:100]}")
    out = []
    for m in re.finditer(
        r"^\s*\d+\s+(\S+)\s+([0-9a-f]+)\s+([0-9a-f]+)\s+[0-9a-f]+\s+([0-9a-f]+)", res.stdout, re.M
    ):
        out.append((m.group(1), int(m.group(2), 16), int(m.group(3), 16), int(m.group(4), 16)))
    return out


@pytest.mark.skipif(shutil.which("objdump") is None, reason="binutils objdump not installed")
@pytest.mark.parametrize("case", [(tc, a) for tc in TOOLCHAINS for a in ("amd64", "386")], ids=ids)
def test_sections_vs_objdump(case: tuple[str, str]) -> None:
    tc, goarch = case
    path = fixture(tc, "windows", goarch, "default")
    want = objdump_sections(path)
    with open_binary(path) as b:
        got = b.sections()
        assert [w[0] for w in want] == [s.name for s in got]
        for (name, size, vma, off), s in zip(want, got, strict=True):
            assert s.addr == vma and s.offset == off, name
            if not s.compressed:  # binutils shows .zdebug_* sizes decompressed
                assert s.file_size == size, name  # binutils: min(VirtualSize, SizeOfRawData)


def llvm_readobj() -> str:
    return llvm_tool("llvm-readobj")


@pytest.mark.parametrize("case", [(tc, a) for tc in TOOLCHAINS for a in WINDOWS], ids=ids)
def test_headers_vs_llvm_readobj(case: tuple[str, str]) -> None:
    tc, goarch = case
    path = fixture(tc, "windows", goarch, "default")
    res = subprocess.run(
        [llvm_readobj(), "--file-headers", "--sections", str(path)], capture_output=True, text=True
    )
    assert res.returncode == 0, res.stderr
    out = res.stdout
    base = int(re.search(r"ImageBase: 0x([0-9A-F]+)", out).group(1), 16)  # type: ignore[union-attr]
    entry = int(re.search(r"AddressOfEntryPoint: 0x([0-9A-F]+)", out).group(1), 16)  # type: ignore[union-attr]
    nsyms = int(re.search(r"SymbolCount: (\d+)", out).group(1))  # type: ignore[union-attr]
    names = re.findall(r"^\s+Name: (\S+)", out, re.M)
    with open_binary(path) as b:
        assert isinstance(b, PEFile)
        assert b.image_base == base and b.entry == base + entry
        assert b.nsyms == nsyms
        assert [s.name for s in b.sections()] == names


# -- binaries from mingw gcc / llvm-mingw, shipped as Go's debug/pe test data ----------------------
MINGW_FILES = [
    "gcc-386-mingw-exec",
    "gcc-386-mingw-no-symbols-exec",
    "gcc-386-mingw-obj",
    "gcc-amd64-mingw-exec",
    "gcc-amd64-mingw-obj",
    "llvm-mingw-20211002-msvcrt-x86_64-crt2",
    "vmlinuz-4.15.0-47-generic",
]


@pytest.mark.parametrize("name", MINGW_FILES)
def test_mingw_files(name: str) -> None:
    path = go_testdata("pe") / name
    res = subprocess.run([str(gt_tool()), "pe", str(path)], capture_output=True, text=True)
    data = path.read_bytes()
    if res.returncode != 0:  # debug/pe rejects it: so must we, with a typed error
        with pytest.raises(SymkeepError):
            exercise(PEFile(str(path), data))
        return
    gt = json.loads(res.stdout)
    with PEFile(str(path), data) as b:
        assert b.machine == gt["Machine"] and b.image_base == gt["ImageBase"]
        assert b.kind == ("object" if "-obj" in name or "crt2" in name else "exe")
        assert [(s.name, s.size, s.offset) for s in b.sections()] == [
            (g["Name"], g["VirtualSize"] or g["Size"], g["Offset"]) for g in gt["Sections"]
        ]
        assert [(s.name, s.section_index) for s in b.symbols()] == [
            (g["Name"], g["SectionNumber"] - 1 if g["SectionNumber"] > 0 else None) for g in gt["Symbols"]
        ]
        if gt["Magic"]:
            assert b.entry == (
                gt["ImageBase"] + gt["AddressOfEntryPoint"] if gt["AddressOfEntryPoint"] else 0
            )
        if "no-symbols" in name:
            assert b.symbols() == []


# -- COFF objects from a real assembler: aux records, long section names, no optional header -------
COFF_ASM = """.text
.globl foo
.def foo
.scl 2
.type 32
.endef
foo:
 nop
 nop
.section .debug_very_long_name,"dr"
 .byte 1, 2, 3
.data
.globl bar
bar:
 .long 1
"""


@pytest.mark.parametrize(
    ("triple", "goarch", "machine"),
    [
        ("x86_64-pc-windows-msvc", "amd64", C.IMAGE_FILE_MACHINE_AMD64),
        ("i686-pc-windows-msvc", "386", C.IMAGE_FILE_MACHINE_I386),
        ("aarch64-pc-windows-msvc", "arm64", C.IMAGE_FILE_MACHINE_ARM64),
    ],
)
def test_coff_objects(tmp_path: Path, triple: str, goarch: str, machine: int) -> None:
    path = llvm_mc_assemble(COFF_ASM, triple, tmp_path / "t.s", tmp_path / "t.obj")
    gt = go_dump("pe", path)
    with PEFile(str(path), path.read_bytes()) as b:  # open_binary only detects images (MZ)
        assert isinstance(b, PEFile)
        assert (b.kind, b.arch, b.machine) == ("object", goarch, machine)
        assert b.segments() == []
        assert [(s.name, s.size, s.offset) for s in b.sections()] == [
            (g["Name"], g["VirtualSize"] or g["Size"], g["Offset"]) for g in gt["Sections"]
        ]
        dbg = b.section(".debug_very_long_name")
        assert dbg is not None and bytes(b.section_data(dbg)) == b"\x01\x02\x03"
        syms = b.symbols()
        # aux records (section symbols carry one each) are skipped like debug/pe does
        assert gt["COFFSymbols"] > len(gt["Symbols"])
        assert [(s.name, s.section_index) for s in syms] == [
            (g["Name"], g["SectionNumber"] - 1 if g["SectionNumber"] > 0 else None) for g in gt["Symbols"]
        ]
        foo = b.symbol_go("foo")
        assert foo is not None and foo.kind == "func" and foo.global_
        text_sz = next(g["Size"] for g in gt["Sections"] if g["Name"] == ".text")
        assert foo.size == text_sz  # the only symbol in .text: its size runs to the section end
        bar = b.symbol("bar")
        assert bar is not None and bar.kind == "object"
        assert {s.kind for s in syms if s.name == ".text"} == {"section"}
    data = path.read_bytes()
    typed_errors_only(truncations(data), lambda d: exercise(PEFile("mem", d)))
    typed_errors_only(ff_bytes(data), lambda d: exercise(PEFile("mem", d)))


# -- hostile input --------------------------------------------------------------------------------
def exercise(b: PEFile) -> None:
    b.sections()
    b.segments()
    b.symbols()
    for s in b.sections():
        b.section_data(s)
    if b.entry:
        with contextlib.suppress(FormatError):
            b.read_vaddr(b.entry, 4)


def open_bytes(data: bytes) -> PEFile:
    return PEFile("mem", data)


@pytest.fixture(scope="module")
def small_pe() -> bytes:
    return fixture("1.27", "windows", "386", "default").read_bytes()


def test_truncated_everywhere(small_pe: bytes) -> None:
    data = small_pe
    cuts = cut_points(len(data), 2048, 5)
    typed_errors_only(truncations(data, cuts), lambda d: exercise(open_bytes(d)))


def test_absurd_counts_are_typed_errors(small_pe: bytes) -> None:
    d = small_pe
    lfanew = struct.unpack_from("<I", d, 0x3C)[0]
    coff = lfanew + 4
    with pytest.raises(FormatError, match="e_lfanew"):
        open_bytes(patch(d, 0x3C, "<I", 0xFFFFFFF0))
    with pytest.raises(FormatError, match="NumberOfSections"):
        open_bytes(patch(d, coff + 2, "<H", 0xFFFF))
    with pytest.raises(FormatError, match="NumberOfSymbols"):
        open_bytes(patch(d, coff + 12, "<I", 0xFFFFFFFF))
    with pytest.raises(FormatError, match="SizeOfOptionalHeader"):
        open_bytes(patch(d[:4096], coff + 16, "<H", 0xFFFF))
    with pytest.raises(FormatError, match="optional header"):
        open_bytes(patch(d, coff + 20, "<H", 0x1234))
    st_off = struct.unpack_from("<I", d, coff + 8)[0] + 18 * struct.unpack_from("<I", d, coff + 12)[0]
    with pytest.raises(FormatError, match="string table"):
        open_bytes(patch(d, st_off, "<I", 0xFFFFFFF0))
    with pytest.raises(NotABinaryError):
        open_bytes(patch(d, lfanew, "<I", 0))
    with pytest.raises(NotABinaryError):
        open_bytes(b"MZ")
    # a symbol whose long-name offset points past the string table keeps an empty name, no crash
    b = open_bytes(patch(d, struct.unpack_from("<I", d, coff + 8)[0], "<Q", 0))
    assert b.symbols()[0].name == ""


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(0, 1023), st.integers(0, 255)), min_size=1, max_size=12))
def test_mutated_headers(small_pe: bytes, muts: list[tuple[int, int]]) -> None:
    with contextlib.suppress(SymkeepError):
        exercise(open_bytes(mutate(small_pe, muts)))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(0, 1 << 16), st.integers(0, 255)), min_size=1, max_size=16))
def test_mutated_symbol_table(small_pe: bytes, muts: list[tuple[int, int]]) -> None:
    d = small_pe
    lfanew = struct.unpack_from("<I", d, 0x3C)[0]
    symptr = struct.unpack_from("<I", d, lfanew + 4 + 8)[0]
    b = bytearray(d)
    for off, val in muts:
        b[symptr + off % (len(d) - symptr)] = val
    with contextlib.suppress(SymkeepError):
        exercise(open_bytes(bytes(b)))
