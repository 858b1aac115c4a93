"""Matrix cache: built binaries keyed by (toolchain, source hash, variant), results additionally by the
measurement options, under ``<symkeep cache>/matrix`` (``~/.cache/symkeep/matrix`` by default).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["CACHE_VERSION", "MatrixCache", "code_hash", "default_cache_dir", "key_of", "source_hash"]

# Bump when what a result contains changes: old entries are then ignored.
CACHE_VERSION = 3

_SKIP_DIRS = {".git", "node_modules", "vendor.cache", "__pycache__", ".cache"}
_MAX_FILE = 16 << 20


def default_cache_dir() -> Path:
    from symkeep.build.toolchain import cache_root

    return cache_root() / "matrix"


def source_hash(src: Path) -> str:
    """Hash of the files a Go build can read under ``src`` (Go sources, go.mod/go.sum, embeds)."""
    h = hashlib.sha256()
    files = []
    for root, dirs, names in os.walk(src):
        dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS and not d.startswith("."))
        for n in sorted(names):
            if n.startswith(".") or n.endswith((".pyc", ".py")):
                continue
            files.append(Path(root) / n)
    for f in files:
        try:
            st = f.stat()
            if st.st_size > _MAX_FILE:
                h.update(f"{f.relative_to(src)}\0{st.st_size}\0{st.st_mtime_ns}\0".encode())
                continue
            h.update(f"{f.relative_to(src)}\0".encode())
            h.update(f.read_bytes())
        except OSError:
            continue
    return h.hexdigest()[:24]


def code_hash() -> str:
    """Hash of the matrix's own code: a changed probe or measurement invalidates old results."""
    h = hashlib.sha256(str(CACHE_VERSION).encode())
    here = Path(__file__).parent
    for f in sorted(here.glob("*.py")):
        if f.name.startswith("report_") or f.name == "recommend.py":
            continue  # rendering and advice are derived at report time, not cached
        h.update(f.name.encode())
        h.update(f.read_bytes())
    return h.hexdigest()[:16]


def key_of(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:24]


class MatrixCache:
    def __init__(self, root: Path, enabled: bool = True) -> None:
        self.root = root
        self.enabled = enabled

    def build_dir(self, bkey: str) -> Path:
        return self.root / "builds" / bkey

    def result_path(self, rkey: str) -> Path:
        return self.root / "results" / f"{rkey}.json"

    def load_result(self, rkey: str) -> dict[str, Any] | None:
        if not self.enabled:
            return None
        p = self.result_path(rkey)
        try:
            data = json.loads(p.read_text())
        except (OSError, ValueError):
            return None
        if not isinstance(data, dict) or data.get("cache_version") != CACHE_VERSION:
            return None
        return data

    def store_result(self, rkey: str, result: dict[str, Any]) -> None:
        p = self.result_path(rkey)
        p.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=".tmp")
        with os.fdopen(fd, "w") as f:
            json.dump({**result, "cache_version": CACHE_VERSION}, f)
        os.replace(tmp, p)
