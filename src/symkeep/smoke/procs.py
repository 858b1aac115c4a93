"""A started program in its own process group, stopped for sure; and its TCP listeners from /proc.

Why a process group: services fork helpers (shell wrappers, `go run`, sidecars); signalling the group
reaches them all. ``stop`` sends SIGTERM to the group, waits ``grace`` seconds, then SIGKILLs it and
reaps the child; the direct child also gets PR_SET_PDEATHSIG=SIGKILL, so it dies with us even if we
are killed with SIGKILL ourselves (nothing else can run then).

Listeners: ``/proc/PID/net/tcp{,6}`` lists every socket of the network namespace; the ones that belong
to the process are those whose inode appears as ``socket:[INODE]`` among ``/proc/PID/fd/*``.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

__all__ = ["Listener", "Started", "group_pids", "listeners", "parse_proc_net_tcp", "start"]

PR_SET_PDEATHSIG = 1
TCP_LISTEN = 0x0A


def _child_setup() -> None:  # runs in the child between fork and exec
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


@dataclass
class Started:
    proc: subprocess.Popen[bytes]
    log: Path
    _fh: IO[bytes] | None = None

    @property
    def pid(self) -> int:
        return self.proc.pid

    def exited(self) -> int | None:
        return self.proc.poll()

    def output(self, limit: int = 4000) -> str:
        try:
            data = self.log.read_bytes()
        except OSError:
            return ""
        return data[-limit:].decode("utf-8", errors="replace")

    def stop(self, grace: float = 3.0) -> None:
        """SIGTERM the group, then SIGKILL whatever is left of it; reap the child. Idempotent."""
        pg = self.proc.pid
        if self.proc.poll() is None or group_pids(pg):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pg, signal.SIGTERM)
            deadline = time.monotonic() + grace
            while time.monotonic() < deadline and (self.proc.poll() is None or group_pids(pg)):
                time.sleep(0.02)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pg, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)
        deadline = time.monotonic() + 5
        while group_pids(pg) and time.monotonic() < deadline:  # grandchildren reparented to init
            time.sleep(0.02)
        if self._fh is not None:
            self._fh.close()
            self._fh = None


def start(cmd: Sequence[str], log: Path, env: Mapping[str, str] | None = None, cwd: str | None = None) -> Started:
    """Start ``cmd`` in a new session (its own process group), output to ``log``."""
    fh = open(log, "wb")  # noqa: SIM115 - closed by Started.stop
    try:
        proc = subprocess.Popen(list(cmd), stdin=subprocess.DEVNULL, stdout=fh, stderr=subprocess.STDOUT,
                                env=dict(env) if env is not None else None, cwd=cwd, start_new_session=True,
                                preexec_fn=_child_setup)  # noqa: PLW1509 - prctl only, no Python state touched
    except BaseException:
        fh.close()
        raise
    return Started(proc, log, fh)


def group_pids(pgid: int, proc_root: Path = Path("/proc")) -> list[int]:
    """Live (non-zombie) processes whose process group is ``pgid``."""
    out: list[int] = []
    try:
        entries = os.listdir(proc_root)
    except OSError:
        return out
    for e in entries:
        if not e.isdigit():
            continue
        try:
            stat = (proc_root / e / "stat").read_text()
        except OSError:
            continue
        rest = stat[stat.rfind(")") + 2:].split()
        if len(rest) > 2 and rest[0] != "Z" and int(rest[2]) == pgid:
            out.append(int(e))
    return out


@dataclass(frozen=True)
class Listener:
    host: str  # dotted IPv4 or IPv6 text
    port: int
    inode: int

    @property
    def connect_host(self) -> str | None:
        """The loopback address to reach it on, or None when it listens on another address only."""
        h = self.host
        if h == "0.0.0.0":
            return "127.0.0.1"
        if h.startswith("127."):
            return h
        if h in ("::", "::1"):
            return "::1"
        if h.startswith("::ffff:127."):
            return h[7:]
        return None


def _ipv4(h: str) -> str:
    b = bytes.fromhex(h)[::-1]
    return ".".join(str(x) for x in b)


def _ipv6(h: str) -> str:
    import ipaddress

    raw = bytes.fromhex(h)
    words = b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4))
    return str(ipaddress.IPv6Address(words))


def parse_proc_net_tcp(text: str, v6: bool) -> list[tuple[str, int, int, int]]:
    """(host, port, state, inode) of each line of /proc/net/tcp or tcp6."""
    out = []
    for ln in text.splitlines()[1:]:
        f = ln.split()
        if len(f) < 10 or ":" not in f[1]:
            continue
        addr, port = f[1].rsplit(":", 1)
        try:
            host = _ipv6(addr) if v6 else _ipv4(addr)
            out.append((host, int(port, 16), int(f[3], 16), int(f[9])))
        except ValueError:
            continue
    return out


def listeners(pids: Sequence[int], proc_root: Path = Path("/proc")) -> list[Listener]:
    """TCP sockets in LISTEN state owned by any of ``pids``."""
    found: list[Listener] = []
    seen: set[int] = set()
    for pid in pids:
        inodes: set[int] = set()
        try:
            for fd in os.listdir(proc_root / str(pid) / "fd"):
                with contextlib.suppress(OSError):
                    t = os.readlink(proc_root / str(pid) / "fd" / fd)
                    if t.startswith("socket:["):
                        inodes.add(int(t[8:-1]))
        except OSError:
            continue
        for name, v6 in (("tcp", False), ("tcp6", True)):
            try:
                text = (proc_root / str(pid) / "net" / name).read_text()
            except OSError:
                continue
            for host, port, state, inode in parse_proc_net_tcp(text, v6):
                if state == TCP_LISTEN and inode in inodes and inode not in seen:
                    seen.add(inode)
                    found.append(Listener(host, port, inode))
    return found
