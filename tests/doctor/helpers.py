"""Staging doctor scenarios with real programs, real profiles and real tools."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from fixtures.env import require_tool, unavailable
from symkeep.profile import profile_pb2
from symkeep.profile.pprof import read_profile, serialize_profile


def run_cpuhog(binary: Path, out: Path, seconds: float = 2.0) -> Path:
    """Run the cpuhog program: it writes a runtime/pprof CPU profile to ``out``."""
    subprocess.run([str(binary), str(out), str(seconds)], check=True, capture_output=True, timeout=120)
    return out


def strip_profile(src: Path, dst: Path) -> Path:
    """The same profile with functions, lines and the mappings' has_* flags removed (like perf/eBPF output)."""
    p = read_profile(src)
    del p.function[:]
    for loc in p.location:
        del loc.line[:]
    for m in p.mapping:
        m.has_functions = m.has_filenames = m.has_line_numbers = m.has_inline_frames = False
    dst.write_bytes(serialize_profile(p))
    return dst


def names(p: profile_pb2.Profile) -> dict[int, str]:
    """location address -> outermost function name."""
    fn = {f.id: p.string_table[f.name] for f in p.function}
    return {loc.address: fn.get(loc.line[-1].function_id, "") for loc in p.location if loc.line}


def perf_ok() -> str:
    perf = require_tool("perf")
    r = subprocess.run([perf, "record", "-e", "cpu-clock", "-o", "/dev/null", "true"], capture_output=True)
    if r.returncode != 0:
        unavailable(f"perf cannot record here: {r.stderr.decode(errors='replace')[-200:]}")
    return perf


def perf_record(binary: Path, data: Path, home: Path, mode: list[str], seconds: float = 2.0) -> Path:
    perf = perf_ok()
    home.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "HOME": str(home)}
    env.pop("PERF_BUILDID_DIR", None)
    subprocess.run([perf, "record", "-e", "cpu-clock", *mode, "-o", str(data), str(binary),
                    str(data.with_suffix(".pprof")), str(seconds)], env=env, check=True, capture_output=True,
                   timeout=300)
    return data


def copy_exe(src: Path, dst: Path) -> Path:
    shutil.copy2(src, dst)
    os.chmod(dst, 0o755)
    return dst
