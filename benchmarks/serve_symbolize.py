"""`symkeep serve --workers 2`: POST /symbolize under load, then 100 builds through a small engine LRU.

Phase 1: the demo service built `-s -w` (the stripped binary), archived in a temp store; the service runs
with `-busy` while its handlers are driven, and its own /debug/pprof/profile is fetched (a real CPU profile
of the stripped binary); every Function and Line and the has_* flags are dropped, so the server must
symbolize it all. 16 concurrent clients (`wrk -t2 -c16` with a Lua script posting the body) for
`--seconds`; printed: requests/s, p50/p99 latency, errors (non-2xx + socket errors, must be 0), and the
server's RSS (sum over its processes, from /proc every second): first vs last sample (must be flat).

Phase 2: the hello fixture linked 100 times with `-ldflags=-X main.x=N` (100 distinct build IDs, cached
under bench_cache()), archived, served with `--max-engines 8` and `SYMKEEP_ENGINE_CACHE_BYTES=8M`;
`POST /addr2line` of 300 text addresses cycles through the 100 builds (4 client threads) for
`--seconds2`. The RSS bound is stated up front: the parent's RSS + per worker, its RSS with one engine open
+ (8 cached engines + 2 more that in-flight requests may still hold after eviction, one per API job) x
(file size + 1.5 x 8 MiB: the decode cache bound plus the interning tables, forgotten when they alone fill
half of it); printed with the max sampled RSS (must stay under), and the max of each half (flat).

    python -m benchmarks.serve_symbolize [--seconds 60] [--seconds2 60] [--profile-seconds 20]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from benchmarks.common import ROOT, bench_cache

MIB = 1 << 20


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DEBUGINFOD_", "SYMKEEP_SERVER"))}
    env["PYTHONPATH"] = str(ROOT / "src")
    env.update(extra)
    return env


def _symkeep(*args: str) -> str:
    r = subprocess.run([sys.executable, "-m", "symkeep", *args], capture_output=True, text=True, env=_env())
    if r.returncode:
        raise SystemExit(f"symkeep {' '.join(args[:3])}: {r.stderr.strip()}")
    return r.stdout


class Server:
    """`symkeep serve --workers N` on a free port; RSS of the parent and its workers from /proc."""

    def __init__(self, store: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "symkeep", "serve", "--store", str(store), "--listen",
                                      "127.0.0.1:0", "--no-upstream", "--no-ui", *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env or _env())
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        m = re.search(r"listening on (\S+)", line)
        if not m:
            self.stop()
            raise SystemExit(f"serve did not start: {line!r}")
        self.url = m.group(1)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=5):
                    return
            except OSError:
                time.sleep(0.2)
        raise SystemExit("serve never became healthy")

    def pids(self) -> list[int]:
        kids = []
        for task in Path(f"/proc/{self.proc.pid}/task").glob("*"):
            with contextlib.suppress(OSError):
                kids += [int(x) for x in (task / "children").read_text().split()]
        return [self.proc.pid, *kids]

    def rss(self) -> tuple[int, list[int]]:
        per = []
        for pid in self.pids():
            try:
                for ln in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if ln.startswith("VmRSS:"):
                        per.append(int(ln.split()[1]) * 1024)
            except OSError:
                pass
        return sum(per), per

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


class Sampler(threading.Thread):
    def __init__(self, srv: Server, every: float = 1.0) -> None:
        super().__init__(daemon=True)
        self.srv, self.every = srv, every
        self.samples: list[tuple[int, list[int]]] = []
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.is_set():
            self.samples.append(self.srv.rss())
            self.halt.wait(self.every)


def _post(url: str, body: bytes, timeout: float = 120) -> tuple[int, bytes]:
    req = urllib.request.Request(url, data=body, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


# -- phase 1 ------------------------------------------------------------------------------------------------
def demo_stripped(tc_version: str) -> Path:
    from fixtures.factory import toolchain
    from symkeep.build.gobuild import build
    from symkeep.demo import demo_source_dir

    tc = toolchain(tc_version)
    out = bench_cache() / f"demo-{tc.version}-s-w"
    if not out.is_file():
        tmp = out.with_name(out.name + f".tmp{os.getpid()}")
        build(tc, demo_source_dir(), tmp, ldflags="-s -w")
        os.replace(tmp, out)
    return out


def raw_profile(binary: Path, seconds: int, tmp: Path) -> tuple[bytes, int]:
    """The demo's own CPU profile (runtime/pprof over HTTP) while its handlers are driven, names dropped."""
    from symkeep.profile.pprof import parse_profile, serialize_profile

    exe = tmp / "demo"
    exe.write_bytes(binary.read_bytes())
    exe.chmod(0o755)
    p = subprocess.Popen([str(exe), "-addr", "127.0.0.1:0", "-busy"], stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout is not None
        base = re.search(r"http://[^/\s]+", p.stdout.readline())
        assert base, "demo did not start"
        url = base.group(0)
        stop = threading.Event()

        def drive(seed: int) -> None:  # every handler and pprof endpoint: many distinct code paths
            rnd = random.Random(seed)
            paths = ["/crunch?seed=%d&rounds=%d", "/hash", "/healthz", "/nope", "/debug/pprof/",
                     "/debug/pprof/goroutine?debug=1", "/debug/pprof/goroutine?debug=2", "/debug/pprof/heap?debug=1",
                     "/debug/pprof/allocs", "/debug/pprof/mutex?debug=1", "/debug/pprof/block", "/debug/pprof/cmdline",
                     "/debug/pprof/symbol", "/debug/pprof/trace?seconds=0.2", "/debug/pprof/threadcreate?debug=1"]
            while not stop.is_set():
                path = rnd.choice(paths)
                data = None
                if path.startswith("/crunch"):
                    path = path % (rnd.randrange(99), rnd.randrange(1, 20000))
                elif path in ("/hash", "/debug/pprof/symbol"):
                    data = rnd.randbytes(rnd.randrange(1, 200_000)) if path == "/hash" else b"0x401000+0x402000"
                try:
                    with urllib.request.urlopen(urllib.request.Request(url + path, data=data), timeout=10) as r:
                        r.read()
                except OSError:
                    pass

        th = [threading.Thread(target=drive, args=(k,), daemon=True) for k in range(3)]
        for t in th:
            t.start()
        with urllib.request.urlopen(f"{url}/debug/pprof/profile?seconds={seconds}", timeout=seconds + 60) as r:
            data = r.read()
        stop.set()
    finally:
        p.terminate()
        p.wait()
    prof = parse_profile(data)
    for loc in prof.location:
        del loc.line[:]
    del prof.function[:]
    for m in prof.mapping:
        m.has_functions = m.has_filenames = m.has_line_numbers = m.has_inline_frames = False
    return serialize_profile(prof), len(prof.location)


WRK_LUA = """
wrk.method = "POST"
local f = io.open("{body}", "rb")
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/octet-stream"
"""


def _ms(text: str) -> float:
    m = re.match(r"([\d.]+)(us|ms|s)", text)
    assert m, text
    return float(m.group(1)) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[m.group(2)]


def phase1(args: argparse.Namespace, tmp: Path) -> bool:
    binary = demo_stripped(args.toolchain)
    body, nloc = raw_profile(binary, args.profile_seconds, tmp)
    store = tmp / "store1"
    _symkeep("archive", "--store", str(store), "--no-synthesize", str(binary))
    (tmp / "body.pb.gz").write_bytes(body)
    srv = Server(store, "--workers", "2", "--api-jobs", "2")
    ok = True
    try:
        st, out = _post(srv.url + "/symbolize?report=json", body)
        import json

        rep = json.loads(out)["report"]
        print(f"phase 1: demo -s -w ({binary.stat().st_size / MIB:.1f} MB), raw CPU profile of "
              f"{args.profile_seconds} s: {nloc} locations, {len(body)} bytes gzip'd; server names "
              f"{rep['with_names']}/{rep['locations']} ({rep['symbolized']} symbolized)")
        lua = tmp / "post.lua"
        lua.write_text(WRK_LUA.format(body=tmp / "body.pb.gz"))
        for _ in range(4):  # warm both workers (each opens the engine once)
            _post(srv.url + "/symbolize", body)
        sampler = Sampler(srv)
        sampler.start()
        r = subprocess.run(["wrk", "-t2", "-c16", f"-d{args.seconds}s", "--latency", "--timeout", "60s",
                            "-s", str(lua), srv.url + "/symbolize"], capture_output=True, text=True)
        sampler.halt.set()
        sampler.join()
        out_s = r.stdout
        rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out_s).group(1))  # type: ignore[union-attr]
        p50 = _ms(re.search(r"50%\s+(\S+)", out_s).group(1))  # type: ignore[union-attr]
        p99 = _ms(re.search(r"99%\s+(\S+)", out_s).group(1))  # type: ignore[union-attr]
        total = int(re.search(r"(\d+) requests in", out_s).group(1))  # type: ignore[union-attr]
        non2xx = int(m.group(1)) if (m := re.search(r"Non-2xx or 3xx responses: (\d+)", out_s)) else 0
        sock = sum(int(x) for x in re.findall(r"(?:connect|read|write|timeout) (\d+)", out_s))
        errors = non2xx + sock
        first, last = sampler.samples[0][0], sampler.samples[-1][0]
        peak = max(s for s, _ in sampler.samples)
        print(f"  16 clients x {args.seconds} s: {total} requests, {rps:.1f} req/s, p50 {p50:.1f} ms, "
              f"p99 {p99:.1f} ms, errors {errors}")
        print(f"  server RSS (parent + {len(sampler.samples[0][1]) - 1} workers): first {first / MIB:.0f} MB, "
              f"last {last / MIB:.0f} MB, max {peak / MIB:.0f} MB over {len(sampler.samples)} samples")
        flat = last <= first * 1.10 + 20 * MIB
        ok = errors == 0 and st == 200 and flat
        if not flat:
            print("  FAIL: RSS grew")
        if errors:
            print("  FAIL: errors\n" + out_s)
    finally:
        srv.stop()
    return ok


# -- phase 2 ------------------------------------------------------------------------------------------------
def hello_builds(n: int, tc_version: str) -> list[Path]:
    from fixtures.factory import toolchain
    from symkeep.build.gobuild import build

    tc = toolchain(tc_version)
    src = ROOT / "tests" / "fixtures" / "programs" / "hello"
    d = bench_cache() / f"hello-x-{tc.version}"
    d.mkdir(parents=True, exist_ok=True)
    outs = [d / f"hello-{k}" for k in range(n)]
    todo = [(k, o) for k, o in enumerate(outs) if not o.is_file()]

    def one(item: tuple[int, Path]) -> None:
        k, out = item
        tmp = out.with_name(out.name + f".tmp{os.getpid()}")
        build(tc, src, tmp, ldflags=f"-s -w -X main.x={k}")
        os.replace(tmp, out)

    if todo:
        print(f"  building {len(todo)} hello variants (cached afterwards) ...", flush=True)
        with concurrent.futures.ThreadPoolExecutor(2) as ex:  # at most 2 Go builds at once
            list(ex.map(one, todo))
    return outs


def phase2(args: argparse.Namespace, tmp: Path) -> bool:
    from symkeep.binfmt import open_binary
    from symkeep.golang.buildid import build_ids
    from symkeep.symbolize import open_go_binary

    bins = hello_builds(100, args.toolchain)
    ids = [build_ids(open_binary(b)).gnu for b in bins]
    assert all(ids) and len(set(ids)) == 100, "100 distinct GNU build IDs expected"
    store = tmp / "store2"
    _symkeep("archive", "--store", str(store), "--no-synthesize", *map(str, bins))
    gob = open_go_binary(bins[0])
    fns = [f for f in gob.functions() if f.end > f.entry]
    rnd = random.Random(3)
    body = "".join(f"{rnd.randrange(f.entry, f.end):#x}\n" for f in (rnd.choice(fns) for _ in range(300))).encode()
    max_engines, cache = 8, 8 * MIB
    env = _env(SYMKEEP_ENGINE_CACHE_BYTES=str(cache))
    srv = Server(store, "--workers", "2", "--max-engines", str(max_engines), env=env)
    ok = True
    try:
        for _w in range(4):  # one engine open in each worker: the per-worker base
            _post(f"{srv.url}/addr2line?build_id={ids[0]}", body)
        time.sleep(0.5)
        _, per = srv.rss()
        fsize = max(b.stat().st_size for b in bins)
        base_w = max(per[1:])
        jobs = 2  # --api-jobs default
        per_engine = fsize + cache * 3 // 2
        bound = per[0] + (len(per) - 1) * (base_w + (max_engines + jobs) * per_engine)
        print(f"phase 2: 100 builds of hello ({fsize / MIB:.1f} MB each, 100 distinct build IDs), --max-engines "
              f"{max_engines}, engine cache {cache // MIB} MiB")
        print(f"  RSS bound: parent {per[0] / MIB:.0f} MB + {len(per) - 1} x (worker with one engine "
              f"{base_w / MIB:.0f} MB + ({max_engines} + {jobs}) x ({fsize / MIB:.1f} MB file + 1.5 x "
              f"{cache // MIB} MiB cache)) = {bound / MIB:.0f} MB")
        sampler = Sampler(srv, 0.5)
        sampler.start()
        stop = time.monotonic() + args.seconds2
        counter = [0, 0]
        lock = threading.Lock()

        def client(c: int) -> None:
            k = c * 25
            while time.monotonic() < stop:
                st, out = _post(f"{srv.url}/addr2line?build_id={ids[k % 100]}&functions=1&inlines=1", body)
                with lock:
                    counter[0] += 1
                    counter[1] += st != 200 or out.count(b"\n") < 600
                k += 1

        th = [threading.Thread(target=client, args=(c,)) for c in range(4)]
        for t in th:
            t.start()
        for t in th:
            t.join()
        sampler.halt.set()
        sampler.join()
        peak = max(s for s, _ in sampler.samples)
        half = len(sampler.samples) // 2
        first_half = max(s for s, _ in sampler.samples[:half])
        second_half = max(s for s, _ in sampler.samples[half:])
        print(f"  {counter[0]} requests over {args.seconds2} s ({counter[0] / args.seconds2:.1f} req/s; "
              f"each build asked {counter[0] / 100:.1f} times, cycling through 8 engine slots per worker), errors {counter[1]}")
        print(f"  max RSS {peak / MIB:.0f} MB (bound {bound / MIB:.0f} MB); max in first half "
              f"{first_half / MIB:.0f} MB, second half {second_half / MIB:.0f} MB")
        ok = peak < bound and counter[1] == 0 and second_half <= first_half * 1.10 + 20 * MIB
        if not ok:
            print("  FAIL")
    finally:
        srv.stop()
    return ok


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=60)
    ap.add_argument("--seconds2", type=int, default=60)
    ap.add_argument("--profile-seconds", type=int, default=20)
    ap.add_argument("--toolchain", default="1.27")
    ap.add_argument("--phase", choices=["1", "2", "both"], default="both")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="symkeep-bench-serve-sym-") as t:
        tmp = Path(t)
        ok = True
        if args.phase in ("1", "both"):
            ok &= phase1(args, tmp)
        if args.phase in ("2", "both"):
            ok &= phase2(args, tmp)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
