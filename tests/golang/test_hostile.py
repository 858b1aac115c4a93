"""Hostile pclntabs: clean FormatError (or "unknown" frames), bounded time and memory.

Built from a real binary by patching bytes in memory (symkeep.binfmt.elf.ELFFile accepts bytes).
"""

from __future__ import annotations

import struct
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fixtures.factory import FixtureSpec
from symkeep.binfmt.elf import ELFFile
from symkeep.errors import FormatError, SymkeepError
from symkeep.golang.pclntab import PclnTab
from symkeep.golang.pcvalue import decode_pcvalue
from symkeep.symbolize import GoBinary, open_go_binary


@pytest.fixture(scope="module")
def base(fixture) -> tuple[Path, bytes, int, int]:
    """(path, file bytes, pclntab file offset, pclntab size) of a real stripped Go 1.27 binary."""
    path = fixture(FixtureSpec("1.27", "linux", "amd64", "sw", "hello"))
    data = path.read_bytes()
    with open_go_binary(path) as g:
        loc = g.location
    return path, data, loc.offset, loc.size


def _open(path: Path, data: bytes | bytearray) -> GoBinary:
    return GoBinary(ELFFile(str(path), bytes(data)))


def _patch_word(buf: bytearray, off: int, value: int) -> None:
    struct.pack_into("<Q", buf, off, value)


def test_nfunc_2_31_is_rejected_fast(base) -> None:
    path, data, off, _ = base
    buf = bytearray(data)
    _patch_word(buf, off + 8, 1 << 31)
    tracemalloc.start()
    t0 = time.perf_counter()
    with pytest.raises(FormatError, match="nfunc"):
        _open(path, buf)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert time.perf_counter() - t0 < 2
    assert peak < 64 << 20


@pytest.mark.parametrize("word", [3, 4, 5, 6, 7])  # funcname, cu, filetab, pctab, pcln offsets
def test_offsets_past_the_end(base, word: int) -> None:
    path, data, off, size = base
    buf = bytearray(data)
    _patch_word(buf, off + 8 + 8 * word, size + 0x1000)
    with pytest.raises(FormatError):
        _open(path, buf)


def test_non_monotonic_functab(base) -> None:
    path, data, off, _ = base
    with open_go_binary(path) as g:
        pcln = g.pclntab.pcln_offset
    buf = bytearray(data)
    # swap the entryoff of functions 10 and 11
    a, b = off + pcln + 8 * 10, off + pcln + 8 * 11
    ea, eb = struct.unpack_from("<I", buf, a)[0], struct.unpack_from("<I", buf, b)[0]
    struct.pack_into("<I", buf, a, eb)
    struct.pack_into("<I", buf, b, ea)
    with pytest.raises(FormatError, match="not sorted"):
        _open(path, buf)


def test_inline_parent_cycle_is_bounded(base) -> None:
    """Point an inlined call's parentPc back at a PC that resolves to the same record: a cycle."""
    path, data, _, _ = base
    with open_go_binary(path) as g:
        target = None
        for f in g.functions():
            for r in g.ranges(f):
                if len(r.frames) > 1:
                    target = (f, r)
                    break
            if target:
                break
        assert target is not None
        f, r = target
        raw = g.decoder.raw(f.index)
        tree = g.decoder.inline_tree(raw)
        assert tree is not None
        pcinl = g.decoder.table(f.index, "pcinline")
        ix = pcinl.value_at(r.start)
        rec_addr = tree.addr + ix * tree.rec
        rec_off = g.binary.vaddr_to_offset(rec_addr)
        assert rec_off is not None
        before = g.lookup(r.start)
    buf = bytearray(data)
    struct.pack_into("<i", buf, rec_off + 8, r.start - f.entry)  # parentPc := the pc itself
    t0 = time.perf_counter()
    with _open(path, buf) as g2:
        frames = g2.lookup(r.start)
    assert time.perf_counter() - t0 < 2
    assert 1 <= len(frames) <= len(before) + 1
    assert frames[-1].function == f.name and not frames[-1].inlined
    # the numpy path (batches >= 20k PCs: golang.bulk + symbolize.bulkchains) ends the walk the same way
    with _open(path, buf) as g3:
        pcs = np.full(25_000, r.start, dtype=np.uint64)
        t0 = time.perf_counter()
        ids, cols = g3.lookup_columns(pcs)
        assert g3.table_kind == "bulk"
        assert time.perf_counter() - t0 < 5
        assert cols.chain(int(ids[0])) == tuple(frames)
        assert tuple(g3.lookup_chains(pcs)[0]) == tuple(frames)


def test_truncated_pcvalue_and_garbage() -> None:
    # a varint that never ends, a table running off the buffer, offsets out of range
    with pytest.raises(FormatError):
        decode_pcvalue(b"\x00" + b"\xff" * 10, 1, 0x1000, 1, 0x2000)
    t = decode_pcvalue(b"\x00\x02\x05\x02\x02", 1, 0x1000, 1, 0x2000)
    assert t.value_at(0x1000) == 0 and t.value_at(0x1005) == 1 and t.value_at(0x1007) == -1
    with pytest.raises(FormatError):
        decode_pcvalue(b"\x00\x02", 10, 0, 1, 10)
    assert decode_pcvalue(b"", 0, 0, 1, 10).value_at(0) == -1


@settings(
    max_examples=60,
    deadline=5000,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
    derandomize=True,
)
@given(st.data())
def test_fuzz_header_and_tables(base, data) -> None:
    """Random byte mutations in the header, functab and first records: typed errors or answers, fast."""
    path, raw, off, size = base
    buf = bytearray(raw)
    n = data.draw(st.integers(1, 8))
    for _ in range(n):
        region = data.draw(st.sampled_from(["header", "functab", "anywhere"]))
        if region == "header":
            pos = data.draw(st.integers(0, 71))
        elif region == "functab":
            pos = data.draw(st.integers(0, 4096))
            pcln = struct.unpack_from("<Q", raw, off + 8 + 7 * 8)[0]
            pos = min(size - 1, pcln + pos)
        else:
            pos = data.draw(st.integers(0, size - 1))
        buf[off + pos] = data.draw(st.integers(0, 255))
    t0 = time.perf_counter()
    try:
        g = _open(path, buf)
    except SymkeepError:
        return
    with g:
        rng = np.random.default_rng(0)
        lo, hi = int(g.entries[0]), int(g.entries[-1])
        if hi <= lo:
            hi = lo + 1
        pcs = rng.integers(lo, hi, size=200, dtype=np.uint64)
        try:
            res = g.lookup_many(pcs)
            assert len(res) == len(pcs)
            for f in list(g.functions())[:50]:
                g.ranges(f)
                g.sp_deltas(f)
        except SymkeepError:
            pass
        # a batch large enough for the numpy path: same answers as the per-function path, or a typed error
        big = rng.integers(lo, hi, size=20_000, dtype=np.uint64)
        try:
            ids, cols = g.lookup_columns(big)
            for k in range(0, len(big), 997):
                want = tuple(g.lookup(int(big[k])))
                assert (cols.chain(int(ids[k])) if ids[k] >= 0 else ()) == want
        except SymkeepError:
            pass
    assert time.perf_counter() - t0 < 10


def test_pclntab_truncations(base) -> None:
    _, raw, off, size = base
    tab = raw[off : off + size]
    for cut in (0, 7, 8, 15, 16, 40, 71, 72, 100, 1000):
        try:
            PclnTab(tab[:cut])
        except FormatError:
            continue
        raise AssertionError(f"truncated to {cut} bytes but accepted")


def test_pcvalue_work_is_bounded_by_the_function() -> None:
    """#11.2: a stream of ``02 00`` pairs (value +1, pc delta 0) never advances the pc; decoding stops
    after (size / quantum) + 2 pairs instead of reading on to the end of the buffer: the row that
    follows 1,000 such pairs is never reached for a 16-byte function, and is for a 4,096-byte one."""
    stream = b"\x00" + b"\x02\x00" * 1000 + b"\x02\x04" + b"\x00"
    for quantum in (1, 4):
        small = decode_pcvalue(stream, 1, 0x1000, quantum, 0x1000 + 16 * quantum)
        assert small.ends == ()
        big = decode_pcvalue(stream, 1, 0x1000, quantum, 0x1000 + 4096 * quantum)
        assert big.ends == (0x1000 + 4 * quantum,) and big.values == (1000,)
