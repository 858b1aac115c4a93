"""Benchmark: full-table decode of a Go binary with > 100k functions (every line table and inline tree).

Generates a stdlib-only Go program (``--packages`` packages x ``--funcs`` ``//go:noinline`` functions,
each calling inlinable helpers so inline trees exist, plus a few standard-library packages), builds it
once with the toolchain (cached under ~/.cache/symkeep/bench/), then, in a fresh subprocess, decodes
every function (``table``: ``GoBinary.decode_all``, every line,
file and inline table and every inline chain into one numpy RangeTable; ``bulk`` (= ``api``):
``ranges()`` + ``sp_deltas()`` of every function as PCRange/Frame objects, as restore walks them,
served by the same whole-binary table after the first functions) and reports CPU time, wall time and peak RSS
(``resource.getrusage``). Goals (for ``table``, the issue's "all functions, all line tables, all
inline trees"): < 15 s and < 1 GB peak RSS.

    python benchmarks/fulldecode.py [--toolchain 1.27] [--packages 25] [--funcs 4000] [--binary PATH]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# benchmarks/ holds scripts named like stdlib modules (inspect.py): never import from it.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

_FUNC = """
//go:noinline
func F{i}(x int) int {{
\ty := mix(x, {i})
\tif y > {m} {{
\t\treturn clamp(y, {i}) + sq(x)
\t}}
\treturn y*3 + {i}
}}
"""

_HELPERS = """package {pkg}

func mix(a, b int) int {{ return (a ^ b) + a>>3 }}

func clamp(a, b int) int {{
\tif a > b {{
\t\treturn b
\t}}
\treturn mix(a, 7)
}}

func sq(a int) int {{ return a * a }}
"""

_MAIN = """package main

import (
\t"encoding/json"
\t"fmt"
\t"net/http"
\t"os"
\t"regexp"
\t"text/template"

{imports}
)

var all = [][]func(int) int{{
{tables}
}}

func main() {{
\tn := len(os.Args)
\ts := 0
\tfor _, t := range all {{
\t\ts += t[n%len(t)](n)
\t}}
\tif n > 5 {{
\t\tb, _ := json.Marshal(s)
\t\t_, _ = http.Get(string(b))
\t\t_ = regexp.MustCompile(string(b))
\t\t_ = template.Must(template.New("x").Parse(string(b)))
\t}}
\tfmt.Println(s)
}}
"""


def generate(dst: Path, packages: int, funcs: int) -> None:
    """Write the program: module example.com/big, packages p0..pN-1 with ``funcs`` functions each."""
    dst.mkdir(parents=True, exist_ok=True)
    (dst / "go.mod").write_text("module example.com/big\n\ngo 1.21\n")
    imports, tables = [], []
    for k in range(packages):
        pkg = f"p{k}"
        d = dst / pkg
        d.mkdir(exist_ok=True)
        (d / "helpers.go").write_text(_HELPERS.format(pkg=pkg))
        per_file = 500
        for f0 in range(0, funcs, per_file):
            body = [f"package {pkg}\n"]
            body += [_FUNC.format(i=i, m=i % 97) for i in range(f0, min(f0 + per_file, funcs))]
            (d / f"f{f0 // per_file}.go").write_text("".join(body))
        names = ", ".join(f"F{i}" for i in range(funcs))
        (d / "table.go").write_text(f"package {pkg}\n\nvar Funcs = []func(int) int{{{names}}}\n")
        imports.append(f'\t"example.com/big/{pkg}"')
        tables.append(f"\t{pkg}.Funcs,")
    (dst / "main.go").write_text(_MAIN.format(imports="\n".join(imports), tables="\n".join(tables)))


def build_big(version: str, packages: int, funcs: int) -> Path:
    from benchmarks.common import bench_cache
    from fixtures.factory import toolchain

    tc = toolchain(version)
    key = hashlib.sha256(f"{tc.version}|{packages}|{funcs}|{_FUNC}|{_HELPERS}|{_MAIN}".encode()).hexdigest()[:12]
    out = bench_cache() / f"big-{tc.version}-{packages}x{funcs}-{key}"
    if out.is_file():
        return out
    src = bench_cache() / f"src-{key}"
    generate(src, packages, funcs)
    tmp = out.with_name(out.name + f".tmp{os.getpid()}")
    t0 = time.perf_counter()
    env = tc.env(GOFLAGS="-mod=mod", CGO_ENABLED="0")
    subprocess.run([str(tc.go), "build", "-p", "2", "-o", str(tmp), "."], cwd=src, env=env, check=True)
    os.replace(tmp, out)
    print(f"built {out.name} in {time.perf_counter() - t0:.0f}s", file=sys.stderr)
    return out


_CHILD = r"""
import json, resource, sys, time
from symkeep.symbolize import open_go_binary
mode, path = sys.argv[1], sys.argv[2]
w0, c0 = time.perf_counter(), time.process_time()
g = open_go_binary(path)
nr = nsp = nfr = 0
if mode == "table":
    import numpy as np
    t = g.decode_all()
    known = t.chain >= 0
    nr = int(known.sum())
    c = t.chain[known]
    nfr = int((t.cols.off[c + 1] - t.cols.off[c]).sum())
else:  # "bulk"/"api": the public per-function calls (ranges() switches to the shared table)
    for i in range(g.nfunc):
        rs = g.ranges(i)
        nr += len(rs)
        nsp += len(g.sp_deltas(i))
        for r in rs:
            nfr += len(r.frames)
cpu, wall = time.process_time() - c0, time.perf_counter() - w0
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"nfunc": g.nfunc, "ranges": nr, "sp": nsp, "frames": nfr, "cpu": cpu, "wall": wall,
                  "rss": rss}))
"""


def measure(binary: Path, mode: str) -> dict[str, float]:
    res = subprocess.run([sys.executable, "-c", _CHILD, mode, str(binary)], capture_output=True, text=True,
                         check=True, cwd=ROOT)
    return json.loads(res.stdout)  # type: ignore[no-any-return]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--toolchain", default="1.27")
    ap.add_argument("--packages", type=int, default=25)
    ap.add_argument("--funcs", type=int, default=4000)
    ap.add_argument("--binary", default=None, help="Decode this binary instead of building the generated one.")
    ap.add_argument("--modes", default="table,bulk")
    args = ap.parse_args()
    binary = Path(args.binary) if args.binary else build_big(args.toolchain, args.packages, args.funcs)
    print(f"binary: {binary} ({binary.stat().st_size >> 20} MiB)")
    for mode in args.modes.split(","):
        r = measure(binary, mode)
        label = {"table": "decode_all() (numpy RangeTable)", "bulk": "ranges()+sp_deltas() per function (objects)",
                 "api": "ranges()+sp_deltas() per function (objects)"}[mode]
        ok = "OK" if r["cpu"] < 15 and r["rss"] < 1 << 30 else "MISSED"
        verdict = f"(goal < 15 s, < 1024 MiB: {ok})" if mode == "table" else "(for reference: Python objects)"
        print(f"{label}: {r['nfunc']:,} functions, {r['ranges']:,} ranges, {r['frames']:,} frames, "
              f"{r['sp']:,} sp ranges: cpu {r['cpu']:.2f}s wall {r['wall']:.2f}s "
              f"peak RSS {r['rss'] / 2**20:.0f} MiB  {verdict}")
    print("(the table splits a range where the inline index changes but the chain does not, so it can "
          "count a few more ranges than the object modes, which merge by chain)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
