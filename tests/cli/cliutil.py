"""Helpers for CLI output tests: run `symkeep` with stdout a pipe or a pseudo-terminal of a fixed width."""

from __future__ import annotations

import os
import re
import subprocess
import sys

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def piped(*args: str, stdin: bytes | None = None, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """``symkeep ARGS | ...``: stdout and stderr are pipes (not terminals)."""
    env = dict(os.environ, COLUMNS="80")  # what a narrow terminal would say; a pipe must ignore it
    env.pop("SYMKEEP_DEBUG", None)
    r = subprocess.run([sys.executable, "-m", "symkeep", *args], input=stdin, capture_output=True, env=env,
                       timeout=timeout)
    return subprocess.CompletedProcess(r.args, r.returncode, r.stdout.decode(), r.stderr.decode())


def on_terminal(*args: str, columns: int, timeout: float = 600) -> tuple[int, str]:
    """Run ``symkeep ARGS`` on a pseudo-terminal ``columns`` wide; (exit status, output without ANSI codes)."""
    import pty
    import select
    import time

    pid, fd = pty.fork()
    if pid == 0:  # child
        os.environ["COLUMNS"] = str(columns)
        os.environ["LINES"] = "50"
        os.environ.pop("SYMKEEP_DEBUG", None)
        os.execv(sys.executable, [sys.executable, "-m", "symkeep", *args])
    out = b""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if not select.select([fd], [], [], 1)[0]:
                continue
            try:
                d = os.read(fd, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not d:
                break
            out += d
        else:
            os.kill(pid, 9)
            raise AssertionError(f"symkeep {args} hung on a terminal")
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    text = ANSI.sub("", out.decode("utf-8", "replace")).replace("\r\n", "\n")
    return os.waitstatus_to_exitcode(status), text
