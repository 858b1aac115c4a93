"""Bad input, timed: every row of issue #11's table against funcs, addr2line, restore and symbolize (and inspect).

Per case: the exit code, wall time and peak RSS of the real CLI, run under the tests' 256 MB data cap
(tests/cli/clirun.py), against the budget of 2 s and 256 MB, except the documented input sizes
(10^6 locations, 100 MB stdin) whose MB and seconds per unit are printed. The tests assert the error
lines and exit codes; wall time is only measured here (unit tests never assert it).

    python -m benchmarks.bad_input [--only SUBSTRING] [--quick]

`--quick` shrinks the 100 MB stdin and 10^6-location cases by 10x.
"""

from __future__ import annotations

import argparse
import gzip
import os
import shutil
import struct
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from benchmarks.common import ROOT

sys.path.insert(0, str(ROOT / "tests" / "cli"))

from clirun import MEM_CAP, run_cli, run_cli_piped  # noqa: E402

from fixtures.factory import FixtureSpec, build_fixture  # noqa: E402

MB = 1 << 20


@dataclass
class Case:
    row: str  # the row of issue #11's table (or "-" for inspect's older cases)
    name: str
    args: list[str]
    stdin: str | None = None
    producer: list[str] | None = None  # a process piping stdin (large inputs)
    units: tuple[float, str] | None = None  # a documented size: (count, unit) for per-unit figures
    shell: str | None = None  # a shell pipeline instead (`symkeep ... | head -1`)
    want: frozenset[int] | None = None  # the exit codes the "must be" column allows


def _producer(*parts: tuple[bytes, int]) -> list[str]:
    code = "import sys\nw = sys.stdout.buffer.write\n"
    for unit, total in parts:
        code += (f"u = {unit!r}\nblk = u * max(65536 // len(u), 1)\nn = {total}\n"
                 "while n > 0:\n    w(blk[:n]); n -= len(blk)\n")
    return [sys.executable, "-c", code]


def _hostile_pclntab(src: Path, dst: Path) -> None:
    """Row 2: every _func's pcsp/pcfile/pcln point at a pctab filled with `02 00` pairs (pc delta 0)."""
    from symkeep.binfmt import open_binary
    from symkeep.golang.pclntab import find_pclntab, load_pclntab

    b = open_binary(str(src))
    loc = find_pclntab(b)
    t = load_pclntab(b, loc)
    data = bytearray(src.read_bytes())
    e = "<" if t.byteorder == "little" else ">"
    pct = loc.offset + t.pctab_offset
    end = loc.offset + t.pcln_offset
    data[pct + 1 : end] = (b"\x02\x00" * ((end - pct) // 2 + 1))[: end - pct - 1]
    for i in range(t.nfunc):
        off = loc.offset + t.func_record_offset(i)
        struct.pack_into(e + "III", data, off + 16, 1, 1, 1)
    dst.write_bytes(bytes(data))


def _nfunc_zero(src: Path, dst: Path) -> None:
    """Row 15: the pclntab header says nfunc = 0."""
    from symkeep.binfmt import open_binary
    from symkeep.golang.pclntab import find_pclntab, load_pclntab

    b = open_binary(str(src))
    loc = find_pclntab(b)
    t = load_pclntab(b, loc)
    data = bytearray(src.read_bytes())
    data[loc.offset + 8 : loc.offset + 8 + t.ptrsize] = bytes(t.ptrsize)
    dst.write_bytes(bytes(data))


def _cut_before_moduledata(src: Path, dst: Path) -> None:
    """Row 8: T truncated just before its module data (and so its section headers, at the end)."""
    from symkeep.binfmt import open_binary

    b = open_binary(str(src))
    sec = b.section(".go.module") or b.section(".noptrdata")
    assert sec is not None
    dst.write_bytes(src.read_bytes()[: sec.offset])


def _pprof(path: Path, nloc: int, func_id: int | None = None, binary: Path | None = None) -> None:
    """A pprof CPU profile with ``nloc`` distinct raw locations in one mapping of ``binary``."""
    from symkeep.profile import profile_pb2

    p = profile_pb2.Profile()
    p.string_table.extend(["", "samples", "count", "cpu", "nanoseconds", str(binary or "/x"), "f"])
    st = p.sample_type.add()
    st.type, st.unit = 1, 2
    m = p.mapping.add()
    m.id, m.memory_start, m.memory_limit, m.filename = 1, 0x400000, 0x400000 + (1 << 32), 5
    locs = p.location
    for k in range(nloc):
        loc = locs.add()
        loc.id, loc.mapping_id, loc.address = k + 1, 1, 0x401000 + k
    for k in range(0, nloc, max(nloc // 1000, 1)):
        s = p.sample.add()
        s.location_id.append(k + 1)
        s.value.append(1)
    if func_id is not None:
        f = p.function.add()
        f.id, f.name = func_id, 6
        ln = p.location[0].line.add()
        ln.function_id = func_id
    path.write_bytes(gzip.compress(p.SerializeToString(), 1))


def cases(t: Path, tmp: Path, quick: bool) -> list[Case]:
    T = str(t)
    big = 10 * MB if quick else 100 * MB
    nloc = 100_000 if quick else 1_000_000

    def w(name: str, data: bytes) -> str:
        (tmp / name).write_bytes(data)
        return str(tmp / name)

    perf_hdr = "T 123/123 [000] 100.000001: 250000 cpu-clock:\n"
    out: list[Case] = []
    # -- inspect (older cases, kept for comparison) ------------------------------------------------------
    (tmp / "empty").write_bytes(b"")
    out += [Case("-", "inspect: missing path", ["inspect", str(tmp / "nope")]),
            Case("-", "inspect: directory", ["inspect", str(tmp)]),
            Case("-", "inspect: empty file", ["inspect", str(tmp / "empty")])]
    # -- row 1: out-of-range numbers --------------------------------------------------------------------
    out += [
        Case("1", "symbolize: perf all-ones frame", ["symbolize", w("p1.txt", (
            perf_hdr + f"\t  401000 main.main+0x0 ({T})\n\tffffffffffffffff [unknown] ([unknown])\n\n").encode()),
            "--binary", T, "--format", "folded", "--input-format", "perf"]),
        Case("1", "symbolize: folded count 2^63", ["symbolize", w("f1.txt", b"0x401000 9223372036854775808\n"),
                                                   "--binary", T, "--format", "folded"]),
        Case("1", "symbolize: folded count of 400 digits", ["symbolize", w("f2.txt", b"0x401000 " + b"9" * 400 + b"\n"),
                                                            "--binary", T, "--format", "folded"]),
        Case("1", "symbolize: folded count 1.5", ["symbolize", w("f3.txt", b"0x401000 1.5\n"), "--binary", T,
                                                  "--format", "folded"]),
        Case("1", "symbolize: folded frame T+0x1" + "0" * 16, ["symbolize", w("f4.txt", f"{T}+0x1{'0' * 16} 1\n".encode()),
                                                             "--binary", T, "--format", "folded"]),
        Case("1", "symbolize: perf period of 30 digits", ["symbolize", w("p2.txt", (
            "T 123/123 [000] 100.000001: " + "9" * 30 + f" cpu-clock:\n\t  401000 main.main+0x0 ({T})\n\n").encode()),
            "--binary", T, "--format", "folded", "--input-format", "perf"]),
    ]
    _pprof(tmp / "fid.pb.gz", 4, func_id=(1 << 64) - 1, binary=t)
    out.append(Case("1", "symbolize: pprof Function id 2^64-1", ["symbolize", str(tmp / "fid.pb.gz"), "--binary", T,
                                                                "--format", "folded"]))
    # -- row 2: never-ending pcvalue streams --------------------------------------------------------------
    _hostile_pclntab(t, tmp / "pcv")
    pcs = "".join(f"{0x401000 + 16 * k:#x}\n" for k in range(25_000))
    out += [Case("2", "funcs --lines: endless pcvalue streams", ["funcs", "--lines", "--ndjson", str(tmp / "pcv")]),
            Case("2", "addr2line 25k PCs: endless pcvalue streams", ["addr2line", "-e", str(tmp / "pcv")], stdin=pcs),
            Case("2", "restore: endless pcvalue streams", ["restore", str(tmp / "pcv"), "-o", str(tmp / "pcv.debug")])]
    # -- row 3: a perf script line of 60,000 spaces --------------------------------------------------------
    out.append(Case("3", "symbolize: perf line with 60,000 spaces", ["symbolize", w("p3.txt", (
        perf_hdr + "\t  401000 main" + " " * 60_000 + f"main ({T})\n\n").encode()), "--binary", T,
        "--format", "folded", "--input-format", "perf"]))
    # -- row 4: restore -o a symlink or a device node ------------------------------------------------------
    (tmp / "target").write_bytes(b"keep")
    os.symlink(tmp / "target", tmp / "link")
    os.symlink(tmp, tmp / "dirlink")
    dev = tmp / "null"
    try:
        os.mknod(dev, 0o600 | 0o020000, os.makedev(1, 3))  # a /dev/null clone, in tmp (as root)
        out.append(Case("4", "restore -o a device node", ["restore", T, "-o", str(dev)]))
    except OSError:
        pass
    out += [Case("4", "restore -o a symlink to a file", ["restore", T, "-o", str(tmp / "link")]),
            Case("4", "restore -o a symlink to a directory", ["restore", T, "-o", str(tmp / "dirlink")])]
    # -- row 5: gzip bombs ---------------------------------------------------------------------------------
    member = gzip.compress(bytes(MB), 9)
    (tmp / "bomb1.gz").write_bytes(member * (4096 if not quick else 512))
    out.append(Case("5", f"symbolize: gzip members -> {4 if not quick else 0.5} GiB of zeros",
                    ["symbolize", str(tmp / "bomb1.gz"), "--binary", T, "--format", "folded"]))
    # -- row 6: huge or endless inputs -----------------------------------------------------------------------
    out.append(Case("6", "symbolize /dev/zero", ["symbolize", "/dev/zero", "--binary", T, "--format", "folded"]))
    _pprof(tmp / "many.pb.gz", nloc, binary=t)
    out.append(Case("6", f"symbolize: pprof with {nloc:,} locations", ["symbolize", str(tmp / "many.pb.gz"),
                                                                       "--binary", T, "-o", str(tmp / "many.out")],
                    units=(nloc / 100_000, "100k locations")))
    (tmp / "many.folded").write_text("".join(f"{0x401000 + k:#x} 1\n" for k in range(nloc)))
    out.append(Case("6", f"symbolize: folded with {nloc:,} lines", ["symbolize", str(tmp / "many.folded"),
                                                                    "--binary", T, "--format", "folded"],
                    units=(nloc / 100_000, "100k locations")))
    # -- row 7: addr2line stdin through a pipe ---------------------------------------------------------------
    out += [Case("7", f"addr2line: {big // 5 // MB} MB of '1 ' on one line", ["addr2line", "-e", T],
                 producer=_producer((b"1 ", big // 5), (b"\n", 1)), units=(big / 5 / MB, "MB")),
            Case("7", f"addr2line: {big // MB} MB of '1\\n'", ["addr2line", "-e", T], producer=_producer((b"1\n", big)),
                 units=(big / MB, "MB")),
            Case("7", f"addr2line: {big // MB} MB of '1 ', no newline", ["addr2line", "-e", T],
                 producer=_producer((b"1 ", big)), units=(big / MB, "MB")),
            Case("7", f"addr2line: one {big // MB} MB token", ["addr2line", "-e", T], producer=_producer((b"1", big)),
                 units=(big / MB, "MB"))]
    # -- row 8: truncated before module data and section headers ---------------------------------------------
    _cut_before_moduledata(t, tmp / "cut")
    out += [Case("8", f"{c}: truncated before module data", a) for c, a in (
        ("inspect", ["inspect", str(tmp / "cut")]), ("funcs", ["funcs", "--ndjson", str(tmp / "cut")]),
        ("addr2line", ["addr2line", "-e", str(tmp / "cut"), "0x401000"]),
        ("restore", ["restore", str(tmp / "cut"), "-o", str(tmp / "cut.debug")]))]
    # -- row 9: one folded line with 5,000 frames ----------------------------------------------------------
    out.append(Case("9", "symbolize: folded stack of 5,000 frames", ["symbolize", w("deep.folded", (
        ";".join(f"{0x401000 + 16 * k:#x}" for k in range(5000)) + " 7\n").encode()), "--binary", T,
        "--format", "folded"]))
    # -- row 10: non-UTF-8 dso path -------------------------------------------------------------------------
    latin = os.fsencode(tmp) + b"/d\xe9"  # a Latin-1 byte in a path: not UTF-8
    os.mkdir(latin)
    shutil.copy(t, latin + b"/T")
    out.append(Case("10", "symbolize: perf dso path in Latin-1", ["symbolize", w("p4.txt", (
        perf_hdr.encode() + b"\t  401000 main.main+0x0 (" + latin + b"/T)\n\n")), "--format", "folded"]))
    # -- row 11: a FIFO as the binary -------------------------------------------------------------------------
    os.mkfifo(tmp / "fifo")
    out += [Case("11", "funcs: a FIFO as the binary", ["funcs", str(tmp / "fifo")]),
            Case("11", "addr2line -e a FIFO", ["addr2line", "-e", str(tmp / "fifo"), "0x1"]),
            Case("11", "restore: a FIFO as the binary", ["restore", str(tmp / "fifo"), "-o", str(tmp / "f.debug")])]
    # -- row 12: output into `head -1` --------------------------------------------------------------------
    py = f"{sys.executable} -m symkeep"
    out += [Case("12", f"{c} | head -1", [], shell=f"{py} {c} {T} | head -1 >/dev/null; exit ${{PIPESTATUS[0]}}")
            for c in ("funcs", "inspect")]
    # -- row 13: restore destinations that cannot be written ----------------------------------------------------
    (tmp / "afile").write_bytes(b"")
    nobid = build_fixture(FixtureSpec("1.21", variant="sw"))  # Go 1.21, internal linking: no GNU build-id
    out += [Case("13", "restore --install under a regular file", ["restore", T, "-o", str(tmp / "r13.debug"),
                                                                  "--install", str(tmp / "afile" / "sub")]),
            Case("13", "restore --install, binary without GNU build-id", ["restore", str(nobid), "-o",
                                                                          str(tmp / "r13b.debug"), "--install",
                                                                          str(tmp / "inst")])]
    # -- row 14: odd address tokens -----------------------------------------------------------------------------
    out.append(Case("14", "addr2line: 0x0x.., +.., 4_9.., Arabic-Indic digits, -1", ["addr2line", "-a", "-e", T],
                    stdin="0x0x49a640\n+49a640\n4_9a640\n\u0664\u0669a\n-1\n"))
    # -- row 15: nfunc = 0 ----------------------------------------------------------------------------------------
    _nfunc_zero(t, tmp / "nf0")
    out += [Case("15", f"{c}: header nfunc = 0", a) for c, a in (
        ("funcs", ["funcs", "--ndjson", str(tmp / "nf0")]), ("addr2line", ["addr2line", "-e", str(tmp / "nf0"), "0x401000"]),
        ("restore", ["restore", str(tmp / "nf0"), "-o", str(tmp / "nf0.debug")]))]
    return out


# Exit codes issue #11's "must be" column allows, by case name (0 ok, 3 path refused, 6 malformed/over a cap,
# 1 or 6 for a missing build-id); row 15 asks only for one answer across commands (not checked here).
WANT: dict[str, set[int]] = {
    "symbolize: perf all-ones frame": {0}, "symbolize: folded count 2^63": {6},
    "symbolize: folded count of 400 digits": {6}, "symbolize: folded count 1.5": {0, 6},
    "symbolize: folded frame T+0x1": {6}, "symbolize: perf period of 30 digits": {6},
    "symbolize: pprof Function id": {0, 6}, "funcs --lines: endless": {0, 6}, "addr2line 25k PCs: endless": {0, 6},
    "restore: endless": {0, 6}, "symbolize: perf line with 60,000": {0, 6}, "restore -o a device node": {3},
    "restore -o a symlink to a file": {0}, "restore -o a symlink to a directory": {3}, "symbolize: gzip": {6},
    "symbolize /dev/zero": {3, 6}, "symbolize: pprof with": {0}, "symbolize: folded with": {0}, "addr2line: ": {0},
    "inspect: truncated": {6}, "funcs: truncated": {6}, "addr2line: truncated": {6}, "restore: truncated": {6},
    "symbolize: folded stack of 5,000": {0}, "symbolize: perf dso path": {0}, "funcs: a FIFO": {3},
    "addr2line -e a FIFO": {3}, "restore: a FIFO": {3}, "funcs | head": {0}, "inspect | head": {0},
    "restore --install under": {3}, "restore --install, binary without": {1, 6}, "inspect: missing": {3},
    "inspect: directory": {3}, "inspect: empty": {4},
}


def wanted(c: Case) -> set[int] | None:
    hits = [p for p in WANT if c.name.startswith(p)]
    return WANT[max(hits, key=len)] if hits else None


def run_case(c: Case, cap: int | None) -> tuple[int | str, float, int]:
    """(exit code or HUNG, seconds, peak RSS bytes)."""
    import time

    try:
        if c.shell is not None:
            t0 = time.monotonic()
            p = subprocess.run(["bash", "-c", c.shell], capture_output=True, timeout=30)
            return p.returncode, time.monotonic() - t0, 0
        if c.producer is not None:
            t0 = time.monotonic()
            pr = run_cli_piped(c.args, c.producer, timeout=600, cap=cap)
            return pr.code, time.monotonic() - t0, pr.max_rss
        r = run_cli(c.args, stdin=c.stdin, timeout=30, cap=cap)
        return r.code, r.seconds, r.max_rss
    except AssertionError:
        return "HUNG", float("nan"), 0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", default=None, help="Only cases whose row or name contains this.")
    ap.add_argument("--quick", action="store_true", help="Documented-size cases 10x smaller.")
    ap.add_argument("--cap-mb", type=int, default=MEM_CAP >> 20,
                    help="RLIMIT_DATA of each run in MB (0: none; beware the gzip bombs). Default: the tests' cap.")
    args = ap.parse_args()
    cap = args.cap_mb * MB or None
    t = build_fixture(FixtureSpec("1.27", variant="sw"))
    print(f"T = {t} (Go 1.27, -ldflags='-s -w'); data cap {args.cap_mb or 'none'} MB; budget 2 s, 256 MB per case")
    print("exit 70 under the cap can be MemoryError (the CLI's one-line 'out of memory'); HUNG = over 30 s")
    print(f"{'row':>3}  {'case':58} {'exit':>4} {'want':>5} {'seconds':>8} {'peak RSS':>9}  verdict")
    bad = 0
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        todo = [c for c in cases(t, tmp, args.quick)
                if args.only is None or args.only in c.name or args.only == c.row]
        for c in todo:
            code, secs, rss = run_case(c, cap)
            want = wanted(c)
            wrong = want is not None and code not in want
            if code in ("HUNG", 70):
                verdict = "FAIL (hang)" if code == "HUNG" else "FAIL (internal error)"
            elif c.units:
                n, unit = c.units
                verdict = f"{rss / MB / n:.2f} MB and {secs / n:.3f} s per {unit}"
            else:
                verdict = "ok" if secs < 2 and rss < MEM_CAP else "OVER BUDGET"
            if wrong:
                verdict += "; WRONG EXIT"
            bad += wrong or code in ("HUNG", 70)
            rss_s = f"{rss / MB:7.0f}MB" if rss else "      — "
            ws = ",".join(str(x) for x in sorted(want)) if want else "-"
            print(f"{c.row:>3}  {c.name[:58]:58} {code!s:>4} {ws:>5} {secs:8.2f} {rss_s}  {verdict}", flush=True)
        print(f"{bad} of {len(todo)} cases hang, crash or exit with a code the issue does not allow")


if __name__ == "__main__":
    main()
