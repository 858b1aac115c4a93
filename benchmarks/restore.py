"""Benchmark `symkeep restore` on the largest Go binary at hand.

Usage: python -m benchmarks.restore [BINARY] [--twin UNSTRIPPED]

Default BINARY: the `compile` tool of the newest toolchain under ~/.cache/symkeep/toolchains (a
stripped Go release binary, >10k functions). Prints wall time, peak RSS (this process; restore runs
in-process) and the debug file's size per section; with --twin (or for the default, a `-w`-less
rebuild is not attempted) compares with the DWARF the toolchain wrote for the same program.
"""

from __future__ import annotations

import os
import sys

# benchmarks/ holds scripts named like stdlib modules (inspect.py): keep them off sys.path.
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != os.path.dirname(os.path.abspath(__file__))]

import argparse  # noqa: E402
import glob  # noqa: E402
import resource  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402


def _default_binary() -> Path:
    cands = sorted(glob.glob(os.path.expanduser("~/.cache/symkeep/toolchains/go*/go/pkg/tool/linux_amd64/compile")))
    if not cands:
        sys.exit("no compile tool found; pass a binary")
    return Path(cands[-1])


def _dwarf_size(path: Path) -> tuple[int, int]:
    """(stored bytes, uncompressed bytes) of the .debug_* sections of ``path`` (+ .symtab/.strtab)."""
    from elftools.elf.elffile import ELFFile

    stored = raw = 0
    with open(path, "rb") as fh:
        ef = ELFFile(fh)
        for s in ef.iter_sections():
            if s.name.startswith(".debug_") or s.name in (".symtab", ".strtab"):
                stored += s["sh_size"]
                raw += s.data_size if hasattr(s, "data_size") else s["sh_size"]
    return stored, raw


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("binary", nargs="?", type=Path)
    ap.add_argument("--twin", type=Path, help="unstripped build of the same program (DWARF size to compare)")
    ap.add_argument("--out", type=Path, default=Path("/tmp/symkeep-restore-bench.debug"))
    a = ap.parse_args()
    binary = a.binary
    if binary is None:
        # Same program both ways: the compile tool built from source with DWARF (the twin), and its
        # `strip`ped copy (what we restore from).
        import subprocess

        sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
        from benchmarks.common import compile_with_dwarf

        a.twin = compile_with_dwarf("1.27")
        binary = a.out.with_name("compile-stripped")
        subprocess.run(["strip", "-o", str(binary), str(a.twin)], check=True)
    from symkeep.restore import restore_result
    from symkeep.symbolize import open_go_binary

    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    gob = open_go_binary(binary)
    nfunc = len(gob.functions())
    res = restore_result(gob)
    t1 = time.perf_counter()
    res2 = restore_result(open_go_binary(binary))
    t2 = time.perf_counter()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    a.out.write_bytes(res.data)
    print(f"binary          {binary} ({binary.stat().st_size / 1e6:.1f} MB, {nfunc} functions, {res.arch})")
    print(f"restore time    {t1 - t0:.2f} s (second run {t2 - t1:.2f} s), deterministic={res.data == res2.data}")
    print(f"peak RSS        {rss / 1024:.0f} MB (before: {rss0 / 1024:.0f} MB)")
    print(f"debug file      {len(res.data) / 1e6:.2f} MB -> {a.out}")
    print(f"                {res.line_rows} line rows, {res.inlined} inlined calls, {res.units} units")
    for name, size in sorted(res.sections.items(), key=lambda kv: -kv[1]):
        print(f"  {name:22s} {size / 1e6:8.2f} MB")
    print(f"throughput      {nfunc / (t1 - t0):,.0f} functions/s, {res.line_rows / (t1 - t0):,.0f} line rows/s")
    if a.twin:
        import shutil
        import subprocess

        objcopy = shutil.which("objcopy")
        if objcopy:  # the peer: what keeping the toolchain's own debug file costs (needs the unstripped build)
            peer = a.out.with_name("twin-only-keep-debug.debug")
            t3 = time.perf_counter()
            subprocess.run([objcopy, "--only-keep-debug", str(a.twin), str(peer)], check=True)
            t4 = time.perf_counter()
            print(f"peer            objcopy --only-keep-debug of the twin: {t4 - t3:.2f} s, "
                  f"{peer.stat().st_size / 1e6:.2f} MB; restore/objcopy time ratio {(t1 - t0) / (t4 - t3):.1f}x")
        stored, raw = _dwarf_size(a.twin)
        ours = sum(v for k, v in res.sections.items() if k.startswith(".debug_") or k in (".symtab", ".strtab"))
        print(f"toolchain DWARF+symtab of {a.twin.name}: {stored / 1e6:.2f} MB stored "
              f"(compressed), {raw / 1e6:.2f} MB uncompressed; ours {ours / 1e6:.2f} MB uncompressed "
              f"({ours / max(1, raw):.0%} of the toolchain's uncompressed)")


if __name__ == "__main__":
    main()
