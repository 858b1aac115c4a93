"""Run the matrix: build every (toolchain, variant) in parallel, then measure and probe one at a time
(timings must not compete with builds), caching each result.

The pieces: ``cells`` (a cell's keys and result record), ``building`` (go build and post-build steps),
``running`` (timings, the runtime profile, probes of one built cell); this module orders them.
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from symkeep.errors import SymkeepError
from symkeep.matrix import probes
from symkeep.matrix.building import build_cell, post_cell
from symkeep.matrix.cache import MatrixCache, code_hash, default_cache_dir, key_of, source_hash
from symkeep.matrix.cells import Cell, add_deltas, error_result
from symkeep.matrix.running import measure_cell
from symkeep.matrix.variants import Variant

if TYPE_CHECKING:
    from symkeep.build.toolchain import Toolchain

__all__ = ["MatrixOptions", "Progress", "run_matrix"]

SCHEMA = "symkeep.matrix/1"


@dataclass
class MatrixOptions:
    """How to build, run and probe. ``package`` None means the bundled demo service."""

    package: Path | None = None
    go: Sequence[str] = ()
    variants: Sequence[Variant] = ()
    run_args: Sequence[str] | None = None
    work_args: Sequence[str] | None = None
    panic_args: Sequence[str] | None = None
    gdb_break: str | None = None
    gdb_args: Sequence[str] | None = None
    profile_seconds: float = 2.0
    repeat: int = 3
    jobs: int = 0
    startup_timeout: float = 20.0
    probe_timeout: float = 60.0
    cache: bool = True
    cache_dir: Path | None = None
    probes: Sequence[str] = ()
    goos: str = "linux"
    goarch: str = ""


@dataclass
class Progress:
    """Callbacks the CLI wires to a rich progress bar (no-ops by default)."""

    start: Callable[[str, int], None] = field(default=lambda phase, total: None)
    advance: Callable[[str, str], None] = field(default=lambda phase, what: None)


def _demo_defaults(opts: MatrixOptions) -> tuple[Path, dict[str, Any]]:
    if opts.package is None:
        from symkeep.demo import demo_source_dir

        src = demo_source_dir()
        d: dict[str, Any] = {
            "run_args": ["-addr", "127.0.0.1:0", "-busy"],
            "work_args": ["-work", "{seconds}s"],
            "panic_args": ["-panic"],
            "gdb_break": "main.crunch",
            "gdb_args": ["-work", "0.2s"],
        }
    else:
        src = Path(opts.package).resolve()
        d = {"run_args": [], "work_args": None, "panic_args": None, "gdb_break": "main.main", "gdb_args": None}
    for k in d:
        v = getattr(opts, k)
        if v is not None:
            d[k] = list(v) if isinstance(v, (list, tuple)) else v
    if d["gdb_args"] is None:
        d["gdb_args"] = d["run_args"]
    return src, d


def run_matrix(opts: MatrixOptions, progress: Progress | None = None) -> dict[str, Any]:
    """Build, measure and probe; returns the JSON-able report (every raw measurement and evidence)."""
    from symkeep.build.toolchain import find_toolchains, get_toolchain

    t_start = time.monotonic()
    prog = progress or Progress()
    src, cfg = _demo_defaults(opts)
    cache = MatrixCache(opts.cache_dir or default_cache_dir(), enabled=opts.cache)
    goarch = opts.goarch or _host_goarch()
    variants = list(opts.variants)
    probe_names = [p for p in (opts.probes or probes.PROBES) if p in probes.PROBES]

    errors: list[str] = []
    if not src.is_dir():
        errors.append(f"package directory {src} does not exist")
    shash = source_hash(src) if src.is_dir() else "missing"

    # Toolchains: a missing one is an error for its column only.
    specs = list(opts.go)
    if not specs:
        found = find_toolchains()
        specs = [found[-1].version] if found else ["go"]
    tcs: list[tuple[str, Toolchain | None, str]] = []
    for spec in specs:
        try:
            tcs.append((spec, get_toolchain(spec), ""))
        except SymkeepError as e:
            tcs.append((spec, None, str(e)))
        except Exception as e:  # noqa: BLE001
            tcs.append((spec, None, f"{type(e).__name__}: {e}"))

    measure_opts = {
        "run_args": cfg["run_args"], "work_args": cfg["work_args"], "panic_args": cfg["panic_args"],
        "gdb_break": cfg["gdb_break"], "gdb_args": cfg["gdb_args"], "profile_seconds": opts.profile_seconds,
        "repeat": opts.repeat, "probes": probe_names,
    }
    cells: list[Cell] = []
    for spec, tc, terr in tcs:
        keys: dict[str, str] = {}
        for v in variants:
            c = Cell(spec, tc, v)
            if tc is None:
                c.error, c.error_stage = f"toolchain unavailable: {terr}", "toolchain"
            elif errors:
                c.error, c.error_stage = errors[0], "source"
            else:
                base_key = keys.get(v.base or "", "")
                c.bkey = key_of(["build", tc.version, str(tc.goroot), shash, v.spec(), base_key,
                                 opts.goos, goarch])
                keys[v.name] = c.bkey
                c.rkey = key_of(["result", c.bkey, measure_opts, code_hash()])
                cached = cache.load_result(c.rkey)
                if cached is not None:
                    c.result, c.cached = cached, True
            cells.append(c)

    # ---- build phase (parallel) ---------------------------------------------------------------------
    jobs = opts.jobs or (os.cpu_count() or 1)
    by_tc: dict[str, dict[str, Cell]] = {}
    for c in cells:
        by_tc.setdefault(c.tc_spec, {})[c.variant.name] = c
    need: list[Cell] = []

    def _need(c: Cell) -> None:
        if c not in need and not c.error:
            b = by_tc[c.tc_spec].get(c.variant.base or "")
            if b is not None:
                _need(b)
            need.append(c)

    for c in cells:
        if c.result is None:
            _need(c)
    to_build = [c for c in need if c.variant.post is None]
    to_post = [c for c in need if c.variant.post is not None]  # bases come first in `need`
    pprof_tools: dict[str, tuple[Path | None, str]] = {}
    tool_tcs = {c.tc.version: c.tc for c in cells if c.tc is not None and c.result is None and not c.error}
    prog.start("build", len(to_build) + len(to_post) + len(tool_tcs))

    def do_build(c: Cell) -> None:
        try:
            build_cell(c, src, cache, opts.goos, goarch)
        finally:
            prog.advance("build", f"{c.tc_spec} {c.variant.name}")

    def do_tool(tc: Toolchain) -> None:
        from symkeep.build.toolchain import build_go_tool

        try:
            pprof_tools[tc.version] = (build_go_tool(tc, "pprof"), "")
        except Exception as e:  # noqa: BLE001
            pprof_tools[tc.version] = (None, f"go tool pprof unavailable for {tc.version}: {e}")
        finally:
            prog.advance("build", f"{tc.version} go tool pprof")

    with ThreadPoolExecutor(max_workers=max(1, min(jobs, 8))) as ex:
        futs = [ex.submit(do_build, c) for c in to_build]
        if "go_pprof" in probe_names:
            futs += [ex.submit(do_tool, tc) for tc in tool_tcs.values()]
        else:
            prog.advance("build", "")
        for f in futs:
            f.result()
    for c in to_post:
        base = by_tc[c.tc_spec].get(c.variant.base or "")
        try:
            post_cell(c, base, cache)
        finally:
            prog.advance("build", f"{c.tc_spec} {c.variant.name}")

    # ---- measure + probe phase (sequential: timings) -----------------------------------------------
    todo = [c for c in cells if c.result is None]
    prog.start("measure", len(todo))
    for c in todo:
        if c.error:
            c.result = error_result(c)
            if c.error_stage == "build" and c.bkey:
                cache.store_result(c.rkey, c.result)
        else:
            tool, terr = pprof_tools.get(c.tc.version if c.tc else "", (None, "not built"))
            c.result = measure_cell(c, cfg, repeat=opts.repeat, profile_seconds=opts.profile_seconds,
                                    startup_timeout=opts.startup_timeout, probe_timeout=opts.probe_timeout,
                                    probe_names=probe_names, pprof_tool=tool, pprof_err=terr)
            if c.result.get("status") == "ok" or c.error_stage in ("build", "post"):
                cache.store_result(c.rkey, c.result)
        prog.advance("measure", f"{c.tc_spec} {c.variant.name}")

    add_deltas(cells)
    results = []
    for c in cells:
        r = dict(c.result or {})
        r["cached"] = c.cached
        results.append(r)
    report: dict[str, Any] = {
        "schema": SCHEMA,
        "package": str(src),
        "demo": opts.package is None,
        "source_hash": shash,
        "host": {"machine": platform.machine(), "cpus": os.cpu_count(), "system": platform.system()},
        "target": f"{opts.goos}/{goarch}",
        "options": {**measure_opts, "jobs": jobs, "cache": opts.cache},
        "toolchains": [
            {"spec": s, "version": tc.version if tc else None, "goroot": str(tc.goroot) if tc else None,
             "error": e or None} for s, tc, e in tcs
        ],
        "variants": [{"name": v.name, "label": v.label, "flags": v.go_flags(), "post": v.post, "base": v.base}
                     for v in variants],
        "probes": {k: probes.PROBES[k][0] for k in probe_names},
        "results": results,
        "elapsed_seconds": time.monotonic() - t_start,
    }
    from symkeep.matrix.recommend import recommend

    report["recommendations"] = recommend(report)
    return report


def _host_goarch() -> str:
    m = platform.machine().lower()
    return {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64", "i686": "386",
            "riscv64": "riscv64", "ppc64le": "ppc64le", "s390x": "s390x"}.get(m, m)
