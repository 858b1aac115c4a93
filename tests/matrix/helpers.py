"""Helpers for the matrix tests. One real two-toolchain matrix run (Go 1.21 vs 1.27) on the demo, shared by the matrix tests.

The run goes through the real CLI in a subprocess with a fresh result cache; a second, identical run
measures the cache. Short profile seconds and one repetition keep it to a few minutes (builds reuse the
shared Go build cache).
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fixtures.env import unavailable

TOOLCHAINS = ("1.21", "1.27")


@dataclass
class MatrixRun:
    report: dict[str, Any]
    html: Path
    seconds: float
    rerun_seconds: float
    rerun_report: dict[str, Any]
    stderr: str
    args: list[str]  # the CLI arguments of the run minus the output options (re-runs hit its cache)
    cwd: Path

    def result(self, tc_minor: str, variant: str) -> dict[str, Any]:
        for r in self.report["results"]:
            if r["variant"] == variant and str(r["toolchain"]).startswith(f"go{tc_minor}."):
                return r
        raise KeyError((tc_minor, variant))


def require_toolchains(*versions: str) -> None:
    from symkeep.build.toolchain import find_toolchains

    have = {t.minor for t in find_toolchains()}
    missing = [v for v in versions if v not in have]
    if missing:
        msg = f"Go toolchain(s) {', '.join(missing)} not installed"
        unavailable(msg)


def run_cli(args: list[str], cwd: Path, timeout: float = 1800) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SYMKEEP_DEBUG": ""}
    return subprocess.run([sys.executable, "-m", "symkeep", "matrix", *args], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=timeout)




def run(cmd: list[str], check: bool = True, env: dict[str, str] | None = None, timeout: float = 300) -> str:
    """Run a raw tool; stdout+stderr. ``check``: a non-zero exit fails the test with the output."""
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    out = p.stdout + p.stderr
    if check and p.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} exited {p.returncode}:\n{out[-2000:]}")
    return out


def png_pixels(data: bytes) -> tuple[int, int, list[bytes]]:
    """Decode a non-interlaced 8-bit RGB/RGBA PNG (what Chromium writes): (width, height, rows)."""
    import struct
    import zlib

    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, w = 8, b"", 0
    h = ctype = 0
    while pos < len(data):
        n, typ = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + n]
        if typ == b"IHDR":
            w, h, depth, ctype, _c, _f, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and interlace == 0 and ctype in (2, 6), (depth, ctype, interlace)
        elif typ == b"IDAT":
            idat += body
        pos += 12 + n
    bpp = 3 if ctype == 2 else 4
    raw = zlib.decompress(idat)
    stride = w * bpp
    rows: list[bytes] = []
    prev = bytearray(stride)
    for y in range(h):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 0xFF
            elif f == 2:
                line[i] = (line[i] + b) & 0xFF
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 0xFF
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        rows.append(bytes(line))
        prev = line
    return w, h, rows
