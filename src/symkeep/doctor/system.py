"""Kernel settings and a running process, read through an injectable /proc (and /proc/sys) root.

Tests (and `doctor --proc-root/--sys-root`) point these at a directory laid out like /proc, so the
paranoid/kptr settings and namespace links can be staged without changing the machine.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from symkeep.doctor.model import Finding
from symkeep.errors import InputError

__all__ = ["ProcessInfo", "SystemView", "check_kernel", "check_process"]


@dataclass
class SystemView:
    proc_root: Path = Path("/proc")
    sys_root: Path | None = None  # default: proc_root/sys
    euid: int = field(default_factory=os.geteuid)
    home: str | None = None  # perf's ~/.debug lives here (default: $HOME)

    @property
    def sysctl_root(self) -> Path:
        return self.sys_root if self.sys_root is not None else self.proc_root / "sys"

    def sysctl(self, name: str) -> int | None:
        try:
            return int((self.sysctl_root / name.replace(".", "/")).read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def kallsyms_hidden(self) -> bool | None:
        """True when /proc/kallsyms shows only zero addresses (to this reader)."""
        try:
            with open(self.proc_root / "kallsyms") as f:
                lines = [f.readline() for _ in range(20)]
        except OSError:
            return None
        addrs = [ln.split()[0] for ln in lines if ln.strip()]
        return bool(addrs) and all(int(a, 16) == 0 for a in addrs)

    def perf_cache(self) -> Path:
        env = os.environ.get("PERF_BUILDID_DIR")
        if env:
            return Path(env)
        return Path(self.home or os.environ.get("HOME") or os.path.expanduser("~")) / ".debug"


@dataclass
class ProcessInfo:
    pid: int
    exe: str  # what /proc/PID/exe points to (may end in " (deleted)")
    deleted: bool
    mnt_ns: str | None
    own_mnt_ns: str | None
    root: Path  # /proc/PID/root: the process's view of the file system

    @property
    def exe_path(self) -> Path:
        """A path that opens the process's executable from here (through /proc/PID/exe)."""
        return self.root.parent / "exe"


def _readlink(p: Path) -> str | None:
    try:
        return os.readlink(p)
    except OSError:
        return None


def process_info(sv: SystemView, pid: int) -> ProcessInfo:
    d = sv.proc_root / str(pid)
    if not d.is_dir():
        raise InputError(f"--pid {pid}: no such process ({d} missing)")
    exe = _readlink(d / "exe")
    if exe is None:
        raise InputError(f"--pid {pid}: cannot read {d / 'exe'} (permission denied or a kernel thread)")
    deleted = exe.endswith(" (deleted)")
    return ProcessInfo(pid, exe, deleted, _readlink(d / "ns" / "mnt"), _readlink(sv.proc_root / "self" / "ns" / "mnt"),
                       d / "root")


def check_kernel(sv: SystemView) -> list[Finding]:
    out: list[Finding] = []
    par = sv.sysctl("kernel.perf_event_paranoid")
    path = sv.sysctl_root / "kernel" / "perf_event_paranoid"
    if par is None:
        out.append(Finding("perf-paranoid", "skip", f"cannot read {path}"))
    elif sv.euid == 0:
        out.append(Finding("perf-paranoid", "ok", f"perf_event_paranoid={par}, but root is not restricted by it",
                           [f"{path} = {par}", "euid 0"]))
    elif par >= 3:
        out.append(Finding("perf-paranoid", "problem",
                           f"perf_event_paranoid={par}: perf_event_open is refused to unprivileged users, so perf "
                           "records nothing", [f"{path} = {par}", f"euid {sv.euid}"],
                           "sudo sysctl kernel.perf_event_paranoid=2 (user-space profiling), or run perf with "
                           "CAP_PERFMON; Go's runtime/pprof needs no perf at all"))
    elif par == 2:
        out.append(Finding("perf-paranoid", "problem",
                           "perf_event_paranoid=2: unprivileged perf sees user space only: kernel frames are "
                           "missing and system-wide (-a) recording is refused", [f"{path} = {par}", f"euid {sv.euid}"],
                           "sudo sysctl kernel.perf_event_paranoid=1 (kernel frames) or -1, or grant CAP_PERFMON"))
    else:
        out.append(Finding("perf-paranoid", "ok", f"perf_event_paranoid={par}", [f"{path} = {par}"]))
    kp = sv.sysctl("kernel.kptr_restrict")
    kpath = sv.sysctl_root / "kernel" / "kptr_restrict"
    hidden = sv.kallsyms_hidden()
    ev = [f"{kpath} = {kp}", f"euid {sv.euid}"]
    if hidden is not None:
        ev.append(f"{sv.proc_root / 'kallsyms'}: " + ("only zero addresses" if hidden else "real addresses"))
    if kp is None:
        out.append(Finding("kptr-restrict", "skip", f"cannot read {kpath}"))
    elif kp >= 2 or (kp == 1 and sv.euid != 0) or hidden:
        out.append(Finding("kptr-restrict", "problem",
                           f"kptr_restrict={kp}: kernel symbol addresses are hidden, so perf shows kernel frames as "
                           "[unknown] or raw addresses", ev,
                           "sudo sysctl kernel.kptr_restrict=0 while profiling (1 is enough for root)"))
    else:
        out.append(Finding("kptr-restrict", "ok", f"kptr_restrict={kp}: kernel symbols readable", ev))
    return out


def check_process(sv: SystemView, info: ProcessInfo) -> list[Finding]:
    out: list[Finding] = []
    ev = [f"{sv.proc_root}/{info.pid}/ns/mnt -> {info.mnt_ns}", f"{sv.proc_root}/self/ns/mnt -> {info.own_mnt_ns}",
          f"{sv.proc_root}/{info.pid}/exe -> {info.exe}"]
    if info.mnt_ns and info.own_mnt_ns and info.mnt_ns != info.own_mnt_ns:
        exe = info.exe.removesuffix(" (deleted)")
        out.append(Finding("mount-namespace", "problem",
                           f"process {info.pid} runs in another mount namespace: {exe} in its profiles is a path "
                           "inside the container, not on this host", ev,
                           f"give tools the container's file: --binary {info.root}{exe} (or /proc/{info.pid}/exe), "
                           f"perf report --symfs {info.root}; or profile from inside the container"))
    else:
        out.append(Finding("mount-namespace", "ok", f"process {info.pid} shares this mount namespace", ev))
    if info.deleted:
        out.append(Finding("stale-binary", "problem",
                           f"process {info.pid} runs a binary that was deleted or replaced on disk since it started "
                           f"({info.exe}): the file at that path now is a different build", ev,
                           f"symbolize with the running image: cp /proc/{info.pid}/exe ./running-binary "
                           "(or fetch the old build by its build ID from your symbol store)"))
    return out
