"""Place a debug file where gdb, perf, llvm and binutils look for it by build ID.

- ``DIR/.build-id/xx/yyyy.debug`` (gdb ``debug-file-directory``, binutils, llvm, perf ``--symfs``-less).
- perf's build-id cache (checked with ``perf buildid-cache --add`` on perf 6.1):
  ``~/.debug/<abs path of binary>/<build id>/debug`` plus the symlink
  ``~/.debug/.build-id/xx/yyyy -> ../../<abs path>/<build id>``. The same directory's ``elf`` is the file
  perf reads the DSO's *data* from (``perf record`` hard-links the binary there); an unwindable copy
  (``ehframe.unwindable_copy``) written there gives ``--call-graph=dwarf`` its ``.eh_frame``. It is
  replaced atomically (new inode), so the hard-linked original binary is never modified.
"""

from __future__ import annotations

import os
from pathlib import Path

from symkeep.binfmt.debugdirs import build_id_debug_path, perf_cache_entry, perf_cache_link
from symkeep.errors import OutputError


def build_id_path(root: str | os.PathLike[str], build_id: str) -> Path:
    return build_id_debug_path(root, build_id)


def install_build_id(root: str | os.PathLike[str], build_id: str, data: bytes) -> Path:
    """Write ``data`` to ``root/.build-id/xx/yyyy.debug``; returns the path."""
    from symkeep.restore import write_atomic

    p = build_id_path(root, build_id)
    write_atomic(p, data)
    return p


def perf_cache_dir(home: str | os.PathLike[str] | None = None) -> Path:
    if home is None:
        home = os.environ.get("PERF_BUILDID_DIR") or os.path.join(os.path.expanduser("~"), ".debug")
        return Path(home)
    return Path(home) / ".debug"


def install_perf_cache(binary_path: str | os.PathLike[str], build_id: str, data: bytes,
                       cache: str | os.PathLike[str] | None = None, elf: bytes | None = None) -> Path:
    """Add ``data`` as the ``debug`` file of ``binary_path`` in perf's build-id cache (and ``elf``, if
    given, as its ``elf`` file); returns the ``debug`` path."""
    from symkeep.restore import write_atomic

    root = Path(cache) if cache is not None else perf_cache_dir()
    d = perf_cache_entry(root, binary_path, build_id)
    target = d / "debug"
    write_atomic(target, data)
    if elf is not None:
        write_atomic(d / "elf", elf, mode=0o755)
    link = perf_cache_link(root, build_id)
    link_dir = link.parent
    rel = os.path.relpath(d, link_dir)
    try:
        link_dir.mkdir(parents=True, exist_ok=True)
        stale = link.is_symlink() and os.readlink(link) != rel
        if stale or (link.exists() and not link.is_symlink()):
            link.unlink()
        if not link.is_symlink():
            os.symlink(rel, link)
    except OSError as e:
        raise OutputError(f"cannot create perf build-id link {link}: {e.strerror or e}") from e
    return target
