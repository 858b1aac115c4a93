"""Mach-O reader tests on real darwin binaries built by real Go toolchains.

Ground truth: Go's own ``debug/macho`` (a small program built here, see ``helpers.GT_SOURCE``) and
``llvm-objdump --macho`` (UUID, entry point, rebase locations). A universal file is assembled from two
thin slices; chained fixups are encoded over the real rebase locations that llvm-objdump lists.
"""

from __future__ import annotations

import contextlib
import functools
import random
import re
import struct
import subprocess
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from symkeep.binfmt import macho_constants as C
from symkeep.binfmt import open_binary
from symkeep.binfmt.macho import MachOFile, open_macho
from symkeep.errors import FormatError, NotABinaryError, SymkeepError, UsageError

from .helpers import (
    TOOLCHAINS,
    VARIANTS,
    cut_points,
    ff_bytes,
    fixture,
    go_dump,
    go_testdata,
    ids,
    llvm_mc_assemble,
    llvm_tool,
    mutate,
    patch,
    truncations,
    typed_errors_only,
)

DARWIN = ("amd64", "arm64")


# -- ground truth -----------------------------------------------------------------------------------
def llvm_objdump() -> str:
    return llvm_tool("llvm-objdump")


def llvm_private_headers(path: Path) -> str:
    res = subprocess.run(
        [llvm_objdump(), "--macho", "--private-headers", str(path)], capture_output=True, text=True
    )
    assert res.returncode == 0, res.stderr
    return res.stdout


def cstr(name: str) -> str:
    """debug/macho keeps the raw 16-byte name field; we cut at the first NUL like Apple's tools."""
    return name.split("\0", 1)[0]


def go_visible(name: str) -> str:
    return name[1:] if name.startswith("_") and "." in name else name


CASES = [(tc, a, v) for tc in TOOLCHAINS for a in DARWIN for v in VARIANTS]


# -- structure vs debug/macho ---------------------------------------------------------------------
@pytest.mark.parametrize("case", CASES, ids=ids)
def test_matches_debug_macho(case: tuple[str, str, str]) -> None:
    tc, goarch, variant = case
    path = fixture(tc, "darwin", goarch, variant)
    gt = go_dump("macho", path)
    with open_binary(path) as b:
        assert isinstance(b, MachOFile)
        assert b.format == "macho"
        assert b.arch == goarch  # the GOARCH we asked the toolchain for
        assert b.bits == 64
        assert b.byteorder == ("big" if gt["BigEndian"] else "little")
        assert b.machine == gt["Cpu"]
        assert b.filetype == gt["Type"] == C.MH_EXECUTE
        assert b.kind == ("pie" if gt["Flags"] & C.MH_PIE else "exe")
        assert len(b.load_commands) == gt["Ncmd"]
        segs = b.segments()
        assert [(s.name, s.vaddr, s.memsz, s.offset, s.filesz) for s in segs] == [
            (s["Name"], s["Addr"], s["Memsz"], s["Offset"], s["Filesz"]) for s in gt["Segments"]
        ]
        for s, g in zip(segs, gt["Segments"], strict=True):
            assert (s.read, s.write, s.execute) == (
                bool(g["Prot"] & 1),
                bool(g["Prot"] & 2),
                bool(g["Prot"] & 4),
            )
        secs = b.sections()
        assert [(s.name, s.segment, s.addr, s.size, s.offset, s.raw_flags) for s in secs] == [
            (cstr(g["Name"]), cstr(g["Seg"]), g["Addr"], g["Size"], g["Offset"], g["Flags"])
            for g in gt["Sections"]
        ]
        text = b.section_in("__TEXT", "__text")
        assert text is not None and text.execute and text.alloc and not text.write
        bss = b.section("__bss")
        assert bss is not None and bss.file_size == 0 and bss.size > 0 and bss.write
        # Go stores the build info and pclntab in their own sections
        bi = b.section("__go_buildinfo")
        assert bi is not None and bytes(b.section_data(bi)[:14]) == b"\xff Go buildinf:"
        pcln = b.section("__gopclntab")
        assert pcln is not None
        assert b.read_vaddr(pcln.addr, 4) == bytes(b.section_data(pcln)[:4])
        magic = struct.unpack("<I", bytes(b.section_data(pcln)[:4]))[0]
        assert magic in (0xFFFFFFF0, 0xFFFFFFF1)
        # symbols: raw names with the Mach-O underscore
        syms = b.symbols()
        # (debug/macho drops the underscore of names that contain a dot: Go's own symbols)
        assert [(go_visible(s.name), s.value) for s in syms] == [
            (g["Name"], g["Value"]) for g in gt["Symbols"]
        ]
        for s, g in zip(syms, gt["Symbols"], strict=True):
            if g["Type"] & C.N_TYPE == C.N_SECT and not g["Type"] & C.N_STAB:
                assert s.section_index == g["Sect"] - 1
                assert secs[s.section_index].addr <= s.value <= secs[s.section_index].end
        if variant == "default":
            assert len(syms) > 500
            mm = b.symbol_go("main.main")
            assert mm is not None and mm.name == "_main.main" and mm.kind == "func"
            assert text.addr <= mm.value < text.end and mm.size > 0
            assert b.symbol_go("runtime.text") is not None
            dw = [s for s in secs if s.segment == "__DWARF"]
            assert dw and not any(s.alloc for s in dw)
            assert {s.compressed for s in dw} == {s.name.startswith("__zdebug") for s in dw}
        else:
            # Go 1.21 keeps the whole Mach-O symbol table under -s (checked against debug/macho above);
            # Go 1.27 keeps only the dynamic-import symbols
            if tc == "1.27":
                assert b.symbol_go("main.main") is None and len(syms) < 200
            assert not [s for s in secs if s.segment == "__DWARF"]
        assert b.notes() == []
        assert b.fat_slices == []


@pytest.mark.parametrize("case", [(tc, a) for tc in TOOLCHAINS for a in DARWIN], ids=ids)
def test_entry_and_uuid_vs_llvm(case: tuple[str, str]) -> None:
    tc, goarch = case
    path = fixture(tc, "darwin", goarch, "default")
    out = llvm_private_headers(path)
    with open_binary(path) as b:
        assert isinstance(b, MachOFile)
        m = re.search(r"uuid ([0-9A-F-]{36})", out)
        if m:
            assert b.uuid == m.group(1).replace("-", "").lower()
        else:
            assert b.uuid is None and "LC_UUID" not in out
        rip = re.search(r"\brip\s+0x([0-9a-f]+)", out)
        pc = re.search(r"\bpc\s+0x([0-9a-f]+)", out)
        eo = re.search(r"entryoff (\d+)", out)
        if eo:
            text_seg = next(s for s in b.segments() if s.name == "__TEXT")
            assert b.entry == text_seg.vaddr + int(eo.group(1))
        elif rip or pc:
            assert b.entry == int((rip or pc).group(1), 16)  # type: ignore[union-attr]
        else:
            pytest.fail("llvm-objdump shows no entry point")
        text = b.section_in("__TEXT", "__text")
        assert text is not None and text.addr <= b.entry < text.end
        main = b.symbol_go(f"_rt0_{goarch}_darwin")
        assert main is not None and main.value == b.entry
        assert b.image_base == next(s.vaddr for s in b.segments() if s.name == "__TEXT")


def test_uuid_present_from_124_on() -> None:
    """The internal linker writes LC_UUID from the Go build ID (1.24+); llvm shows the same bytes."""
    path = fixture("1.27", "darwin", "arm64", "sw")
    out = llvm_private_headers(path)
    m = re.search(r"uuid ([0-9A-F-]{36})", out)
    assert m, "expected LC_UUID in a Go 1.27 darwin binary"
    with open_binary(path) as b:
        assert isinstance(b, MachOFile)
        assert b.uuid == m.group(1).replace("-", "").lower()
        assert b.uuid_bytes is not None and len(b.uuid_bytes) == 16


# -- 32-bit Mach-O objects from a real assembler (Go no longer targets 32-bit darwin) ---------------
ASM = """.text
.globl _foo
_foo:
 nop
 nop
.globl _foo2
_foo2:
 nop
.data
.globl _bar
_bar:
 .long 1
.section __TEXT,__cstring,cstring_literals
L_str:
 .asciz "hello"
.zerofill __DATA,__bss,_buf,64,2
"""


def llvm_mc_object(tmp: Path, triple: str) -> Path:
    return llvm_mc_assemble(ASM, triple, tmp / "t.s", tmp / f"{triple}.o")


@pytest.mark.parametrize(
    ("triple", "goarch", "bits"),
    [
        ("i386-apple-macosx10.6", "386", 32),
        ("armv7-apple-ios", "arm", 32),
        ("x86_64-apple-macosx", "amd64", 64),
    ],
)
def test_assembler_objects(tmp_path: Path, triple: str, goarch: str, bits: int) -> None:
    path = llvm_mc_object(tmp_path, triple)
    gt = go_dump("macho", path)
    with open_binary(path) as b:
        assert isinstance(b, MachOFile)
        assert (b.arch, b.bits, b.kind, b.machine) == (goarch, bits, "object", gt["Cpu"])
        assert b.filetype == gt["Type"] == C.MH_OBJECT
        assert [(s.name, s.vaddr, s.memsz, s.offset, s.filesz) for s in b.segments()] == [
            (s["Name"], s["Addr"], s["Memsz"], s["Offset"], s["Filesz"]) for s in gt["Segments"]
        ]
        assert [(s.name, s.segment, s.addr, s.size, s.offset) for s in b.sections()] == [
            (cstr(g["Name"]), cstr(g["Seg"]), g["Addr"], g["Size"], g["Offset"]) for g in gt["Sections"]
        ]
        assert [(go_visible(s.name), s.value) for s in b.symbols()] == [
            (g["Name"], g["Value"]) for g in gt["Symbols"]
        ]
        bss = b.section("__bss")
        assert bss is not None and bss.file_size == 0 and bss.size == 64
        foo, foo2, bar = b.symbol("_foo"), b.symbol("_foo2"), b.symbol("_bar")
        assert foo is not None and foo2 is not None and bar is not None
        assert foo.kind == "func" and bar.kind == "object" and foo.global_
        assert foo.size == foo2.value - foo.value  # sizes from the next symbol (Mach-O stores none)
        text = b.section("__text")
        assert text is not None and foo2.size == text.end - foo2.value
        assert bytes(b.section_data(b.section("__cstring"))) == b"hello\0"  # type: ignore[arg-type]
    # every truncation and every byte set to 0xff: typed errors only
    data = path.read_bytes()
    typed_errors_only(truncations(data), lambda d: exercise(open_bytes(d)))
    typed_errors_only(ff_bytes(data), lambda d: exercise(open_bytes(d)))


def test_universal_objects(tmp_path: Path) -> None:
    parts = []
    for t in ("i386-apple-macosx10.6", "x86_64-apple-macosx"):
        data = llvm_mc_object(tmp_path, t).read_bytes()
        cpu, sub = struct.unpack("<ii", data[4:12])
        parts.append((cpu, sub, data))
    fat = tmp_path / "fat.o"
    fat.write_bytes(make_fat(parts, align=12))
    gt = go_dump("fat", fat)
    assert [(g["Cpu"], g["Offset"], g["Size"]) for g in gt] == [
        (s.arch == "386" and C.CPU_TYPE_X86 or C.CPU_TYPE_X86_64, s.offset, s.size)
        for s in open_binary(fat).fat_slices
    ]
    for g, arch in zip(gt, ("386", "amd64"), strict=True):
        b = open_binary(fat, arch=arch)
        assert b.bits == (32 if arch == "386" else 64)
        assert [(s.name, s.size, s.offset) for s in b.sections()] == [
            (cstr(x["Name"]), x["Size"], x["Offset"]) for x in g["File"]["Sections"]
        ]
        assert [s.value for s in b.symbols()] == [x["Value"] for x in g["File"]["Symbols"]]


# -- binaries from Apple's toolchains (gcc/clang on macOS), shipped as Go's debug/macho test data -------
APPLE_FILES = [
    "clang-386-darwin-exec-with-rpath",
    "clang-386-darwin.obj",
    "clang-amd64-darwin-exec-with-rpath",
    "clang-amd64-darwin-ld-r.obj",
    "clang-amd64-darwin.obj",
    "fat-gcc-386-amd64-darwin-exec",
    "gcc-386-darwin-exec",
    "gcc-amd64-darwin-exec-debug",
    "gcc-amd64-darwin-exec",
]


def compare_with_go(b: MachOFile, gt: Any) -> None:
    assert b.machine == gt["Cpu"] and b.filetype == gt["Type"] and len(b.load_commands) == gt["Ncmd"]
    assert [(s.name, s.vaddr, s.memsz, s.offset, s.filesz) for s in b.segments()] == [
        (s["Name"], s["Addr"], s["Memsz"], s["Offset"], s["Filesz"]) for s in gt["Segments"]
    ]
    assert [(s.name, s.segment, s.addr, s.size, s.offset, s.raw_flags) for s in b.sections()] == [
        (cstr(g["Name"]), cstr(g["Seg"]), g["Addr"], g["Size"], g["Offset"], g["Flags"])
        for g in gt["Sections"]
    ]
    assert [(go_visible(s.name), s.value) for s in b.symbols()] == [
        (g["Name"], g["Value"]) for g in gt["Symbols"]
    ]


@pytest.mark.parametrize("name", APPLE_FILES)
def test_apple_toolchain_files(tmp_path: Path, name: str) -> None:
    import base64

    path = tmp_path / name
    path.write_bytes(base64.b64decode((go_testdata("macho") / f"{name}.base64").read_bytes()))
    head = llvm_private_headers(path)
    if name.startswith("fat-"):
        gt = go_dump("fat", path)
        first = open_binary(path)
        assert [(s.offset, s.size) for s in first.fat_slices] == [(g["Offset"], g["Size"]) for g in gt]
        for g, sl in zip(gt, first.fat_slices, strict=True):
            b = open_binary(path, arch=sl.arch)
            assert isinstance(b, MachOFile) and b.base == g["Offset"]
            compare_with_go(b, g["File"])
        return
    gt = go_dump("macho", path)
    with open_binary(path) as b:
        assert isinstance(b, MachOFile)
        compare_with_go(b, gt)
        assert b.arch == ("386" if "-386-" in name else "amd64") and b.bits == (32 if "-386-" in name else 64)
        kind = {
            C.MH_EXECUTE: "pie" if gt["Flags"] & C.MH_PIE else "exe",
            C.MH_OBJECT: "object",
            C.MH_DSYM: "debug",
        }
        assert b.kind == kind.get(gt["Type"], "unknown")
        # entry: eip/rip of LC_UNIXTHREAD or LC_MAIN's entryoff, as llvm-objdump prints them
        eip = re.search(r"\b(?:eip|rip)\s+0x([0-9a-f]+)", head)
        eo = re.search(r"entryoff (\d+)", head)
        if eo:
            assert b.entry == b.image_base + int(eo.group(1))
        elif eip:
            assert b.entry == int(eip.group(1), 16)
        else:
            assert b.entry == 0
        m = re.search(r"uuid ([0-9A-F-]{36})", head)
        assert b.uuid == (m.group(1).replace("-", "").lower() if m else None)


# -- universal files ------------------------------------------------------------------------------
def make_fat(slices: list[tuple[int, int, bytes]], magic64: bool = False, align: int = 14) -> bytes:
    """A universal file per <mach-o/fat.h>: big-endian header, fat_arch table, aligned slices."""
    hdr = struct.pack(">II", C.FAT_MAGIC_64 if magic64 else C.FAT_MAGIC, len(slices))
    entsize = C.FAT_ARCH_64_SIZE if magic64 else C.FAT_ARCH_SIZE
    off = len(hdr) + entsize * len(slices)
    table = b""
    body = b""
    pos = off
    for cpu, sub, data in slices:
        start = (pos + (1 << align) - 1) & ~((1 << align) - 1)
        body += b"\0" * (start - pos) + data
        if magic64:
            table += struct.pack(">iiQQII", cpu, sub, start, len(data), align, 0)
        else:
            table += struct.pack(">iiIII", cpu, sub, start, len(data), align)
        pos = start + len(data)
    return hdr + table + body


@pytest.mark.parametrize("magic64", [False, True], ids=["fat32", "fat64"])
def test_universal_file(tmp_path: Path, magic64: bool) -> None:
    thin = {a: fixture("1.27", "darwin", a, "sw") for a in DARWIN}
    parts = []
    for a in DARWIN:
        data = thin[a].read_bytes()
        cpu, sub = struct.unpack("<ii", data[4:12])
        parts.append((cpu, sub, data))
    fat = tmp_path / "universal"
    fat.write_bytes(make_fat(parts, magic64))
    if not magic64:  # debug/macho reads FAT_MAGIC only
        gt = go_dump("fat", fat)
        assert [g["Cpu"] for g in gt] == [p[0] for p in parts]
    first = open_binary(fat)
    assert first.arch == "amd64"
    assert [(s.arch, s.size) for s in first.fat_slices] == [(a, thin[a].stat().st_size) for a in DARWIN]
    for a in DARWIN:
        b = open_binary(fat, arch=a)
        t = open_binary(thin[a])
        assert b.arch == a and b.base == next(s.offset for s in b.fat_slices if s.arch == a)
        assert b.sections() == t.sections()  # offsets are relative to the slice
        assert b.segments() == t.segments()
        assert b.symbols() == t.symbols()
        assert (b.entry, b.image_base, b.kind, b.uuid) == (t.entry, t.image_base, t.kind, t.uuid)  # type: ignore[attr-defined]
        pcln = b.section("__gopclntab")
        assert pcln is not None
        assert bytes(b.section_data(pcln)[:64]) == bytes(t.section_data(t.section("__gopclntab"))[:64])  # type: ignore[arg-type]
        if not magic64:
            g = next(x for x in go_dump("fat", fat) if x["Cpu"] == b.machine)
            assert g["Offset"] == b.base
            assert [(s.name, s.addr, s.size) for s in b.sections()] == [
                (cstr(s["Name"]), s["Addr"], s["Size"]) for s in g["File"]["Sections"]
            ]
    with pytest.raises(UsageError, match="no ppc64 slice"):
        open_binary(fat, arch="ppc64")


def test_java_class_is_not_universal(tmp_path: Path) -> None:
    p = tmp_path / "A.class"
    p.write_bytes(bytes.fromhex("cafebabe00000041") + b"\0" * 64)  # Java 17 class header
    with pytest.raises(NotABinaryError):
        open_binary(p)


# -- chained fixups -------------------------------------------------------------------------------
def rebase_locations(path: Path) -> list[int]:
    res = subprocess.run([llvm_objdump(), "--macho", "--rebase", str(path)], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    out = []
    for line in res.stdout.splitlines():
        m = re.match(r"\s*(\S+)\s+(\S+)\s+0x([0-9A-Fa-f]+)\s+pointer", line)
        if m:
            out.append(int(m.group(3), 16))
    return out


def encode_chained(path: Path, fmt: int, tag_first: bool = False) -> tuple[bytes, dict[int, int]]:
    """Rewrite a Go darwin/arm64 binary's rebase pointers as dyld chained fixups of format ``fmt``.

    Returns the new file and {vaddr: pointer value expected after decoding}. Expected values are the
    original 8-byte words, read at the file offsets debug/macho's segment table gives.
    """
    data = bytearray(path.read_bytes())
    gt = go_dump("macho", path)
    segs = gt["Segments"]
    base = next(s["Addr"] for s in segs if s["Name"] == "__TEXT")
    locs = sorted(set(rebase_locations(path)))
    assert locs, "llvm-objdump lists no rebase locations"

    def seg_of(addr: int) -> int:
        return next(i for i, s in enumerate(segs) if s["Addr"] <= addr < s["Addr"] + s["Filesz"])

    def foff(addr: int) -> int:
        s = segs[seg_of(addr)]
        return int(s["Offset"] + addr - s["Addr"])

    expected = {a: struct.unpack_from("<Q", data, foff(a))[0] for a in locs}
    page = 0x4000
    stride = C.CHAINED_STRIDE[fmt]
    by_page: dict[tuple[int, int], list[int]] = {}
    for a in locs:
        si = seg_of(a)
        by_page.setdefault((si, (a - segs[si]["Addr"]) // page), []).append(a)
    tagged = locs[0] if tag_first else None
    for (_si, _pg), addrs in by_page.items():
        for k, a in enumerate(addrs):
            nxt = (addrs[k + 1] - a) // stride if k + 1 < len(addrs) else 0
            assert nxt < (
                0x7FF if fmt != C.DYLD_CHAINED_PTR_64 and fmt != C.DYLD_CHAINED_PTR_64_OFFSET else 0xFFF
            )
            v = expected[a]
            high8 = 0
            if a == tagged:
                high8 = 0x5A
                expected[a] = v | (high8 << 56)
            if fmt == C.DYLD_CHAINED_PTR_64:
                raw = v | (high8 << 36) | (nxt << 51)
            elif fmt == C.DYLD_CHAINED_PTR_64_OFFSET:
                raw = (v - base) | (high8 << 36) | (nxt << 51)
            elif fmt == C.DYLD_CHAINED_PTR_ARM64E:
                if k % 2 and a != tagged:  # authenticated rebase: 32-bit offset, key/diversity bits set
                    raw = (v - base) | (0x1234 << 32) | (1 << 48) | (2 << 49) | (nxt << 51) | (1 << 63)
                else:
                    raw = v | (high8 << 43) | (nxt << 51)
            else:
                raise AssertionError(fmt)
            struct.pack_into("<Q", data, foff(a), raw)
    # dyld_chained_starts_in_image / starts_in_segment, one entry per segment (PAGEZERO included)
    seg_infos = b""
    offsets = []
    info_base = 4 + 4 * len(segs)
    for si, s in enumerate(segs):
        pages = [pg for (sj, pg) in by_page if sj == si]
        if not pages:
            offsets.append(0)
            continue
        npages = (s["Memsz"] + page - 1) // page
        starts = [C.DYLD_CHAINED_PTR_START_NONE] * npages
        for pg in pages:
            starts[pg] = by_page[(si, pg)][0] - (s["Addr"] + pg * page)
        body = struct.pack("<IHHQIH", 22 + 2 * npages, page, fmt, s["Addr"] - base, 0, npages)
        body += struct.pack(f"<{npages}H", *starts)
        body += b"\0" * (-len(body) % 4)
        offsets.append(info_base + len(seg_infos))
        seg_infos += body
    starts_image = struct.pack(f"<I{len(segs)}I", len(segs), *offsets) + seg_infos
    header = struct.pack("<7I", 0, 32, 32 + len(starts_image), 32 + len(starts_image), 0, 1, 0)
    blob = header + b"\0" * 4 + starts_image
    dataoff = (len(data) + 7) & ~7
    data += b"\0" * (dataoff - len(data)) + blob
    # turn LC_DYLD_INFO_ONLY (48 bytes) into LC_DYLD_CHAINED_FIXUPS, keeping its size
    off = 32
    for _ in range(gt["Ncmd"]):
        cmd, size = struct.unpack_from("<II", data, off)
        if cmd == C.LC_DYLD_INFO_ONLY:
            data[off : off + size] = struct.pack(
                "<IIII", C.LC_DYLD_CHAINED_FIXUPS, size, dataoff, len(blob)
            ).ljust(size, b"\0")
            break
        off += size
    else:
        raise AssertionError("no LC_DYLD_INFO_ONLY to replace")
    return bytes(data), expected


@pytest.mark.parametrize(
    "fmt",
    [C.DYLD_CHAINED_PTR_64, C.DYLD_CHAINED_PTR_64_OFFSET, C.DYLD_CHAINED_PTR_ARM64E],
    ids=["ptr64", "ptr64_offset", "arm64e"],
)
@pytest.mark.parametrize("tc", TOOLCHAINS)
def test_chained_fixups(tmp_path: Path, tc: str, fmt: int) -> None:
    src = fixture(tc, "darwin", "arm64", "default")
    gt = go_dump("macho", src)
    pcln_addr = next(s["Addr"] for s in gt["Sections"] if cstr(s["Name"]) == "__gopclntab")
    data, expected = encode_chained(src, fmt, tag_first=fmt != C.DYLD_CHAINED_PTR_ARM64E)
    # the rebase set really holds moduledata: one slot points at the pclntab (pcHeader)
    assert pcln_addr in {v & ((1 << 56) - 1) for v in expected.values()}
    out = tmp_path / "chained"
    out.write_bytes(data)
    with open_binary(out) as b:
        assert isinstance(b, MachOFile)
        assert b.chained_fixups_cmd is not None and b.dyld_info is None
        got = {a: b.read_pointer(a) for a in expected}
        assert got == expected
        assert b.fixup_pointers() == expected
        # a slot that is no fixup reads plainly
        plain = next(
            a
            for a in range(min(expected), max(expected), 8)
            if a not in expected and b.vaddr_to_offset(a) is not None
        )
        assert b.read_pointer(plain) == b.word(b.vaddr_to_offset(plain))  # type: ignore[arg-type]
    with open_binary(src) as orig:
        # without fixups read_pointer is the plain word, and agrees with the decoded chain
        assert all(orig.read_pointer(a) == v & ((1 << 56) - 1) for a, v in expected.items())


def llvm_with_lld() -> Path:
    """An LLVM bin dir with ld64.lld that writes chained fixups and an objdump that decodes them (15+)."""
    for v in range(20, 14, -1):
        d = Path(f"/usr/lib/llvm-{v}/bin")
        if all((d / t).exists() for t in ("ld64.lld", "llvm-mc", "llvm-objdump")):
            return d
    pytest.skip("needs ld64.lld and llvm-objdump >= 15 (Debian packages lld-16 llvm-16)")


LLD_MAIN = """.text
.globl _main
.p2align 2
_main:
 ret
.globl _foo
_foo:
 ret
.data
.globl _table
.p2align 3
_table:
 .quad _foo
 .quad _ext
 .quad _main
 .quad _table
 .quad _foo+4
"""
LLD_LIB = """.text
.globl _ext
_ext:
 ret
"""


@pytest.mark.parametrize("arch", ["arm64", "x86_64"])
def test_chained_fixups_from_lld(tmp_path: Path, arch: str) -> None:
    """A real linker's chained fixups: rebases decode to the symbols' addresses, a bind to 0."""
    d = llvm_with_lld()

    def run(*cmd: str | Path) -> str:
        res = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, cwd=tmp_path)
        assert res.returncode == 0, res.stderr
        return res.stdout

    (tmp_path / "main.s").write_text(LLD_MAIN)
    (tmp_path / "lib.s").write_text(LLD_LIB)
    triple = f"{arch}-apple-macos13"
    plat = ("-arch", arch, "-platform_version", "macos", "13.0", "13.0")
    run(d / "llvm-mc", f"-triple={triple}", "-filetype=obj", "-o", "lib.o", "lib.s")
    run(
        d / "ld64.lld", *plat, "-dylib", "-install_name", "@rpath/libext.dylib", "-o", "libext.dylib", "lib.o"
    )
    run(d / "llvm-mc", f"-triple={triple}", "-filetype=obj", "-o", "main.o", "main.s")
    run(d / "ld64.lld", *plat, "-fixup_chains", "-e", "_main", "-o", "a.out", "main.o", "libext.dylib")
    path = tmp_path / "a.out"
    info = run(d / "llvm-objdump", "--macho", "--dyld-info", path)
    want: dict[int, int] = {}
    for line in info.splitlines():
        m = re.match(r"\S+\s+\S+\s+0x([0-9A-F]+)\s+0x[0-9A-F]+\s+(rebase|bind)\s+(.*)$", line)
        if m:
            rest = m.group(3).split()
            want[int(m.group(1), 16)] = int(rest[-1], 16) if m.group(2) == "rebase" else 0
    assert len(want) == 5, info
    gt = go_dump("macho", path)
    addr = {g["Name"]: g["Value"] for g in gt["Symbols"]}
    with open_binary(path) as b:
        assert isinstance(b, MachOFile)
        assert b.chained_fixups_cmd is not None
        assert b.fixup_pointers() == want
        table = addr["_table"]
        got = [b.read_pointer(table + 8 * i) for i in range(5)]
        assert got == [addr["_foo"], 0, addr["_main"], table, addr["_foo"] + 4]
        assert b.uuid is not None and b.kind == "pie"
        assert b.entry == addr["_main"]


def test_dsym_from_dsymutil(tmp_path: Path) -> None:
    """A dSYM (MH_DSYM) keeps section headers without bytes for code/data and the DWARF itself."""
    d = llvm_with_lld()
    if not (d / "dsymutil").exists():
        pytest.skip("dsymutil not installed (Debian package llvm-16)")
    (tmp_path / "main.s").write_text(LLD_MAIN.replace(" .quad _ext\n", ""))
    plat = ("-arch", "arm64", "-platform_version", "macos", "13.0", "13.0")
    for cmd in (
        [d / "llvm-mc", "-g", "-triple=arm64-apple-macos13", "-filetype=obj", "-o", "main.o", "main.s"],
        [d / "ld64.lld", *plat, "-e", "_main", "-o", "a.out", "main.o"],
        [d / "dsymutil", "a.out", "-o", "a.out.dSYM"],
    ):
        res = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, cwd=tmp_path)
        assert res.returncode == 0, res.stderr
    dsym = tmp_path / "a.out.dSYM" / "Contents" / "Resources" / "DWARF" / "a.out"
    gt = go_dump("macho", dsym)
    with open_binary(dsym) as b, open_binary(tmp_path / "a.out") as exe:
        assert isinstance(b, MachOFile) and isinstance(exe, MachOFile)
        assert b.kind == "debug" and gt["Type"] == C.MH_DSYM
        assert b.uuid is not None and b.uuid == exe.uuid
        assert [(s.name, s.segment, s.addr, s.size, s.offset) for s in b.sections()] == [
            (cstr(g["Name"]), cstr(g["Seg"]), g["Addr"], g["Size"], g["Offset"]) for g in gt["Sections"]
        ]
        text = b.section_in("__TEXT", "__text")
        assert text is not None and text.file_size == 0 and text.size > 0
        assert bytes(b.section_data(text)) == b""
        assert text.addr == exe.section_in("__TEXT", "__text").addr  # type: ignore[union-attr]
        info = b.section("__debug_info")
        assert info is not None and info.file_size == info.size > 0 and not info.alloc
        assert b"main.s" in bytes(b.section_data(b.section("__debug_str")))  # type: ignore[arg-type]
        assert {s.name: s.value for s in b.symbols()}["_foo"] == exe.symbol("_foo").value  # type: ignore[union-attr]


# -- hostile input --------------------------------------------------------------------------------
def exercise(m: MachOFile) -> None:
    m.sections()
    m.segments()
    m.symbols()
    m.fixup_pointers()
    for s in m.sections()[:50]:
        m.section_data(s)
    for seg in m.segments():
        if seg.filesz >= 8:
            m.read_pointer(seg.vaddr)


def open_bytes(data: bytes) -> MachOFile:
    return open_macho("mem", data, None)


@pytest.fixture(scope="module")
def small_macho() -> bytes:
    return fixture("1.27", "darwin", "arm64", "default").read_bytes()


def test_truncated_everywhere(small_macho: bytes) -> None:
    data = small_macho
    cuts = cut_points(len(data), 4096, 7)
    typed_errors_only(truncations(data, cuts), lambda d: exercise(open_bytes(d)))


def test_absurd_counts_are_typed_errors(small_macho: bytes) -> None:
    d = small_macho
    with pytest.raises(FormatError, match="ncmds"):
        open_bytes(patch(d, 16, "<I", 0xFFFFFFFF))
    with pytest.raises(FormatError, match="sizeofcmds"):
        open_bytes(patch(d, 20, "<I", 0xFFFFFFF0))
    # nsects of the first segment with sections
    m = open_bytes(d)
    lc = next(
        lc
        for lc in m.load_commands
        if lc.cmd == C.LC_SEGMENT_64 and struct.unpack_from("<I", d, lc.offset + 64)[0]
    )
    with pytest.raises(FormatError, match="nsects"):
        open_bytes(patch(d, lc.offset + 64, "<I", 0x7FFFFFFF))
    with pytest.raises(FormatError, match="cmdsize"):
        open_bytes(patch(d, 32 + 4, "<I", 0x7FFFFFFF))
    st_lc = next(lc for lc in m.load_commands if lc.cmd == C.LC_SYMTAB)
    bad = open_bytes(patch(d, st_lc.offset + 12, "<I", 0x7FFFFFFF))  # nsyms
    with pytest.raises(FormatError, match="symbol table"):
        bad.symbols()
    bad = open_bytes(patch(d, st_lc.offset + 20, "<I", 0xFFFFFFF0))  # strsize
    with pytest.raises(FormatError, match="string table"):
        bad.symbols()
    fat = make_fat([(C.CPU_TYPE_ARM64, 0, d)])
    with pytest.raises(NotABinaryError):
        open_macho("mem", patch(fat, 4, ">I", 0x7FFFFFFF), None)
    with pytest.raises(FormatError, match="outside"):
        open_macho("mem", patch(fat, 16, ">I", 0xFFFFFF00), None)  # slice size
    with pytest.raises(NotABinaryError):
        open_bytes(b"\0" * 64)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(0, 4095), st.integers(0, 255)), min_size=1, max_size=12))
def test_mutated_headers(small_macho: bytes, muts: list[tuple[int, int]]) -> None:
    with contextlib.suppress(SymkeepError):  # headers, load commands and the first text page
        exercise(open_bytes(mutate(small_macho[:0x8000], muts)))


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(st.tuples(st.integers(0, 1 << 20), st.integers(0, 255)), min_size=1, max_size=8),
    st.integers(0, 2),
)
def test_mutated_chained_fixups(muts: list[tuple[int, int]], which: int) -> None:
    """Hostile chained-fixup blobs and chains: typed errors only."""
    data, _ = _chained_cache(which)
    b = bytearray(data)
    blob_off = _blob_offset(data)
    for off, val in muts:
        pos = blob_off + off % (len(data) - blob_off) if off & 1 else off % len(data)
        b[pos] = val
    try:
        m = open_bytes(bytes(b))
        m.fixup_pointers()
    except SymkeepError:
        pass


def test_chained_fixups_duplicate_segments_are_bounded() -> None:
    """Thousands of starts_in_image entries naming the same segment: bounded work, a typed error."""
    import time

    data, expected = _chained_cache(1)
    m = open_bytes(data)
    assert m.chained_fixups_cmd is not None
    dataoff, datasize = m.chained_fixups_cmd
    blob = bytearray(data[dataoff : dataoff + datasize])
    starts = struct.unpack_from("<I", blob, 4)[0]
    seg_count = struct.unpack_from("<I", blob, starts)[0]
    infos = struct.unpack_from(f"<{seg_count}I", blob, starts + 4)
    real = next(i for i in infos if i)
    n = 20000
    # a new starts_in_image at the end: n entries, all naming one copy of the real segment's starts
    info_size = struct.unpack_from("<I", blob, starts + real)[0]
    info = bytes(blob[starts + real : starts + real + info_size])
    new_starts = len(blob)
    blob += struct.pack("<I", n) + struct.pack("<I", 4 + 4 * n) * n + info
    struct.pack_into("<I", blob, 4, new_starts)
    new = bytearray(data[:dataoff]) + blob
    lc = next(lc for lc in m.load_commands if lc.cmd == C.LC_DYLD_CHAINED_FIXUPS)
    struct.pack_into("<II", new, lc.offset + 8, dataoff, len(blob))
    t0 = time.monotonic()
    with pytest.raises(FormatError, match="more entries than the file can hold"):
        open_bytes(bytes(new)).fixup_pointers()
    assert time.monotonic() - t0 < 20
    # a single forward reference (no duplicates) still decodes everything
    assert open_bytes(data).fixup_pointers() == expected


@functools.cache
def _chained_cache(which: int) -> tuple[bytes, dict[int, int]]:
    fmt = (C.DYLD_CHAINED_PTR_64, C.DYLD_CHAINED_PTR_64_OFFSET, C.DYLD_CHAINED_PTR_ARM64E)[which]
    return encode_chained(fixture("1.27", "darwin", "arm64", "default"), fmt)


def _blob_offset(data: bytes) -> int:
    m = open_bytes(data)
    assert m.chained_fixups_cmd is not None
    return m.chained_fixups_cmd[0]


# -- Go 1.16/1.17 darwin/arm64 (absolute functab words in __DATA_CONST,__gopclntab) ------------------
def _old_darwin_arm64(old_binaries: list[Any]) -> list[Any]:
    obs = [o for o in old_binaries if (o.goos, o.goarch) == ("darwin", "arm64")]
    assert {o.go_version[:6] for o in obs} == {"go1.16", "go1.17"}
    return obs


def _symtab_funcs(path: Path) -> dict[str, int]:
    """Text symbols of a Mach-O from llvm-nm (Go names, leading underscore dropped)."""
    res = subprocess.run([llvm_tool("llvm-nm"), "-n", "--defined-only", str(path)], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    out: dict[str, int] = {}
    for ln in res.stdout.splitlines():
        parts = ln.split(maxsplit=2)
        if len(parts) == 3 and parts[1] in "tT":
            out.setdefault(parts[2].removeprefix("_"), int(parts[0], 16))
    return out


def _cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    import sys

    return subprocess.run([sys.executable, "-m", "symkeep", *args], input=stdin, capture_output=True, text=True,
                          timeout=300)


def test_old_darwin_arm64_against_symtab_and_tools(old_binaries: list[Any], gotool: Any) -> None:
    """esbuild's darwin/arm64 release binaries built with Go 1.16.3 and 1.17.2 (npm): `inspect`,
    `funcs` and `addr2line` agree with the Mach-O symbol table (llvm-nm), `go version` and
    `go tool addr2line`."""
    import json

    tool = gotool("1.27", "addr2line")
    for ob in _old_darwin_arm64(old_binaries):
        syms = _symtab_funcs(ob.path)
        rep = json.loads(_cli("inspect", "--json", str(ob.path)).stdout)
        assert (rep["format"], rep["arch"], rep["go"]["version"]) == ("macho", "arm64", ob.go_version)
        assert rep["go"]["pclntab"]["generation"] == "1.16"
        res = _cli("funcs", "--ndjson", str(ob.path))
        assert res.returncode == 0, res.stderr
        funcs = [json.loads(x) for x in res.stdout.splitlines()]
        assert len(funcs) > 5000
        named = [(f["name"], int(f["entry"], 16)) for f in funcs if f["name"] in syms]
        assert len(named) > 0.98 * len(funcs), ob.name
        assert all(syms[n] == e for n, e in named), [(n, hex(e), hex(syms[n])) for n, e in named if syms[n] != e][:5]
        # addr2line: outer function and innermost file:line as go tool addr2line prints them
        rng = random.Random(5)
        picks = [f for f in funcs if f["size"] > 8 and f["file"] != "?"]
        pcs = [int(f["entry"], 16) + rng.randrange(int(f["size"]) // 2) for f in rng.sample(picks, 500)]
        text = "".join(f"{p:#x}\n" for p in pcs)
        ours = _cli("addr2line", "--json", "-e", str(ob.path), stdin=text)
        go = subprocess.run([str(tool), str(ob.path)], input=text, capture_output=True, text=True, timeout=300)
        assert ours.returncode == 0 and go.returncode == 0, ours.stderr + go.stderr
        rows = [json.loads(x)["frames"] for x in ours.stdout.splitlines()]
        gl = go.stdout.splitlines()
        inlined = 0
        for k, pc in enumerate(pcs):
            fr = rows[k]
            inlined += len(fr) > 1
            # go tool addr2line: the outer (physical) function with the innermost file:line
            got = (fr[-1]["function"], f"{fr[0]['file']}:{fr[0]['line']}")
            assert got == (gl[2 * k], gl[2 * k + 1]), (hex(pc), got, gl[2 * k : 2 * k + 2])
        assert inlined > 10, "no inline frames: the 20-byte inline records were not read"


@pytest.mark.parametrize(("go", "fmt"), [("go1.16", C.DYLD_CHAINED_PTR_64), ("go1.17", C.DYLD_CHAINED_PTR_64_OFFSET)],
                         ids=["go1.16-ptr64", "go1.17-ptr64_offset"])
def test_old_darwin_arm64_functab_behind_chained_fixups(tmp_path: Path, old_binaries: list[Any], go: str,
                                                        fmt: int) -> None:
    """The same binaries as a newer ld64 writes them: every rebase (llvm-objdump --rebase), the
    functab's absolute entry PCs included, stored as a dyld chained fixup. Read as stored, the function
    table is unsorted garbage ("function table is not sorted", issue #10.2); decoded, every function,
    lookup and range equals the original's."""
    import numpy as np

    from symkeep.golang.pclntab import PclnTab
    from symkeep.symbolize import open_go_binary

    for ob in [o for o in _old_darwin_arm64(old_binaries) if o.go_version.startswith(go)]:
        data, _expected = encode_chained(ob.path, fmt)
        out = tmp_path / f"chained-{ob.name}"
        out.write_bytes(data)
        with open_go_binary(ob.path) as ref, open_go_binary(out) as g:
            loc = g.location
            with pytest.raises(FormatError, match="not sorted"):
                PclnTab(data[loc.offset : loc.offset + loc.size], loc.vaddr, loc)
            assert [(f.name, f.entry, f.end) for f in g.functions()] == [(f.name, f.entry, f.end) for f in ref.functions()]
            rng = np.random.default_rng(3)
            pcs = rng.integers(int(ref.entries[0]), int(ref.entries[-1]), 3000, dtype=np.uint64)
            assert g.lookup_many(pcs) == ref.lookup_many(pcs)
            assert sum(1 for f in list(ref.functions())[::25] if g.ranges(f) == ref.ranges(f)) == len(
                list(ref.functions())[::25])
            inl = [r for f in list(g.functions())[::10] for r in g.ranges(f) if len(r.frames) > 1]
            assert inl, "inline trees behind chained funcdata pointers were not read"
