"""The bulk paths of the symbolizer against their one-at-a-time references: vectorized address
translation vs ``Translator.to_link``, hand-encoded Line[] bytes vs protobuf's own encoder, and a
large real profile symbolized in bulk vs the engine's per-PC ``lookup``."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from symkeep.binfmt import open_binary
from symkeep.profile.lines import FunctionTable, LineEncoder
from symkeep.profile.locate import Locator
from symkeep.profile.mapping import Translator
from symkeep.profile.pprof import Profile, StringTable, parse_profile, serialize_profile
from symkeep.profile.symbolizer import symbolize_profile
from symkeep.symbolize import Frame, open_go_binary
from symkeep.symbolize.columns import ChainColumns


@pytest.mark.parametrize("variant", ["sw", "pie_sw"])
def test_to_link_many_matches_to_link(fixture: Callable[..., Path], variant: str) -> None:
    b = open_binary(fixture(variant=variant, program="cpuhog"))
    segs = [s for s in b.segments() if s.load and s.memsz > 0]
    text = next(s for s in segs if s.execute)
    rng = random.Random(7)
    base = 0x7F00_0000_0000 if variant == "pie_sw" else 0
    page = text.offset & ~0xFFF
    mappings = [
        (0, 0, 0),  # identity (perf samples of non-PIE executables)
        (text.vaddr + base - (text.offset - page), text.vaddr + base + text.memsz, page),  # text mapping
        (segs[0].vaddr + base, segs[-1].vaddr + segs[-1].memsz + base, 0),  # whole file mapped at once
        (base + 0x1000, 0, 0),  # no limit: the scalar rules (offsets below the start) apply
        (base + 0x400000, base + 0x500000, 1 << 40),  # offset past the end of the file
    ]
    for start, limit, off in mappings:
        tr = Translator(b, start, limit, off)
        lo = max(0, start - 0x3000)
        hi = max(limit, start + text.memsz) + 0x3000
        addrs = [rng.randrange(lo, hi) for _ in range(3000)] + [start, max(limit - 1, 0), limit, lo]
        link, ok = tr.to_link_many(np.array(addrs, dtype=np.uint64))
        want = [tr.to_link(a) for a in addrs]
        got = [int(x) if k else None for x, k in zip(link.tolist(), ok.tolist(), strict=True)]
        assert got == want, (start, limit, off)
        if limit > start:
            assert any(w is not None for w in want) or off == 1 << 40


def test_line_encoder_bytes_match_protobuf() -> None:
    prof = Profile()
    st = StringTable(prof)
    funcs = FunctionTable(prof, st)
    enc = LineEncoder(funcs)
    frames = [
        Frame("main.a", "/x/a.go", 12, 10, True),
        Frame("main.b", "/x/b.go", 0, 0, False),  # line 0: no line field
        Frame("main.c", "", -3, 0, False),  # negative line: 10-byte two's complement
        Frame("main.d", "/x/d.go", 1 << 40, 5, False),
        Frame("main.a", "/x/a.go", 200, 10, True),  # same function, other line
    ]
    chains: list[tuple[Frame, ...]] = [(frames[0], frames[1]), (frames[2],), (), (frames[3], frames[4], frames[0])]
    got = enc.columns(ChainColumns.from_chains(chains))
    for chain, b in zip(chains, got, strict=True):
        loc = Profile().location.add()
        for fr in chain:
            loc.line.add(function_id=funcs.by_key[(fr.function, fr.file, fr.start_line)], line=fr.line)
        assert b == loc.SerializeToString()
    assert [st.get(f.name) for f in prof.function] == ["main.a", "main.b", "main.c", "main.d"]
    assert [f.start_line for f in prof.function] == [10, 0, 0, 5]
    assert enc.all_named and not enc.all_files and not enc.all_lines


def test_many_pcs_match_per_pc_lookup(fixture: Callable[..., Path]) -> None:
    """Every PC of a few hundred functions (inline-heavy runtime code), symbolized in bulk, read back
    from the written bytes: each location's Line[] is the engine's per-PC ``lookup`` chain."""
    binary = fixture(variant="sw", program="cpuhog")
    gb = open_go_binary(binary)
    funcs = [f for f in gb.functions() if f.end > f.entry][:400]
    every = [pc for f in funcs for pc in range(f.entry, f.end)]
    # (the alignment padding at function ends has the function's name alone: no file, left out here)
    pcs = [pc for pc in every if [f.file for f in gb.lookup(pc)][:1] not in ([], ["?"])]
    assert len(pcs) > 0.9 * len(every)
    prof = Profile()
    prof.string_table.append("")
    prof.string_table.append(str(binary))
    prof.sample_type.add()
    prof.mapping.add(id=1, filename=1)
    for i, pc in enumerate(pcs, 1):
        prof.location.add(id=i, mapping_id=1, address=pc)
    prof.sample.add(location_id=list(range(1, len(pcs) + 1)), value=[1])
    # Bare link-time addresses: main mapping with no range (identity translation).
    rep = symbolize_profile(prof, Locator([str(binary)], use_env=False, debuginfod_urls=[])).report
    back = parse_profile(serialize_profile(prof))
    st = back.string_table
    fn = {f.id: (st[f.name], st[f.filename], f.start_line) for f in back.function}
    assert len(fn) == len(back.function)
    inlined = 0
    for loc, pc in zip(back.location, pcs, strict=True):
        want = [(f.function, f.file, f.start_line, f.line) for f in gb.lookup(pc)]
        assert [(*fn[ln.function_id], ln.line) for ln in loc.line] == want, hex(pc)
        inlined += len(want) > 1
    assert inlined > 0, "no inlined PCs among the sampled functions: the test would not check chains"
    assert rep.symbolized == len(pcs)
    m = back.mapping[0]
    assert m.has_functions and m.has_filenames and m.has_line_numbers and m.has_inline_frames
