"""Static and runtime measurements of one built variant: sizes by retention class, start-up, RSS, CPU.

Sections and their retention classes come from the shared layers (``symkeep.binfmt`` and
``symkeep.inspect.retention``) so the matrix and ``symkeep inspect`` can never disagree on a byte; the
matrix keeps its own, coarser class names (its JSON schema), mapped from retention's in ``CLASS_OF``.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import statistics
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from symkeep.binfmt import Section, open_binary
from symkeep.inspect import retention

__all__ = [
    "CLASSES",
    "CLASS_OF",
    "Running",
    "size_breakdown",
    "start_service",
    "free_port",
    "run_work",
    "summarize",
]

# Retention classes, in the order reports show them (keys of the JSON report's ``size.classes``).
CLASSES = ("code", "runtime tables", "symtab", "DWARF", "build info/notes", "other")

# The one place where retention's class names become the matrix's. The matrix has no "data" class:
# data is neither removable by a strip flag nor code, so it stays in "other" as it always has.
CLASS_OF = {
    retention.CODE: "code",
    retention.DATA: "other",
    retention.GO_TABLES: "runtime tables",
    retention.SYMTAB: "symtab",
    retention.DWARF: "DWARF",
    retention.NOTES: "build info/notes",
    retention.OTHER: "other",
}


def _class_of(sec: Section) -> str:
    return CLASS_OF[retention.classify(sec)]


def size_breakdown(path: Path) -> dict[str, Any]:
    """File size, bytes per retention class (headers and padding count as "other"), per-section list."""
    size = path.stat().st_size
    with open_binary(path) as b:
        classes = dict.fromkeys(CLASSES, 0)
        for t in retention.totals(b, size):
            classes[CLASS_OF[t.name]] += t.bytes
        # ELF section 0 is the reserved null entry, not a section.
        secs = [s for s in b.sections() if not (b.format == "elf" and s.index == 0)]
        sections = [{"name": s.name, "size": s.file_size, "class": _class_of(s)} for s in secs]
    return {"file": size, "classes": classes, "sections": sections}


def summarize(values: Sequence[float]) -> dict[str, Any]:
    """Median with the spread (min/max) and the raw samples."""
    if not values:
        return {"median": None, "min": None, "max": None, "samples": []}
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "samples": list(values),
    }


_ADDR_RE = re.compile(r"(?:127\.0\.0\.1|localhost|\[::1?\]|0\.0\.0\.0|\[::\]):(\d{2,5})")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Running:
    """A started program with a pprof endpoint; use as a context manager (always killed on exit)."""

    def __init__(self, proc: subprocess.Popen[bytes], log: Path) -> None:
        self.proc = proc
        self.log = log
        self.port: int | None = None
        self.ready_seconds: float | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""

    def peak_rss_kb(self) -> int | None:
        try:
            for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
        except (OSError, ValueError, IndexError):
            return None
        return None

    def fetch(self, path: str, timeout: float) -> bytes:
        with urllib.request.urlopen(self.base_url + path, timeout=timeout) as r:
            body: bytes = r.read()
            return body

    def __enter__(self) -> Running:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)


def start_service(
    binary: Path, args: Sequence[str], workdir: Path, timeout: float, env: dict[str, str] | None = None
) -> Running:
    """Start ``binary args`` and wait until GET /debug/pprof/ answers 200; the port comes from ``{port}``
    in the args (substituted with a free port) or from the first ``127.0.0.1:PORT`` the program prints.

    Raises TimeoutError (with the program's output) when the endpoint never comes up.
    """
    fixed: int | None = None
    real_args = list(args)
    if any("{port}" in a for a in real_args):
        fixed = free_port()
        real_args = [a.replace("{port}", str(fixed)) for a in real_args]
    workdir.mkdir(parents=True, exist_ok=True)
    log = workdir / f"run-{os.getpid()}-{time.monotonic_ns()}.log"
    fh = log.open("wb")
    t0 = time.monotonic()
    try:
        proc = subprocess.Popen(
            [str(binary), *real_args], stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=env, cwd=workdir,
        )
    finally:
        fh.close()
    run = Running(proc, log)
    run.port = fixed
    deadline = t0 + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            run.stop()
            raise TimeoutError(
                f"program exited with status {proc.returncode} before its pprof endpoint answered; "
                f"output: {_tail(run.output())}"
            )
        if run.port is None:
            m = _ADDR_RE.search(run.output())
            if m:
                run.port = int(m.group(1))
        if run.port is not None:
            try:
                with urllib.request.urlopen(run.base_url + "/debug/pprof/", timeout=1) as r:
                    if r.status == 200:
                        run.ready_seconds = time.monotonic() - t0
                        return run
            except (urllib.error.URLError, OSError):
                pass
        time.sleep(0.005)
    run.stop()
    raise TimeoutError(
        f"program never answered GET /debug/pprof/ within {timeout:g}s "
        f"(port {'unknown: nothing like 127.0.0.1:PORT printed' if run.port is None else run.port}); "
        f"output: {_tail(run.output())}"
    )


def _tail(text: str, n: int = 300) -> str:
    t = text.strip().replace("\n", " | ")
    return (t[-n:] if len(t) > n else t) or "(none)"


_OPS_RE = re.compile(r"ops_per_sec=([0-9.]+)")
_OPSN_RE = re.compile(r"\bops=([0-9]+)")


def run_work(binary: Path, args: Sequence[str], workdir: Path, timeout: float) -> tuple[float, int, str, float]:
    """Run a benchmark command; (ops per second the program printed, its peak RSS in kB, command line,
    ops per CPU second). CPU time (user+sys from wait4) is robust to other load on a shared machine."""
    cmd = [str(binary), *args]
    workdir.mkdir(parents=True, exist_ok=True)
    log = workdir / f"work-{os.getpid()}-{time.monotonic_ns()}.log"
    with log.open("wb") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=workdir)
    timer = threading.Timer(timeout, proc.kill)
    timer.start()
    try:
        _, status, ru = os.wait4(proc.pid, 0)
    finally:
        timer.cancel()
    proc.returncode = os.waitstatus_to_exitcode(status)
    text = log.read_text(errors="replace")
    log.unlink(missing_ok=True)
    m = _OPS_RE.search(text)
    if proc.returncode != 0 or not m:
        raise RuntimeError(f"benchmark failed (exit {proc.returncode}): {' '.join(cmd)}: {_tail(text)}")
    cpu = ru.ru_utime + ru.ru_stime
    mo = _OPSN_RE.search(text)
    per_cpu = float(mo.group(1)) / cpu if mo and cpu > 0 else float(m.group(1))
    return float(m.group(1)), int(ru.ru_maxrss), " ".join(cmd), per_cpu
