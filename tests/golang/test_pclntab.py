"""Locating and parsing the pclntab, checked against readelf / nm on real fixtures."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from fixtures.factory import FixtureSpec
from fixtures.names import elide_brackets
from symkeep.binfmt import open_binary
from symkeep.golang.pcln_constants import MAGIC_TO_GENERATION
from symkeep.golang.pclntab import PclnTab, find_pclntab, load_pclntab
from symkeep.symbolize import open_go_binary

TOOLCHAINS = ("1.19", "1.21", "1.22", "1.24", "1.26", "1.27")


def readelf_sections(path: Path) -> dict[str, tuple[int, int, int]]:
    """name -> (addr, offset, size) from readelf -W -S."""
    out = subprocess.run(
        ["readelf", "-W", "-S", str(path)], capture_output=True, text=True, check=True
    ).stdout
    res = {}
    for m in re.finditer(r"\]\s+(\S+)\s+\S+\s+([0-9a-f]+)\s+([0-9a-f]+)\s+([0-9a-f]+)", out):
        res[m.group(1)] = (int(m.group(2), 16), int(m.group(3), 16), int(m.group(4), 16))
    return res


def nm_text(path: Path) -> set[tuple[str, int]]:
    out = subprocess.run(
        ["nm", "-n", "--defined-only", str(path)], capture_output=True, text=True, check=True
    )
    syms = set()
    for ln in out.stdout.splitlines():
        a, t, n = ln.split(" ", 2)
        if t in "Tt":
            syms.add((n, int(a, 16)))
    return syms


@pytest.mark.parametrize("tc", TOOLCHAINS)
def test_section_location_matches_readelf(fixture, tc: str) -> None:
    path = fixture(FixtureSpec(tc, "linux", "amd64", "sw", "hello"))
    secs = readelf_sections(path)
    with open_binary(path) as b:
        loc = find_pclntab(b)
        tab = load_pclntab(b, loc)
    assert loc.source == "section" and loc.section == ".gopclntab"
    assert (loc.vaddr, loc.offset, loc.size) == secs[".gopclntab"]
    want_magic = 0xFFFFFFF0 if tc == "1.19" else 0xFFFFFFF1
    assert tab.magic == want_magic
    assert tab.generation == MAGIC_TO_GENERATION[want_magic]
    assert (tab.quantum, tab.ptrsize, tab.byteorder) == (1, 8, "little")
    # header offsets are strictly inside the table and ordered as the linker writes them
    h = tab.header()
    offs = [h["funcname_offset"], h["cu_offset"], h["filetab_offset"], h["pctab_offset"], h["pcln_offset"]]
    assert offs == sorted(offs) and offs[0] > 0 and offs[-1] < loc.size  # type: ignore[operator]
    # textStart is written up to Go 1.25 and 0 from 1.26 (FACTS.md section 3)
    text = secs[".text"][0]
    assert tab.text_start_header == (0 if tc in ("1.26", "1.27") else text)


def test_pie_section_name(fixture) -> None:
    for tc, name in (("1.21", ".data.rel.ro.gopclntab"), ("1.27", ".gopclntab")):
        path = fixture(FixtureSpec(tc, "linux", "amd64", "pie", "hello"))
        secs = readelf_sections(path)
        with open_binary(path) as b:
            loc = find_pclntab(b)
        assert loc.section == name
        assert (loc.vaddr, loc.offset) == secs[name][:2]


@pytest.mark.parametrize("tc", ["1.19", "1.27"])
def test_magic_scan_without_section_headers(fixture, tc: str) -> None:
    """nosections = the default build with its section header table removed: only the scan can find it."""
    ref = fixture(FixtureSpec(tc, "linux", "amd64", "default", "hello"))
    path = fixture(FixtureSpec(tc, "linux", "amd64", "nosections", "hello"))
    secs = readelf_sections(ref)
    with open_binary(path) as b:
        assert not b.sections() or b.section(".gopclntab") is None
        loc = find_pclntab(b)
    assert loc.source == "scan"
    assert (loc.vaddr, loc.offset) == secs[".gopclntab"][:2]
    # symbolization from the scanned table equals the one from the section
    with open_go_binary(ref) as g1, open_go_binary(path) as g2:
        assert g2.text_start == g1.text_start
        pcs = [f.entry + 3 for f in list(g1.functions())[::25]]
        assert g1.lookup_many(pcs) == g2.lookup_many(pcs)


def test_symbols_location(fixture) -> None:
    """Without the named section, runtime.pclntab/epclntab symbols locate it (checked with nm)."""
    path = fixture(FixtureSpec("1.27", "linux", "amd64", "default", "hello"))
    syms = {n: a for n, a in nm_text(path)}
    out = subprocess.run(["nm", str(path)], capture_output=True, text=True, check=True).stdout
    addr = {ln.split()[2]: int(ln.split()[0], 16) for ln in out.splitlines() if len(ln.split()) == 3}
    assert "runtime.pclntab" in addr and "runtime.epclntab" in addr
    from symkeep.golang import pcln_locate as mod

    with open_binary(path) as b:
        saved = mod.PCLNTAB_SECTIONS
        try:
            mod.PCLNTAB_SECTIONS = ()
            loc = mod.find_pclntab(b)
        finally:
            mod.PCLNTAB_SECTIONS = saved
    assert loc.source == "symbols"
    assert loc.vaddr == addr["runtime.pclntab"]
    assert loc.size == addr["runtime.epclntab"] - addr["runtime.pclntab"]
    assert syms  # nm found text symbols too


def _normalize_symtab(name: str) -> str:
    # The linker names assembly functions with their ABI in the symbol table only.
    return name[: -len(".abi0")] if name.endswith(".abi0") else name


@pytest.mark.parametrize("tc", TOOLCHAINS)
def test_function_list_equals_symtab(fixture, tc: str) -> None:
    """Functions of the stripped build == Go text symbols of the default build (same code).

    Explained differences: the symbol table has ``runtime.text`` (a marker, not a function, on the
    same address as the first function); ``·`` in names is ``.`` in ELF symbols; assembly functions carry ``.abi0`` there; Go 1.19 writes
    every bracketed part of a name as ``[...]`` in the pclntab (``type..eq.[5]T``, ``Sum[go.shape.int_0]``
    in the symbol table).
    """
    dflt = fixture(FixtureSpec(tc, "linux", "amd64", "default", "hello"))
    stripped = fixture(FixtureSpec(tc, "linux", "amd64", "sw", "hello"))
    syms = {(_normalize_symtab(n), a) for n, a in nm_text(dflt) if n not in ("runtime.text", "runtime.etext")}
    with open_go_binary(stripped) as g:
        # the linker writes U+00B7 (middle dot) as "." in ELF symbol names, not in the pclntab
        funcs = {(f.name.replace("\u00b7", "."), f.entry) for f in g.functions()}
        assert [f.entry for f in g.functions()] == sorted(f.entry for f in g.functions())
    only_sym = syms - funcs
    only_fn = funcs - syms
    if tc == "1.19":
        only_sym = {(elide_brackets(n), a) for n, a in only_sym} - funcs
        only_fn = funcs - {(elide_brackets(n), a) for n, a in syms} - syms
    assert not only_sym, sorted(only_sym, key=lambda x: x[1])[:20]
    assert not only_fn, sorted(only_fn, key=lambda x: x[1])[:20]


def test_header_roundtrip_and_errors(fixture) -> None:
    path = fixture(FixtureSpec("1.27", "linux", "amd64", "sw", "hello"))
    with open_binary(path) as b:
        tab = load_pclntab(b)
    data = bytearray(tab.data)
    again = PclnTab(bytes(data), tab.vaddr)
    assert again.header() == tab.header()
    from symkeep.errors import FormatError

    bad = bytearray(data)
    bad[6] = 3  # quantum
    with pytest.raises(FormatError):
        PclnTab(bytes(bad))
    bad = bytearray(data)
    bad[0] = 0x12  # magic
    with pytest.raises(FormatError):
        PclnTab(bytes(bad))
    with pytest.raises(FormatError):
        PclnTab(bytes(data[:12]))
