"""Probes: run a real tool on a built variant and decide from its output whether it still names the
program's own functions (``main.*``) and their lines.

Every verdict keeps its evidence: the command that ran and the output line that decided it.
Verdicts: ``ok`` (names and lines), ``partial`` (names only, or lines only), ``fail``, ``na`` (not
applicable to this program/variant), ``error`` (the probe itself could not run: the reason says why).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from symkeep.matrix.pprofpb import Profile

__all__ = ["PROBES", "ProbeContext", "Verdict", "run_probe"]

SYMBOLS = {"ok": "✓", "partial": "◐", "fail": "✗", "na": "–", "error": "!"}


@dataclass
class Verdict:
    status: str
    reason: str = ""
    command: str = ""
    line: str = ""

    def to_json(self) -> dict[str, str]:
        return asdict(self)


@dataclass
class ProbeContext:
    """What a probe may use. ``addresses`` are file virtual addresses of samples in our own functions
    (from the runtime profile), ``runtime_addresses`` the same PCs as the running process saw them."""

    binary: Path
    workdir: Path
    own_prefix: str = "main."
    go: Path | None = None
    pprof_tool: Path | None = None
    pprof_tool_error: str = ""
    profile: bytes | None = None
    profile_error: str = ""
    profile_url: str = ""
    addresses: list[int] = field(default_factory=list)
    pid_perf: Verdict | None = None  # perf runs while the service runs; the runner stores its verdict here
    gdb_break: str = "main.main"
    gdb_args: Sequence[str] = ()
    panic_args: Sequence[str] | None = None
    ldflags: str | None = None
    timeout: float = 60.0


def _run(cmd: Sequence[str], timeout: float, env: dict[str, str] | None = None,
         cwd: Path | None = None) -> tuple[int, str]:
    """Run a command; (exit status, stdout+stderr). Never raises for the tool failing."""
    try:
        r = subprocess.run(list(cmd), capture_output=True, timeout=timeout, env=env, cwd=cwd,
                           stdin=subprocess.DEVNULL, start_new_session=True)
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"") + (e.stderr or b"")
        return -1, f"(timed out after {timeout:g}s) " + out.decode(errors="replace")
    except OSError as e:
        return -2, f"cannot run {cmd[0]}: {e}"
    return r.returncode, (r.stdout + r.stderr).decode(errors="replace")


def _cmdline(cmd: Sequence[str]) -> str:
    return " ".join(shlex.quote(str(c)) for c in cmd)


_LINE_RE = re.compile(r"\.go:(\d+)")


def _judge_lines(lines: Sequence[str], prefix: str, cmd: str, what: str) -> Verdict:
    """✓ if a line names one of our functions and a .go:N>0; ◐ names only; ✗ otherwise."""
    name_re = re.compile(r"(?<![\w.])" + re.escape(prefix) + r"[\w.()*\[\]]+")
    name_only = ""
    for ln in lines:
        if name_re.search(ln):
            m = _LINE_RE.search(ln)
            if m and int(m.group(1)) > 0:
                return Verdict("ok", "", cmd, ln.strip())
            name_only = name_only or ln.strip()
    if name_only:
        return Verdict("partial", f"{what}: names but no line numbers", cmd, name_only)
    first = next((ln.strip() for ln in lines if ln.strip()), "(no output)")
    return Verdict("fail", f"{what}: no {prefix}* function named", cmd, first[:300])


def _empty_home() -> str:
    return tempfile.mkdtemp(prefix="symkeep-home-")


# ---- probes --------------------------------------------------------------------------------------------


def probe_runtime_pprof(ctx: ProbeContext) -> Verdict:
    cmd = f"GET {ctx.profile_url}" if ctx.profile_url else "GET /debug/pprof/profile"
    if ctx.profile is None:
        return Verdict("error", ctx.profile_error or "no profile fetched", cmd)
    from symkeep.matrix.pprofpb import parse_profile

    try:
        prof = parse_profile(ctx.profile)
    except Exception as e:  # noqa: BLE001 - any decode problem is this probe's verdict
        return Verdict("error", f"profile does not parse: {e}", cmd)
    lines = []
    for lid in prof.locations:
        for name, file, line in prof.frames(lid):
            lines.append(f"{name} {file}:{line}")
    if not prof.samples:
        return Verdict("fail", "profile has no samples (is the program busy?)", cmd, "")
    return _judge_lines(lines, ctx.own_prefix, cmd, "runtime profile")


def probe_go_pprof(ctx: ProbeContext) -> Verdict:
    """`go tool pprof -symbolize=local` on the runtime profile with every name removed.

    Judged against the runtime's own names for the same addresses (the in-process profile): on a
    stripped externally linked binary the tool names confidently and wrongly (FACTS §2a), so naming
    ``main.*`` with a line is not enough.
    """
    if ctx.pprof_tool is None:
        return Verdict("error", ctx.pprof_tool_error or "go tool pprof unavailable")
    if ctx.profile is None:
        return Verdict("error", f"needs the runtime profile: {ctx.profile_error}")
    from symkeep.matrix.pprofpb import parse_profile, strip_symbols

    raw = ctx.workdir / "unsymbolized.pb.gz"
    raw.write_bytes(strip_symbols(ctx.profile))
    out = ctx.workdir / "go-pprof.pb.gz"
    home = _empty_home()
    env = {**os.environ, "HOME": home, "PPROF_BINARY_PATH": home, "PPROF_TMPDIR": home}
    cmd = [str(ctx.pprof_tool), "-proto", "-symbolize=local", "-output", str(out), str(ctx.binary), str(raw)]
    rc, text = _run(cmd, ctx.timeout, env=env)
    shutil.rmtree(home, ignore_errors=True)
    if rc != 0 or not out.is_file():
        return Verdict("fail", f"go tool pprof exited {rc}", _cmdline(cmd), _first(text))
    try:
        got = parse_profile(out.read_bytes())
        truth = parse_profile(ctx.profile)
    except Exception as e:  # noqa: BLE001 - an unreadable answer is this probe's verdict
        return Verdict("error", f"go tool pprof wrote no readable profile: {e}", _cmdline(cmd))
    cmp = compare_to_runtime(truth, got, ctx.own_prefix)
    if cmp.total and cmp.right < MIN_AGREEMENT * cmp.total:
        return Verdict("fail", f"go tool pprof misattributes: it names {cmp.right} of {cmp.total} sampled "
                       "addresses as the runtime's own profile does (function and line)", _cmdline(cmd),
                       cmp.example)
    lines = [f"{n} {f}:{ln}" for lid in got.locations for n, f, ln in got.frames(lid)]
    v = _judge_lines(lines, ctx.own_prefix, _cmdline(cmd), "go tool pprof")
    agree = f"names {cmp.right} of {cmp.total} sampled addresses as the runtime's own profile does"
    v.reason = f"{v.reason}; {agree}" if v.reason else agree
    return v


# Share of sampled addresses a symbolizer must name as the runtime did (function and line) to count.
MIN_AGREEMENT = 0.95


@dataclass
class Agreement:
    total: int = 0
    right: int = 0
    example: str = ""  # the first disagreement, preferring one of the program's own functions


def compare_to_runtime(truth: Profile, got: Profile, prefix: str) -> Agreement:
    """Per location address: the tool's (outer function, innermost line) vs the runtime's frames.

    ``go tool pprof`` gives one frame per address (the physical function with the innermost line), so
    that is what is compared. Addresses the runtime itself could not name are skipped.
    """
    ours = {addr: lid for lid, (addr, _m, _l) in got.locations.items()}
    a = Agreement()
    other = ""
    for lid, (addr, _mid, lines) in sorted(truth.locations.items()):
        fr = truth.frames(lid)
        if not lines or not fr[-1][0]:
            continue
        want = (fr[-1][0], fr[0][2])
        gid = ours.get(addr)
        gf = got.frames(gid) if gid is not None else []
        have = (gf[-1][0], gf[0][2]) if gf else ("", 0)
        a.total += 1
        if have == want:
            a.right += 1
            continue
        said = f"{gf[-1][0]} {gf[0][1]}:{gf[0][2]}" if gf else "nothing"
        ev = (f"{addr:#x}: go tool pprof says {said}; the runtime said {fr[-1][0]} "
              f"{fr[0][1]}:{fr[0][2]}")
        if not a.example and fr[-1][0].startswith(prefix):
            a.example = ev
        other = other or ev
    a.example = a.example or other
    return a


def _addr_args(ctx: ProbeContext, n: int = 6) -> list[str]:
    return [hex(a) for a in ctx.addresses[:n]]


def probe_llvm_symbolizer(ctx: ProbeContext) -> Verdict:
    tool = shutil.which("llvm-symbolizer") or shutil.which("llvm-symbolizer-14")
    if tool is None:
        return Verdict("error", "llvm-symbolizer not on PATH")
    if not ctx.addresses:
        return Verdict("error", f"no sample addresses in {ctx.own_prefix}* ({ctx.profile_error or 'profile'})")
    home = _empty_home()
    cmd = [tool, "--inlining", "--no-demangle", f"--obj={ctx.binary}", *_addr_args(ctx)]
    rc, out = _run(cmd, ctx.timeout, env={**os.environ, "HOME": home})
    shutil.rmtree(home, ignore_errors=True)
    blocks = _pair_lines(out)
    return _judge_lines(blocks, ctx.own_prefix, _cmdline(cmd), "llvm-symbolizer")


def probe_addr2line(ctx: ProbeContext) -> Verdict:
    tool = shutil.which("addr2line")
    if tool is None:
        return Verdict("error", "binutils addr2line not on PATH")
    if not ctx.addresses:
        return Verdict("error", f"no sample addresses in {ctx.own_prefix}* ({ctx.profile_error or 'profile'})")
    cmd = [tool, "-f", "-i", "-e", str(ctx.binary), *_addr_args(ctx)]
    rc, out = _run(cmd, ctx.timeout)
    return _judge_lines(_pair_lines(out), ctx.own_prefix, _cmdline(cmd), "addr2line")


def _pair_lines(out: str) -> list[str]:
    """Join 'function\\nfile:line' pairs so a name and its line are judged together."""
    ls = [ln for ln in out.splitlines() if ln.strip()]
    return [f"{ls[i]} {ls[i + 1] if i + 1 < len(ls) else ''}" for i in range(0, len(ls), 2)]


def probe_symkeep_addr2line(ctx: ProbeContext) -> Verdict:
    if not ctx.addresses:
        return Verdict("error", f"no sample addresses in {ctx.own_prefix}* ({ctx.profile_error or 'profile'})")
    cmd = f"symkeep.symbolize.open_go_binary({ctx.binary}).lookup({', '.join(_addr_args(ctx))})"
    try:
        from symkeep.symbolize import open_go_binary  # type: ignore[attr-defined]
    except ImportError as e:
        return Verdict("error", f"symkeep.symbolize not available yet: {e}", cmd)
    try:
        gb = open_go_binary(str(ctx.binary))
        lines = []
        for a in ctx.addresses[:6]:
            frames = gb.lookup(a)
            for fr in frames:
                lines.append(f"{fr.function} {fr.file}:{fr.line}")
    except Exception as e:  # noqa: BLE001 - symkeep failing is the verdict, not a crash
        return Verdict("fail", f"symkeep lookup failed: {type(e).__name__}: {e}", cmd)
    return _judge_lines(lines, ctx.own_prefix, cmd, "symkeep addr2line")


def probe_nm(ctx: ProbeContext) -> Verdict:
    tool = shutil.which("nm")
    if tool is None:
        return Verdict("error", "nm not on PATH")
    cmd = [tool, str(ctx.binary)]
    rc, out = _run(cmd, ctx.timeout)
    name_re = re.compile(r"\s[TtWw]\s" + re.escape(ctx.own_prefix))
    for ln in out.splitlines():
        if name_re.search(ln):
            return Verdict("ok", "", _cmdline(cmd), ln.strip())
    return Verdict("fail", "nm lists none of our functions", _cmdline(cmd), _first(out))


def probe_gdb(ctx: ProbeContext) -> Verdict:
    tool = shutil.which("gdb")
    if tool is None:
        return Verdict("error", "gdb not on PATH")
    home = _empty_home()
    cmd = [
        tool, "-batch", "-nx",
        "-iex", "set debuginfod enabled off",
        "-iex", "set auto-load safe-path /",
        "-ex", "set pagination off",
        "-ex", "set breakpoint pending off",
        "-ex", f"break {ctx.gdb_break}",
        "-ex", "run",
        "-ex", "bt 6",
        "-ex", "kill",
        "--args", str(ctx.binary), *ctx.gdb_args,
    ]
    rc, out = _run(cmd, ctx.timeout, env={**os.environ, "HOME": home}, cwd=ctx.workdir)
    shutil.rmtree(home, ignore_errors=True)
    # gdb shows a symtab-only Go name as main[crunch]: normalize so the name is recognised.
    norm = re.sub(r"\b(\w+)\[(\w+)\]", r"\1.\2", out)
    bt = [ln for ln in norm.splitlines() if re.match(r"#\d+\s", ln) or ln.startswith("Breakpoint 1,")]
    if not bt:
        why = next((ln.strip() for ln in out.splitlines()
                    if "No symbol" in ln or "not defined" in ln or "no debugging symbols" in ln), _first(out))
        return Verdict("fail", "gdb could not break on our function", _cmdline(cmd), why)
    return _judge_lines(bt, ctx.own_prefix, _cmdline(cmd), "gdb bt")


def probe_panic(ctx: ProbeContext) -> Verdict:
    if ctx.panic_args is None:
        return Verdict("na", "no panic command for this program (pass --panic-args)")
    cmd = [str(ctx.binary), *ctx.panic_args]
    rc, out = _run(cmd, ctx.timeout, cwd=ctx.workdir)
    lines = out.splitlines()
    joined = [f"{lines[i].strip()} {lines[i + 1].strip()}" for i in range(len(lines) - 1)
              if lines[i].startswith(ctx.own_prefix)]
    if "panic:" not in out and "goroutine" not in out:
        return Verdict("fail", f"no Go stack trace printed (exit {rc})", _cmdline(cmd), _first(out))
    return _judge_lines(joined, ctx.own_prefix, _cmdline(cmd), "panic trace")


def probe_debuginfod(ctx: ProbeContext) -> Verdict:
    tool = shutil.which("readelf")
    if tool is None:
        return Verdict("error", "readelf not on PATH")
    cmd = [tool, "-n", "-W", str(ctx.binary)]
    rc, out = _run(cmd, ctx.timeout)
    for ln in out.splitlines():
        if "Build ID:" in ln:
            return Verdict("ok", "", _cmdline(cmd), ln.strip())
    return Verdict("fail", "no GNU build-id note: debuginfod cannot index it", _cmdline(cmd),
                   next((ln.strip() for ln in out.splitlines() if "NT_GNU" in ln or "Go" in ln), _first(out)))


def probe_buildinfo(ctx: ProbeContext) -> Verdict:
    if ctx.go is None:
        return Verdict("error", "no go toolchain for `go version -m`")
    cmd = [str(ctx.go), "version", "-m", str(ctx.binary)]
    rc, out = _run(cmd, ctx.timeout, env={**os.environ, "GOTOOLCHAIN": "local"})
    if rc != 0:
        return Verdict("fail", "go version -m found no build info", _cmdline(cmd), _first(out))
    settings = [ln.strip() for ln in out.splitlines() if ln.strip().startswith("build\t")]
    ld = next((s for s in settings if s.startswith("build\t-ldflags=")), "")
    if ctx.ldflags:
        if ld:
            return Verdict("ok", "", _cmdline(cmd), ld)
        trim = next((s for s in settings if "-trimpath" in s), "")
        return Verdict("partial", "build info does not record the -ldflags used", _cmdline(cmd),
                       trim or (settings[0] if settings else _first(out)))
    return Verdict("ok", "", _cmdline(cmd), settings[0] if settings else _first(out))


def probe_perf(ctx: ProbeContext) -> Verdict:
    # perf has to sample the running program, so the runner runs it and stores the verdict.
    return ctx.pid_perf or Verdict("error", "perf did not run (the program was not running)")


def perf_record_report(pid: int, binary: Path, workdir: Path, seconds: float, prefix: str,
                       timeout: float) -> Verdict:
    """``perf record -e cpu-clock -p PID`` then ``perf report``, with HOME empty (no ~/.debug cache)."""
    tool = shutil.which("perf")
    if tool is None:
        return Verdict("error", "perf not on PATH")
    home = _empty_home()
    env = {**os.environ, "HOME": home}
    data = workdir / "perf.data"
    rec = [tool, "record", "-q", "-e", "cpu-clock", "-F", "999", "-p", str(pid), "-o", str(data),
           "--", "sleep", f"{seconds:g}"]
    rc, out = _run(rec, timeout, env=env)
    if rc != 0 or not data.exists():
        shutil.rmtree(home, ignore_errors=True)
        return Verdict("error", f"perf record failed (exit {rc}): {_first(out)}", _cmdline(rec), _first(out))
    rep = [tool, "report", "-i", str(data), "--stdio", "--no-children", "--sort", "sym", "--percent-limit", "0.5"]
    rc, out = _run(rep, timeout, env=env)
    shutil.rmtree(home, ignore_errors=True)
    cmd = _cmdline(rec) + " && " + _cmdline(rep)
    if rc != 0:
        return Verdict("error", f"perf report failed (exit {rc})", cmd, _first(out))
    rows = [ln for ln in out.splitlines() if "%" in ln and not ln.lstrip().startswith("#")]
    for ln in rows:
        if re.search(r"\]\s+" + re.escape(prefix), ln):
            return Verdict("ok", "", cmd, ln.strip())
    return Verdict("fail", f"perf report names none of our functions ({len(rows)} rows)", cmd,
                   rows[0].strip() if rows else _first(out))


def _first(out: str) -> str:
    return next((ln.strip() for ln in out.splitlines() if ln.strip()), "(no output)")[:300]


# Probe name -> (column title, function). Order = report column order.
PROBES: dict[str, tuple[str, Callable[[ProbeContext], Verdict]]] = {
    "runtime_pprof": ("runtime pprof", probe_runtime_pprof),
    "panic": ("panic trace", probe_panic),
    "go_pprof": ("go tool pprof", probe_go_pprof),
    "symkeep_addr2line": ("symkeep addr2line", probe_symkeep_addr2line),
    "llvm_symbolizer": ("llvm-symbolizer", probe_llvm_symbolizer),
    "addr2line": ("addr2line", probe_addr2line),
    "nm": ("nm", probe_nm),
    "perf": ("perf", probe_perf),
    "gdb": ("gdb", probe_gdb),
    "debuginfod": ("debuginfod", probe_debuginfod),
    "buildinfo": ("build info flags", probe_buildinfo),
}


def run_probe(name: str, ctx: ProbeContext) -> dict[str, Any]:
    """Run one probe; a crash inside a probe becomes an ``error`` verdict, never a traceback."""
    fn = PROBES[name][1]
    try:
        v = fn(ctx)
    except Exception as e:  # noqa: BLE001
        v = Verdict("error", f"probe crashed: {type(e).__name__}: {e}")
    return v.to_json()
