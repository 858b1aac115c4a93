"""PCs inside a function's range but past its line table (the alignment bytes at its end), on real tools.

Go's function table gives every function the range [entry, next entry); the line table of a function
stops at its last instruction. For the bytes after it:
- ``go tool addr2line`` names the function with line -1;
- binutils ``addr2line`` on the unstripped twin names it from ``.symtab`` (nearest symbol, no line);
- llvm-symbolizer 14/16 answers ``??`` on these fixtures (its DWARF ranges and symbol sizes stop at
  the last instruction), so it is not the truth here.
symkeep answers the function's name with ``??:0`` (``Frame(name, "?", 0, ...)``), on the per-function
and the bulk path. PCs outside every function's range stay unknown: before the first function, past
the last one, and the gap the linker leaves between text sections (externally linked ppc64le, Go 1.21:
the symtab marks the next section with ``runtime.text.1`` and no function symbol covers the gap).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import numpy as np
import pytest

from fixtures.env import require_tool
from fixtures.factory import FixtureSpec
from symkeep.symbolize import Frame, GoBinary, open_go_binary
from symkeep.symbolize.gobinary import BULK_MIN


def tail_pcs(g: GoBinary, limit: int = 400) -> list[int]:
    """PCs past the line table of functions that have one (every byte of the first ``limit`` tails)."""
    out: list[int] = []
    for f in g.functions():
        raw = g.pclntab.read_func(f.index)
        if not raw.pcfile or not raw.pcln:
            continue  # no line table at all (go:buildid): named alone as before
        pcln = g.decoder.table(f.index, "pcln")
        if pcln.end < f.end:
            out.extend(range(pcln.end, f.end))
        if len(out) >= limit:
            break
    return out[:limit]


def _symtab_name(name: str) -> str:
    """The two spellings that differ between .symtab and .gopclntab (FACTS 2a): the ``.abi0`` suffix of
    assembly functions (Go 1.17+ symtab only) and array lengths abbreviated as ``[...]`` (pclntab)."""
    return re.sub(r"\[[^\]]*\]", "[...]", name.removesuffix(".abi0"))


def bulk_chains(g: GoBinary, pcs: list[int]) -> list[tuple[Frame, ...]]:
    """The chains of ``pcs`` through the whole-binary table (batch padded to the bulk size)."""
    arr = np.array((pcs * (BULK_MIN // max(len(pcs), 1) + 1))[: max(BULK_MIN, len(pcs))], dtype=np.uint64)
    ids, cols = g.lookup_columns(arr)
    assert g.table_kind == "bulk"
    return [cols.chain(int(c)) if c >= 0 else () for c in ids[: len(pcs)].tolist()]


def go_addr2line(tool: Path, binary: Path, pcs: list[int]) -> list[tuple[str, str]]:
    r = subprocess.run([str(tool), str(binary)], input="".join(f"{p:#x}\n" for p in pcs), capture_output=True,
                       text=True, timeout=300, check=True)
    lines = r.stdout.splitlines()
    return [(lines[2 * k], lines[2 * k + 1]) for k in range(len(pcs))]


@pytest.mark.parametrize("tc", ["1.19", "1.21", "1.27"])
def test_tail_named_like_go_addr2line_and_binutils(fixture, gotool, tc: str) -> None:
    stripped = fixture(FixtureSpec(tc, "linux", "amd64", "sw", "hello"))
    twin = fixture(FixtureSpec(tc, "linux", "amd64", "default", "hello"))
    require_tool("addr2line")
    with open_go_binary(stripped) as g, open_go_binary(stripped) as gb:
        pcs = tail_pcs(g)
        assert len(pcs) > 100
        go = go_addr2line(gotool(tc, "addr2line"), stripped, pcs)
        binutils = subprocess.run(["addr2line", "-f", "-e", str(twin), *[f"{p:#x}" for p in pcs]],
                                  capture_output=True, text=True, timeout=300, check=True).stdout.splitlines()
        bulk = bulk_chains(gb, pcs)
        for k, pc in enumerate(pcs):
            fn = g.function_at(pc)
            assert fn is not None
            want = [Frame(fn.name, "?", 0, fn.start_line, False)]
            name, loc = go[k]
            assert (name, loc.rsplit(":", 1)[-1]) == (fn.name, "-1"), (hex(pc), go[k])
            assert _symtab_name(binutils[2 * k]) == _symtab_name(fn.name), (hex(pc), binutils[2 * k])
            assert g.lookup(pc) == want, hex(pc)
            assert list(bulk[k]) == want, hex(pc)


def test_outside_every_function_is_unknown(fixture, gotool) -> None:
    path = fixture(FixtureSpec("1.27", "linux", "amd64", "sw", "hello"))
    with open_go_binary(path) as g, open_go_binary(path) as gb:
        lo, hi = int(g.entries[0]), int(g.entries[-1])
        pcs = [lo - 1, lo - 64, hi, hi + 1, hi + 4096]
        go = go_addr2line(gotool("1.27", "addr2line"), path, pcs)
        assert [n for n, _ in go] == ["?"] * len(pcs)
        assert [g.lookup(p) for p in pcs] == [[]] * len(pcs)
        assert bulk_chains(gb, pcs) == [()] * len(pcs)


def test_gap_between_text_sections_is_unknown(fixture) -> None:
    """Go 1.21 ppc64le, external linking: the linker leaves 0x20 bytes between the first two text
    sections; the symbol table starts the next section there (``runtime.text.1``) and no function
    symbol covers the gap, while the PCs before it (the last function's padding) are named."""
    require_tool("nm")
    path = fixture(FixtureSpec("1.21", "linux", "ppc64le", "textsect", "hello"))
    syms = subprocess.run(["nm", "-nS", str(path)], capture_output=True, text=True, check=True).stdout.splitlines()
    funcs: list[tuple[int, int]] = []
    text1 = None
    for ln in syms:
        parts = ln.split()
        if len(parts) == 3 and parts[2] == "runtime.text.1":
            text1 = int(parts[0], 16)
        if len(parts) == 4 and parts[2] in "tT":
            funcs.append((int(parts[0], 16), int(parts[1], 16)))
    assert text1 is not None
    prev = max((a for a, s in funcs if a < text1), default=None)
    assert prev is not None
    prev_end = next(a + s for a, s in funcs if a == prev)
    gap = list(range(prev_end, text1))
    assert gap, "no gap before runtime.text.1 in this build"
    covered = [p for p in gap if any(a <= p < a + s for a, s in funcs)]
    assert not covered
    with open_go_binary(path) as g, open_go_binary(path) as gb:
        fn = g.function_at(prev)
        assert fn is not None and fn.entry == prev
        in_gap = [p for p in gap if g.function_index(p) < 0]
        # the linker's section end (textsectmap) may include a few padding bytes of the last function
        assert len(in_gap) >= 16
        assert [g.lookup(p) for p in in_gap] == [[]] * len(in_gap)
        assert bulk_chains(gb, in_gap) == [()] * len(in_gap)
        named = [p for p in gap if p not in in_gap]
        assert all(g.lookup(p) == [Frame(fn.name, "?", 0, fn.start_line, False)] for p in named)
