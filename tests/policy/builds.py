"""Binaries the fixture factory has no variant for, built with ``symkeep.build`` from real sources.

Cached by content hash (program sources, toolchain version, build options) under
``cache_root()/policy-builds`` so reruns do not rebuild. Builds whose bytes depend on a git checkout
(``vcs_build``) are made fresh in a temporary repository.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from fixtures.env import cache_root, unavailable
from fixtures.factory import PROGRAMS_DIR, FixtureUnavailable, toolchain
from symkeep.build import build
from symkeep.errors import ToolError

DEMO_DIR = Path(__file__).resolve().parents[2] / "src" / "symkeep" / "demo"
PROGRAMS = Path(__file__).resolve().parent / "programs"


def program_dir(program: str | Path) -> Path:
    if isinstance(program, Path):
        return program
    if program == "demo":
        return DEMO_DIR
    for base in (PROGRAMS, PROGRAMS_DIR):
        if (base / program).is_dir():
            return base / program
    raise ValueError(f"no program {program}")


def _src_hash(d: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(d.rglob("*")):
        if p.is_file() and p.suffix in (".go", ".mod", ".sum", ".c", ".h", ".s"):
            h.update(p.relative_to(d).as_posix().encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()


def _tc(version: str) -> Any:
    try:
        return toolchain(version)
    except ToolError as e:
        unavailable(f"Go {version}: {e}")
    except FixtureUnavailable as e:
        pytest.skip(str(e))


def custom(program: str | Path, *, tc: str = "1.27", name: str = "", **kw: Any) -> Path:
    """``symkeep.build.build(toolchain, program, out, **kw)``, cached. kw: ldflags, cgo, trimpath, env, extra_args."""
    t = _tc(tc)
    src = program_dir(program)
    pname = src.name
    key = hashlib.sha256(repr((pname, _src_hash(src), t.version, sorted(kw.items(), key=str))).encode()).hexdigest()
    root = cache_root() / "policy-builds"
    out = root / f"{pname}-{name or 'custom'}-go{tc}-{key[:16]}"
    if out.is_file():
        return out
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "w") as lk:
        fcntl.flock(lk, fcntl.LOCK_EX)
        if out.is_file():
            return out
        tmp = out.with_name(out.name + f".tmp{os.getpid()}")
        try:
            build(t, src, tmp, **kw)
            os.replace(tmp, out)
        except ToolError as e:
            if kw.get("cgo") and shutil.which("gcc") is None:
                unavailable(f"gcc needed for a cgo build: {e}")
            raise
        finally:
            tmp.unlink(missing_ok=True)
    return out


def vcs_build(tmp: Path, *, modified: bool, buildvcs: bool = True, tc: str = "1.27") -> Path:
    """hello built inside a fresh git repository (clean or with an uncommitted change)."""
    if shutil.which("git") is None:
        unavailable("git not installed")
    repo = tmp / "repo"
    shutil.copytree(PROGRAMS_DIR / "hello", repo)
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.com"}
    for cmd in (["git", "init", "-q"], ["git", "add", "-A"], ["git", "commit", "-qm", "x"]):
        subprocess.run(cmd, cwd=repo, env=env, check=True, capture_output=True)
    if modified:
        with open(repo / "main.go", "a") as f:
            f.write("\n// local change\n")
    out = tmp / "hello-vcs"
    build(_tc(tc), repo, out, extra_args=() if buildvcs else ("-buildvcs=false",))
    return out
