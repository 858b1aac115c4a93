"""Helpers shared by the web UI tests (not fixtures)."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Hog:
    toolchain: str
    binary: Path  # the stripped executable
    truth: Path  # its runtime/pprof profile (names from the runtime itself)
    raw: Path  # the same profile without any symbol information (gzip'd pprof)


def go_build_id(buildid_tool: Path, binary: Path) -> str:
    """The Go build ID as ``go tool buildid`` prints it."""
    out = subprocess.run([str(buildid_tool), str(binary)], capture_output=True, text=True, timeout=60, check=True)
    return out.stdout.strip()
