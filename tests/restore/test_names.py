"""`nm` of the restored debug file vs `nm` of the unstripped twin, name for name and address for address.

Every toolchain (Go 1.19, 1.21, 1.22, 1.24, 1.26, 1.27; plus arm64, s390x, 386 and a Go 1.14 release
binary). Text symbols must match exactly except for the classes ``.gopclntab`` cannot carry; each class
has its own test that checks its members against independent facts (the twin's own symbols, its DWARF
read by llvm-symbolizer, readelf of the stripped binary, the linker's rule from its source):

- ABBREVIATED: Go < 1.21 writes generic instantiations and some type functions to ``.gopclntab`` with
  everything from the first ``[`` to the last ``]`` replaced by ``[...]`` (cmd/link pcln.go
  ``nameParts``); ``.symtab`` has the full name.
- ABI0_DECLARED: Go 1.17–1.21 names a Go-declared assembly body ``NAME.abi0`` even when the linker
  discarded its ABIInternal wrapper; before 1.22 nothing in ``.gopclntab`` records the declaration.
- STATIC_ASM_BINDING: file-local (``<>``) assembly functions are ``t`` in the twin, ``T`` here.
- DATA: data, read-only data and bss symbols are not in ``.gopclntab``; only Go's section-boundary
  symbols are restored, with the addresses of the stripped binary's sections (which differ from the
  twin's data layout) and the letters of an ``objcopy --only-keep-debug`` file (NOBITS sections).
- FOREIGN: with external linking, the C code's symbols (crt, cgo stubs) have no ``.gopclntab`` entry.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from fixtures.env import require_tool, strict
from fixtures.factory import FixtureSpec, FixtureUnavailable, build_fixture
from symkeep.restore import restore_result
from symkeep.restore.symtab import BOUNDARY_SYMBOLS
from symkeep.symbolize import open_go_binary

from .tools import NmSym, nm_table, readelf_sections, symbolize_llvm

# (toolchain, goarch, program)
CASES = [
    ("1.19", "amd64", "hello"), ("1.19", "amd64", "cpuhog"),
    ("1.21", "amd64", "hello"), ("1.21", "amd64", "cpuhog"),
    ("1.22", "amd64", "hello"), ("1.22", "amd64", "cpuhog"),
    ("1.24", "amd64", "hello"), ("1.24", "amd64", "callers"),
    ("1.26", "amd64", "hello"), ("1.26", "amd64", "cpuhog"),
    ("1.27", "amd64", "hello"), ("1.27", "amd64", "cpuhog"),
    ("1.27", "arm64", "hello"), ("1.27", "s390x", "hello"), ("1.21", "386", "hello"),
]
IDS = [f"{t}-{a}-{p}" for t, a, p in CASES]
AMD64 = [c for c in CASES if c[1] == "amd64"]
BOUNDARY = {name for name, _, _ in BOUNDARY_SYMBOLS} | {"runtime.etext"}
TEXT = "Tt"


def _minor(tc: str) -> int:
    return int(tc.split(".")[1])


def _fixture(spec: FixtureSpec) -> Path:
    try:
        return build_fixture(spec)
    except FixtureUnavailable as e:
        pytest.skip(str(e))


_CACHE: dict[Path, Path] = {}


@pytest.fixture(scope="module")
def out_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("names")


def _restored(stripped: Path, out_dir: Path) -> Path:
    if stripped not in _CACHE:
        p = out_dir / (stripped.name + ".debug")
        p.write_bytes(restore_result(open_go_binary(stripped)).data)
        _CACHE[stripped] = p
    return _CACHE[stripped]


def _pair(case: tuple[str, str, str], out_dir: Path) -> tuple[Path, Path, Path]:
    tc, arch, prog = case
    stripped = _fixture(FixtureSpec(toolchain=tc, goarch=arch, variant="sw", program=prog))
    twin = _fixture(FixtureSpec(toolchain=tc, goarch=arch, variant="default", program=prog))
    return stripped, twin, _restored(stripped, out_dir)


def abbreviate(name: str) -> str:
    """cmd/link pcln.go nameParts: everything within the outermost brackets becomes '...'."""
    i, j = name.find("["), name.rfind("]")
    return name if i < 0 or j <= i else name[:i] + "[...]" + name[j + 1 :]


def _text(syms: list[NmSym]) -> set[tuple[str, int]]:
    return {(s.name, s.addr) for s in syms if s.letter in TEXT}


def _asm_addrs(twin: Path, addrs: list[int]) -> set[int]:
    """Addresses whose code the twin's own DWARF attributes to an assembly (.s) file."""
    chains = symbolize_llvm(twin, addrs)
    return {a for a, c in zip(addrs, chains, strict=True) if c and c[-1][1].endswith(".s")}


def _unexplained_missing(only_twin: set[tuple[str, int]], ours_text: set[tuple[str, int]],
                         tc: str) -> list[tuple[str, int]]:
    """Twin text symbols not restored at their address that are not ABBREVIATED or ABI0_DECLARED."""
    out = []
    for name, addr in sorted(only_twin):
        if abbreviate(name) != name and (abbreviate(name), addr) in ours_text:
            continue  # ABBREVIATED
        if name.endswith(".abi0") and (name[:-5], addr) in ours_text and _minor(tc) < 22:
            continue  # ABI0_DECLARED
        out.append((name, addr))
    return out


def _unexplained_extra(twin_text: set[tuple[str, int]], only_ours: set[tuple[str, int]]) -> list[tuple[str, str]]:
    """Restored text symbols the twin lacks that are not an ABBREVIATED or ABI0_DECLARED spelling."""
    spelled = {(abbreviate(n), a) for n, a in twin_text} | {(n[:-5], a) for n, a in twin_text if n.endswith(".abi0")}
    return sorted((n, hex(a)) for n, a in only_ours if (n, a) not in spelled)


def _differences(twin_syms: list[NmSym], ours_syms: list[NmSym]) -> tuple[set[tuple[str, int]], set[tuple[str, int]]]:
    t, o = _text(twin_syms), _text(ours_syms)
    return t - o, o - t


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_text_symbols_match_twin(case: tuple[str, str, str], out_dir: Path) -> None:
    """Every text symbol of the twin is restored with its name and address, but for the classes."""
    require_tool("nm")
    _stripped, twin, ours = _pair(case, out_dir)
    twin_syms, ours_syms = nm_table(twin), nm_table(ours)
    only_twin, only_ours = _differences(twin_syms, ours_syms)
    unexplained = [(n, hex(a)) for n, a in _unexplained_missing(only_twin, _text(ours_syms), case[0])]
    extra = _unexplained_extra(_text(twin_syms), only_ours)
    assert not unexplained, f"{len(unexplained)} twin text symbols missing or elsewhere: {unexplained[:10]}"
    assert not extra, f"{len(extra)} restored text symbols the twin does not have: {extra[:10]}"
    assert len(_text(twin_syms)) > 1000
    if _minor(case[0]) >= 22:
        assert not only_twin and not only_ours, "Go 1.22+: names and addresses must match exactly"


@pytest.mark.parametrize("case", AMD64, ids=[f"{t}-{p}" for t, _, p in AMD64])
def test_binding_matches_twin(case: tuple[str, str, str], out_dir: Path) -> None:
    """T/t agree except STATIC_ASM_BINDING; Go 1.27 closures and the FIPS markers are local in both."""
    _stripped, twin, ours = _pair(case, out_dir)
    ours_letter = {(s.name, s.addr): s.letter for s in nm_table(ours) if s.letter in TEXT}
    both = [(s, ours_letter[(s.name, s.addr)]) for s in nm_table(twin) if (s.name, s.addr) in ours_letter]
    differ = [s for s, letter in both if s.letter != letter]
    asm = _asm_addrs(twin, [s.addr for s in differ]) if differ else set()
    not_asm = [(s.name, s.letter) for s in differ if s.addr not in asm or s.letter != "t"]
    assert not not_asm, f"binding differs beyond file-local assembly: {not_asm[:10]}"
    locals_ours = [s.name for s, letter in both if letter == "t"]
    if _minor(case[0]) >= 27:
        assert any(re.search(r"\.func\d+$", n) for n in locals_ours), "Go 1.27 closures must be local"
    if _minor(case[0]) >= 24:
        assert "go:textfipsstart" in locals_ours


def test_class_abbreviated_names(out_dir: Path) -> None:
    """ABBREVIATED: on Go 1.19 the twin's full generic names sit at the addresses of our ``[...]`` names;
    from Go 1.21 the twin carries ``[...]`` itself."""
    for tc, want in (("1.19", True), ("1.22", False), ("1.27", False)):
        _s, twin, ours = _pair((tc, "amd64", "hello"), out_dir)
        only_twin, _ = _differences(nm_table(twin), nm_table(ours))
        members = [(n, a) for n, a in only_twin if abbreviate(n) != n]
        ours_text = _text(nm_table(ours))
        assert all((abbreviate(n), a) in ours_text for n, a in members), members[:5]
        assert bool(members) == want, (tc, members[:5])
        if want:  # the program's own generic function is among them
            assert any(n.startswith("example.com/hello/internal/b.Sum[") for n, _ in members), members


@pytest.mark.parametrize("tc", ["1.19", "1.21", "1.22", "1.27"])
def test_class_abi0_declared_asm(tc: str, out_dir: Path) -> None:
    """ABI0_DECLARED: each twin ``X.abi0`` restored as bare ``X`` is assembly whose ABIInternal wrapper is
    not in the binary; Go 1.22+ has none; every ``.abi0`` we write, the twin writes too."""
    _s, twin, ours = _pair((tc, "amd64", "cpuhog"), out_dir)
    twin_syms, ours_syms = nm_table(twin), nm_table(ours)
    twin_text, ours_text = _text(twin_syms), _text(ours_syms)
    twin_names = {n for n, _ in twin_text}
    members = [(n, a) for n, a in twin_text - ours_text if n.endswith(".abi0")]
    ours_abi0 = {(n, a) for n, a in ours_text if n.endswith(".abi0")}
    assert ours_abi0 <= twin_text, sorted(ours_abi0 - twin_text)[:10]
    assert len(ours_abi0) > 20, "wrapped pairs and GO_ARGS bodies carry .abi0 on every toolchain here"
    if _minor(tc) >= 22:
        assert not members
        return
    assert members, "Go 1.19-1.21: Go-declared assembly whose wrapper was discarded"
    assert all((n[:-5], a) in ours_text and n[:-5] not in twin_names for n, a in members), members[:5]
    asm = _asm_addrs(twin, [a for _, a in members])
    assert {a for _, a in members} <= asm, [n for n, a in members if a not in asm][:10]


def test_no_abi0_before_go_1_17(out_dir: Path) -> None:
    """A Go 1.14 release binary (esbuild 0.5.0, unstripped): the restored text symbols are exactly its own
    .symtab's (that toolchain never wrote ``.abi0``)."""
    from fixtures.oldbins import OldBinError, old_binaries

    try:
        olds = [b for b in old_binaries() if b.name == "esbuild-0.5.0-linux-amd64"]
    except OldBinError as e:
        if strict():
            raise
        pytest.skip(f"old binaries unavailable: {e}")
    assert olds and olds[0].go_version == "go1.14.2"
    binary = olds[0].path
    ours = out_dir / "esbuild-0.5.0.debug"
    ours.write_bytes(restore_result(open_go_binary(binary)).data)
    own, restored = _text(nm_table(binary)), _text(nm_table(ours))
    assert len(own) > 5000
    assert own == restored, (sorted(own - restored)[:5], sorted(restored - own)[:5])
    assert not any(n.endswith(".abi0") for n, _ in restored)
    # The DWARF names too (llvm-symbolizer once said runtime.call2048.abi0 for a Go 1.13 binary).
    calls = sorted((a, n) for n, a in own if n.startswith("runtime.call"))
    assert len(calls) > 10
    got = [c[-1][0] for c in symbolize_llvm(ours, [a for a, _ in calls])]
    assert got == [n for _, n in calls]


@pytest.mark.parametrize("tc", ["1.19", "1.27"])
def test_class_data_and_boundary_symbols(tc: str, out_dir: Path, tmp_path: Path) -> None:
    """DATA: no data symbol is restored but Go's boundary symbols; those equal the stripped binary's
    section bounds (readelf) and carry the letters ``objcopy --only-keep-debug`` of the twin shows."""
    objcopy = require_tool("objcopy")
    stripped, twin, ours = _pair((tc, "amd64", "hello"), out_dir)
    ours_syms = nm_table(ours)
    assert {s.name for s in ours_syms if s.letter not in TEXT} <= BOUNDARY
    twin_data = {s.name for s in nm_table(twin) if s.letter not in TEXT}
    assert len(twin_data - BOUNDARY) > 100  # the class is real: the twin has many
    secs = readelf_sections(stripped)
    ours_val = {s.name: (s.addr, s.letter) for s in ours_syms if s.name in BOUNDARY}
    for name, secnames, where in BOUNDARY_SYMBOLS:
        sec = next((secs[n] for n in secnames if n in secs), None)
        if sec is None:
            continue
        assert ours_val[name][0] == (sec[0] if where == "start" else sec[0] + sec[1]), name
    kd = tmp_path / "twin.debug"
    subprocess.run([objcopy, "--only-keep-debug", str(twin), str(kd)], check=True)
    kd_letters = {s.name: s.letter for s in nm_table(kd) if s.name in BOUNDARY}
    for name, (_addr, letter) in ours_val.items():
        if name in kd_letters:
            assert letter == kd_letters[name], (name, letter, kd_letters[name])
    twin_val = {s.name: s.addr for s in nm_table(twin)}
    for name in ("runtime.text", "runtime.etext"):
        assert ours_val[name][0] == twin_val[name], name


@pytest.mark.parametrize("tc", ["1.19", "1.22"])
def test_class_foreign_code_of_external_linking(tc: str, out_dir: Path, tmp_path: Path) -> None:
    """FOREIGN: an externally linked binary stripped with binutils: every Go function comes back at its
    address; what is missing is C code outside [runtime.text, runtime.etext)."""
    strip = require_tool("strip")
    twin = _fixture(FixtureSpec(toolchain=tc, variant="extlink", program="hello"))
    stripped = tmp_path / "hello.stripped"
    shutil.copy2(twin, stripped)
    subprocess.run([strip, str(stripped)], check=True)
    ours = out_dir / f"extlink-{tc}.debug"
    ours.write_bytes(restore_result(open_go_binary(stripped)).data)
    twin_syms = nm_table(twin)
    tv = {s.name: s.addr for s in twin_syms}
    lo, hi = tv["runtime.text"], tv["runtime.etext"]
    ours_syms = nm_table(ours)
    only_twin, only_ours = _differences(twin_syms, ours_syms)
    inside = [(n, hex(a)) for n, a in _unexplained_missing(only_twin, _text(ours_syms), tc) if lo <= a < hi]
    assert not inside, inside[:10]
    assert any(a < lo or a >= hi for _, a in only_twin), "the C code's symbols are the class"
    assert not _unexplained_extra(_text(twin_syms), only_ours)
