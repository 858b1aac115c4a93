"""Run one built cell: start-up to a ready pprof endpoint, RSS, a runtime CPU profile fetched while perf
samples the program, CPU profiling overhead of the benchmark command, then every probe.

Cells run one at a time (after all builds): the timings must not compete with builds or each other.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import urllib.error
from pathlib import Path
from typing import Any

from symkeep.errors import SymkeepError
from symkeep.matrix import measure, probes
from symkeep.matrix.cells import Cell, base_result

__all__ = ["RunConfig", "measure_cell", "own_addresses"]

RunConfig = dict[str, Any]  # run_args, work_args, panic_args, gdb_break, gdb_args (see runner)


def measure_cell(c: Cell, cfg: RunConfig, *, repeat: int, profile_seconds: float, startup_timeout: float,
                 probe_timeout: float, probe_names: list[str], pprof_tool: Path | None,
                 pprof_err: str) -> dict[str, Any]:
    """The cell's result record: size breakdown, runtime measurements and one verdict per probe."""
    assert c.binary is not None and c.tc is not None
    r: dict[str, Any] = {**base_result(c), "status": "ok", "binary": str(c.binary), "build": c.build}
    try:
        r["size"] = measure.size_breakdown(c.binary)
    except SymkeepError as e:
        r["size"] = {"error": str(e)}
    work = Path(tempfile.mkdtemp(prefix="symkeep-matrix-"))
    try:
        ctx = probes.ProbeContext(
            binary=c.binary, workdir=work, go=c.tc.go, pprof_tool=pprof_tool, pprof_tool_error=pprof_err,
            gdb_break=cfg["gdb_break"], gdb_args=cfg["gdb_args"] or [], panic_args=cfg["panic_args"],
            ldflags=c.built_ldflags, timeout=probe_timeout,
        )
        r["runtime"] = _runtime(c.binary, cfg, ctx, work, "perf" in probe_names, repeat=repeat,
                                profile_seconds=profile_seconds, startup_timeout=startup_timeout)
        r["probes"] = {name: probes.run_probe(name, ctx) for name in probe_names}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return r


def _runtime(binary: Path, cfg: RunConfig, ctx: probes.ProbeContext, work: Path, with_perf: bool, *,
             repeat: int, profile_seconds: float, startup_timeout: float) -> dict[str, Any]:
    """Start-up to a ready pprof endpoint, RSS, the runtime profile (+perf), CPU overhead of profiling."""
    rt: dict[str, Any] = {}
    startups: list[float] = []
    rss: list[int] = []
    errors: list[str] = []
    for i in range(max(1, repeat)):
        try:
            with measure.start_service(binary, cfg["run_args"], work, startup_timeout) as run:
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
    rt["cpu"] = _cpu_overhead(binary, wa, work, repeat, profile_seconds)
    return rt


def _cpu_overhead(binary: Path, wa: list[str], work: Path, repeat: int, secs: float) -> dict[str, Any]:
    """Throughput of the benchmark command with and without ``-cpuprofile``, alternating the order."""
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
        measure.run_work(binary, [a.replace("{seconds}", "0.1") for a in wa], work, limit)
        for i in range(max(1, repeat)):
            order = (False, True) if i % 2 == 0 else (True, False)
            got: dict[bool, float] = {}
            for profiled in order:
                args = [*base_args, "-cpuprofile", str(prof)] if profiled else base_args
                ops, kb, cmd, per_cpu = measure.run_work(binary, args, work, limit)
                got[profiled] = per_cpu
                (on if profiled else off).append(ops)
                if not profiled:
                    wrss.append(float(kb))
                cmds.append(cmd)
            off_cpu.append(got[False])
            on_cpu.append(got[True])
            ovh.append(100.0 * (got[False] - got[True]) / got[False] if got[False] > 0 else 0.0)
    except (TimeoutError, RuntimeError, OSError) as e:
        return {"error": str(e)}
    return {
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
            ctx.addresses = own_addresses(ctx.profile, ctx.binary, ctx.own_prefix)
        except SymkeepError as e:
            ctx.profile_error = f"profile unreadable: {e}"


def own_addresses(data: bytes, binary: Path, prefix: str, limit: int = 6) -> list[int]:
    """Link-time addresses of leaf samples in our own functions, for the tools that take addresses.

    The runtime profile holds run-time addresses (PIE binaries load anywhere); the profile layer's
    one translation rule (``profile.mapping.Translator``) maps them back through the program headers.
    """
    from symkeep.binfmt import open_binary
    from symkeep.matrix.pprofpb import parse_profile
    from symkeep.profile.mapping import Translator

    prof = parse_profile(data)
    seen: list[int] = []
    with open_binary(binary) as b:
        translators = {int(m.get("id", 0)): Translator(b, int(m.get("start", 0)), int(m.get("limit", 0)),
                                                       int(m.get("offset", 0))) for m in prof.mappings}
        for s in prof.samples:
            if not s:
                continue
            addr, mid, _ = prof.locations.get(s[0], (0, 0, []))
            if not addr or not any(f[0].startswith(prefix) for f in prof.frames(s[0])):
                continue
            t = translators.get(mid)
            va = t.to_link(addr) if t is not None else None
            if va is not None and va not in seen:
                seen.append(va)
            if len(seen) >= limit:
                break
    return seen
