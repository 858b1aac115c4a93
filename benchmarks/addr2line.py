"""Benchmark: `symkeep addr2line -f -i` vs `go tool addr2line` vs `llvm-symbolizer --inlines`, same run.

The binary is the Go compiler (`cmd/compile`) built from the toolchain's own sources WITH DWARF (so
llvm-symbolizer has something to read; cached under ~/.cache/symkeep/bench/). N random text PCs
(default 1,000,000, inside functions) go through each tool's stdin; prints wall times, the ratios
ours/peer and a sanity check (outermost function names agree with go tool addr2line on a sample).
Goal: ours <= 1.0x go tool addr2line, while printing inline frames (go tool addr2line prints one).

    python benchmarks/addr2line.py [--toolchain 1.27] [--pcs 1000000] [--repeat 1]
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# benchmarks/ holds scripts named like stdlib modules (inspect.py): never import from it.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))


def run(cmd: list[str], inp: Path, out: Path) -> tuple[float, float]:
    """Wall time and children's CPU time of one run (stdin from a file, stdout to a file)."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    with inp.open("rb") as i, out.open("wb") as o:
        subprocess.run(cmd, stdin=i, stdout=o, stderr=subprocess.PIPE, check=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--toolchain", default="1.27")
    ap.add_argument("--pcs", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()

    from benchmarks.common import compile_with_dwarf
    from fixtures.factory import go_tool
    from symkeep.symbolize import open_go_binary

    binary = compile_with_dwarf(args.toolchain)
    gotool = go_tool(args.toolchain, "addr2line")
    g = open_go_binary(binary)
    ents = g.entries
    rng = random.Random(args.seed)
    # random PCs inside functions (pick a function, then an offset inside it)
    sizes = [int(ents[i + 1] - ents[i]) for i in range(g.nfunc)]
    funcs = [i for i, s in enumerate(sizes) if s > 0]
    pcs = []
    for _ in range(args.pcs):
        i = rng.choice(funcs)
        pcs.append(int(ents[i]) + rng.randrange(sizes[i]))
    g.close()
    tmp = Path(tempfile.mkdtemp(prefix="symkeep-a2l-"))
    inp = tmp / "pcs.txt"
    inp.write_text("".join(f"0x{p:x}\n" for p in pcs))
    print(f"binary: {binary} ({binary.stat().st_size >> 20} MiB, {g.nfunc:,} functions, with DWARF)")
    print(f"{len(pcs):,} random text PCs on stdin")
    tools = {
        "symkeep addr2line -f -i": [sys.executable, "-m", "symkeep", "addr2line", "-f", "-i", "-e", str(binary)],
        "go tool addr2line": [str(gotool), str(binary)],
        "llvm-symbolizer --inlines": ["llvm-symbolizer", "--inlines", f"--obj={binary}"],
    }
    res: dict[str, tuple[float, float]] = {}
    for name, cmd in tools.items():
        runs = [run(cmd, inp, tmp / (name.split()[0] + ".out")) for _ in range(args.repeat)]
        res[name] = min(runs)
        print(f"{name:28s} wall {res[name][0]:7.2f}s  cpu {res[name][1]:7.2f}s", flush=True)
    ours = res["symkeep addr2line -f -i"]
    for name in list(tools)[1:]:
        print(f"ratio ours/{name}: wall {ours[0] / res[name][0]:.2f}x  cpu {ours[1] / res[name][1]:.2f}x")
    print("goal: <= 1.00x go tool addr2line")
    # sanity: the outermost function of each PC (our last frame) equals go tool addr2line's function
    ours_out = (tmp / "symkeep.out").read_text().split("\n")
    go_out = (tmp / "go.out").read_text().split("\n")
    ins = (tmp / "llvm-symbolizer.out").read_text().count("\n")
    print(f"output lines: symkeep {len(ours_out) - 1:,}, go {len(go_out) - 1:,}, llvm-symbolizer {ins:,}")
    g2 = open_go_binary(binary)
    sample = pcs[:20000]
    outer = [c[-1].function if c else "?" for c in g2.lookup_chains(sample)]
    go_funcs = go_out[0:2 * len(sample):2]
    # PCs in the alignment bytes after a function's code are named too (??:0), as go names them (line -1)
    same = sum(1 for a, b in zip(outer, go_funcs, strict=True) if a == b)
    print(f"outermost function agreement with go tool addr2line on {len(outer):,} PCs: {same / max(len(outer), 1):.2%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
