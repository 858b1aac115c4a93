"""`symkeep addr2line` bulk fast path vs the per-address reference, co-process streaming, and token rules.

The reference below is the original per-address implementation (``GoBinary.lookup`` + formatting one
address at a time); the CLI batches addresses through ``lookup_columns`` and formats text per chain.
Both must print the same bytes for every option combination. What is an address, and what ``-a`` prints
for a token that is not one, is checked against binutils ``addr2line`` on a real binary.
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


HEX = frozenset("0123456789abcdefABCDEF")
SEPS = " \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f"  # ASCII whitespace as str.split() knows it


def _parse(tok: str) -> int | None:
    """An address is [0x|0X] + ASCII hex digits below 2**64 (written from the issue's rule, not the code)."""
    t = tok[2:] if tok[:2] in ("0x", "0X") else tok
    if not t or len(tok) > 256 or any(c not in HEX for c in t):
        return None
    v = int(t, 16)
    return v if v < 1 << 64 else None


def _shown(tok: str) -> int:
    """What binutils -a prints for a token that is not an address (its [0x]hex prefix, saturated)."""
    t = tok[2:] if tok[:2] in ("0x", "0X") else tok
    digits = ""
    for c in t:
        if c not in HEX:
            break
        digits += c
    return min(int(digits, 16), (1 << 64) - 1) if digits else 0


def _split(text: str) -> list[str]:
    toks, cur = [], ""
    for c in text:
        if c in SEPS:
            if cur:
                toks.append(cur)
            cur = ""
        else:
            cur += c
    return toks + ([cur] if cur else [])


def reference(gob: GoBinary, toks: list[str], functions: bool, inlines: bool, show_addr: bool,
              pretty: bool, as_json: bool, return_addresses: bool) -> str:
    """The pre-batching per-address output (kept verbatim in behaviour)."""
    out: list[str] = []
    w = 16 if gob.binary.bits == 64 else 8
    for tok in toks:
        addr = _parse(tok)
        frames = gob.lookup(addr, return_address=return_addresses) if addr is not None else []
        shown = addr if addr is not None else _shown(tok)
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
        chain = frames if inlines else frames[:1]
        lines: list[str] = []
        if show_addr:
            lines.append(f"0x{shown:0{w}x}" if not pretty else f"0x{shown:0{w}x}: ")
        if not chain:
            if pretty:
                lines.append(("?? " if functions else "") + "??:0")
            else:
                if functions:
                    lines.append("??")
                lines.append("??:0")
        elif pretty:
            parts = []
            for i, f in enumerate(chain):
                s = f"{f.function} at {_loc(f)}" if functions else _loc(f)
                parts.append(s if i == 0 else f" (inlined by) {s}")
            lines.append("\n".join(parts))
        else:
            for f in chain:
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
    toks[5:5] = ["zzz", "0x", "0xffffffffffffffffff", "0x0x10", "+1f", "1_0", "-1", "\u0664\u0669a",
                 "0" * 20 + "1f"]  # junk, empty hex, > 64 bits, int() quirks, leading zeros
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
                        "--", *toks], capture_output=True, text=True, timeout=120)
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


ODD = ["0X1F", "0x", "x10", "1_0", "0x_1", "+1f", "-0x2", "0x0x10", "0" * 17 + "1f", "ffffffffffffffff",
       "10000000000000000", "0xffffffffffffffffff", "g", "0xG1", "DEADbeef", "0", "0x0", "-1", "\u0664\u0669a",
       "\uff11\uff10", "0x1f\u00e9", "1" * 300, "0" * 250 + "1f"]


def test_bulk_tokenizer_matches_the_token_rule() -> None:
    """The numpy tokenizer/parser gives what splitting on ASCII whitespace + the address rule give."""
    from symkeep.symbolize.addr2line import Addresses

    rng = np.random.default_rng(5)
    toks = ODD + [f"{int(v):#x}" if v % 2 else f"{int(v):x}" for v in rng.integers(0, 1 << 62, 2000)]
    seps = [" ", "\n", "\t", "\r\n", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x1f", "  \n"]
    text = "".join(t + seps[k % len(seps)] for k, t in enumerate(toks))
    want = [_parse(t) for t in _split(text)]
    p = Addresses.of_bytes(text.encode())
    assert _split(text) == toks
    # a token over 256 bytes is shown (JSON "address", -a) by its first 32 bytes and "..."
    views = [t if len(t.encode()) <= 256 else t[:32] + "..." for t in toks]
    assert [p.token(k).decode() for k in range(len(p))] == views
    assert p.ok.tolist() == [a is not None for a in want]
    assert p.vals.tolist() == [a or 0 for a in want]
    assert p.shown() == [a if a is not None else _shown(v) for a, v in zip(want, views, strict=True)]


def test_stream_cuts_anywhere_give_the_same_tokens() -> None:
    """However the input is cut into reads (pipes deliver 64 KiB, co-processes a line), the tokens are the
    same; a token over 256 bytes becomes one non-address token, its bytes dropped as they arrive."""
    from symkeep.symbolize.addr2line import Addresses, TokenStream

    rng = np.random.default_rng(7)
    toks = ODD + [f"{int(v):#x}" for v in rng.integers(0, 1 << 40, 3000)] + ["f" * 100_000, "0x1"]
    data = " \n".join(toks).encode() + b"\n" + b"e" * 70_000  # the last token has no separator
    want = [_parse(t) for t in toks] + [None]
    for trial in range(20):
        ts = TokenStream()
        got: list[bytes] = []
        k = 0
        while k < len(data):
            n = int(rng.integers(1, 1 << (trial % 17 + 1)))
            ts.push(data[k : k + n])
            k += n
            if rng.random() < 0.3:
                got.append(ts.take())
        got.append(ts.close())
        p = Addresses.of_bytes(b"".join(got))
        assert len(p) == len(want)
        assert [p.vals[i] if p.ok[i] else None for i in range(len(p))] == want
        long = [(p.token(i), toks[i]) for i in range(len(toks)) if len(toks[i]) > 256]
        assert long and all(t == (want_t[:32] + "...").encode() for t, want_t in long)
        assert p.token(len(p) - 1) == b"e" * 32 + b"..."


def test_json_names_tokens_that_are_not_addresses(inline_binary: Path) -> None:
    r = subprocess.run([sys.executable, "-m", "symkeep", "addr2line", "--json", "-e", str(inline_binary)],
                       input="0x0x10\n-1\n\u0664\u0669a\n".encode() + b"\xff\xfe\n", capture_output=True, timeout=120)
    assert r.returncode == 0, r.stderr
    recs = [json.loads(ln) for ln in r.stdout.decode().splitlines()]
    assert [x["address"] for x in recs] == ["0x0x10", "-1", "\u0664\u0669a", "\ufffd\ufffd"]
    assert all(x["frames"] == [] and x["error"] == "not a hex address" for x in recs)


def test_odd_tokens_answered_like_binutils(tmp_path: Path) -> None:
    """binutils addr2line on a real binary with symbols and DWARF 4 (Go 1.21): the tokens issue #11.14 names,
    and neighbours. Where the token is an address both tools name main.main; otherwise both print ??/??:0
    with the same -a value. (binutils reads the hex prefix of a token, so `0x47b260zz` resolves there;
    symkeep answers ?? for any token that is not entirely an address: tokens are excluded from the
    comparison when binutils resolves a prefix.)"""
    import shutil

    from fixtures.env import unavailable
    from fixtures.factory import FixtureSpec, build_fixture

    if shutil.which("addr2line") is None or shutil.which("nm") is None:
        unavailable("binutils addr2line/nm not installed")
    b = build_fixture(FixtureSpec("1.21", variant="default"))
    nm = subprocess.run(["nm", str(b)], capture_output=True, text=True, check=True).stdout
    main = next(int(ln.split()[0], 16) for ln in nm.splitlines() if ln.endswith(" T main.main"))
    a = f"{main:x}"
    toks = [f"0x0x{a}", f"+{a}", f"{a[0]}_{a[1:]}", "\u0664\u0669\u0660", "-1", f"-0x{a}", "0x", f"x{a}",
            f"0x{a}", a, f"0X{a.upper()}", "0" * 20 + a, "1" + a * 3, "ffffffffffffffff", f"\uff10x{a}", "zz"]
    inp = "".join(t + "\n" for t in toks)
    theirs = subprocess.run(["addr2line", "-f", "-a", "-e", str(b)], input=inp.encode(), capture_output=True,
                            timeout=120, check=True).stdout.decode().splitlines()
    ours = subprocess.run([sys.executable, "-m", "symkeep", "addr2line", "-f", "-a", "-e", str(b)],
                          input=inp.encode(), capture_output=True, timeout=120, check=True).stdout.decode().splitlines()
    assert len(theirs) == len(ours) == 3 * len(toks)
    resolved = 0
    for k, tok in enumerate(toks):
        t3, o3 = theirs[3 * k : 3 * k + 3], ours[3 * k : 3 * k + 3]
        if _parse(tok) is None:
            assert t3[1:] == ["??", "??:0"], (tok, t3)  # binutils: not an address either
        assert o3[0] == t3[0], (tok, o3, t3)  # the same -a value
        assert o3[1] == t3[1], (tok, o3, t3)  # the same function (or ??)
        if t3[1] != "??":
            resolved += 1
            assert o3[2].rsplit(":", 1)[1] == t3[2].rsplit(":", 1)[1], (tok, o3, t3)  # the same line
    assert resolved == 4  # 0x.., bare, 0X.., leading zeros


def test_non_ascii_and_separator_input_matches_reference(inline_binary: Path) -> None:
    g = open_go_binary(inline_binary)
    toks = _tokens(g, 300, seed=9)
    inp = "".join(t + ("\x1c" if k % 7 == 0 else "\n") for k, t in enumerate(toks)) + "é 0x\u00a0\n"
    r = subprocess.run([sys.executable, "-m", "symkeep", "addr2line", "-f", "-i", "-a", "-e", str(inline_binary)],
                       input=inp.encode(), capture_output=True, timeout=120)
    assert r.returncode == 0, r.stderr
    want = reference(g, _split(inp), True, True, True, False, False, False)
    assert r.stdout.decode() == want
