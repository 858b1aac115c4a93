"""Seeded mutations of real stripped Go binaries and the engine paths behind funcs, addr2line and restore.

A case is ``(fixture key, seed)``: the seed alone decides the mutation (``mutate``), so a crasher is
kept as two numbers (``tests/corpus/engine/crashers.json``) and replayed exactly. Mutations aim at
what the engine reads: byte flips in the ELF header, program and section headers, the pclntab header,
function table, ``_func`` records, pcvalue tables and moduledata; truncations; and crafted values in
header fields, ``_func`` fields, functab entries and moduledata words.
"""

from __future__ import annotations

import random
import signal
import struct
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fixtures.factory import FixtureSpec, build_fixture
from symkeep.binfmt.elf import ELFFile
from symkeep.errors import SymkeepError
from symkeep.symbolize import GoBinary, open_go_binary

FIXTURES = {
    "1.27": FixtureSpec("1.27", "linux", "amd64", "sw", "hello"),
    "1.19": FixtureSpec("1.19", "linux", "amd64", "sw", "hello"),
}
INTERESTING = (0, 1, 2, 3, 4, 7, 8, 0x7F, 0x80, 0xFF, 0x100, 0xFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF,
               1 << 32, 1 << 40, (1 << 63) - 1, 1 << 63, (1 << 64) - 1)


@dataclass(frozen=True)
class Base:
    """A pristine binary and the places worth mutating (file offsets)."""

    key: str
    path: Path
    data: bytes
    pcln_off: int
    pcln_size: int
    ftab: int  # file offset of the function table
    nfunc: int
    recs: tuple[int, ...]  # file offsets of a sample of _func records
    func_fields: tuple[int, ...]  # offsets of the u32 fields of a _func record
    pctab: tuple[int, int]  # file range of the pcvalue tables
    md: int  # file offset of moduledata
    text: tuple[int, int]  # first entry, end of text (PCs to look up)


def load_base(key: str) -> Base:
    """The pristine fixture ``key`` and its mutation targets (read with the current engine)."""
    path = build_fixture(FIXTURES[key])
    with open_go_binary(path) as g:
        tab, loc = g.pclntab, g.location
        lay = tab.func_layout
        md = g.moduledata
        assert md is not None
        md_off = g.binary.vaddr_to_offset(md.address)
        assert md_off is not None
        step = max(1, g.nfunc // 64)
        recs = tuple(loc.offset + tab.func_record_offset(i) for i in range(0, g.nfunc, step))
        fields = tuple(x for x in (lay.name, lay.args, lay.deferreturn, lay.pcsp, lay.pcfile, lay.pcln,
                                   lay.npcdata, lay.cu_offset, lay.start_line) if x is not None)
        return Base(key, path, path.read_bytes(), loc.offset, loc.size, loc.offset + tab.pcln_offset, g.nfunc,
                    recs, fields, (loc.offset + tab.pctab_offset, loc.offset + tab.pcln_offset), md_off,
                    (int(g.entries[0]), int(g.entries[-1])))


def mutate(b: Base, seed: int) -> tuple[bytes, str]:
    """The mutated file for ``seed`` and a short description."""
    r = random.Random(seed)
    buf = bytearray(b.data)
    kind = r.choices(["flip", "trunc", "field"], weights=[5, 1, 4])[0]
    if kind == "trunc":
        at = r.choice([r.randrange(len(buf)), b.pcln_off + r.randrange(b.pcln_size),
                       len(buf) - r.randrange(1, 4096), b.md + r.randrange(-64, 64)])
        return bytes(buf[: max(0, at)]), f"truncate at {at:#x}"
    if kind == "flip":
        notes = []
        for _ in range(r.randint(1, 8)):
            region = r.choice(["elf", "pcheader", "functab", "record", "pctab", "pclntab", "moduledata", "any"])
            pos = {
                "elf": lambda: r.randrange(0x40 + 0x38 * 8),
                "pcheader": lambda: b.pcln_off + r.randrange(72),
                "functab": lambda: b.ftab + r.randrange(min(8 * b.nfunc, 8192)),
                "record": lambda: r.choice(b.recs) + r.randrange(48),
                "pctab": lambda: r.randrange(*b.pctab),
                "pclntab": lambda: b.pcln_off + r.randrange(b.pcln_size),
                "moduledata": lambda: b.md + r.randrange(8 * 48),
                "any": lambda: r.randrange(len(buf)),
            }[region]()
            if 0 <= pos < len(buf):
                buf[pos] = r.randrange(256) if r.random() < 0.5 else buf[pos] ^ (1 << r.randrange(8))
                notes.append(f"{region}@{pos:#x}")
        return bytes(buf), "flip " + ",".join(notes)
    # crafted field values (one to three of them)
    notes = []
    for _ in range(r.choice([1, 1, 2, 3])):
        what = r.choice(["header", "func", "functab", "moduledata"])
        val = r.choice(INTERESTING) if r.random() < 0.7 else r.randrange(1 << 32)
        if what == "header":
            at, fmt = b.pcln_off + 8 + 8 * r.randrange(8), "<Q"
        elif what == "func":
            at, fmt = r.choice(b.recs) + r.choice(b.func_fields), "<I"
        elif what == "functab":
            at, fmt = b.ftab + 4 * r.randrange(2 * min(b.nfunc, 4096) + 1), "<I"
        else:
            at, fmt = b.md + 8 * r.randrange(48), "<Q"
        if r.random() < 0.3:  # near the original value: off by a little
            val = struct.unpack_from(fmt, buf, at)[0] + r.choice([-8, -4, -1, 1, 4, 8, 64])
        val &= (1 << (8 * struct.calcsize(fmt))) - 1
        struct.pack_into(fmt, buf, at, val)
        notes.append(f"{what} {at:#x} := {val:#x}")
    return bytes(buf), "; ".join(notes)


class Hang(Exception):
    pass


class Invariant(Exception):
    """Answers that contradict each other (not an error the user could be shown)."""


@contextmanager
def hang_guard(seconds: float) -> Iterator[None]:
    """Raise :class:`Hang` in this (main) thread after ``seconds``."""

    def on_alarm(signum: int, frame: object) -> None:
        raise Hang(f"no answer within {seconds} s")

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def exercise(b: Base, data: bytes, seed: int, depth: int) -> None:
    """What funcs, addr2line and restore do with a binary; depth 1 adds a bulk batch and the whole
    table, depth 2 the debug file."""
    r = random.Random(seed ^ 0x5EED)
    g = GoBinary(ELFFile(str(b.path), data))
    try:
        fs = g.functions()
        n = len(fs)
        for i in {n - 1, r.randrange(n)}:
            fs[i]
            g.ranges(i)
            g.sp_deltas(i)
        lo, hi = int(g.entries[0]), int(g.entries[-1])
        pcs = [r.randrange(b.text[0] - 16, b.text[1] + 16), lo, max(hi - 1, 0)]
        for pc in pcs:
            fr = g.lookup(pc, return_address=bool(pc & 1))
            fn = g.function_at(pc)
            # invariants: a PC is named iff it lies in a function's range, by that function
            if bool(fr) != (fn is not None) or (fr and fn is not None and fr[-1].function != fn.name):
                raise Invariant(f"lookup({pc:#x}) = {fr[-1:]} but function_at = {fn}")
        if g.lookup_many(pcs) != [g.lookup(pc) for pc in pcs]:
            raise Invariant("lookup_many differs from lookup")
        if depth >= 1:
            # a bulk-sized batch over a narrow window (the per-function fallback, taken when the numpy
            # decoder declines, then touches a few functions, not all), then the whole table
            rng = np.random.default_rng(seed)
            a = r.randrange(min(lo, b.text[0]), max(hi, b.text[1]) + 1)
            big = rng.integers(a - 64, a + 4096, 20_000, dtype=np.int64).clip(0).astype(np.uint64)
            ra = bool(seed & 2)
            ids, cols = g.lookup_columns(big, return_address=ra)
            for k in range(0, len(big), 997):  # the bulk answers are the per-function answers
                got = cols.chain(int(ids[k])) if ids[k] >= 0 else ()
                if got != tuple(g.lookup(int(big[k]), ra)):
                    raise Invariant(f"bulk answer for {int(big[k]):#x} differs: {got[:1]}")
            g.decode_all()
        if depth >= 2:
            from symkeep.restore import restore_result

            restore_result(g)
    finally:
        g.close()


def run_case(b: Base, seed: int, depth: int, guard: float = 20.0) -> str | None:
    """None when the case ended in answers or a SymkeepError; else what went wrong."""
    data, what = mutate(b, seed)
    try:
        with hang_guard(guard):
            exercise(b, data, seed, depth)
    except SymkeepError:
        return None
    except Hang as e:
        return f"{b.key} seed {seed} ({what}): hang: {e}"
    except Exception as e:  # noqa: BLE001 - that is what the fuzzer looks for
        tb = traceback.extract_tb(e.__traceback__)[-1]
        return f"{b.key} seed {seed} ({what}): {type(e).__name__}: {e} at {Path(tb.filename).name}:{tb.lineno}"
    return None
