"""`symkeep addr2line` on hostile stdin through a real pipe (issue #11, row 7): constant memory, no hang.

Each input comes from a producer process writing 64 KiB at a time into a pipe, as `cat file | symkeep`
or `perf script | ... | symkeep` deliver it; the CLI runs under a 256 MB data cap. Sizes are the
issue's. Timing is measured in benchmarks/bad_input.py; here only a generous hang guard applies.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from clirun import MEM_CAP, run_cli_piped

from fixtures.factory import FixtureSpec, build_fixture

MB = 1 << 20


def producer(*parts: tuple[bytes, int]) -> list[str]:
    """A process writing each ``(unit, total)`` part (``unit`` repeated to ``total`` bytes) in 64 KiB writes."""
    code = "import sys\nw = sys.stdout.buffer.write\n"
    for unit, total in parts:
        code += (f"u = {unit!r}\nblk = u * max(65536 // len(u), 1)\nn = {total}\n"
                 "while n > 0:\n    w(blk[:n]); n -= len(blk)\n")
    return [sys.executable, "-c", code]


@pytest.fixture(scope="module")
def small() -> Path:
    return build_fixture(FixtureSpec("1.27", variant="sw"))


CASES = [  # (name, producer parts, answers expected)
    ("20 MB of '1 ' on one line", [(b"1 ", 20 * MB), (b"\n", 1)], 10 * MB),
    ("100 MB of '1\\n'", [(b"1\n", 100 * MB)], 50 * MB),
    ("100 MB of '1 ' with no newline", [(b"1 ", 100 * MB)], 50 * MB),
    ("one 100 MB token", [(b"1", 100 * MB)], 1),
    ("one 100 MB token between two addresses", [(b"0x1 ", 4), (b"f", 100 * MB), (b" 0x1\n", 5)], 3),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_hostile_stdin_streams_in_constant_memory(small: Path, case: tuple[str, list[tuple[bytes, int]], int]
                                                  ) -> None:
    _, parts, answers = case
    res = run_cli_piped(["addr2line", "-e", str(small)], producer(*parts), timeout=600)
    assert res.code == 0, res.stderr
    assert not res.stderr.strip()
    # "1" and "0x1" are addresses outside the text, and an over-long token is not an address: "??:0" each
    assert res.out_bytes == answers * len(b"??:0\n")
    assert res.head.startswith(b"??:0\n") and res.tail.endswith(b"??:0\n")
    assert 0 < res.max_rss < MEM_CAP, res.max_rss


def test_overlong_token_keeps_order_and_answers_neighbours(small: Path) -> None:
    """Addresses around a 5 MB token are answered, in order, and the token itself is ??."""
    from symkeep.symbolize import open_go_binary

    g = open_go_binary(small)
    fn = next(f for f in g.functions() if f.name == "main.main")
    a = f"{fn.entry:#x}"
    code = (
        "import sys\nw = sys.stdout.buffer.write\n"
        f"w(b'{a}\\n')\nblk = b'0' * 65536\nfor _ in range(80): w(blk)\nw(b'\\n{a}\\n')\n"
    )
    res = run_cli_piped(["addr2line", "-f", "-e", str(small)], [sys.executable, "-c", code], timeout=300)
    assert res.code == 0, res.stderr
    lines = res.head.decode().splitlines()
    assert lines[0] == "main.main" and lines[2:4] == ["??", "??:0"] and lines[4] == "main.main"
    assert lines[1] == lines[5] and lines[1].endswith(f":{fn.start_line}")
