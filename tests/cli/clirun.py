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


_BOOT = (
    "import atexit, sys\n"
    "def _hwm():\n"
    "    for ln in open('/proc/self/status'):\n"
    "        if ln.startswith('VmHWM:'):\n"
    "            open({rss_file!r}, 'w').write(ln.split()[1])\n"
    "atexit.register(_hwm)\n"
    "sys.argv[0] = 'symkeep'\n"
    "from symkeep.cli import main\n"
    "main()\n"
)


def _limit(cap: int | None = MEM_CAP) -> None:
    if cap:
        resource.setrlimit(resource.RLIMIT_DATA, (cap, cap))


def run_cli(args: list[str], stdin: str | None = None, timeout: float = 60, cap: int | None = MEM_CAP) -> Result:
    """`python -m symkeep ARGS` capped at 256 MB of data; a hang guard, not a speed assertion."""
    env = dict(os.environ)
    env.pop("SYMKEEP_DEBUG", None)
    env["OPENBLAS_NUM_THREADS"] = "1"
    fd, rss_file = tempfile.mkstemp(prefix="symkeep-rss-")
    os.close(fd)
    # The child reports its own peak RSS (VmHWM, kept per address space, so reset by exec) at exit:
    # RUSAGE_CHILDREN counts every earlier child of this long-lived test worker, and ru_maxrss survives
    # execve, so a child of a big worker would inherit the worker's peak.
    boot = _BOOT.format(rss_file=rss_file)
    t0 = time.monotonic()
    p = subprocess.Popen([sys.executable, "-c", boot, *args], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                         preexec_fn=lambda: _limit(cap))
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


@dataclass
class PipedResult:
    code: int
    out_bytes: int  # stdout length (not kept: it may be hundreds of MB)
    head: bytes  # first 4 KiB of stdout
    tail: bytes  # last 4 KiB of stdout
    stderr: str
    max_rss: int  # bytes


def run_cli_piped(args: list[str], producer: list[str], timeout: float = 300, cap: int | None = MEM_CAP
                  ) -> PipedResult:
    """``PRODUCER | symkeep ARGS``: stdin is a real pipe fed by another process (64 KiB at a time), the
    CLI capped at 256 MB of data; stdout is counted, not kept. A hang guard, not a speed assertion."""
    env = dict(os.environ)
    env.pop("SYMKEEP_DEBUG", None)
    env["OPENBLAS_NUM_THREADS"] = "1"
    fd, rss_file = tempfile.mkstemp(prefix="symkeep-rss-")
    os.close(fd)
    prod = subprocess.Popen(producer, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert prod.stdout is not None
    p = subprocess.Popen([sys.executable, "-c", _BOOT.format(rss_file=rss_file), *args], stdin=prod.stdout,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                         preexec_fn=lambda: _limit(cap))
    prod.stdout.close()  # the CLI holds the only read end
    assert p.stdout is not None and p.stderr is not None
    import threading

    err: list[bytes] = []
    reader = threading.Thread(target=lambda: err.append(p.stderr.read()))  # type: ignore[union-attr]
    reader.start()
    hung = threading.Event()

    def guard() -> None:
        hung.set()
        p.kill()
        prod.kill()

    timer = threading.Timer(timeout, guard)  # kills a hung run: the read below then sees EOF
    timer.start()
    n, head, tail = 0, b"", b""
    try:
        while chunk := p.stdout.read1(1 << 16):
            n += len(chunk)
            if len(head) < 4096:
                head += chunk[: 4096 - len(head)]
            tail = (tail + chunk)[-4096:]
        p.wait()
    finally:
        timer.cancel()
        for proc in (p, prod):
            if proc.poll() is None:
                proc.kill()
            proc.wait()
        reader.join(timeout=10)
    if hung.is_set():
        os.unlink(rss_file)
        raise AssertionError(f"symkeep {args} hung for {timeout}s")
    try:
        with open(rss_file) as fh:
            rss = int(fh.read() or 0) * 1024
    finally:
        os.unlink(rss_file)
    return PipedResult(p.returncode, n, head, tail, b"".join(err).decode("utf-8", "replace"), rss)
