"""`symkeep CMD | head -1`: exit 0 quietly when the reader goes away, as coreutils tools do (#11.12).

Before: exit 1 with nothing on stderr (click turns EPIPE into exit 1; rich does too).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from fixtures.factory import FixtureSpec, build_fixture


@pytest.fixture(scope="module")
def binary() -> Path:
    return build_fixture(FixtureSpec("1.27", variant="sw"))


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("SYMKEEP_DEBUG", None)
    return env


def _into_head(args: list[str], stdin: bytes | None = None) -> tuple[int, bytes, str]:
    """``symkeep ARGS | head -1`` with real processes; (symkeep's exit code, head's output, symkeep's stderr)."""
    sk = subprocess.Popen([sys.executable, "-m", "symkeep", *args], stdin=subprocess.PIPE if stdin else None,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env())
    assert sk.stdout is not None and sk.stderr is not None
    head = subprocess.Popen(["head", "-1"], stdin=sk.stdout, stdout=subprocess.PIPE)
    sk.stdout.close()
    if stdin:
        assert sk.stdin is not None
        try:
            sk.stdin.write(stdin)
            sk.stdin.close()
        except BrokenPipeError:
            pass
    out, _ = head.communicate(timeout=300)
    err = sk.stderr.read().decode()
    return sk.wait(timeout=300), out, err


def test_funcs_into_head(binary: Path) -> None:
    code, out, err = _into_head(["funcs", str(binary)])
    assert out.split() == [b"entry", b"size", b"name", b"file:line"]
    assert code == 0 and err == ""


def test_funcs_ndjson_into_head(binary: Path) -> None:
    code, out, err = _into_head(["funcs", "--ndjson", str(binary)])
    assert out.startswith(b"{") and code == 0 and err == ""


def test_addr2line_into_head(binary: Path) -> None:
    pcs = b"".join(b"%#x\n" % (0x401000 + 16 * k) for k in range(300_000))
    code, out, err = _into_head(["addr2line", "-f", "-i", "-e", str(binary)], stdin=pcs)
    assert out.strip() and code == 0 and err == ""


@pytest.mark.parametrize("args", [["inspect"], ["inspect", "--json"], ["funcs"], ["addr2line", "-f", "-e"]])
def test_reader_already_gone(binary: Path, args: list[str]) -> None:
    """The read end is closed before symkeep starts: every write fails, deterministically (small outputs
    such as inspect's would otherwise fit in the pipe buffer before `head` exits)."""
    r, w = os.pipe()
    os.close(r)
    extra = ["0x401000"] if args[0] == "addr2line" else []
    p = subprocess.run([sys.executable, "-m", "symkeep", *args, str(binary), *extra], stdout=w,
                       stderr=subprocess.PIPE, env=_env(), timeout=300)
    os.close(w)
    assert p.returncode == 0, p.stderr
    assert p.stderr == b""
