"""Run the matrix: build every (toolchain, variant) in parallel, then measure and probe one at a time
(timings must not compete with builds), caching each result.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.error
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from symkeep.errors import SymkeepError
from symkeep.matrix import measure, probes
from symkeep.matrix.cache import MatrixCache, code_hash, default_cache_dir, key_of, source_hash
from symkeep.matrix.variants import Variant

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


@dataclass(eq=False)
class _Cell:
    tc_spec: str
    tc: Any  # Toolchain | None
    variant: Variant
    bkey: str = ""
    rkey: str = ""
    binary: Path | None = None
    build: dict[str, Any] = field(default_factory=dict)
    error: str = ""
    error_stage: str = ""
    result: dict[str, Any] | None = None
    cached: bool = False
    built_ldflags: str | None = None  # of the go build that made the binary (the base's, for post steps)


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
    from symkeep.build.toolchain import Toolchain, find_toolchains, get_toolchain

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
    cells: list[_Cell] = []
    for spec, tc, terr in tcs:
        keys: dict[str, str] = {}
        for v in variants:
            c = _Cell(spec, tc, v)
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
    by_tc: dict[str, dict[str, _Cell]] = {}
    for c in cells:
        by_tc.setdefault(c.tc_spec, {})[c.variant.name] = c
    need: list[_Cell] = []

    def _need(c: _Cell) -> None:
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

    def do_build(c: _Cell) -> None:
        try:
            _build_cell(c, src, cache, opts.goos, goarch)
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
            _post_cell(c, base, cache)
        finally:
            prog.advance("build", f"{c.tc_spec} {c.variant.name}")

    # ---- measure + probe phase (sequential: timings) -----------------------------------------------
    todo = [c for c in cells if c.result is None]
    prog.start("measure", len(todo))
    for c in todo:
        if c.error:
            c.result = _error_result(c)
            if c.error_stage == "build" and c.bkey:
                cache.store_result(c.rkey, c.result)
        else:
            tool, terr = pprof_tools.get(c.tc.version if c.tc else "", (None, "not built"))
            c.result = _measure_cell(c, cfg, opts, probe_names, tool, terr)
            if c.result.get("status") == "ok" or c.error_stage in ("build", "post"):
                cache.store_result(c.rkey, c.result)
        prog.advance("measure", f"{c.tc_spec} {c.variant.name}")

    _add_deltas(cells)
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


def _bin_name(src: Path) -> str:
    return "symkeep-demo" if src.name == "demo" else (src.name or "prog")


def _build_cell(c: _Cell, src: Path, cache: MatrixCache, goos: str, goarch: str) -> None:
    from symkeep.build.gobuild import build

    assert c.tc is not None
    d = cache.build_dir(c.bkey)
    out = d / _bin_name(src)
    meta = d / "build.json"
    if out.is_file() and meta.is_file():
        import json

        try:
            c.build = json.loads(meta.read_text())
            c.binary = out
            c.built_ldflags = c.variant.ldflags
            return
        except ValueError:
            pass
    v = c.variant
    try:
        res = build(c.tc, src, out, goos=goos, goarch=goarch, ldflags=v.ldflags, gcflags=v.gcflags,
                    buildmode=v.buildmode, trimpath=v.trimpath, cgo=v.cgo, extra_args=v.extra_args)
    except Exception as e:  # noqa: BLE001
        _fail(c, "build", "build failed", e)
        return
    c.binary = res.path
    c.built_ldflags = v.ldflags
    c.build = {"seconds": res.seconds, "cmd": list(res.cmd)}
    import json

    meta.write_text(json.dumps(c.build))


def _fail(c: _Cell, stage: str, what: str, e: Exception) -> None:
    """Record a failed build/post step on the cell; our own errors are worded for the user already."""
    detail = str(e) if isinstance(e, SymkeepError) else f"{type(e).__name__}: {e}"
    c.error, c.error_stage = f"{what}: {detail}", stage


def _post_cell(c: _Cell, base: _Cell | None, cache: MatrixCache) -> None:
    if c.error:
        return
    if base is None or base.binary is None:
        why = base.error if base is not None else f"base variant {c.variant.base!r} not selected"
        c.error, c.error_stage = f"base variant {c.variant.base} unavailable: {why}", "post"
        return
    d = cache.build_dir(c.bkey)
    d.mkdir(parents=True, exist_ok=True)
    out = d / base.binary.name
    t0 = time.monotonic()
    cmds: list[list[str]] = []
    try:
        tmp = d / (out.name + ".tmp")
        shutil.copy2(base.binary, tmp)
        post = c.variant.post
        if post == "strip":
            cmds.append(["strip", str(tmp)])
        elif post == "split":
            dbg = d / (out.name + ".debug")
            cmds += [
                ["objcopy", "--only-keep-debug", str(tmp), str(dbg)],
                ["strip", "--strip-debug", "--strip-unneeded", str(tmp)],
                ["objcopy", f"--add-gnu-debuglink={dbg}", str(tmp)],
            ]
        elif post == "restore":
            dbg = d / (out.name + ".debug")
            try:
                from symkeep.restore import restore_to_file  # type: ignore[attr-defined]
                from symkeep.symbolize import open_go_binary  # type: ignore[attr-defined]
            except ImportError as e:
                raise SymkeepError(f"symkeep restore not available yet: {e}") from e
            restore_to_file(open_go_binary(str(tmp)), dbg)
            cmds.append(["symkeep restore", str(tmp), "-o", str(dbg)])
            cmds.append(["objcopy", f"--add-gnu-debuglink={dbg}", str(tmp)])
        for cmd in cmds:
            if cmd[0] == "symkeep restore":
                continue
            r = subprocess.run(cmd, capture_output=True, text=True, cwd=d, timeout=300)
            if r.returncode != 0:
                raise SymkeepError(f"{' '.join(cmd)} failed: {r.stderr.strip()[:300]}")
        os.replace(tmp, out)
    except Exception as e:  # noqa: BLE001
        _fail(c, "post", f"post-build step {c.variant.post} failed", e)
        return
    c.binary = out
    c.built_ldflags = base.built_ldflags
    c.build = {"seconds": float(base.build.get("seconds", 0.0)) + time.monotonic() - t0,
               "cmd": [*base.build.get("cmd", []), *(" ".join(x) for x in cmds)]}
    dbg = d / (out.name + ".debug")
    if dbg.exists():
        c.build["debug_file"] = str(dbg)
        c.build["debug_file_size"] = dbg.stat().st_size


def _base_result(c: _Cell) -> dict[str, Any]:
    return {
        "toolchain": c.tc.version if c.tc is not None else c.tc_spec,
        "toolchain_spec": c.tc_spec,
        "variant": c.variant.name,
        "label": c.variant.label,
        "flags": c.variant.go_flags(),
        "post": c.variant.post,
    }


def _error_result(c: _Cell) -> dict[str, Any]:
    return {**_base_result(c), "status": "error", "stage": c.error_stage, "error": c.error}


def _measure_cell(c: _Cell, cfg: dict[str, Any], opts: MatrixOptions, probe_names: list[str],
                  pprof_tool: Path | None, pprof_err: str) -> dict[str, Any]:
    assert c.binary is not None and c.tc is not None
    r: dict[str, Any] = {**_base_result(c), "status": "ok", "binary": str(c.binary), "build": c.build}
    try:
        r["size"] = measure.size_breakdown(c.binary)
    except SymkeepError as e:
        r["size"] = {"error": str(e)}
    work = Path(tempfile.mkdtemp(prefix="symkeep-matrix-"))
    try:
        ctx = probes.ProbeContext(
            binary=c.binary, workdir=work, go=c.tc.go, pprof_tool=pprof_tool, pprof_tool_error=pprof_err,
            gdb_break=cfg["gdb_break"], gdb_args=cfg["gdb_args"] or [], panic_args=cfg["panic_args"],
            ldflags=c.built_ldflags, timeout=opts.probe_timeout,
        )
        r["runtime"] = _runtime(c, cfg, opts, ctx, work, "perf" in probe_names)
        r["probes"] = {name: probes.run_probe(name, ctx) for name in probe_names}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return r


def _runtime(c: _Cell, cfg: dict[str, Any], opts: MatrixOptions, ctx: probes.ProbeContext, work: Path,
             with_perf: bool) -> dict[str, Any]:
    """Start-up to a ready pprof endpoint, RSS, the runtime profile (+perf), CPU overhead of profiling."""
    assert c.binary is not None
    rt: dict[str, Any] = {}
    startups: list[float] = []
    rss: list[int] = []
    errors: list[str] = []
    for i in range(max(1, opts.repeat)):
        try:
            with measure.start_service(c.binary, cfg["run_args"], work, opts.startup_timeout) as run:
                assert run.ready_seconds is not None
                startups.append(run.ready_seconds)
                kb = run.peak_rss_kb()
                if kb:
                    rss.append(kb)
                if i == 0:
                    _profile_and_perf(run, ctx, work, with_perf)
        except TimeoutError as e:
            errors.append(str(e))
            ctx.profile_error = f"program never opened its pprof port: {e}"
            if with_perf:
                ctx.pid_perf = probes.Verdict("error", ctx.profile_error)
            break
    rt["startup_seconds"] = measure.summarize(startups)
    rt["rss_ready_kb"] = measure.summarize([float(x) for x in rss])
    if errors:
        rt["error"] = errors[0]
    wa = cfg["work_args"]
    if not wa:
        rt["cpu"] = {"error": "no benchmark command for this program (pass --work-args with {seconds})"}
        return rt
    secs = opts.profile_seconds
    base_args = [a.replace("{seconds}", f"{secs:g}") for a in wa]
    off: list[float] = []
    on: list[float] = []
    off_cpu: list[float] = []
    on_cpu: list[float] = []
    ovh: list[float] = []
    wrss: list[float] = []
    cmds: list[str] = []
    prof = work / "cpu.pprof"
    limit = secs * 5 + 30
    try:
        # Warm-up (page cache, CPU frequency), then alternate the order so drift does not bias one side.
        measure.run_work(c.binary, [a.replace("{seconds}", "0.1") for a in wa], work, limit)
        for i in range(max(1, opts.repeat)):
            order = (False, True) if i % 2 == 0 else (True, False)
            got: dict[bool, float] = {}
            for profiled in order:
                args = [*base_args, "-cpuprofile", str(prof)] if profiled else base_args
                ops, kb, cmd, per_cpu = measure.run_work(c.binary, args, work, limit)
                got[profiled] = per_cpu
                (on if profiled else off).append(ops)
                if not profiled:
                    wrss.append(float(kb))
                cmds.append(cmd)
            off_cpu.append(got[False])
            on_cpu.append(got[True])
            ovh.append(100.0 * (got[False] - got[True]) / got[False] if got[False] > 0 else 0.0)
    except (TimeoutError, RuntimeError, OSError) as e:
        rt["cpu"] = {"error": str(e)}
        return rt
    rt["cpu"] = {
        "seconds": secs,
        "ops_per_sec": measure.summarize(off),
        "ops_per_sec_profiled": measure.summarize(on),
        # Throughput per CPU second: what the overhead and the -l cost are computed from.
        "ops_per_cpu_sec": measure.summarize(off_cpu),
        "ops_per_cpu_sec_profiled": measure.summarize(on_cpu),
        "profile_overhead_pct": measure.summarize(ovh),
        "rss_work_kb": measure.summarize(wrss),
        "commands": cmds[:2],
    }
    return rt


def _profile_and_perf(run: measure.Running, ctx: probes.ProbeContext, work: Path, with_perf: bool) -> None:
    """Fetch a 1 s CPU profile from the program while perf samples it (both need it busy)."""
    perf_holder: dict[str, probes.Verdict] = {}
    th: threading.Thread | None = None
    if with_perf:
        def _perf() -> None:
            perf_holder["v"] = probes.perf_record_report(run.proc.pid, ctx.binary, work, 1.0, ctx.own_prefix,
                                                         ctx.timeout)
        th = threading.Thread(target=_perf, daemon=True)
        th.start()
    ctx.profile_url = f"{run.base_url}/debug/pprof/profile?seconds=1"
    try:
        ctx.profile = run.fetch("/debug/pprof/profile?seconds=1", timeout=30)
    except (urllib.error.URLError, OSError) as e:
        ctx.profile_error = f"fetching the profile failed: {e}"
    if th is not None:
        th.join(ctx.timeout + 5)
        ctx.pid_perf = perf_holder.get("v") or probes.Verdict("error", "perf did not finish")
    if ctx.profile is not None:
        try:
            ctx.addresses = _own_addresses(ctx.profile, ctx.binary, ctx.own_prefix)
        except SymkeepError as e:
            ctx.profile_error = f"profile unreadable: {e}"


def _own_addresses(data: bytes, binary: Path, prefix: str) -> list[int]:
    """File virtual addresses of leaf samples in our own functions (runtime PCs mapped back via PT_LOAD)."""
    from symkeep.matrix.pprofpb import parse_profile

    prof = parse_profile(data)
    maps = {int(m.get("id", 0)): m for m in prof.mappings}
    segs = _load_segments(binary)
    seen: list[int] = []
    for s in prof.samples:
        if not s:
            continue
        addr, mid, _ = prof.locations.get(s[0], (0, 0, []))
        frames = prof.frames(s[0])
        if not addr or not any(f[0].startswith(prefix) for f in frames):
            continue
        m = maps.get(mid)
        if m is None:
            continue
        off = addr - int(m.get("start", 0)) + int(m.get("offset", 0))
        va = next((off - o + v for o, v, fs in segs if o <= off < o + fs), None)
        if va is not None and va not in seen:
            seen.append(va)
        if len(seen) >= 6:
            break
    return seen


def _load_segments(binary: Path) -> list[tuple[int, int, int]]:
    """Loaded segments as (file offset, vaddr, file size): to turn runtime addresses into file vaddrs."""
    from symkeep.binfmt import open_binary

    with open_binary(binary) as b:
        return [(s.offset, s.vaddr, s.filesz) for s in b.segments() if s.load]


def _add_deltas(cells: list[_Cell]) -> None:
    """Size and throughput of each variant relative to ``default`` of the same toolchain."""
    ref: dict[str, dict[str, Any]] = {}
    for c in cells:
        if c.variant.name == "default" and c.result and c.result.get("status") == "ok":
            ref[c.tc_spec] = c.result
    for c in cells:
        r = c.result
        d = ref.get(c.tc_spec)
        if not r or r.get("status") != "ok" or d is None:
            continue
        try:
            base = d["size"]["file"]
            r["size"]["delta_vs_default_pct"] = 100.0 * (r["size"]["file"] - base) / base
            r["size"]["delta_vs_default_bytes"] = r["size"]["file"] - base
        except (KeyError, TypeError, ZeroDivisionError):
            pass
        try:
            a = r["runtime"]["cpu"]["ops_per_cpu_sec"]["median"]
            b = d["runtime"]["cpu"]["ops_per_cpu_sec"]["median"]
            r["runtime"]["cpu"]["throughput_vs_default_pct"] = 100.0 * (a - b) / b
        except (KeyError, TypeError, ZeroDivisionError):
            pass
