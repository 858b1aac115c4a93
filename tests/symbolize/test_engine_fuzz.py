"""Seeded fuzzing of the engine: 10,000 mutated real binaries through what funcs, addr2line and restore do.

Every case must end in answers or a SymkeepError (a one-line error and its exit code in the CLI),
never in another exception, within a per-case hang guard. Cases are (fixture, seed) pairs
(``engine_fuzz.mutate``): 5,000 on a stripped Go 1.27 binary (pclntab 1.20 layout), 5,000 on a stripped
Go 1.19 one (1.18 layout), in four shards so two workers share them. Every 40th case adds a bulk-sized
lookup batch and the whole-binary table, every 1,250th the debug file (restore). Crashers found while
building the engine are kept in ``tests/corpus/engine/crashers.json`` and replayed at full depth.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from engine_fuzz import load_base, run_case

CORPUS = Path(__file__).resolve().parents[1] / "corpus" / "engine" / "crashers.json"
CASES = 2_500  # per shard; 4 shards = 10,000 cases


@pytest.mark.parametrize(("key", "shard"), [("1.27", 0), ("1.27", 1), ("1.19", 0), ("1.19", 1)])
def test_fuzz_engine(key: str, shard: int) -> None:
    b = load_base(key)
    start = 1_000_000 * (1 + shard) + (0 if key == "1.27" else 500_000)
    bad: list[str] = []
    for s in range(start, start + CASES):
        depth = 2 if s % 1250 == 0 else (1 if s % 40 == 0 else 0)
        res = run_case(b, s, depth)
        if res is not None:
            bad.append(res)
    assert not bad, f"{len(bad)} of {CASES} cases failed; add them to {CORPUS.name}:\n" + "\n".join(bad[:10])


def test_corpus_replay() -> None:
    """Each kept crasher (a mutation that once raised IndexError, ValueError, ... or hung) now ends in
    answers or a SymkeepError, at full depth (lookups, bulk batch, whole table, restore)."""
    cases = json.loads(CORPUS.read_text())
    assert cases, "the corpus is empty"
    bases = {k: load_base(k) for k in {c["fixture"] for c in cases}}
    bad = [res for c in cases if (res := run_case(bases[c["fixture"]], c["seed"], 2)) is not None]
    assert not bad, "\n".join(bad)
