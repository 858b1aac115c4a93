"""ELF reader tests on real binaries, checked against binutils readelf/objcopy.

Go binaries come from ``elf_fixtures`` (built once, cached under ~/.cache/symkeep/test-elf/); the
system's own C binaries (/bin/ls, libc) cover .dynsym, PT_INTERP and DT_SONAME.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import struct
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from symkeep.binfmt import open_binary
from symkeep.binfmt.elf import ELFFile
from symkeep.binfmt.elfstructs import parse_ident
from symkeep.binfmt.notes import NT_GNU_BUILD_ID, NT_GO_BUILDID, OWNER_GNU, OWNER_GO, note_bytes, walk_notes
from symkeep.errors import FormatError, NotABinaryError, SymkeepError

from . import elf_fixtures as fx

READELF = shutil.which("readelf")
OBJCOPY = shutil.which("objcopy")
pytestmark = pytest.mark.skipif(READELF is None, reason="binutils readelf missing")

GO_ARCH_BUILDS = {b.label: b for b in fx.ALL}


def _build_or_skip(b: fx.Build) -> Path:
    try:
        return fx.build(b)
    except RuntimeError as e:  # a toolchain or cgo missing on this machine
        pytest.skip(str(e))


@pytest.fixture(scope="session", params=[b.label for b in fx.ALL])
def go_elf(request: pytest.FixtureRequest) -> tuple[fx.Build, Path]:
    b = GO_ARCH_BUILDS[request.param]
    return b, _build_or_skip(b)


def _sys(path: str) -> Path:
    p = Path(path)
    if not p.exists():
        pytest.skip(f"{path} missing")
    return p.resolve()


def libc() -> Path:
    for cand in ("/lib/x86_64-linux-gnu/libc.so.6", "/lib/aarch64-linux-gnu/libc.so.6", "/lib64/libc.so.6"):
        if Path(cand).exists():
            return Path(cand).resolve()
    pytest.skip("no libc.so.6")


def readelf(*args: str | Path) -> str:
    assert READELF
    return subprocess.run([READELF, *map(str, args)], capture_output=True, text=True, check=True).stdout


# -- readelf output parsers -------------------------------------------------------------------------
@dataclass
class RSec:
    index: int
    name: str
    type: str
    addr: int
    off: int
    size: int
    flags: str
    link: int
    info: int
    align: int


_SEC_RE = re.compile(
    r"^\s*\[\s*(\d+)\]\s+(.*?)\s*(\S+)\s+([0-9a-f]+)\s+([0-9a-f]+)\s+([0-9a-f]+)\s+([0-9a-f]{2})"
    r"\s+([A-Za-z]*)\s+(\d+)\s+(\d+)\s+(\d+)\s*$"
)


def readelf_sections(path: Path) -> list[RSec]:
    out = []
    for line in readelf("-W", "-S", path).splitlines():
        m = _SEC_RE.match(line)
        if m:
            g = m.groups()
            out.append(
                RSec(
                    int(g[0]),
                    g[1],
                    g[2],
                    int(g[3], 16),
                    int(g[4], 16),
                    int(g[5], 16),
                    g[7],
                    int(g[8]),
                    int(g[9]),
                    int(g[10]),
                )
            )
    return out


@dataclass
class RSeg:
    type: str
    off: int
    vaddr: int
    paddr: int
    filesz: int
    memsz: int
    flags: str
    align: int


_SEG_RE = re.compile(
    r"^\s+(\S+)\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s([R ][W ][E ])\s+0x([0-9a-f]+)$"
)


def readelf_segments(path: Path) -> list[RSeg]:
    out = []
    for line in readelf("-W", "-l", path).splitlines():
        m = _SEG_RE.match(line)
        if m:
            g = m.groups()
            out.append(RSeg(g[0], *(int(x, 16) for x in g[1:6]), g[6], int(g[7], 16)))  # type: ignore[arg-type]
    return out


@dataclass
class RSym:
    num: int
    value: int
    size: int
    type: str
    bind: str
    ndx: str
    name: str


_SYM_RE = re.compile(r"^\s*(\d+):\s+([0-9a-f]+)\s+(0x[0-9a-f]+|\d+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s?(.*)$")


def readelf_symbols(path: Path) -> dict[str, list[RSym]]:
    tables: dict[str, list[RSym]] = {}
    cur: list[RSym] | None = None
    for line in readelf("-W", "-s", path).splitlines():
        h = re.match(r"Symbol table '(.+)' contains", line)
        if h:
            cur = tables.setdefault(h.group(1), [])
            continue
        m = _SYM_RE.match(line)
        if m and cur is not None:
            g = m.groups()
            size = int(g[2], 16) if g[2].startswith("0x") else int(g[2])
            name = g[7]
            if (
                ".dynsym" in tables and cur is tables[".dynsym"]
            ):  # readelf appends @VERSION (n) from .gnu.version
                name = re.sub(r" \(\d+\)$", "", name)
                name = name.split("@")[0] if "@" in name and not name.startswith("@") else name
            cur.append(RSym(int(g[0]), int(g[1], 16), size, g[3], g[4], g[6], name))
    return tables


@dataclass
class RNote:
    where: str  # section name, or "" when readelf read a PT_NOTE (no section headers)
    owner: str
    size: int
    type: str
    desc_hex: str | None  # build ID / Go description when readelf shows it
    abi: tuple[int, ...] | None = None  # NT_GNU_ABI_TAG version as readelf decodes it


def readelf_notes(path: Path) -> list[RNote]:
    out: list[RNote] = []
    where = ""
    for line in readelf("-W", "-n", path).splitlines():
        if line.startswith("Displaying notes found in: "):
            where = line.split(": ", 1)[1].strip()
            continue
        if line.startswith("Displaying notes found at file offset"):
            where = ""
            continue
        m = re.match(r"^\s{2}(\S+)\s+0x([0-9a-f]+)\s+(.*)$", line)
        if m and not line.strip().startswith(("Owner", "Build ID", "description")):
            # with -W readelf prints the decoded description on the same line, after a tab
            typ, _, rest = m.group(3).partition("\t")
            out.append(RNote(where, m.group(1), int(m.group(2), 16), typ.strip(), None))
            line = rest
        if out and "Build ID:" in line:
            out[-1].desc_hex = line.split("Build ID:")[1].strip()
        elif out and "description data:" in line:
            out[-1].desc_hex = line.split("description data:")[1].replace(" ", "").strip()
        elif out and (abi := re.search(r"OS: \w+, ABI: (\d+)\.(\d+)\.(\d+)", line)):
            out[-1].abi = tuple(int(x) for x in abi.groups())
    return out


def readelf_header(path: Path) -> dict[str, str]:
    out = {}
    for line in readelf("-W", "-h", path).splitlines():
        if ":" in line:
            k, v = line.split(":", 1)
            out[k.strip()] = v.strip()
    return out


def readelf_dynamic(path: Path) -> dict[str, str]:
    out = {}
    for line in readelf("-W", "-d", path).splitlines():
        m = re.match(r"^\s*0x[0-9a-f]+\s+\((\S+)\)\s+(.*)$", line)
        if m:
            out.setdefault(m.group(1), m.group(2))
    return out


SHT = {
    "NULL": 0,
    "PROGBITS": 1,
    "SYMTAB": 2,
    "STRTAB": 3,
    "RELA": 4,
    "HASH": 5,
    "DYNAMIC": 6,
    "NOTE": 7,
    "NOBITS": 8,
    "REL": 9,
    "DYNSYM": 11,
}
STT = {"FUNC": "func", "OBJECT": "object", "SECTION": "section", "FILE": "file"}
NOTE_TYPES = {"NT_GNU_BUILD_ID": 3, "NT_GNU_ABI_TAG": 1, "NT_GNU_PROPERTY_TYPE_0": 5, "GO BUILDID": 4}
MACHINES = {  # readelf "Machine" -> the GOARCHes it can mean
    "Advanced Micro Devices X86-64": {"amd64"},
    "Intel 80386": {"386"},
    "AArch64": {"arm64"},
    "ARM": {"arm"},
    "IBM S/390": {"s390x"},
    "PowerPC64": {"ppc64", "ppc64le"},
    "RISC-V": {"riscv64"},
    "MIPS R3000": {"mips", "mipsle", "mips64", "mips64le"},
    "LoongArch": {"loong64"},
}


# -- comparisons used on every binary ----------------------------------------------------------------
def check_header(b: ELFFile, path: Path) -> None:
    h = readelf_header(path)
    assert b.bits == (64 if h["Class"] == "ELF64" else 32)
    assert b.byteorder == ("little" if "little" in h["Data"] else "big")
    assert b.arch in MACHINES[h["Machine"]]
    assert b.entry == int(h["Entry point address"], 16)
    assert b.e_phnum == int(h["Number of program headers"])
    assert b.e_shnum == int(h["Number of section headers"])
    assert b.machine == int(readelf_raw_machine(path))
    etype = h["Type"].split()[0]
    assert {"EXEC": 2, "DYN": 3, "REL": 1, "CORE": 4}[etype] == b.e_type
    if etype == "EXEC":
        assert b.kind == "exe"


def readelf_raw_machine(path: Path) -> int:
    # e_machine is the u16 at offset 18 in the file's byte order, per the gABI (readelf prints only the name).
    raw = path.read_bytes()[:20]
    return int.from_bytes(raw[18:20], "little" if raw[5] == 1 else "big")


def check_sections(b: ELFFile, path: Path) -> None:
    want = readelf_sections(path)
    got = b.sections()
    assert len(want) == len(got) and want
    for w, g in zip(want, got, strict=True):
        assert (g.index, g.name, g.addr, g.offset, g.size) == (w.index, w.name, w.addr, w.off, w.size), w
        assert g.write == ("W" in w.flags) and g.alloc == ("A" in w.flags) and g.execute == ("X" in w.flags)
        assert g.compressed == ("C" in w.flags or g.name.startswith(".zdebug")), w
        if w.type in SHT:
            assert g.raw_type == SHT[w.type], w
        assert g.file_size == (0 if w.type in ("NOBITS", "NULL") else w.size)
        assert b.section(w.name) is not None
    assert b.has_section_headers


def check_segments(b: ELFFile, path: Path) -> None:
    want = readelf_segments(path)
    got = b.segments()
    assert len(want) == len(got) == b.e_phnum
    for w, g in zip(want, got, strict=True):
        assert (g.offset, g.vaddr, g.filesz, g.memsz) == (w.off, w.vaddr, w.filesz, w.memsz), w
        assert g.name == w.type or g.name.startswith(("LOPROC", "0x")), (g.name, w.type)
        assert (g.read, g.write, g.execute) == (w.flags[0] == "R", w.flags[1] == "W", w.flags[2] == "E")
        assert g.load == (w.type == "LOAD")
        assert b.segment_align(g) == w.align
    loads = [w.vaddr for w in want if w.type == "LOAD"]
    assert b.image_base == min(loads) & ~0xFFF
    # Address translation: the first bytes of every loaded section read the same through both tables.
    for s in b.sections():
        if s.alloc and s.file_size >= 8 and s.addr:
            assert b.vaddr_to_offset(s.addr) == s.offset, s.name
            assert b.read_vaddr(s.addr, 8) == b.read(s.offset, 8)


def check_symbols(b: ELFFile, path: Path) -> None:
    tables = readelf_symbols(path)
    for table, ours in ((".symtab", b.symbols()), (".dynsym", b.dynamic_symbols())):
        want = tables.get(table, [])
        if table == ".symtab" and not want:
            want = tables.get(".dynsym", [])
        assert len(ours) == max(0, len(want) - 1), table  # readelf shows the null symbol 0; we skip it
        for w, g in zip(want[1:], ours, strict=True):
            name = g.name
            if w.type == "SECTION" and name == "" and g.section_index is not None:
                name = b.sections()[g.section_index].name  # readelf shows the section's name
            assert (name, g.value, g.size) == (w.name, w.value, w.size), w
            assert g.kind == STT.get(w.type, "other"), w
            assert g.global_ == (w.bind != "LOCAL")
            if w.ndx.isdigit():
                assert g.section_index == int(w.ndx)
            else:
                assert g.section_index is None


def check_notes(b: ELFFile, path: Path) -> None:
    want = readelf_notes(path)
    got = b.notes()
    assert len(got) == len(want) and want
    typed: set[str] = set()
    described = 0
    for w, g in zip(want, got, strict=True):
        assert (g.owner, len(g.desc), g.section) == (w.owner, w.size, w.where), (w, g)
        key = "GO BUILDID" if w.type.startswith("GO BUILDID") else w.type.split()[0]
        if key in NOTE_TYPES:
            assert g.type == NOTE_TYPES[key], w
            typed.add(key)
        if w.desc_hex is not None:
            assert g.desc.hex() == w.desc_hex
            described += 1
        if w.abi is not None:
            order = "<" if b.byteorder == "little" else ">"
            assert struct.unpack(order + "3I", g.desc[4:16]) == w.abi
            described += 1
    assert typed  # at least one note type was compared
    if any(n.owner in ("Go", "GNU") and n.type in (3, 4) for n in got):
        assert described  # and the build IDs' bytes


def check_all(path: Path) -> ELFFile:
    b = open_binary(path)
    assert isinstance(b, ELFFile) and b.format == "elf"
    check_header(b, path)
    check_sections(b, path)
    check_segments(b, path)
    check_symbols(b, path)
    check_notes(b, path)
    assert b.warnings == []
    return b


# -- tests -------------------------------------------------------------------------------------------
def test_go_binaries_match_readelf(go_elf: tuple[fx.Build, Path]) -> None:
    build, path = go_elf
    b = check_all(path)
    assert b.arch == build.goarch
    # Every Go ELF carries the Go build ID note; the linker writes it in .note.go.buildid.
    go = b.note("Go", 4)
    assert go is not None and go.section == ".note.go.buildid"
    assert b"/" in go.desc
    if "-s -w" in " ".join(build.flags):
        assert b.symbols() == [] and b.section(".symtab") is None
    else:
        assert b.symbol("main.fib") is not None and b.symbol("main.fib").kind == "func"  # type: ignore[union-attr]
    want_kind = {"-buildmode=pie": "pie", "-buildmode=c-shared": "shared"}.get(" ".join(build.flags), "exe")
    assert b.kind == want_kind


def test_elf_records_round_trip(go_elf: tuple[fx.Build, Path]) -> None:
    """elfstructs: every header re-packs to the file's own bytes (32/64-bit, both byte orders), and the raw
    section fields the writers copy (link, info, alignment) are readelf's."""
    _build, path = go_elf
    b = open_binary(path)
    assert isinstance(b, ELFFile)
    raw = path.read_bytes()
    lay = b.layout
    assert parse_ident(raw[:16]) == b.ident
    assert lay.pack_ehdr(b.ident, b.ehdr) == raw[: lay.ehdr_size]
    shdrs = b.section_headers()
    assert len(shdrs) == len(b.sections()) == b.e_shnum
    for i, (h, w) in enumerate(zip(shdrs, readelf_sections(path), strict=True)):
        off = b.e_shoff + i * b.e_shentsize
        assert lay.pack_shdr(h) == raw[off : off + lay.shdr.size]
        assert lay.unpack_shdr(raw, off) == h
        assert (h.link, h.info, h.addralign) == (w.link, w.info, w.align), w
    for i, ph in enumerate(b.program_headers()):
        off = b.e_phoff + i * b.e_phentsize
        assert lay.pack_phdr(ph) == raw[off : off + lay.phdr.size]
    symtab = next((s for s in b.sections() if s.raw_type == 2), None)
    if symtab is not None:
        for k in range(1, min(200, symtab.size // lay.sym.size)):
            off = symtab.offset + k * lay.sym.size
            assert lay.pack_sym(lay.unpack_sym(raw, off)) == raw[off : off + lay.sym.size]
    # notes: the shared walker finds what readelf -n lists, section by section
    names = {(OWNER_GO, NT_GO_BUILDID): "GO BUILDID", (OWNER_GNU, NT_GNU_BUILD_ID): "NT_GNU_BUILD_ID"}
    want = [(n.owner, n.size, n.type.split(" (")[0]) for n in readelf_notes(path)]
    got = []
    for s, h in zip(b.sections(), shdrs, strict=True):
        if s.raw_type == 7:
            got += [(n.owner, len(n.desc), names.get((n.owner, n.type), ""))
                    for n in walk_notes(raw, s.offset, s.offset + s.size, b.ident.endian, h.addralign)[0]]
    assert [(o, z, t if t in names.values() else "") for o, z, t in want] == got  # others: gcc's, unnamed here
    assert any(g[0] == OWNER_GO for g in got)


def test_notes_overrun_is_reported_not_read() -> None:
    """A note claiming more bytes than its container: the walk stops there and says where."""
    buf = note_bytes([(OWNER_GNU, NT_GNU_BUILD_ID, bytes(range(20))), (OWNER_GO, NT_GO_BUILDID, b"abc")], "<")
    notes, overrun = walk_notes(buf, 0, len(buf), "<")
    assert [(n.owner, n.type, n.desc) for n in notes] == [(OWNER_GNU, 3, bytes(range(20))), (OWNER_GO, 4, b"abc")]
    assert overrun is None
    bad = bytearray(buf)
    struct.pack_into("<I", bad, 4, 10**6)  # first note's descsz
    notes, overrun = walk_notes(bytes(bad), 0, len(bad), "<")
    assert notes == [] and overrun == 0


def test_go_build_id_matches_go_tool() -> None:
    path = _build_or_skip(fx.Build())
    root = fx.goroot("1.27")
    assert root is not None
    env = dict(os.environ, GOROOT=str(root), GOTOOLCHAIN="local")
    r = subprocess.run(
        [str(root / "bin" / "go"), "tool", "buildid", str(path)], capture_output=True, text=True, env=env
    )
    if r.returncode != 0:
        pytest.skip("go tool buildid unavailable: " + r.stderr[-200:])
    b = open_binary(path)
    assert isinstance(b, ELFFile)
    note = b.note("Go", 4)
    assert note is not None and note.desc.decode() == r.stdout.strip()


def test_pie_dynamic_flags() -> None:
    path = _build_or_skip(fx.Build(flags=("-buildmode=pie",)))
    b = open_binary(path)
    assert isinstance(b, ELFFile)
    d = readelf_dynamic(path)
    assert ("PIE" in d.get("FLAGS_1", "")) == bool((b.dynamic_value(0x6FFFFFFB) or 0) & 0x08000000)
    assert b.kind == "pie"
    interp = re.search(r"Requesting program interpreter: (\S+)\]", readelf("-l", path))
    assert b.interpreter == (interp.group(1) if interp else None)


def test_system_pie_and_libc() -> None:
    ls = _sys("/bin/ls")
    b = check_all(ls)
    d = readelf_dynamic(ls)
    assert b.kind == "pie" if "PIE" in d.get("FLAGS_1", "") else b.kind in ("pie", "exe")
    needed = re.findall(r"\(NEEDED\)\s+Shared library: \[(.+?)\]", readelf("-d", ls))
    assert b.needed == needed and needed
    assert b.soname is None and b.dynamic_symbols()
    lc = libc()
    c = check_all(lc)
    soname = re.search(r"\(SONAME\)\s+Library soname: \[(.+?)\]", readelf("-d", lc))
    assert soname and c.soname == soname.group(1)
    assert c.kind == "shared"


def test_go119_debian() -> None:
    gobin = Path("/usr/lib/go-1.19/bin/go")
    if not gobin.exists():
        pytest.skip("Debian Go 1.19 missing")
    b = check_all(gobin.resolve())
    assert b.note("Go", 4) is not None


def _zero_section_headers(src: Path, dst: Path) -> Path:
    data = bytearray(src.read_bytes())
    if data[4] == 2:
        shoff, shnum, shstrndx = 0x28, 0x3C, 0x3E
        data[shoff : shoff + 8] = bytes(8)
    else:
        shoff, shnum, shstrndx = 0x20, 0x30, 0x32
        data[shoff : shoff + 4] = bytes(4)
    data[shnum : shnum + 2] = bytes(2)
    data[shstrndx : shstrndx + 2] = bytes(2)
    dst.write_bytes(bytes(data))
    return dst


@pytest.mark.parametrize("label", ["go1.27-amd64", "go1.27-s390x", "go1.27-arm"])
def test_no_section_headers(label: str, tmp_path: Path) -> None:
    orig = _build_or_skip(GO_ARCH_BUILDS[label])
    path = _zero_section_headers(orig, tmp_path / "nosh")
    a, b = open_binary(orig), open_binary(path)
    assert isinstance(b, ELFFile)
    assert b.sections() == [] and not b.has_section_headers and b.symbols() == []
    assert b.segments() == a.segments() and b.image_base == a.image_base and b.kind == a.kind
    check_segments(b, path)
    check_notes(b, path)  # readelf falls back to PT_NOTE too: same notes, no section names
    go = b.note("Go", 4)
    assert go is not None and go.section == "" and go.desc == a.note("Go", 4).desc  # type: ignore[union-attr]
    text = a.section(".text")
    assert text is not None
    assert b.read_vaddr(text.addr, 64) == a.section_bytes(text)[:64]
    assert b.warnings == []


def test_sstripped_c_binary_dynamic_symbols(tmp_path: Path) -> None:
    """Without section headers .dynsym is found through PT_DYNAMIC (DT_SYMTAB, counted by DT_GNU_HASH)."""
    for src in (_sys("/bin/ls"), libc()):
        orig = open_binary(src)
        assert isinstance(orig, ELFFile)
        check_symbols(orig, src)  # the reference list is checked against readelf first
        p = _zero_section_headers(src, tmp_path / src.name)
        b = open_binary(p)
        assert isinstance(b, ELFFile)
        assert b.sections() == [] and orig.dynamic_symbols()
        assert b.dynamic_symbols() == orig.dynamic_symbols() == b.symbols()
        assert b.soname == orig.soname and b.needed == orig.needed and b.kind == orig.kind
        check_segments(b, p)
        check_notes(b, p)
        assert b.warnings == []


def test_extended_section_numbering(tmp_path: Path) -> None:
    """e_shnum = 0 / e_shstrndx = SHN_XINDEX: the real values live in section 0 (sh_size, sh_link)."""
    src = _build_or_skip(fx.Build())
    data = bytearray(src.read_bytes())
    shoff, shnum, shstrndx = struct.unpack_from("<Q", data, 0x28)[0], *struct.unpack_from("<HH", data, 0x3C)
    struct.pack_into("<HH", data, 0x3C, 0, 0xFFFF)
    struct.pack_into("<Q", data, shoff + 0x20, shnum)  # section 0 sh_size
    struct.pack_into("<I", data, shoff + 0x28, shstrndx)  # section 0 sh_link
    p = tmp_path / "xnum"
    p.write_bytes(bytes(data))
    b = open_binary(p)
    assert isinstance(b, ELFFile)
    want = readelf_sections(p)
    assert len(want) == shnum and [s.name for s in b.sections()] == [w.name for w in want]
    assert b.symbol("main.fib") is not None


def test_garbage_section_table(tmp_path: Path) -> None:
    orig = _build_or_skip(fx.Build(flags=("-ldflags=-s -w",)))
    data = bytearray(orig.read_bytes())
    ref = open_binary(orig)
    # e_shoff far past the end of the file
    bad = bytearray(data)
    bad[0x28:0x30] = struct.pack("<Q", len(data) * 4)
    p = tmp_path / "far"
    p.write_bytes(bytes(bad))
    b = open_binary(p)
    assert isinstance(b, ELFFile)
    assert b.sections() == [] and b.warnings and b.segments() == ref.segments()
    assert b.note("Go", 4) is not None
    # e_shoff inside the text: headers are garbage, names bad: no exception, everything is bounded
    text = ref.section(".text")
    assert text is not None
    bad = bytearray(data)
    bad[0x28:0x30] = struct.pack("<Q", text.offset + 0x100)
    bad[0x3E:0x40] = struct.pack("<H", 3)
    p2 = tmp_path / "intext"
    p2.write_bytes(bytes(bad))
    b2 = open_binary(p2)
    assert isinstance(b2, ELFFile)
    exercise(b2)
    assert b2.segments() == ref.segments()
    # e_shstrndx out of range: names become <bad name @off>
    bad = bytearray(data)
    bad[0x3E:0x40] = struct.pack("<H", 0x7FFF)
    p3 = tmp_path / "badstr"
    p3.write_bytes(bytes(bad))
    b3 = open_binary(p3)
    assert isinstance(b3, ELFFile)
    assert len(b3.sections()) == len(ref.sections())
    assert all(s.name.startswith("<bad name @") for s in b3.sections()[1:])
    assert any("e_shstrndx" in w for w in b3.warnings)


def test_compressed_sections_match_objcopy(tmp_path: Path) -> None:
    if OBJCOPY is None:
        pytest.skip("objcopy missing")
    path = _build_or_skip(fx.Build())
    b = open_binary(path)
    assert isinstance(b, ELFFile)
    comp = [s for s in b.sections() if s.compressed]
    assert comp and all(s.raw_flags & 0x800 for s in comp)
    for s in comp:
        if s.name not in (".debug_line", ".debug_abbrev", ".debug_frame"):
            continue
        out = tmp_path / (s.name + ".raw")
        subprocess.run(
            [
                OBJCOPY,
                "--decompress-debug-sections",
                f"--dump-section={s.name}={out}",
                str(path),
                str(tmp_path / "junk"),
            ],
            check=True,
            capture_output=True,
        )
        assert b.section_bytes(s) == out.read_bytes(), s.name
        assert b.compression_header(s) == (1, out.stat().st_size)
        assert b.section_bytes(s, decompress=False) == bytes(b.section_data(s))
    # GNU-style .zdebug_* sections (zlib-gnu): "ZLIB" + big-endian size + zlib stream
    gnu = tmp_path / "gnu"
    r = subprocess.run(
        [OBJCOPY, "--compress-debug-sections=zlib-gnu", str(path), str(gnu)], capture_output=True
    )
    if r.returncode == 0:
        g = open_binary(gnu)
        assert isinstance(g, ELFFile)
        z = g.section(".zdebug_line")
        line = b.section(".debug_line")
        assert z is not None and z.compressed and line is not None
        assert g.section_bytes(z) == b.section_bytes(line)
    # zstd: inflate when the module is present, else a FormatError that says what is missing
    zst = tmp_path / "zstd"
    r = subprocess.run([OBJCOPY, "--compress-debug-sections=zstd", str(path), str(zst)], capture_output=True)
    if r.returncode != 0:
        return
    z2 = open_binary(zst)
    assert isinstance(z2, ELFFile)
    s2 = z2.section(".debug_line")
    assert s2 is not None and s2.compressed
    line = b.section(".debug_line")
    assert line is not None
    try:
        import zstandard  # noqa: F401
    except ImportError:
        with pytest.raises(FormatError, match="zstandard"):
            z2.section_bytes(s2)
    else:
        assert z2.section_bytes(s2) == b.section_bytes(line)


def test_decompression_bomb_refused(tmp_path: Path) -> None:
    path = _build_or_skip(fx.Build())
    b = open_binary(path)
    assert isinstance(b, ELFFile)
    s = b.section(".debug_line")
    assert s is not None and s.compressed
    data = bytearray(path.read_bytes())
    # Elf64_Chdr: ch_type u32, reserved u32, ch_size u64 -> claim 100x the stored size
    data[s.offset + 8 : s.offset + 16] = struct.pack("<Q", s.size * 100 + (2 << 20))
    p = tmp_path / "bomb"
    p.write_bytes(bytes(data))
    bomb = open_binary(p)
    assert isinstance(bomb, ELFFile)
    with pytest.raises(FormatError, match="too large"):
        bomb.section_bytes(bomb.sections()[s.index])
    # a smaller-than-real size is refused too (inflation is capped, then the length mismatch is reported)
    data[s.offset + 8 : s.offset + 16] = struct.pack("<Q", 10)
    p.write_bytes(bytes(data))
    small = open_binary(p)
    assert isinstance(small, ELFFile)
    with pytest.raises(FormatError):
        small.section_bytes(small.sections()[s.index])
    # corrupt stream
    data[s.offset + 8 : s.offset + 16] = struct.pack("<Q", s.size)
    data[s.offset + 24 : s.offset + 40] = b"\xff" * 16
    p.write_bytes(bytes(data))
    bad = open_binary(p)
    assert isinstance(bad, ELFFile)
    with pytest.raises(FormatError):
        bad.section_bytes(bad.sections()[s.index])


def test_only_keep_debug_kind(tmp_path: Path) -> None:
    if OBJCOPY is None:
        pytest.skip("objcopy missing")
    path = _build_or_skip(fx.Build())
    dbg = tmp_path / "x.debug"
    subprocess.run([OBJCOPY, "--only-keep-debug", str(path), str(dbg)], check=True, capture_output=True)
    b = open_binary(dbg)
    assert isinstance(b, ELFFile)
    check_sections(b, dbg)
    check_notes(b, dbg)
    assert b.kind == "debug"
    assert open_binary(path).kind == "exe"


def test_object_file_kind(tmp_path: Path) -> None:
    cc = shutil.which("gcc") or shutil.which("cc")
    if cc is None:
        pytest.skip("no C compiler")
    src = tmp_path / "a.c"
    src.write_text("int f(int x) { return x + 1; }\nint g;\n")
    subprocess.run([cc, "-c", "-o", str(tmp_path / "a.o"), str(src)], check=True)
    b = open_binary(tmp_path / "a.o")
    assert isinstance(b, ELFFile) and b.kind == "object"
    check_sections(b, tmp_path / "a.o")
    check_symbols(b, tmp_path / "a.o")


# -- hostile input ----------------------------------------------------------------------------------
def exercise(b: ELFFile) -> None:
    """Touch every lazily parsed table; only SymkeepError may come out."""
    b.sections()
    b.segments()
    b.symbols()
    b.dynamic_symbols()
    b.notes()
    _ = (b.dynamic, b.soname, b.needed, b.interpreter, b.kind, b.arch, b.image_base)
    for s in b.sections()[:64]:
        if s.compressed and s.file_size < (1 << 16):
            with contextlib.suppress(FormatError):
                b.section_bytes(s)
    for seg in b.segments()[:16]:
        b.vaddr_to_offset(seg.vaddr)


def test_empty_and_text_files(tmp_path: Path) -> None:
    e = tmp_path / "empty"
    e.write_bytes(b"")
    with pytest.raises(NotABinaryError):
        open_binary(e)
    t = tmp_path / "text"
    t.write_text("hello world, not an ELF\n" * 10)
    with pytest.raises(NotABinaryError):
        open_binary(t)
    with pytest.raises(NotABinaryError):
        ELFFile(str(t), t.read_bytes())
    with pytest.raises(FormatError, match="e_ident"):
        ELFFile("x", b"\x7fELF\x02\x01")
    with pytest.raises(FormatError, match="EI_CLASS"):
        ELFFile("x", b"\x7fELF\x07\x01" + bytes(60))
    with pytest.raises(FormatError, match="Elf_Ehdr"):
        ELFFile("x", b"\x7fELF\x02\x01\x01" + bytes(20))


def _cut_points(n: int) -> list[int]:
    pts = set(range(0, 80, 3)) | {n // k for k in range(2, 40)} | {n - 1, n - 100}
    return sorted(p for p in pts if 0 <= p < n)


@pytest.mark.parametrize("label", ["go1.27-amd64-ldflags-s-w", "go1.27-s390x", "go1.27-mips"])
def test_truncated(label: str) -> None:
    data = _build_or_skip(GO_ARCH_BUILDS[label]).read_bytes()
    t0 = time.monotonic()
    for cut in _cut_points(len(data)):
        try:
            b = ELFFile("cut", data[:cut])
            exercise(b)
        except SymkeepError:
            pass
    assert time.monotonic() - t0 < 20


_HEADER_FUZZ_BASE: dict[str, bytes] = {}


def _fuzz_base() -> bytes:
    if "d" not in _HEADER_FUZZ_BASE:
        _HEADER_FUZZ_BASE["d"] = _build_or_skip(fx.Build(flags=("-ldflags=-s -w",))).read_bytes()
    return _HEADER_FUZZ_BASE["d"]


@settings(max_examples=150, deadline=2000, suppress_health_check=list(HealthCheck), derandomize=True)
@given(
    st.lists(st.tuples(st.integers(0, 0x400), st.integers(0, 255)), min_size=1, max_size=12),
    st.lists(st.tuples(st.integers(0, 2000), st.integers(0, 255)), max_size=12),
)
def test_mutated_headers(head: list[tuple[int, int]], shdrs: list[tuple[int, int]]) -> None:
    data = bytearray(_fuzz_base())
    shoff = struct.unpack_from("<Q", data, 0x28)[0]
    for off, v in head:
        data[off] = v
    for off, v in shdrs:
        if shoff + off < len(data):
            data[shoff + off] = v
    try:
        b = ELFFile("fuzz", bytes(data))
        exercise(b)
    except SymkeepError:
        pass
