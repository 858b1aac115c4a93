"""Builds (and caches) small real Go ELF binaries for the ELF reader tests.

Kept apart from the tests so that a cache can be warmed from a shell:
``python tests/binfmt/elf_fixtures.py``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from fixtures.env import cache_root, toolchains_root

TOOLCHAINS = toolchains_root()
CACHE = cache_root() / "test-elf"
DEBIAN_GO119 = Path("/usr/lib/go-1.19")

PROGRAM = """package main

import "os"

type point struct{ x, y int }

var table = []point{{1, 2}, {3, 4}}

//go:noinline
func add(a, b int) int { return a + b }

//go:noinline
func fib(n int) int {
	if n < 2 {
		return n
	}
	return add(fib(n-1), fib(n-2))
}

func sum(ps []point) int {
	t := 0
	for _, p := range ps {
		t = add(t, p.x*p.y)
	}
	return t
}

func main() {
	println(fib(len(os.Args)+5), sum(table))
}
"""


@dataclass(frozen=True)
class Build:
    """One binary: toolchain version ('1.27', '1.19' = Debian), GOARCH and extra build flags."""

    toolchain: str = "1.27"
    goarch: str = "amd64"
    flags: tuple[str, ...] = ()
    cgo: bool = False

    @property
    def label(self) -> str:
        f = "_".join(x.strip("-").replace("=", "").replace(" ", "") for x in self.flags)
        return f"go{self.toolchain}-{self.goarch}" + (f"-{f}" if f else "")


def goroot(version: str) -> Path | None:
    if version == "1.19":
        return DEBIAN_GO119 if (DEBIAN_GO119 / "bin" / "go").exists() else None
    if TOOLCHAINS.is_dir():
        for d in sorted(TOOLCHAINS.iterdir()):
            if d.name.startswith(f"go{version}.") and (d / "go" / "bin" / "go").exists():
                return d / "go"
    return None


def build(b: Build) -> Path:
    """Path of the cached binary for ``b``; builds it when missing. Raises RuntimeError if impossible."""
    root = goroot(b.toolchain)
    if root is None:
        raise RuntimeError(f"no Go {b.toolchain} toolchain")
    key = hashlib.sha256(repr((PROGRAM, str(root), b)).encode()).hexdigest()[:16]
    out = CACHE / f"{b.label}-{key}"
    if out.exists():
        return out
    CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="symkeep-elf-") as td:
        src = Path(td)
        (src / "go.mod").write_text("module example.com/elftest\n\ngo 1.19\n")
        (src / "main.go").write_text(PROGRAM)
        env = dict(os.environ)
        env.update(
            GOROOT=str(root),
            GOTOOLCHAIN="local",
            GOFLAGS="-mod=mod",
            GOPROXY="off",
            GOOS="linux",
            GOARCH=b.goarch,
            CGO_ENABLED="1" if b.cgo else "0",
            GOWORK="off",
        )
        env.pop("GOPATH", None)
        if b.goarch == "arm":
            env["GOARM"] = "7"
        tmp_out = src / "out.bin"
        r = subprocess.run(
            [str(root / "bin" / "go"), "build", *b.flags, "-o", str(tmp_out), "."],
            cwd=src,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        if r.returncode != 0:
            raise RuntimeError(f"go build {b.label} failed: {r.stderr[-2000:]}")
        part = out.with_suffix(".part")
        shutil.copyfile(tmp_out, part)
        part.chmod(0o755)
        part.replace(out)
    return out


ALL = [
    Build(),
    Build(flags=("-ldflags=-s -w",)),
    Build(flags=("-buildmode=pie",)),
    Build(goarch="386"),
    Build(goarch="arm64"),
    Build(goarch="s390x"),
    Build(goarch="arm"),
    Build(goarch="ppc64le"),
    Build(goarch="riscv64"),
    Build(goarch="ppc64"),
    Build(goarch="mips"),
    Build(toolchain="1.19"),
    Build(flags=("-ldflags=-linkmode=external",), cgo=True),
    Build(flags=("-buildmode=c-shared",), cgo=True),
]

if __name__ == "__main__":
    for b in ALL if len(sys.argv) < 2 else [x for x in ALL if x.label in sys.argv[1:]]:
        try:
            print(b.label, build(b), flush=True)
        except RuntimeError as e:
            print(b.label, "FAILED", e, flush=True)
