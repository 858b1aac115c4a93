"""Where debuggers and profilers look for a file by build ID: the layouts, written once.

Facts (FACTS.md §6): gdb, binutils, llvm and perf read ``DIR/.build-id/xx/rest.debug`` (the debug
file) and ``DIR/.build-id/xx/rest`` (the executable); pprof also tries ``DIR/<bid>/<name>`` and
``DIR/xx/rest.debug``; perf's own cache (``~/.debug``) keeps ``<abs path>/<bid>/{debug,elf}`` plus a
``.build-id/xx/rest`` symlink to that directory. debuginfod URLs are ``/buildid/<bid>/<kind>``.
A build ID here is lower-case hex (GNU build-ids); Go build IDs are not valid in these layouts.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from symkeep.errors import UsageError

__all__ = [
    "HEX_BUILD_ID",
    "build_id_debug_path",
    "build_id_exe_path",
    "normalize_hex_build_id",
    "perf_cache_entry",
    "perf_cache_link",
    "pprof_candidates",
]

#: GNU build-ids are 8..64 bytes in practice (sha1 = 20, Go's = 32); the hex form is even-length.
HEX_BUILD_ID = re.compile(r"^[0-9a-f]{4,128}$")


def normalize_hex_build_id(build_id: str) -> str:
    """Lower-case hex, validated (raises UsageError: a build ID is a path component in every layout)."""
    bid = build_id.strip().lower()
    if not HEX_BUILD_ID.match(bid):
        raise UsageError(f"not a hex build ID: {build_id[:80]!r}")
    return bid


def build_id_debug_path(root: str | os.PathLike[str], build_id: str) -> Path:
    """``root/.build-id/xx/rest.debug``."""
    bid = normalize_hex_build_id(build_id)
    return Path(root) / ".build-id" / bid[:2] / f"{bid[2:]}.debug"


def build_id_exe_path(root: str | os.PathLike[str], build_id: str) -> Path:
    """``root/.build-id/xx/rest`` (the executable, as debuginfod-style trees and gdb keep it)."""
    bid = normalize_hex_build_id(build_id)
    return Path(root) / ".build-id" / bid[:2] / bid[2:]


def perf_cache_entry(cache: str | os.PathLike[str], binary_path: str | os.PathLike[str], build_id: str) -> Path:
    """perf's build-id cache directory for one binary: ``cache/<abs path>/<bid>`` (holds debug, elf)."""
    bid = normalize_hex_build_id(build_id)
    abs_bin = os.path.abspath(os.fspath(binary_path)).lstrip("/")
    return Path(cache) / abs_bin / bid


def perf_cache_link(cache: str | os.PathLike[str], build_id: str) -> Path:
    """perf's ``cache/.build-id/xx/rest`` symlink (points at the ``perf_cache_entry`` directory)."""
    bid = normalize_hex_build_id(build_id)
    return Path(cache) / ".build-id" / bid[:2] / bid[2:]


def pprof_candidates(d: str, filename: str, build_id: str) -> list[str]:
    """Files pprof, perf and gdb would try under a search directory ``d``, in pprof's order.

    ``build_id`` may be a Go build ID (only the ``<bid>/<name>`` form applies then); anything with a
    path separator or ``..`` is ignored rather than joined."""
    base = os.path.basename(filename)
    out: list[str] = []
    bid = build_id.strip()
    if bid and "/" not in bid and "\\" not in bid and ".." not in bid and "\0" not in bid:
        out.append(os.path.join(d, bid, base) if base else os.path.join(d, bid))
        if filename:
            out.append(os.path.join(d, filename.lstrip("/"), bid))  # perf ~/.debug layout
            out.append(os.path.join(d, filename.lstrip("/"), bid, "elf"))
        low = bid.lower()
        if HEX_BUILD_ID.match(low):
            out.append(os.path.join(d, low[:2], low[2:] + ".debug"))
            out.append(os.fspath(build_id_debug_path(d, low)))
            out.append(os.fspath(build_id_exe_path(d, low)))
    if filename:
        if base:
            out.append(os.path.join(d, base))
        out.append(os.path.join(d, filename.lstrip("/")))
    seen: set[str] = set()
    uniq: list[str] = []
    for c in out:
        if c not in seen:
            seen.add(c)
            uniq.append(c)
    return uniq
