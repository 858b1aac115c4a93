"""`symkeep serve` vs elfutils `debuginfod` serving the same files, measured with `wrk` on loopback.

Files: the Go compiler (`cmd/compile`) built WITH DWARF, split by `symkeep split` (objcopy) into a
stripped executable and its debug file, whose DWARF is then decompressed (24 MB) and given a 4,096-byte
section `.bench4k` (objcopy `--add-section`; no section of a Go binary is near 4 KB). Both servers get the
same two files (elfutils scans the directory; symkeep archives it). GET: `wrk -t2 -c64 -dNs --latency
--timeout 30s`; HEAD: `ab -i -k -c64 -t N` (wrk waits for a body after HEAD and never completes one).
Printed: requests/s, p50/p99 latency, MB/s, errors (non-2xx and socket errors) and the ratio
symkeep/debuginfod. elfutils answers HEAD with 400 (its errors are printed, no ratio). Then a soak of
100,000 small GETs (`ab -n 100000`) against symkeep with the RSS of all its processes sampled every 0.25 s.

    python -m benchmarks.serve [--duration 5] [--workers 1 --workers 2] [--soak 100000]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from benchmarks.common import ROOT, bench_cache, compile_with_dwarf


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(url: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=10) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.3)
    raise SystemExit(f"not ready: {url}")


def _size(text: str) -> float:
    m = re.match(r"([\d.]+)([KMG]?B)", text)
    if not m:
        return 0.0
    return float(m.group(1)) * {"B": 1, "KB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30}[m.group(2)]


def _ms(text: str) -> float:
    m = re.match(r"([\d.]+)(us|ms|s)", text)
    if not m:
        return float("nan")
    return float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]


def wrk(url: str, duration: int, conns: int, lua: str | None = None, env: dict[str, str] | None = None
        ) -> dict[str, float]:
    cmd = ["wrk", "-t2", f"-c{conns}", f"-d{duration}s", "--latency", "--timeout", "30s"]
    tmp = None
    if lua:
        fd, tmp = tempfile.mkstemp(suffix=".lua")
        os.write(fd, lua.encode())
        os.close(fd)
        cmd += ["-s", tmp]
    try:
        out = subprocess.run([*cmd, url], capture_output=True, text=True, env=env, timeout=duration + 600).stdout
    finally:
        if tmp:
            os.unlink(tmp)
    res = {"rps": 0.0, "mbs": 0.0, "p50": float("nan"), "p99": float("nan"), "errors": 0.0, "requests": 0.0}
    for line in out.splitlines():
        s = line.strip()
        if s.startswith("Requests/sec:"):
            res["rps"] = float(s.split()[1])
        elif s.startswith("Transfer/sec:"):
            res["mbs"] = _size(s.split()[1]) / (1 << 20)
        elif s.startswith("50%"):
            res["p50"] = _ms(s.split()[1])
        elif s.startswith("99%"):
            res["p99"] = _ms(s.split()[1])
        elif s.startswith("Non-2xx or 3xx responses:"):
            res["errors"] += float(s.split(":")[1])
        elif s.startswith("Socket errors:"):
            res["errors"] += sum(float(x) for x in re.findall(r"\d+", s))
        elif "requests in" in s:
            res["requests"] = float(s.split()[0])
    return res


def ab(url: str, conns: int, *, duration: int | None = None, count: int | None = None, head: bool = False
       ) -> dict[str, float]:
    """ApacheBench (keep-alive): the one load tool here that completes HEAD requests."""
    cmd = ["ab", "-q", "-k", "-c", str(conns), "-s", "60"]
    if head:
        cmd.append("-i")
    cmd += ["-t", str(duration), "-n", "100000000"] if duration else ["-n", str(count)]
    out = subprocess.run([*cmd, url], capture_output=True, text=True, timeout=(duration or 600) + 600).stdout
    res = {"rps": 0.0, "mbs": 0.0, "p50": float("nan"), "p99": float("nan"), "errors": 0.0, "requests": 0.0}
    for line in out.splitlines():
        s = line.strip()
        if s.startswith("Requests per second:"):
            res["rps"] = float(s.split()[3])
        elif s.startswith("Transfer rate:"):
            res["mbs"] = float(s.split()[2]) / 1024
        elif s.startswith("50%"):
            res["p50"] = float(s.split()[1])
        elif s.startswith("99%"):
            res["p99"] = float(s.split()[1])
        elif s.startswith(("Failed requests:", "Non-2xx responses:")):
            res["errors"] += float(s.split(":")[1].split()[0])
        elif s.startswith("Complete requests:"):
            res["requests"] = float(s.split(":")[1])
    return res


def _rss_tree(pid: int) -> int:
    """Resident bytes of a process and its children (the workers)."""
    total = 0
    pids = [pid]
    with contextlib.suppress(OSError):
        pids += [int(x) for x in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            pass
    return total


SECTION = ".bench4k"


def prepare() -> tuple[Path, Path, str, str]:
    """(stripped, debug file, GNU build-id, the 4 KB section's name), cached under bench_cache()/serve."""
    big = compile_with_dwarf("1.27")
    files = bench_cache() / "serve"
    files.mkdir(exist_ok=True)
    exe, dbg = files / "compile", files / "compile.debug"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    if not dbg.is_file():
        split_dbg = files / "compile.split.debug"
        subprocess.run([sys.executable, "-m", "symkeep", "split", str(big), "-o", str(exe), "--debug-out",
                        str(split_dbg)], check=True, env=env)
        blob = files / "bench4k.bin"
        blob.write_bytes(os.urandom(4096))
        tmp = files / "compile.debug.tmp"
        subprocess.run(["objcopy", "--decompress-debug-sections", f"--add-section={SECTION}={blob}",
                        str(split_dbg), str(tmp)], check=True)
        os.replace(tmp, dbg)
        split_dbg.unlink()
        blob.unlink()
    out = subprocess.run(["readelf", "-n", str(dbg)], capture_output=True, text=True, check=True).stdout
    bid = out.split("Build ID:", 1)[1].split()[0]
    return exe, dbg, bid, SECTION


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=int, default=5)
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--workers", type=int, action="append")
    ap.add_argument("--rounds", type=int, default=2,
                    help="measure each (object, method, server) this many times, interleaved; report the best")
    ap.add_argument("--soak", type=int, default=100_000, help="requests in the RSS soak (0: none)")
    args = ap.parse_args()
    for tool in ("wrk", "ab", "debuginfod", "objcopy"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} not installed (scripts/install-system-deps.sh)")
    workers = args.workers or [1, 2]
    work = Path(tempfile.mkdtemp(prefix="symkeep-bench-serve-"))
    procs: list[subprocess.Popen[str]] = []
    try:
        exe, dbg, bid, section = prepare()
        files = work / "files"
        files.mkdir()
        for f in (exe, dbg):
            os.link(f, files / f.name) if os.stat(f).st_dev == os.stat(files).st_dev else shutil.copy2(f, files)
        sec_size = len(subprocess.run(["objcopy", f"--dump-section={section}=/dev/stdout", str(dbg), "/dev/null"],
                                      capture_output=True, check=True).stdout)
        print(f"files: debug file {dbg.stat().st_size / 1e6:.1f} MB (DWARF uncompressed), section {section} "
              f"({sec_size} bytes), build-id {bid}")
        env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
        env.pop("DEBUGINFOD_URLS", None)
        store = work / "store"
        subprocess.run([sys.executable, "-m", "symkeep", "archive", "--store", str(store), "--no-synthesize",
                        str(files)], check=True, env=env, capture_output=True)
        port = _free_port()
        elf = subprocess.Popen(["debuginfod", "-p", str(port), "-d", str(work / "db.sqlite"), "-F", str(files)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True)
        procs.append(elf)
        servers = {"debuginfod": f"http://127.0.0.1:{port}"}
        _wait(f"{servers['debuginfod']}/buildid/{bid}/debuginfo")
        sym: dict[str, subprocess.Popen[str]] = {}
        for w in workers:
            p = subprocess.Popen([sys.executable, "-m", "symkeep", "serve", "--store", str(store), "--listen",
                                  "127.0.0.1:0", "--workers", str(w), "--no-upstream"], stdout=subprocess.PIPE,
                                 stderr=subprocess.DEVNULL, text=True, env=env)
            procs.append(p)
            assert p.stdout is not None
            url = p.stdout.readline().split("listening on ", 1)[1].split()[0]
            name = f"symkeep ({w} worker{'s' if w > 1 else ''})"
            servers[name] = url
            sym[name] = p
            _wait(f"{url}/buildid/{bid}/debuginfo")
        cases = [("4 KB section", f"/buildid/{bid}/section/{section}"),
                 (f"{dbg.stat().st_size / 1e6:.0f} MB debuginfo", f"/buildid/{bid}/debuginfo")]
        load0 = os.getloadavg()[0]
        rows = []
        for label, path in cases:
            for method in ("GET", "HEAD"):
                best: dict[str, dict[str, float]] = {}
                for _ in range(args.rounds):  # interleaved: a burst of load from elsewhere hits every server
                    for name, url in servers.items():
                        r = (ab(url + path, args.connections, duration=args.duration, head=True) if method == "HEAD"
                             else wrk(url + path, args.duration, args.connections))
                        if name not in best or r["rps"] > best[name]["rps"]:
                            best[name] = r
                base = best["debuginfod"]
                for name in servers:
                    rows.append((label, method, name, best[name], base))
        print(f"\nGET: wrk -t2 -c{args.connections} -d{args.duration}s; HEAD: ab -k -c{args.connections} "
              f"-t{args.duration}; best of {args.rounds} interleaved rounds; loopback, 2 cores shared with the "
              f"load generator; 1-min load average at the start {load0:.1f}, at the end {os.getloadavg()[0]:.1f}")
        print(f"{'object':<16} {'method':<6} {'server':<22} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'MB/s':>9} "
              f"{'errors':>7}  ratio req/s, MB/s")
        for label, method, name, r, base in rows:
            ratio = ""
            if name != "debuginfod" and base and base["rps"] and not base["errors"]:
                ratio = f"{r['rps'] / base['rps']:.2f}x, {r['mbs'] / base['mbs']:.2f}x" if base["mbs"] else \
                    f"{r['rps'] / base['rps']:.2f}x"
            elif name != "debuginfod":
                ratio = "(debuginfod failed this case)"
            print(f"{label:<16} {method:<6} {name:<22} {r['rps']:>9.0f} {r['p50']:>8.2f} {r['p99']:>8.2f} "
                  f"{r['mbs']:>9.1f} {int(r['errors']):>7}  {ratio}")
        if args.soak <= 0:
            return
        # soak: N small GETs against the last symkeep configuration, RSS sampled
        name = list(sym)[-1]
        url = servers[name]
        p = sym[name]
        samples: list[int] = []
        done = threading.Event()

        def sample() -> None:
            while not done.is_set():
                samples.append(_rss_tree(p.pid))
                time.sleep(0.25)

        th = threading.Thread(target=sample)
        th.start()
        t0 = time.monotonic()
        r = ab(url + cases[0][1], args.connections, count=args.soak)
        secs = time.monotonic() - t0
        done.set()
        th.join()
        mb = [x / 1e6 for x in samples] or [0.0]
        q = max(1, len(mb) // 4)
        print(f"\nsoak: {int(r['requests'])} GETs of the 4 KB section to {name} in {secs:.1f} s "
              f"({r['rps']:.0f} req/s), errors {int(r['errors'])}; RSS of all its processes: first quarter max "
              f"{max(mb[:q]):.1f} MB, last quarter max {max(mb[-q:]):.1f} MB, peak {max(mb):.1f} MB "
              f"({len(mb)} samples) -> {'flat' if max(mb[-q:]) <= max(mb[:q]) * 1.1 + 5 else 'GROWING'}")
    finally:
        for pr in procs:
            if pr.poll() is None:
                os.kill(pr.pid, signal.SIGTERM)
                try:
                    pr.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.kill(pr.pid, signal.SIGKILL)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
