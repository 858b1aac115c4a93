"""Seeded fuzzing of `symbolize` in-process (issue #11): 10,000+ mutations of real inputs (a runtime/pprof
CPU profile, gzip'd and plain; perf script text of a real recording; folded stacks made from the
profile) must each give a valid result or a SymkeepError, never another exception, in bounded time.

Crashers found are written to ``tests/corpus/profile/`` when ``SYMKEEP_FUZZ_SAVE=1`` (else to the test's
temporary directory, named in the failure); every file there is replayed by
``test_corpus_replays``."""

from __future__ import annotations

import gzip
import hashlib
import os
import random
import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from symkeep.errors import SymkeepError
from symkeep.profile.folded import profile_to_folded
from symkeep.profile.limits import Limits
from symkeep.profile.pprof import Profile, parse_profile, read_profile, serialize_profile
from symkeep.profile.resolver import FixedResolver
from symkeep.profile.symbolizer import symbolize_profile
from symkeep.symbolize import GoEngine, open_go_binary

CORPUS = Path(__file__).resolve().parents[1] / "corpus" / "profile"
N_CASES = int(os.environ.get("SYMKEEP_FUZZ_CASES", "10000"))
SEED = 20260611
LIMITS = Limits(max_input=64 << 20, max_line=1 << 16, max_frames=512)
HANG_GUARD = 20.0  # seconds for one input: a hang, not a speed assertion

TOKENS = [
    b"ffffffffffffffff", b"9" * 30, b"9223372036854775808", b"0x10000000000000000", b"1.5", b"-1", b"\x00",
    b"\xff\xfe", b"\xe9", b";", b";;", b"+0x", b"+0x" + b"f" * 17, b" " * 2000, b"\t", b"\n", b"\n\n", b"(", b")",
    b"[unknown]", b"([kernel.kallsyms])", b"cpu-clock:", b"PERF_RECORD_MMAP2 1/1: [0x400000(0x1000) @ 0 0:0 0 0]: r-xp /x",
    b"PERF_RECORD_MMAP -1/0: [0xffffffffffffffff(0xffffffffffffffff) @ 0x10]: x [kernel.kallsyms]", b"#", b"0x",
    b"\x1f\x8b", b"\x32\x00", b"\x22\x80\x80\x80\x80\x10", b"\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01",
]
_NUMBER = re.compile(rb"\d+")


def _mutate(rng: random.Random, data: bytes) -> bytes:
    b = bytearray(data)
    for _ in range(rng.randint(1, 6)):
        op = rng.randrange(7)
        pos = rng.randrange(len(b) + 1) if b else 0
        if op == 0 and b:  # byte flips
            for _ in range(rng.randint(1, 8)):
                b[rng.randrange(len(b))] = rng.randrange(256)
        elif op == 1:  # a hostile token
            b[pos:pos] = rng.choice(TOKENS)
        elif op == 2 and b:  # truncate
            del b[rng.randrange(len(b)):]
        elif op == 3 and len(b) > 2:  # duplicate a slice
            a = rng.randrange(len(b))
            e = min(len(b), a + rng.randint(1, 400))
            b[pos:pos] = b[a:e] * rng.randint(1, 4)
        elif op == 4 and b:  # replace a number by a huge or odd one
            ms = list(_NUMBER.finditer(bytes(b)))
            if ms:
                m = rng.choice(ms)
                b[m.start():m.end()] = rng.choice([b"9" * rng.randint(19, 45), b"0", b"18446744073709551616", b"1.5"])
        elif op == 5 and b:  # delete a slice
            a = rng.randrange(len(b))
            del b[a:a + rng.randint(1, 64)]
        else:  # random bytes
            b[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
    return bytes(b)


_EDGE = [0, 1, 0x400000, 0x401000, (1 << 63) - 1, 1 << 63, (1 << 64) - 2, (1 << 64) - 1]
_NAMES = ["", "[vdso]", "[kernel.kallsyms]", "[unknown]", "//anon", "/nonexistent/cpuhog", "cpuhog", "[heap]"]


def _mutate_profile(rng: random.Random, raw: bytes) -> bytes:
    """Field-level edits of a parsed profile (byte flips rarely get past the protobuf decoder and the
    validation): odd ids, addresses, ranges, names, flags, lines, values."""
    p = Profile()
    p.ParseFromString(raw)
    locs = list(p.location)
    for loc in locs:  # most locations need names again, so the symbolizer works on them
        if rng.random() < 0.8:
            del loc.line[:]

    def num() -> int:
        return rng.choice(_EDGE) if rng.random() < 0.6 else rng.randrange(1 << 64)

    for _ in range(rng.randint(1, 5)):
        op = rng.randrange(9)
        loc = rng.choice(locs)
        m = rng.choice(list(p.mapping))
        if op == 0:
            loc.address = num()
        elif op == 1:
            setattr(m, rng.choice(["memory_start", "memory_limit", "file_offset"]), num())
        elif op == 2:
            loc.mapping_id = rng.choice([0, m.id, num()])
        elif op == 3 and len(p.function):
            f = rng.choice(list(p.function))
            f.id = rng.choice([(1 << 64) - 1, (f.id + 1) % (1 << 64), num()])
            loc.line.add(function_id=f.id, line=rng.choice([0, -1, 1 << 40, 3]))
        elif op == 4:
            p.string_table.append(rng.choice(_NAMES))
            setattr(m, rng.choice(["filename", "build_id"]), len(p.string_table) - 1)
        elif op == 5:
            loc.is_folded = True
            m.has_inline_frames = rng.random() < 0.5
        elif op == 6:
            p.location.add(id=rng.choice([num(), loc.id]), mapping_id=m.id, address=num())
        elif op == 7 and len(p.sample):
            smp = rng.choice(list(p.sample))
            smp.value[rng.randrange(len(smp.value))] = rng.choice([-1, (1 << 63) - 1, 0])
        else:
            m.id = rng.choice([m.id, num(), 0])
    return p.SerializeToString()


def _check(data: bytes, resolver: FixedResolver) -> None:
    """A result that is a valid profile (and renders as folded), or a SymkeepError."""
    try:
        res = symbolize_profile(data, resolver, limits=LIMITS)
    except SymkeepError:
        return
    out = serialize_profile(res.profile, compress=False)
    parse_profile(out)  # what we write must be a valid profile
    profile_to_folded(res.profile)


@pytest.fixture(scope="module")
def engine(fixture: Callable[..., Path]) -> GoEngine:
    return open_go_binary(fixture(variant="sw", program="cpuhog"))


@pytest.fixture(scope="module")
def seeds(cpu_profile: Callable[..., tuple[Path, Path]], perf_run: tuple[Path, Path, Path]) -> dict[str, bytes]:
    _, path = cpu_profile("sw")
    prof = read_profile(path)
    raw = serialize_profile(prof, compress=False)
    _, _, txt = perf_run
    perf = b"\n".join(txt.read_bytes().splitlines()[:120]) + b"\n"
    main = prof.mapping[0]
    folded_lines = []
    for s in list(prof.sample)[:40]:
        frames = [f"cpuhog+{loc.address - main.memory_start + main.file_offset:#x}"
                  for loc in prof.location if loc.id in set(s.location_id)]
        folded_lines.append(";".join(frames[::-1] + ["main.leaf", "0x401000"]) + f" {s.value[0]}")
    return {
        "pprof": raw,
        "pprof.gz": gzip.compress(raw, mtime=0),
        "perf": perf,
        "folded": "\n".join(folded_lines).encode() + b"\n",
    }


def test_fuzz_symbolize(seeds: dict[str, bytes], engine: GoEngine, tmp_path: Path) -> None:
    rng = random.Random(SEED)
    resolver = FixedResolver(engine)
    kinds = sorted(seeds)
    crashers: list[str] = []
    slowest = 0.0
    save = CORPUS if os.environ.get("SYMKEEP_FUZZ_SAVE") == "1" else tmp_path
    for i in range(N_CASES):
        kind = kinds[i % len(kinds)]
        data = _mutate(rng, seeds[kind])
        if kind.startswith("pprof") and rng.random() < 0.6:  # field-level edits, plain or gzip'd
            data = _mutate_profile(rng, seeds["pprof"])
            if kind == "pprof.gz":
                data = gzip.compress(data, mtime=0)
        elif kind == "pprof.gz" and rng.random() < 0.5:  # byte edits inside the compression too
            data = gzip.compress(_mutate(rng, seeds["pprof"]), mtime=0)
        t = time.monotonic()
        try:
            _check(data, resolver)
        except Exception as e:  # noqa: BLE001 - that is what we are looking for
            name = f"crash-{kind}-{hashlib.sha1(data).hexdigest()[:12]}.bin"
            save.mkdir(parents=True, exist_ok=True)
            (save / name).write_bytes(data)
            crashers.append(f"{name}: {type(e).__name__}: {str(e)[:200]}")
        dt = time.monotonic() - t
        slowest = max(slowest, dt)
        assert dt < HANG_GUARD, f"case {i} ({kind}) took {dt:.1f}s"
    print(f"{N_CASES} cases, slowest {slowest:.2f}s")
    assert not crashers, f"{len(crashers)} crashers (saved in {save}):\n" + "\n".join(crashers[:20])


def test_corpus_replays(engine: GoEngine) -> None:
    files = sorted(CORPUS.glob("*"))
    assert files, "the corpus keeps the known hostile inputs"
    resolver = FixedResolver(engine)
    for f in files:
        try:
            _check(f.read_bytes(), resolver)
        except Exception as e:  # noqa: BLE001
            raise AssertionError(f"{f.name}: {type(e).__name__}: {e}") from e
