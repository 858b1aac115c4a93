"""Inputs other than pprof: perf script (recorded by real perf) and folded stacks, through
symkeep.profile's converters, symbolized on the way in with --binary."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

from fixtures.env import unavailable
from fixtures.perfrec import perf_record_script


def _perf_script(tmp: Path, binary: Path) -> Path:
    if shutil.which("perf") is None:
        unavailable("perf not installed (apt-get install linux-perf)")
    home = tmp / "home"  # empty HOME: perf's build-id cache must not name anything for us
    home.mkdir()
    env = dict(os.environ, HOME=str(home))
    out = tmp / "perf.txt"
    perf_record_script([str(binary), str(tmp / "x.prof"), "1"], tmp / "perf.data", out, env)
    return out


def _folded(args: list[str]) -> Counter[str]:
    r = subprocess.run([sys.executable, "-m", "symkeep", "flamegraph", *args, "--format", "folded", "-o", "-"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    c: Counter[str] = Counter()
    for line in r.stdout.splitlines():
        stack, n = line.rsplit(" ", 1)
        c[stack] += int(n)
    return c


def test_perf_script_symbolized_with_binary(cpuhog: tuple[Path, Path], tmp_path: Path) -> None:
    binary = cpuhog[0]
    txt = _perf_script(tmp_path, binary)
    samples = sum(1 for line in txt.read_text().splitlines() if line and not line[0].isspace())
    raw = _folded([str(txt), "--sample-type", "samples"])
    sym = _folded([str(txt), "--binary", str(binary), "--sample-type", "samples"])
    # every perf sample is in the graph, with and without symbols (nothing dropped)
    assert sum(raw.values()) == sum(sym.values()) == samples
    # without --binary the stripped binary's frames are module+0xOFFSET; with it, Go names and inline frames
    assert any(f"{binary.name}+0x" in s for s in raw)
    hot = sum(n for s, n in sym.items() if "main.spin" in s.split(";"))
    assert hot >= 0.5 * samples, sym.most_common(3)
    assert any("main.mix_[i]" in s.split(";") for s in sym)


def test_folded_input_with_names(tmp_path: Path) -> None:
    f = tmp_path / "in.folded"
    f.write_text("main.main;main.a;main.b 7\nmain.main;main.a 3\nmain.main;runtime.mallocgc 5\n")
    got = _folded([str(f)])
    assert got == Counter({"main.main;main.a;main.b": 7, "main.main;main.a": 3, "main.main;runtime.mallocgc": 5})
    focus = _folded([str(f), "--focus", "^main\\.b$"])
    assert focus == Counter({"main.main;main.a;main.b": 7})


def test_merge_profiles_and_gzip_or_not(cpuhog: tuple[Path, Path], tmp_path: Path) -> None:
    import gzip

    plain = tmp_path / "plain.pb"
    plain.write_bytes(gzip.decompress(cpuhog[1].read_bytes()))
    one = _folded([str(cpuhog[1])])
    two = _folded([str(cpuhog[1]), str(plain)])
    assert two == Counter({k: 2 * v for k, v in one.items()})
