"""Where symbol indexes live on disk, and the path memo that lets a warm run skip opening the binary.

Indexes are files ``<root>/<key>.symidx`` (root: ``$SYMKEEP_CACHE/index`` or ``~/.cache/symkeep/index``),
named by the index key (:func:`symkeep.symbolize.symindex.index_key`: a hash of ``.gopclntab``, the text
start and the Go version), so a rebuilt binary whose build ID was reused can never meet another build's
index. Computing the key means opening the binary (~15-30 ms on a 30 MB program); the *path memo*
``<root>/paths/<hash of the path>.json`` remembers the key of a binary path together with its
``(device, inode, size, mtime_ns, ctime_ns)``, and is believed only while all five match (the rule git's
index and make use: rewriting or replacing the file changes its ctime, which no user can set back).
No numpy here: the warm ``addr2line`` path reads the memo first.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from symkeep.cachedir import cache_root

__all__ = ["index_path", "index_root", "read_memo", "stat_of", "write_memo"]

SUFFIX = ".symidx"


def index_root() -> Path:
    """The index cache directory (``$SYMKEEP_CACHE/index`` or ``~/.cache/symkeep/index``)."""
    return cache_root() / "index"


def index_path(root: Path, key: str) -> Path:
    return root / f"{key}{SUFFIX}"


def _memo_path(root: Path, binary: str) -> Path:
    real = os.path.realpath(binary)
    return root / "paths" / (hashlib.sha256(real.encode("utf-8", "surrogateescape")).hexdigest()[:40] + ".json")


def stat_of(binary: str) -> list[int]:
    """The stat tuple the memo compares (take it before computing a key)."""
    st = os.stat(binary)
    return [st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns]


def read_memo(root: Path, binary: str) -> str | None:
    """The index key remembered for ``binary``, if the file is unchanged since (else None)."""
    try:
        memo = json.loads(_memo_path(root, binary).read_bytes())
        if memo.get("stat") == stat_of(binary) and memo.get("path") == os.path.realpath(binary):
            key = memo.get("key")
            return key if isinstance(key, str) and key.isalnum() else None
    except (OSError, ValueError, AttributeError):
        pass
    return None


def write_memo(root: Path, binary: str, key: str, before: list[int] | None = None) -> None:
    """Remember ``key`` for ``binary`` (best effort: a read-only cache is not an error). ``before``: the
    stat taken when the key was computed; if the file changed since, nothing is remembered."""
    from symkeep.errors import SymkeepError
    from symkeep.fsio import atomic_write

    try:
        now = stat_of(binary)
        if before is not None and before != now:
            return
        doc = {"path": os.path.realpath(binary), "stat": now, "key": key}
        atomic_write(_memo_path(root, binary), json.dumps(doc).encode())
    except (OSError, ValueError, SymkeepError):  # a cache that cannot be written only costs speed
        pass

