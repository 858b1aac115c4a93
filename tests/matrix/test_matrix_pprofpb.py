"""The small profile.proto reader/rewriter agrees with `go tool pprof -raw` on real profiles."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import pytest

from symkeep.matrix.pprofpb import parse_profile, strip_symbols

from .helpers import MatrixRun, run

pytestmark = pytest.mark.slow


def test_reader_and_stripper_match_pprof(matrix_run: MatrixRun, pprof_tool: dict[str, Path]) -> None:
    r = matrix_run.result("1.27", "default")
    binary = Path(r["binary"])
    tool = str(pprof_tool["1.27"])
    with tempfile.TemporaryDirectory() as d:
        prof = Path(d) / "cpu.pprof"
        run([str(binary), "-work", "0.5s", "-cpuprofile", str(prof)])
        data = prof.read_bytes()
        raw = run([tool, "-raw", "-symbolize=none", str(prof)])
        p = parse_profile(data)
        ours = {(n, ln) for lid in p.locations for n, _f, ln in p.frames(lid) if n.startswith("main.")}
        assert ours, "no main.* frames parsed"
        theirs = set(re.findall(r"(main\.\w+) \S+\.go:(\d+)", raw))
        assert {(n, str(ln)) for n, ln in ours} == theirs
        stripped = Path(d) / "stripped.pb.gz"
        stripped.write_bytes(strip_symbols(data))
        bare = run([tool, "-raw", "-symbolize=none", str(stripped)])
        assert "main.crunch" not in bare
        resym = run([tool, "-raw", "-symbolize=local", str(binary), str(stripped)])
        assert "main.crunch" in resym
    assert not parse_profile(strip_symbols(data)).functions
