"""Ground truth from real tools (go version -m, go tool buildid/addr2line, readelf, binutils addr2line)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from fixtures.env import require_tool
from fixtures.factory import go_tool, toolchain


def go_version_m(path: Path) -> dict[str, str]:
    """`go version -m` build settings (plus 'go' = the toolchain version line)."""
    out = subprocess.run([str(toolchain("1.27").go), "version", "-m", str(path)], capture_output=True, text=True,
                         check=True, env=toolchain("1.27").env()).stdout
    d: dict[str, str] = {"go": out.split(":", 1)[1].split()[0]}
    for ln in out.splitlines():
        parts = ln.strip().split("\t")
        if parts[0] == "build" and len(parts) >= 2 and "=" in parts[1]:
            k, v = parts[1].split("=", 1)
            d[k] = v
    return d


def readelf_sections(path: Path) -> set[str]:
    require_tool("readelf")
    out = subprocess.run(["readelf", "-SW", str(path)], capture_output=True, text=True, check=True).stdout
    return set(re.findall(r"\]\s+(\S+)\s", out))


def readelf_gnu_build_id(path: Path) -> str | None:
    require_tool("readelf")
    out = subprocess.run(["readelf", "-n", str(path)], capture_output=True, text=True).stdout
    m = re.search(r"Build ID:\s*([0-9a-f]+)", out)
    return m.group(1) if m else None


def go_tool_buildid(path: Path) -> str:
    return subprocess.run([str(go_tool("1.27", "buildid")), str(path)], capture_output=True, text=True,
                          check=True).stdout.strip()


def go_tool_addr2line(path: Path, pcs: list[int], version: str = "1.27") -> list[tuple[str, str]]:
    """(function, file:line) per PC from the real `go tool addr2line`."""
    tool = go_tool(version, "addr2line")
    out = subprocess.run([str(tool), str(path)], input="".join(f"{pc:#x}\n" for pc in pcs), capture_output=True,
                         text=True, check=True).stdout.splitlines()
    return list(zip(out[0::2], out[1::2], strict=True))


def readelf_dwarf_version(path: Path) -> int | None:
    require_tool("readelf")
    out = subprocess.run(["readelf", "--debug-dump=info", str(path)], capture_output=True, text=True).stdout[:20000]
    m = re.search(r"Version:\s+(\d+)", out)
    return int(m.group(1)) if m else None
