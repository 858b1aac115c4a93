"""Run ``go build`` hermetically: offline, one shared build cache per toolchain, cgo off by default."""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from symkeep.build.toolchain import Toolchain, _first_lines
from symkeep.errors import ToolError

__all__ = ["BuildResult", "build"]


@dataclass(frozen=True)
class BuildResult:
    """What a build produced and how: the command is kept for error messages and reports."""

    path: Path
    seconds: float
    cmd: tuple[str, ...]
    stderr: str


def build(
    tc: Toolchain,
    src_dir: Path,
    out: Path,
    *,
    goos: str = "linux",
    goarch: str = "amd64",
    ldflags: str | None = None,
    gcflags: str | None = None,
    buildmode: str | None = None,
    trimpath: bool = False,
    cgo: bool = False,
    extra_args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    package: str = ".",
    timeout: float = 1800,
    on_package: Callable[[str], None] | None = None,
) -> BuildResult:
    """Build the main package in ``src_dir`` into ``out``; raise ToolError with the compiler's errors.

    ``on_package`` is called with each package's import path as ``go build -v`` compiles it (packages
    found in the build cache are not compiled), for progress reports."""
    src_dir = Path(src_dir)
    out = Path(out)
    if not src_dir.is_dir():
        raise ToolError(f"no Go source directory {src_dir}")
    cmd: list[str] = [str(tc.go), "build", "-o", str(out.resolve())]
    if ldflags is not None:
        cmd.append(f"-ldflags={ldflags}")
    if gcflags is not None:
        cmd.append(f"-gcflags={gcflags}")
    if buildmode:
        cmd.append(f"-buildmode={buildmode}")
    if trimpath:
        cmd.append("-trimpath")
    cmd.extend(extra_args)
    cmd.append(package)
    e = tc.env(GOOS=goos, GOARCH=goarch, CGO_ENABLED="1" if cgo else "0")
    if env:
        e.update(env)
    Path(e["GOCACHE"]).mkdir(parents=True, exist_ok=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    if cgo and "CC" not in e and shutil.which("gcc") is None and shutil.which("cc") is None:
        raise ToolError("cgo build requested but no C compiler (gcc/cc) on PATH")
    t0 = time.monotonic()
    if on_package is not None:
        cmd.insert(2, "-v")
    try:
        if on_package is None:
            res = subprocess.run(cmd, cwd=src_dir, env=e, capture_output=True, text=True, timeout=timeout)
        else:
            res = _run_verbose(cmd, src_dir, e, timeout, on_package)
    except subprocess.TimeoutExpired as exc:
        raise ToolError(f"go build timed out after {timeout:.0f}s: {' '.join(cmd)}") from exc
    except OSError as exc:
        raise ToolError(f"cannot run {tc.go}: {exc}") from exc
    secs = time.monotonic() - t0
    if res.returncode != 0 or not out.is_file():
        raise ToolError(
            f"go build failed ({tc.version}, {goos}/{goarch}) in {src_dir}:\n"
            f"$ {' '.join(cmd)}\n{_first_lines(res.stderr + res.stdout)}"
        )
    return BuildResult(out, secs, tuple(cmd), res.stderr)


def _run_verbose(cmd: list[str], cwd: Path, env: Mapping[str, str], timeout: float,
                 on_package: Callable[[str], None]) -> subprocess.CompletedProcess[str]:
    """``go build -v``: report each compiled package (a line that is one import path) as it appears; keep
    every other line as the compiler's output."""
    p = subprocess.Popen(cmd, cwd=cwd, env=dict(env), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    timer = threading.Timer(timeout, p.kill)
    timer.start()
    other: list[str] = []
    try:
        assert p.stdout is not None
        for line in p.stdout:
            s = line.rstrip("\n")
            if s and " " not in s and ":" not in s and not s.startswith("#"):
                on_package(s)
            else:
                other.append(line)
        p.wait()
    finally:
        expired = not timer.is_alive() and p.returncode is not None and p.returncode < 0
        timer.cancel()
        if p.poll() is None:
            p.kill()
            p.wait()
    if expired:
        raise subprocess.TimeoutExpired(cmd, timeout)
    return subprocess.CompletedProcess(cmd, p.returncode, "", "".join(other))
