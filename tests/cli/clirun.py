"""Run the real `symkeep` CLI in a child process with a memory cap, and report its peak RSS."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

MEM_CAP = 256 * 1024 * 1024


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str
    seconds: float
    max_rss: int  # bytes


def _limit() -> None:
    resource.setrlimit(resource.RLIMIT_DATA, (MEM_CAP, MEM_CAP))


def run_cli(args: list[str], stdin: str | None = None, timeout: float = 60) -> Result:
    """`python -m symkeep ARGS` capped at 256 MB of data; a hang guard, not a speed assertion."""
    env = dict(os.environ)
    env.pop("SYMKEEP_DEBUG", None)
    env["OPENBLAS_NUM_THREADS"] = "1"
    fd, rss_file = tempfile.mkstemp(prefix="symkeep-rss-")
    os.close(fd)
    # The child reports its own peak RSS (VmHWM, kept per address space, so reset by exec) at exit:
    # RUSAGE_CHILDREN counts every earlier child of this long-lived test worker, and ru_maxrss survives
    # execve, so a child of a big worker would inherit the worker's peak.
    boot = (
        "import atexit, sys\n"
        "def _hwm():\n"
        "    for ln in open('/proc/self/status'):\n"
        "        if ln.startswith('VmHWM:'):\n"
        f"            open({rss_file!r}, 'w').write(ln.split()[1])\n"
        "atexit.register(_hwm)\n"
        "sys.argv[0] = 'symkeep'\n"
        "from symkeep.cli import main\n"
        "main()\n"
    )
    t0 = time.monotonic()
    p = subprocess.Popen([sys.executable, "-c", boot, *args], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                         preexec_fn=_limit)
    try:
        out, err = p.communicate(stdin, timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
        raise AssertionError(f"symkeep {args} hung for {timeout}s") from None
    secs = time.monotonic() - t0
    try:
        with open(rss_file) as fh:
            rss = int(fh.read() or 0) * 1024  # VmHWM is in kB
    finally:
        os.unlink(rss_file)
    return Result(p.returncode, out, err, secs, rss)
