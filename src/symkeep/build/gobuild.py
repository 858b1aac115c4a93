"""Run ``go build`` hermetically: offline, one shared build cache per toolchain, cgo off by default."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Mapping, Sequence
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
) -> BuildResult:
    """Build the main package in ``src_dir`` into ``out``; raise ToolError with the compiler's errors."""
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
    try:
        res = subprocess.run(cmd, cwd=src_dir, env=e, capture_output=True, text=True, timeout=timeout)
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
