"""Static and runtime measurements of one built variant: sizes by retention class, start-up, RSS, CPU.

The section table is read with a small self-contained ELF reader so the matrix does not depend on the
parsing layers' API while they evolve (the lead's ``inspect`` classifier will replace ``classify``).
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import statistics
import struct
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from symkeep.errors import FormatError

__all__ = [
    "CLASSES",
    "ElfSection",
    "Running",
    "classify",
    "elf_load_segments",
    "elf_sections",
    "size_breakdown",
    "start_service",
    "free_port",
    "run_work",
    "summarize",
]

# Retention classes, in the order reports show them.
CLASSES = ("code", "runtime tables", "symtab", "DWARF", "build info/notes", "other")

_RUNTIME_TABLES = {
    ".gopclntab",
    ".data.rel.ro.gopclntab",
    ".gosymtab",
    ".typelink",
    ".itablink",
    ".go.module",
    ".gofunc",
    ".go.func",
    ".go.fuzzcntrs",
    ".go.fipsinfo",
}
_CODE = {".text", ".plt", ".plt.got", ".plt.sec", ".init", ".fini", ".iplt"}
_SYMTAB = {".symtab", ".strtab"}


@dataclass(frozen=True)
class ElfSection:
    name: str
    type: int
    flags: int
    addr: int
    offset: int
    size: int

    @property
    def file_size(self) -> int:
        return 0 if self.type == 8 else self.size  # SHT_NOBITS occupies no file bytes


def _read_header(path: Path) -> tuple[bytes, str, bool]:
    data = path.read_bytes()
    if data[:4] != b"\x7fELF":
        raise FormatError("not an ELF file", 0, data[:4], str(path))
    if data[4] not in (1, 2) or data[5] not in (1, 2):
        raise FormatError("bad ELF class/data", 4, data[4:6], str(path))
    return data, "<" if data[5] == 1 else ">", data[4] == 2


def elf_sections(path: Path) -> list[ElfSection]:
    """Section headers with names; [] for an ELF without section headers."""
    data, e, is64 = _read_header(path)
    try:
        if is64:
            shoff, = struct.unpack_from(e + "Q", data, 0x28)
            shentsize, shnum, shstrndx = struct.unpack_from(e + "HHH", data, 0x3A)
        else:
            shoff, = struct.unpack_from(e + "I", data, 0x20)
            shentsize, shnum, shstrndx = struct.unpack_from(e + "HHH", data, 0x2E)
        if shoff == 0 or shnum == 0:
            return []
        if shoff + shnum * shentsize > len(data) or shentsize < (64 if is64 else 40):
            raise FormatError("section headers beyond end of file", shoff, shnum, str(path))
        raw = []
        for i in range(shnum):
            o = shoff + i * shentsize
            if is64:
                nm, typ, flg, addr, off, size = struct.unpack_from(e + "IIQQQQ", data, o)
            else:
                nm, typ, flg, addr, off, size = struct.unpack_from(e + "IIIIII", data, o)
            raw.append((nm, typ, flg, addr, off, size))
        if shstrndx >= shnum:
            raise FormatError("section name table index out of range", None, shstrndx, str(path))
        stroff, strsize = raw[shstrndx][4], raw[shstrndx][5]
        if stroff + strsize > len(data):
            raise FormatError("section name table beyond end of file", stroff, strsize, str(path))
        out = []
        for nm, typ, flg, addr, off, size in raw[1:]:
            end = data.find(b"\0", stroff + nm, stroff + strsize)
            name = data[stroff + nm : end if end >= 0 else stroff + strsize].decode("latin-1")
            out.append(ElfSection(name, typ, flg, addr, off, size))
        return out
    except (struct.error, IndexError) as exc:
        raise FormatError(f"truncated ELF: {exc}", None, None, str(path)) from exc


def elf_load_segments(path: Path) -> list[tuple[int, int, int, int]]:
    """PT_LOAD segments as (offset, vaddr, filesz, flags): to turn runtime addresses into file vaddrs."""
    data, e, is64 = _read_header(path)
    try:
        if is64:
            phoff, = struct.unpack_from(e + "Q", data, 0x20)
            phentsize, phnum = struct.unpack_from(e + "HH", data, 0x36)
        else:
            phoff, = struct.unpack_from(e + "I", data, 0x1C)
            phentsize, phnum = struct.unpack_from(e + "HH", data, 0x2A)
        out = []
        for i in range(min(phnum, 4096)):
            o = phoff + i * phentsize
            if is64:
                typ, flg, off, vaddr, _pa, filesz = struct.unpack_from(e + "IIQQQQ", data, o)
            else:
                typ, off, vaddr, _pa, filesz, _m, flg = struct.unpack_from(e + "IIIIIII", data, o)
            if typ == 1:
                out.append((off, vaddr, filesz, flg))
        return out
    except struct.error as exc:
        raise FormatError(f"truncated ELF program headers: {exc}", None, None, str(path)) from exc


def classify(name: str, flags: int = 0) -> str:
    """Retention class of a section (our own small classifier; see module doc)."""
    if name in _CODE or (flags & 0x4 and name.startswith(".text")):
        return "code"
    if name in _RUNTIME_TABLES:
        return "runtime tables"
    if name in _SYMTAB:
        return "symtab"
    if name.startswith((".debug_", ".zdebug_")):
        return "DWARF"
    if name == ".go.buildinfo" or name.startswith(".note") or name == ".gnu_debuglink":
        return "build info/notes"
    return "other"


def size_breakdown(path: Path) -> dict[str, Any]:
    """File size, bytes per retention class (headers and padding count as "other"), per-section list."""
    size = path.stat().st_size
    secs = elf_sections(path)
    classes = dict.fromkeys(CLASSES, 0)
    for s in secs:
        classes[classify(s.name, s.flags)] += s.file_size
    accounted = sum(classes.values())
    classes["other"] += max(0, size - accounted)
    return {
        "file": size,
        "classes": classes,
        "sections": [{"name": s.name, "size": s.file_size, "class": classify(s.name, s.flags)} for s in secs],
    }


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
