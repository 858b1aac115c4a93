"""The `symkeep demo` run: build the bundled service in three variants, inspect each, symbolize the stripped one.

Library code (the CLI only renders :class:`DemoResult`); progress is reported through a :class:`Progress`
with real counts: packages compiled by ``go build -v`` per variant, reports made, addresses looked up.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from symkeep.build.toolchain import Toolchain
    from symkeep.inspect.report import InspectReport

__all__ = ["DEMO_VARIANTS", "DemoResult", "DemoVariant", "Progress", "binary_name", "default_out_dir", "run_demo"]

# (variant, -ldflags): the default build, DWARF dropped, symbol table and DWARF dropped.
DEMO_VARIANTS: tuple[tuple[str, str | None], ...] = (("default", None), ("-w", "-w"), ("-s -w", "-s -w"))


class Progress(Protocol):
    """Phase reporting (``symkeep.cli.render.Phases`` implements it)."""

    def start(self, label: str, total: int | None = None) -> None: ...

    def advance(self, n: int = 1, total: int | None = None, label: str | None = None) -> None: ...

    def done(self, note: str = "") -> None: ...


class _Silent:
    def start(self, label: str, total: int | None = None) -> None:
        pass

    def advance(self, n: int = 1, total: int | None = None, label: str | None = None) -> None:
        pass

    def done(self, note: str = "") -> None:
        pass


@dataclass
class DemoVariant:
    name: str  # the -ldflags spelled as a user types them ("default" for none)
    ldflags: str | None
    path: Path
    report: InspectReport


@dataclass
class DemoResult:
    toolchain: str  # "go1.27.3"
    out_dir: Path
    variants: list[DemoVariant] = field(default_factory=list)
    probe: list[dict[str, Any]] = field(default_factory=list)  # addr2line answers on the stripped build

    def to_json(self) -> dict[str, Any]:
        return {
            "toolchain": self.toolchain,
            "directory": str(self.out_dir),
            "variants": [{"variant": v.name, "ldflags": v.ldflags, "path": str(v.path), "report": v.report.to_json()}
                         for v in self.variants],
            "symkeep_addr2line_on_stripped": self.probe,
        }


def binary_name(variant: str) -> str:
    """``demo`` plus the variant's flags with '-' and ' ' as '_': ``demo``, ``demo_w``, ``demo_s_w``."""
    return "demo" if variant == "default" else "demo" + variant.replace(" ", "").replace("-", "_")


def default_out_dir(tc: Toolchain) -> Path:
    """``$SYMKEEP_CACHE/demo/<go version>`` (``~/.cache/symkeep/demo/go1.27.3``)."""
    from symkeep.build.toolchain import cache_root

    return cache_root() / "demo" / tc.version


def _count_packages(tc: Toolchain, src: Path) -> int | None:
    """How many packages the demo depends on (``go list -deps``): the build's progress total."""
    try:
        r = subprocess.run([str(tc.go), "list", "-deps", "."], cwd=src, env=tc.env(CGO_ENABLED="0"),
                           capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired):
        return None
    n = len(r.stdout.split())
    return n if r.returncode == 0 and n else None


def run_demo(tc: Toolchain, out_dir: Path | None = None, progress: Progress | None = None) -> DemoResult:
    from symkeep.build.gobuild import build
    from symkeep.demo import demo_source_dir
    from symkeep.inspect.report import inspect_path
    from symkeep.symbolize import open_go_binary

    pr: Progress = progress or _Silent()
    out_dir = out_dir or default_out_dir(tc)
    out_dir.mkdir(parents=True, exist_ok=True)
    src = demo_source_dir()
    res = DemoResult(tc.version, out_dir)
    ver = tc.version.removeprefix("go")
    total = _count_packages(tc, src)
    built: list[tuple[str, str | None, Path]] = []
    for name, ldflags in DEMO_VARIANTS:
        out = out_dir / binary_name(name)
        label = f"build {name} with Go {ver}" + (f" (-ldflags='{ldflags}')" if ldflags else "")
        pr.start(label, total)
        count = [0]

        def compiled(pkg: str, label: str = label, count: list[int] = count) -> None:
            count[0] += 1
            pr.advance(1, total=max(total or 0, count[0]), label=f"{label}: {pkg}")

        build(tc, src, out, ldflags=ldflags, on_package=compiled)
        pr.done(f"{out}, {count[0]} of {total or '?'} packages compiled, the others cached")
        built.append((name, ldflags, out))
    pr.start("inspect each variant", len(built))
    for name, ldflags, path in built:
        res.variants.append(DemoVariant(name, ldflags, path, inspect_path(str(path))))
        pr.advance(1)
    pr.done()
    stripped = built[-1][2]
    with open_go_binary(str(stripped)) as gob:
        mains = [f for f in gob.functions() if f.name.startswith("main.")][:3]
        pr.start(f"symbolize {len(mains)} addresses of the stripped build", len(mains))
        for fn in mains:
            frames = gob.lookup(fn.entry + min(8, max(fn.size - 1, 0)))
            res.probe.append({"address": f"{fn.entry + min(8, max(fn.size - 1, 0)):#x}",
                              "frames": [{"function": f.function, "file": f.file, "line": f.line} for f in frames]})
            pr.advance(1)
        pr.done()
    return res
