"""moduledata discovery and layouts, checked against the symbol table (nm) of the unstripped build."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from fixtures.factory import FixtureSpec
from symkeep.binfmt import open_binary
from symkeep.golang.moduledata import find_moduledata, resolve_text_start
from symkeep.golang.pclntab import load_pclntab
from symkeep.symbolize import open_go_binary

TOOLCHAINS = ("1.19", "1.21", "1.22", "1.24", "1.26", "1.27")
LAYOUT = {"1.19": "1.18", "1.21": "1.20", "1.22": "1.20", "1.24": "1.20", "1.26": "1.26", "1.27": "1.27"}


def nm_all(path: Path) -> dict[str, int]:
    out = subprocess.run(["nm", str(path)], capture_output=True, text=True, check=True).stdout
    res = {}
    for ln in out.splitlines():
        parts = ln.split(" ", 2)
        if len(parts) == 3 and parts[0]:
            res.setdefault(parts[2], int(parts[0], 16))
    return res


@pytest.mark.parametrize("tc", TOOLCHAINS)
def test_moduledata_matches_symbols(fixture, tc: str) -> None:
    dflt = fixture(FixtureSpec(tc, "linux", "amd64", "default", "hello"))
    syms = nm_all(dflt)
    # Found by the scan alone (symbols ignored, no version hint: the layout is recognised structurally).
    with open_binary(dflt) as b:
        tab = load_pclntab(b)
        md = find_moduledata(b, tab, use_symbols=False)
        assert md is not None
    assert md.address == syms["runtime.firstmoduledata"]
    assert md.layout == LAYOUT[tc]
    assert md.text == syms["runtime.text"]
    assert md.etext == syms["runtime.etext"]
    assert md.minpc == syms["runtime.text"]
    gofunc_sym = "go.func.*" if tc == "1.19" else "go:func.*"
    assert md.gofunc == syms[gofunc_sym]
    assert len(md.textsectmap) == 1 and md.textsectmap[0].baseaddr == md.text
    if tc in ("1.26", "1.27"):
        assert md.epclntab == syms["runtime.epclntab"]
        # 1.26+: moduledata has a section of its own, and funcdata lives inside the pclntab
        out = subprocess.run(["readelf", "-W", "-S", str(dflt)], capture_output=True, text=True).stdout
        line = next(ln for ln in out.splitlines() if " .go.module " in ln)
        assert int(line.split(".go.module")[1].split()[1], 16) == md.address
        assert tab.vaddr <= syms[gofunc_sym] < tab.vaddr + tab.size


@pytest.mark.parametrize("tc", TOOLCHAINS)
def test_moduledata_of_stripped_build(fixture, tc: str) -> None:
    """-s -w moves data around (smaller tables) but not text: text/etext match the default's symbols."""
    syms = nm_all(fixture(FixtureSpec(tc, "linux", "amd64", "default", "hello")))
    stripped = fixture(FixtureSpec(tc, "linux", "amd64", "sw", "hello"))
    with open_binary(stripped) as b:
        assert b.symbol("runtime.firstmoduledata") is None
        tab = load_pclntab(b)
        md = find_moduledata(b, tab)
        assert md is not None
        start, source = resolve_text_start(b, tab, md)
    assert md.layout == LAYOUT[tc]
    assert (md.text, md.etext) == (syms["runtime.text"], syms["runtime.etext"])
    assert (start, source) == (md.text, "moduledata.text")
    assert md.gofunc is not None


@pytest.mark.parametrize("tc", ["1.19", "1.21", "1.27"])
def test_text_start_sources(fixture, tc: str) -> None:
    dflt = fixture(FixtureSpec(tc, "linux", "amd64", "default", "hello"))
    with open_go_binary(dflt) as g:
        assert g.text_start_source == "symbol runtime.text"
        assert g.moduledata is not None and g.moduledata.text == g.text_start
    pie = fixture(FixtureSpec(tc, "linux", "amd64", "pie", "hello"))
    syms = nm_all(pie)
    with open_binary(pie) as b:
        # PIE: pointers in the file are link-time (unrelocated) addresses
        tab = load_pclntab(b)
        md = find_moduledata(b, tab, use_symbols=False)
        assert md is not None and md.address == syms["runtime.firstmoduledata"]
        assert md.text == syms["runtime.text"]
    with open_go_binary(fixture(FixtureSpec(tc, "linux", "amd64", "pie_sw", "hello"))) as g:
        assert g.moduledata is not None, "moduledata of a stripped PIE not found"
        assert (g.text_start, g.text_start_source) == (syms["runtime.text"], "moduledata.text")


def test_entries_with_several_text_sections() -> None:
    """runtime textAddr: an entry offset in section k maps to off - vaddr_k + baseaddr_k.

    No fixture has several text sections (that needs a >~ 30 MB text on ppc64/arm), so the mapping is
    checked on the runtime's definition with sections laid out like the linker does (gaps between)."""
    import numpy as np

    from symkeep.golang.functab import entries_to_pcs
    from symkeep.golang.moduledata import TextSect

    sects = [
        TextSect(0, 0x1000, 0x400000),
        TextSect(0x1000, 0x1800, 0x402000),
        TextSect(0x1800, 0x2000, 0x404000),
    ]
    raw = np.array([0, 0x10, 0xFFF, 0x1000, 0x17F0, 0x1800, 0x1FF0, 0x2000], dtype=np.uint64)
    got = entries_to_pcs(raw, 0x400000, sects, True).tolist()
    want = []
    for off in raw.tolist():
        s = max((s for s in sects if s.vaddr <= off), key=lambda s: s.vaddr)
        want.append(off - s.vaddr + s.baseaddr)
    assert got == want
    assert got == sorted(got)
    assert entries_to_pcs(raw, 0x400000, sects[:1], True).tolist() == [0x400000 + x for x in raw.tolist()]
    assert entries_to_pcs(raw, 0x400000, None, False).tolist() == raw.tolist()


@pytest.mark.parametrize("tc", ["1.21", "1.27"])
def test_several_text_sections(fixture, tc: str) -> None:
    """External linking on ppc64le with a small -debugtextsize: the linker splits text into sections
    (runtime.text, runtime.text.1, ...) with gaps between them; every function entry is then resolved
    through moduledata.textsectmap and must equal its ELF symbol (external linking names ABI0
    wrappers ``X.abi0``; the pclntab calls them ``X``)."""
    path = fixture(FixtureSpec(tc, "linux", "ppc64le", "textsect", "hello"))
    out = subprocess.run(["nm", str(path)], capture_output=True, text=True, check=True).stdout
    values: dict[str, set[int]] = {}
    for ln in out.splitlines():
        parts = ln.split(" ", 2)
        if len(parts) == 3 and parts[0]:
            values.setdefault(parts[2], set()).add(int(parts[0], 16))
    with open_go_binary(path) as g:
        assert g.moduledata is not None
        sects = g.moduledata.textsectmap
        assert len(sects) >= 3
        assert sects[0].baseaddr in values["runtime.text"]
        for k, s in enumerate(sects[1:], 1):
            assert s.baseaddr in values[f"runtime.text.{k}"]
        later = 0
        for f in g.functions():
            assert f.entry in values.get(f.name, set()) | values.get(f.name + ".abi0", set()), f.name
            later += f.entry >= sects[1].baseaddr
        assert later > 500
