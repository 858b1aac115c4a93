"""Bad input, timed: each case's wall time and peak RSS against the 2 s / 256 MB budget.

The unit tests (tests/cli/test_bad_input.py) assert the error line, the exit code and the memory cap;
wall time is measured here instead, because unit tests never assert wall time.
"""

from __future__ import annotations

import random
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.common import ROOT

sys.path.insert(0, str(ROOT / "tests" / "cli"))

from clirun import MEM_CAP, run_cli  # noqa: E402

from fixtures.factory import FixtureSpec, build_fixture  # noqa: E402


def main() -> None:
    go_bin = build_fixture(FixtureSpec("1.27", variant="sw"))
    data = go_bin.read_bytes()
    with tempfile.TemporaryDirectory() as d:
        t = Path(d)
        (t / "empty").write_bytes(b"")
        (t / "notes.txt").write_text("not a binary\n" * 100)
        (t / "c.c").write_text("int main(void){return 0;}\n")
        subprocess.run(["gcc", "-o", str(t / "c"), str(t / "c.c")], check=True)
        (t / "cut").write_bytes(data[: len(data) // 2])
        rnd = random.Random(0)
        bad = bytearray(data)
        for _ in range(200):
            bad[rnd.randrange(len(bad))] = rnd.randrange(256)
        (t / "mutated").write_bytes(bytes(bad))
        cases = [("missing path", t / "nope"), ("directory", t), ("empty file", t / "empty"),
                 ("text file", t / "notes.txt"), ("non-Go ELF", t / "c"), ("truncated Go binary", t / "cut"),
                 ("mutated Go binary", t / "mutated"), ("system binary", Path(shutil.which("ls") or "/bin/ls"))]
        print(f"{'case':24} {'exit':>4} {'seconds':>8} {'peak RSS':>9}  within 2 s / 256 MB")
        for name, path in cases:
            r = run_cli(["inspect", "--json", str(path)])
            ok = r.seconds < 2 and r.max_rss < MEM_CAP
            print(f"{name:24} {r.code:4d} {r.seconds:8.2f} {r.max_rss / 2**20:7.0f}MB  {'yes' if ok else 'NO'}")


if __name__ == "__main__":
    main()
