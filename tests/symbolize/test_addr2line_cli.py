"""`symkeep addr2line` bulk fast path vs the per-address reference, and co-process streaming.

The reference below is the original per-address implementation (``GoBinary.lookup`` + formatting one
address at a time); the CLI batches addresses through ``lookup_chains`` and caches text per chain.
Both must print the same bytes for every option combination.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from symkeep.symbolize import GoBinary, open_go_binary

N = 50_000


def _parse(tok: str) -> int | None:
    t = tok.strip()
    if t.lower().startswith("0x"):
        t = t[2:]
    try:
        return int(t, 16)
    except ValueError:
        return None


def reference(gob: GoBinary, toks: list[str], functions: bool, inlines: bool, show_addr: bool,
              pretty: bool, as_json: bool, return_addresses: bool) -> str:
    """The pre-batching per-address output (kept verbatim in behaviour)."""
    out: list[str] = []
    w = 16 if gob.binary.bits == 64 else 8
    for tok in toks:
        addr = _parse(tok)
        frames = gob.lookup(addr, return_address=return_addresses) if addr is not None else []
        if as_json:
            rec: dict[str, object] = {
                "address": f"{addr:#x}" if addr is not None else tok,
                "frames": [{"function": f.function, "file": f.file, "line": f.line,
                            "start_line": f.start_line, "inlined": f.inlined} for f in frames],
            }
            if addr is None:
                rec["error"] = "not a hex address"
            out.append(json.dumps(rec) + "\n")
            continue
        shown = frames if inlines else frames[:1]
        lines: list[str] = []
        if show_addr:
            lines.append(f"0x{(addr or 0):0{w}x}" if not pretty else f"0x{(addr or 0):0{w}x}: ")
        if not shown:
            if pretty:
                lines.append(("?? " if functions else "") + "??:0")
            else:
                if functions:
                    lines.append("??")
                lines.append("??:0")
        elif pretty:
            parts = []
            for i, f in enumerate(shown):
                s = f"{f.function} at {_loc(f)}" if functions else _loc(f)
                parts.append(s if i == 0 else f" (inlined by) {s}")
            lines.append("\n".join(parts))
        else:
            for f in shown:
                if functions:
                    lines.append(f.function)
                lines.append(_loc(f))
        if pretty and show_addr:
            out.append(lines[0] + "".join(lines[1:]) + "\n")
        else:
            out.append("\n".join(lines) + "\n")
    return "".join(out)


def _loc(f: object) -> str:
    """binutils' spelling of an unknown file or line: ``??`` and ``0``."""
    file, line = f.file, f.line  # type: ignore[attr-defined]
    return f"{'??' if file == '?' else file}:{max(line, 0)}"


def _tokens(g: GoBinary, n: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    lo, hi = int(g.entries[0]), int(g.entries[-1])
    pcs = rng.integers(lo - 64, hi + 64, size=n, dtype=np.int64).tolist()
    toks = [f"{p:#x}" if k % 3 else f"{p:x}" for k, p in enumerate(pcs)]
    toks[5:5] = ["zzz", "0x", "0xffffffffffffffffff"]  # junk, empty hex, > 64 bits
    return toks


@pytest.fixture(scope="module")
def inline_binary(fixture: object) -> Path:
    return fixture(toolchain="1.27", variant="sw", program="callers")  # type: ignore[operator, no-any-return]


OPTIONS = [
    ("-f", "-i"),
    ("-f", "-i", "-a"),
    ("-f", "-i", "-p", "-a"),
    ("-f", "-p"),
    ("-a",),
    ("--json",),
    ("-f", "-i", "--return-addresses"),
]


@pytest.mark.parametrize("opts", OPTIONS, ids=[" ".join(o) for o in OPTIONS])
def test_fast_path_matches_per_address_reference(inline_binary: Path, opts: tuple[str, ...]) -> None:
    g = open_go_binary(inline_binary)
    toks = _tokens(g, N, seed=len(opts) * 7 + len(" ".join(opts)))
    inp = "".join(t + ("\n" if k % 5 else " ") for k, t in enumerate(toks)) + "\n"
    r = subprocess.run([sys.executable, "-m", "symkeep", "addr2line", "-e", str(inline_binary), *opts],
                       input=inp, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    want = reference(g, toks, "-f" in opts, "-i" in opts, "-a" in opts, "-p" in opts, "--json" in opts,
                     "--return-addresses" in opts)
    # inline frames really are exercised (the fixture program has inlined calls)
    assert "-i" not in opts or any(len(g.lookup(_parse(t) or 0)) > 1 for t in toks[:5000])
    assert r.stdout == want


def test_addresses_on_the_command_line(inline_binary: Path) -> None:
    g = open_go_binary(inline_binary)
    toks = _tokens(g, 200, seed=3)
    r = subprocess.run([sys.executable, "-m", "symkeep", "addr2line", "-f", "-i", "-e", str(inline_binary),
                        *toks], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout == reference(g, toks, True, True, False, False, False, False)


def test_coprocess_gets_each_answer_before_sending_the_next(inline_binary: Path) -> None:
    """A co-process writes one address, waits for its answer, then writes the next."""
    g = open_go_binary(inline_binary)
    toks = _tokens(g, 20, seed=11)[8:]
    p = subprocess.Popen([sys.executable, "-m", "symkeep", "addr2line", "-f", "-i", "-e", str(inline_binary)],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert p.stdin is not None and p.stdout is not None
    try:
        fd = p.stdout.fileno()
        for tok in toks:
            want = reference(g, [tok], True, True, False, False, False, False).encode()
            p.stdin.write(tok.encode() + b"\n")
            p.stdin.flush()
            got = b""
            deadline = time.monotonic() + 60
            while len(got) < len(want) and time.monotonic() < deadline:
                if select.select([fd], [], [], 1)[0]:
                    chunk = os.read(fd, 65536)
                    if not chunk:
                        break
                    got += chunk
            assert got == want
    finally:
        p.stdin.close()
        p.wait(timeout=60)
    assert p.returncode == 0


def test_bulk_tokenizer_matches_split_and_int() -> None:
    """The numpy tokenizer/parser of stdin chunks gives what ``str.split()`` + ``int(t, 16)`` give."""
    from symkeep.cli.cmd_addr2line import _parse_addr, _Parsed

    rng = np.random.default_rng(5)
    odd = ["0X1F", "0x", "x10", "1_0", "0x_1", "+1f", "-0x2", "0x0x10", "0" * 17 + "1f", "ffffffffffffffff",
           "10000000000000000", "0xffffffffffffffffff", "g", "0xG1", "DEADbeef", "0", "0x0"]
    toks = odd + [f"{int(v):#x}" if v % 2 else f"{int(v):x}" for v in rng.integers(0, 1 << 62, 2000)]
    seps = [" ", "\n", "\t", "\r\n", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x1f", "  \n"]
    text = "".join(t + seps[k % len(seps)] for k, t in enumerate(toks))
    want = [_parse_addr(t) for t in text.split()]
    p = _Parsed.of_bytes(text.encode())  # ASCII: the CLI's bulk path
    assert p.addrs() == want
    assert [p.tok(k) for k in range(len(want))] == text.split()
    assert p.ok.tolist() == [a is not None and 0 <= a < 1 << 64 for a in want]
    assert p.vals.tolist() == [a if a is not None and 0 <= a < 1 << 64 else 0 for a in want]


def test_non_ascii_and_separator_input_matches_reference(inline_binary: Path) -> None:
    g = open_go_binary(inline_binary)
    toks = _tokens(g, 300, seed=9)
    inp = "".join(t + ("\x1c" if k % 7 == 0 else "\n") for k, t in enumerate(toks)) + "é 0x\u00a0\n"
    r = subprocess.run([sys.executable, "-m", "symkeep", "addr2line", "-f", "-i", "-a", "-e", str(inline_binary)],
                       input=inp.encode(), capture_output=True, timeout=120)
    assert r.returncode == 0, r.stderr
    want = reference(g, inp.split(), True, True, True, False, False, False)
    assert r.stdout.decode() == want
