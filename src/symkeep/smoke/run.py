"""`symkeep smoke`: start (or reach) the service, wait for /debug/pprof/, fetch CPU, heap, goroutine and
mutex profiles, judge them, and always stop what was started (timeouts, signals, the process group)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from symkeep.errors import InputError, UsageError
from symkeep.fsio import OutputTarget, atomic_write
from symkeep.smoke import endpoint, procs
from symkeep.smoke.profiles import KINDS, ProfileResult, analyze, fetch

__all__ = ["Check", "SmokeOptions", "SmokeReport", "smoke"]


@dataclass
class SmokeOptions:
    url: str | None = None
    cmd: Sequence[str] = ()
    seconds: float = 5.0
    min_named: float = 0.99
    timeout: float = 30.0  # for the endpoint to come up
    binary: str | None = None
    store: str | None = None
    grace: float = 3.0
    save_dir: str | None = None  # keep the fetched profiles here (KIND.pb.gz)


@dataclass
class Check:
    name: str
    status: str  # pass | fail | info | skip
    message: str

    def to_json(self) -> dict[str, str]:
        return {"name": self.name, "status": self.status, "message": self.message}


@dataclass
class SmokeReport:
    checks: list[Check] = field(default_factory=list)
    profiles: list[ProfileResult] = field(default_factory=list)
    url: str | None = None
    found_by: str = ""
    pid: int | None = None
    output_tail: str = ""

    def add(self, name: str, status: str, message: str) -> Check:
        c = Check(name, status, message)
        self.checks.append(c)
        return c

    @property
    def reason(self) -> str | None:
        """The first failure: the one clear reason smoke gives."""
        return next((c.message for c in self.checks if c.status == "fail"), None)

    @property
    def passed(self) -> bool:
        return self.reason is None

    def to_json(self) -> dict[str, Any]:
        return {"schema": "symkeep.smoke/1", "passed": self.passed, "reason": self.reason, "url": self.url,
                "found_by": self.found_by, "pid": self.pid, "checks": [c.to_json() for c in self.checks],
                "profiles": [p.to_json() for p in self.profiles]}

    def to_text(self) -> str:
        lines = [f"{c.status.upper() if c.status in ('pass', 'fail') else c.status}: {c.name}: {c.message}"
                 for c in self.checks]
        lines.append(f"symkeep smoke: {'passed' if self.passed else 'FAILED: ' + str(self.reason)}")
        return "\n".join(lines) + "\n"


class _Interrupted(BaseException):
    pass


@contextlib.contextmanager
def _signals_stop() -> Iterator[None]:
    """SIGTERM/SIGHUP/SIGINT raise in the main thread, so ``finally`` stops the process group."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        raise _Interrupted(signal.Signals(signum).name)

    old = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def _resolve(cmd0: str) -> str:
    p = cmd0 if os.sep in cmd0 else (shutil.which(cmd0) or "")
    if not p or not os.path.isfile(p):
        raise InputError(f"{cmd0}: no such program")
    if not os.access(p, os.X_OK):
        raise InputError(f"{cmd0}: not executable")
    return p


def _wait_endpoint(st: procs.Started, opts: SmokeOptions, rep: SmokeReport) -> str | None:
    cands = endpoint.candidates_from_config(list(opts.cmd[1:]), os.environ)
    deadline = time.monotonic() + opts.timeout
    refused: dict[str, str] = {}
    no_pprof: dict[str, int] = {}
    first_no_pprof: float | None = None
    elsewhere: set[str] = set()
    while time.monotonic() < deadline:
        code = st.exited()
        if code is not None and not procs.group_pids(st.pid):
            rep.output_tail = st.output()
            tail = _crash_summary(rep.output_tail)
            rep.add("endpoint", "fail", f"the program exited with status {code} before its pprof endpoint "
                                        f"answered: {tail}")
            return None
        found = list(cands)
        for ln in procs.listeners(procs.group_pids(st.pid) or [st.pid]):
            h = ln.connect_host
            if h is None:
                elsewhere.add(f"{ln.host}:{ln.port}")
                continue
            found.append(endpoint.Candidate(h if ":" not in h else f"[{h}]", ln.port,
                                            f"listener {ln.host}:{ln.port} of pid group {st.pid}"))
        for c in found:
            base = endpoint.url_for(c.host, c.port)
            if base in no_pprof:
                continue
            pr = endpoint.probe(base)
            if pr.status == 200:
                rep.found_by = c.source
                return base
            if pr.status is not None:
                no_pprof[base] = pr.status
                first_no_pprof = first_no_pprof or time.monotonic()
            else:
                refused[base] = pr.error
        if first_no_pprof is not None and time.monotonic() - first_no_pprof > 2.0:
            break
        time.sleep(0.05)
    if no_pprof:
        got = ", ".join(f"{u}/debug/pprof/ answered HTTP {s}" for u, s in no_pprof.items())
        msg = f"no pprof endpoint: {got} (import _ \"net/http/pprof\" and serve http.DefaultServeMux)"
    elif refused:
        msg = f"no pprof endpoint within {opts.timeout:g}s: " + "; ".join(f"{u}: {e}" for u, e in refused.items())
    else:
        msg = f"no pprof endpoint: the program opened no loopback TCP listener within {opts.timeout:g}s"
        if elsewhere:
            msg += f" (it listens on {', '.join(sorted(elsewhere))} only, which smoke does not contact)"
    rep.add("endpoint", "fail", msg)
    return None


def _crash_summary(out: str) -> str:
    """The line that says why a Go program died (panic/fatal error), else its last lines."""
    lines = [ln.strip() for ln in out.strip().splitlines() if ln.strip()]
    for ln in lines:
        if ln.startswith(("panic:", "fatal error:")):
            return ln[:300]
    return " | ".join(lines[-3:])[-300:] or "(no output)"


def _binary_ids(path: str) -> tuple[str | None, str | None, str | None]:
    from symkeep.binfmt import open_binary
    from symkeep.golang import buildid, buildinfo

    with open_binary(path) as b:
        bi = None
        with contextlib.suppress(Exception):
            bi = buildinfo.read_buildinfo(b)
        return buildid.gnu_build_id(b), buildid.go_build_id(b), (bi.path if bi is not None else None)


def _judge(rep: SmokeReport, opts: SmokeOptions, binary: str | None, module: str | None,
           ids: tuple[str | None, str | None]) -> None:
    for p in rep.profiles:
        if p.error:
            rep.add(f"profile {p.kind}", "fail", f"{p.kind} profile from {p.url}: {p.error}")
            continue
        frac = p.named_fraction
        if frac is None:
            rep.add(f"profile {p.kind}", "info", f"{p.kind} profile has no samples (nothing to judge)")
        elif frac + 1e-12 < opts.min_named:
            rep.add(f"profile {p.kind}", "fail", f"{p.kind} profile: {100 * frac:.1f}% of {p.samples} samples have "
                                                 f"names and lines, below --min-named {100 * opts.min_named:g}% "
                                                 f"(e.g. {p.unnamed_example})")
        else:
            rep.add(f"profile {p.kind}", "pass", f"{p.named}/{p.samples} samples named ({100 * frac:.1f}%)")
    if any(not p.error for p in rep.profiles):
        mains = sorted({n for p in rep.profiles for n in p.main_functions})
        if mains:
            rep.add("main module", "pass", f"main-module functions in the profiles: {', '.join(mains[:5])}")
        else:
            rep.add("main module", "fail", "no function of the main module (package main"
                    + (f" or {module}" if module else "") + ") in any profile")
        keys = sorted({k for p in rep.profiles for k in p.label_keys})
        rep.add("labels", "info", f"pprof label keys seen: {', '.join(keys) if keys else '(none)'}")
    if binary is None:
        return
    seen = {p.build_id for p in rep.profiles if p.build_id}
    gnu, go = ids
    if not seen:
        rep.add("build id", "info", "the profiles' mappings carry no build ID (Go < 1.24 without a GNU build-id)")
    elif seen & {x for x in (gnu, go) if x}:
        rep.add("build id", "pass", f"the running process is {binary} (build ID {next(iter(seen))})")
    else:
        rep.add("build id", "fail", f"the running process has build ID {', '.join(sorted(seen))}, {binary} has "
                                    f"{gnu or go}: not the binary that runs")
    if opts.store:
        from symkeep.policy.archive import ArchiveUnavailable, open_archive

        arch = open_archive(opts.store)
        try:
            recs = arch.lookup(gnu, go)
            ok = [r for r in recs if arch.verify(r) is None]
        except ArchiveUnavailable as e:
            rep.add("archived", "skip", f"skipped: {e}")
            return
        if ok:
            rep.add("archived", "pass", f"build {gnu or go} is archived in {arch.name} ({', '.join(r.kind for r in ok)})")
        else:
            rep.add("archived", "fail", f"build {gnu or go} of {binary} is not archived (verified) in {arch.name}")


def smoke(opts: SmokeOptions) -> SmokeReport:
    if bool(opts.url) == bool(opts.cmd):
        raise UsageError("give either --url URL or -- BIN ARGS...")
    if not 0.0 <= opts.min_named <= 1.0:
        raise UsageError(f"--min-named {opts.min_named}: a fraction between 0 and 1")
    if opts.seconds <= 0 or opts.timeout <= 0:
        raise UsageError("--seconds and --timeout must be positive")
    rep = SmokeReport()
    binary = opts.binary
    if binary is not None and not os.path.isfile(binary):
        raise InputError(f"{binary}: no such file")
    if opts.save_dir:
        OutputTarget.check(Path(opts.save_dir) / "cpu.pb.gz", parents=True)
    started: procs.Started | None = None
    tmp = tempfile.mkdtemp(prefix="symkeep-smoke-")
    try:
        with _signals_stop():
            if opts.cmd:
                exe = _resolve(opts.cmd[0])
                binary = binary or exe
                started = procs.start([exe, *opts.cmd[1:]], Path(tmp) / "output.log")
                rep.pid = started.pid
                base = _wait_endpoint(started, opts, rep)
            else:
                base = (opts.url or "").rstrip("/").removesuffix("/debug/pprof")
                pr = endpoint.probe(base)
                if pr.status == 200:
                    rep.found_by = "--url"
                else:
                    rep.add("endpoint", "fail", f"{pr.url}: " + (f"HTTP {pr.status}" if pr.status else pr.error))
                    base = None
            if base is None:
                return rep
            rep.url = base
            rep.add("endpoint", "pass", f"{base}/debug/pprof/ answers (found by {rep.found_by})")
            gnu = go = module = None
            if binary is not None:
                gnu, go, module = _binary_ids(binary)
            name = os.path.basename(binary) if binary else None
            with ThreadPoolExecutor(max_workers=len(KINDS)) as ex:
                futs = [ex.submit(fetch, base, k, opts.seconds, 30.0) for k in KINDS]
                for k, fu in zip(KINDS, futs, strict=True):
                    url, body = fu.result()
                    if isinstance(body, str):
                        rep.profiles.append(ProfileResult(k, url, error=body))
                    else:
                        rep.profiles.append(analyze(k, url, body, module, name))
                        if opts.save_dir:
                            atomic_write(Path(opts.save_dir) / f"{k}.pb.gz", body)
            if started is not None and started.exited() is not None:
                rep.add("process", "fail", f"the program exited with status {started.exited()} while profiled")
            _judge(rep, opts, binary, module, (gnu, go))
            return rep
    except _Interrupted as e:
        rep.add("interrupted", "fail", f"interrupted by {e}; stopped the program")
        return rep
    finally:
        if started is not None:
            started.stop(opts.grace)
            rep.output_tail = rep.output_tail or started.output(2000)
        shutil.rmtree(tmp, ignore_errors=True)
