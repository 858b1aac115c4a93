"""Bad input gets one line on stderr and a documented exit code: never a traceback, a hang or a big allocation."""

from __future__ import annotations

import random
import shutil
import subprocess
from pathlib import Path

import pytest
from clirun import MEM_CAP, run_cli

from fixtures.factory import FixtureSpec, build_fixture
from symkeep.errors import EXIT_IO, EXIT_MALFORMED, EXIT_NOT_BINARY, EXIT_NOT_GO

DOCUMENTED = {0, EXIT_IO, EXIT_NOT_BINARY, EXIT_NOT_GO, EXIT_MALFORMED}


def _assert_clean_failure(res, codes: set[int]) -> None:  # type: ignore[no-untyped-def]
    assert res.code in codes, (res.code, res.stderr)
    assert "Traceback" not in res.stderr
    if res.code != 0:
        lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
        assert len(lines) == 1, res.stderr
        assert lines[0].startswith("symkeep: error: ")
    assert 0 < res.max_rss < MEM_CAP


@pytest.fixture(scope="module")
def go_bin() -> Path:
    return build_fixture(FixtureSpec("1.27", variant="sw"))


@pytest.mark.parametrize("cmd", [["inspect"], ["funcs"], ["addr2line", "-e"]])
def test_missing_path_and_directory(cmd: list[str], tmp_path: Path) -> None:
    res = run_cli([*cmd, str(tmp_path / "nope"), *(["0x1000"] if cmd[0] == "addr2line" else [])])
    _assert_clean_failure(res, {EXIT_IO})
    res = run_cli([*cmd, str(tmp_path), *(["0x1000"] if cmd[0] == "addr2line" else [])])
    _assert_clean_failure(res, {EXIT_IO})


def test_empty_and_text_files(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    _assert_clean_failure(run_cli(["inspect", str(empty)]), {EXIT_NOT_BINARY})
    txt = tmp_path / "notes.txt"
    txt.write_text("hello, this is not a binary\n" * 100)
    _assert_clean_failure(run_cli(["inspect", str(txt)]), {EXIT_NOT_BINARY})


def test_non_go_elf(tmp_path: Path) -> None:
    c = tmp_path / "c.c"
    c.write_text("int main(void){return 0;}\n")
    exe = tmp_path / "c"
    subprocess.run(["gcc", "-O0", "-o", str(exe), str(c)], check=True)
    _assert_clean_failure(run_cli(["inspect", str(exe)]), {EXIT_NOT_GO})
    ls = shutil.which("ls")
    assert ls
    _assert_clean_failure(run_cli(["funcs", ls]), {EXIT_NOT_GO})


@pytest.mark.parametrize("frac", [0.001, 0.01, 0.1, 0.3, 0.5, 0.8, 0.97])
def test_truncated_go_binary(go_bin: Path, tmp_path: Path, frac: float) -> None:
    data = go_bin.read_bytes()
    cut = tmp_path / "cut"
    cut.write_bytes(data[: max(64, int(len(data) * frac))])
    res = run_cli(["inspect", "--json", str(cut)])
    _assert_clean_failure(res, DOCUMENTED - {0})


@pytest.mark.parametrize("seed", range(8))
def test_randomly_mutated_go_binary(go_bin: Path, tmp_path: Path, seed: int) -> None:
    rnd = random.Random(seed)
    data = bytearray(go_bin.read_bytes())
    for _ in range(200):
        i = rnd.randrange(len(data)) if rnd.random() < 0.5 else rnd.randrange(min(len(data), 8192))
        data[i] = rnd.randrange(256)
    bad = tmp_path / "bad"
    bad.write_bytes(bytes(data))
    for args in (["inspect", "--json", str(bad)], ["funcs", "--ndjson", "--lines", str(bad)]):
        res = run_cli(args, timeout=120)
        _assert_clean_failure(res, DOCUMENTED)


@pytest.mark.parametrize("cmd", [["inspect"], ["funcs"], ["addr2line", "-e"]])
def test_fifo_as_the_binary_is_refused(cmd: list[str], tmp_path: Path) -> None:
    """Issue #11 row 11: a FIFO blocked the reader forever; now exit 3 at once (hang guard 60 s)."""
    import os

    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    res = run_cli([*cmd, str(fifo), *(["0x1000"] if cmd[0] == "addr2line" else [])])
    _assert_clean_failure(res, {EXIT_IO})
    assert "not a regular file" in res.stderr
