"""Restore and publish a debug file: ``-o`` file, ``.build-id`` tree, perf's cache, debuglinked copy.

One sequence for the CLI (``symkeep restore``) and archive-time synthesis in the store/server: first
:func:`plan` checks every destination and precondition (writable places, no destination that would
replace the input binary, a GNU build-id when a build-id layout is asked for) and writes nothing; then
:func:`execute` builds everything in memory and writes it, rolling back the files this run created
if a later write fails. A refused request therefore leaves nothing behind.

Exit codes of the refusals (``symkeep.errors``): a destination that cannot be written (missing or
read-only directory, a FIFO, device or directory in the way) is ``OutputError`` (3); ``--install`` or
``--perf-cache`` on a binary without a GNU build-id is ``NotFoundError`` (1: the key these layouts
are named by is not there); conflicting options are ``UsageError`` (2).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from symkeep.binfmt.debugdirs import build_id_debug_path, perf_cache_entry, perf_cache_link
from symkeep.errors import NotFoundError, OutputError, UsageError
from symkeep.fsio import STDIO, OutputTarget, check_input_file
from symkeep.golang.buildid import gnu_build_id, go_build_id
from symkeep.restore.debugfile import RestoreResult, restore_result
from symkeep.restore.model import elf_of
from symkeep.symbolize import GoEngine

__all__ = [
    "NO_BUILD_ID_WARNING",
    "PLACES",
    "Published",
    "PublishPlan",
    "PublishRequest",
    "default_perf_cache",
    "execute",
    "plan",
    "publish",
]

PLACES = ("text", "rodata")
NO_BUILD_ID_WARNING = (
    "{path} has no GNU build-id note, so gdb/perf/debuginfod cannot find a debug file for it by "
    "build ID. Rebuild with -ldflags=-B=gobuildid (Go 1.22+; derives a GNU build-id from the Go build "
    "ID, default from Go 1.24 with the internal linker) or use --debuglink."
)


def default_perf_cache() -> Path:
    """perf's build-id cache: ``$PERF_BUILDID_DIR``, else ``~/.debug``."""
    return Path(os.environ.get("PERF_BUILDID_DIR") or os.path.join(os.path.expanduser("~"), ".debug"))


@dataclass(frozen=True)
class PublishRequest:
    """What to write. ``output`` ``"-"`` is standard output; ``None`` means ``BINARY.debug`` unless the
    file only goes into a build-id layout."""

    binary: str
    output: str | None = None
    install_dir: str | None = None
    perf_cache: bool = False
    perf_cache_dir: str | None = None  # default: default_perf_cache()
    perf_unwind: bool = True
    perf_unwind_place: str = "text"
    debuglink: str | None = None  # path of the copy of BINARY with a .gnu_debuglink section


@dataclass(frozen=True)
class PublishPlan:
    """Checked destinations (nothing written yet)."""

    request: PublishRequest
    gnu_build_id: str | None
    go_build_id: str | None
    debug: OutputTarget | None
    install: OutputTarget | None
    perf_debug: OutputTarget | None
    perf_elf: OutputTarget | None
    perf_link: Path | None
    debuglink: OutputTarget | None
    debuglink_name: str
    warnings: tuple[str, ...] = ()

    def targets(self) -> list[tuple[str, OutputTarget]]:
        """(kind, target) of every file this plan writes, in write order."""
        rows = [("debug_file", self.debug), ("build_id_file", self.install), ("perf_cache_file", self.perf_debug),
                ("perf_cache_elf", self.perf_elf), ("debuglink_binary", self.debuglink)]
        return [(k, t) for k, t in rows if t is not None]


@dataclass
class Published:
    """What ``execute`` wrote: ``written`` kind -> path (``<stdout>`` for ``-o -``), as --json shows it."""

    result: RestoreResult
    written: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def _same_file(a: Path | None, b: Path) -> bool:
    if a is None:
        return False
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def plan(gobin: GoEngine, req: PublishRequest) -> PublishPlan:
    """Check every destination and precondition of ``req``; raise before anything is written."""
    elf = elf_of(gobin, "restore")
    binary = check_input_file(req.binary)
    if req.perf_unwind_place not in PLACES:
        raise UsageError(f"unknown unwind-table placement {req.perf_unwind_place!r} (text or rodata)")
    gnu = gnu_build_id(elf)
    if gnu is None and (req.install_dir is not None or req.perf_cache):
        what = "--install" if req.install_dir is not None else "--perf-cache"
        raise NotFoundError(
            f"{what} needs a GNU build-id, and {req.binary} has none (no build-id path to file the debug file "
            "under); rebuild with -ldflags=-B=gobuildid (Go 1.22+), or use -o / --debuglink")
    output = req.output
    if output is None and ((req.install_dir is None and not req.perf_cache) or req.debuglink is not None):
        output = req.binary + ".debug"
    if output == STDIO and req.debuglink is not None:
        raise UsageError("--debuglink names the debug file on disk; it cannot be used with -o - (standard output)")
    if req.debuglink == STDIO:
        raise UsageError("--debuglink writes a copy of the binary to a file; '-' is not allowed there")
    debug = OutputTarget.check(output) if output is not None else None
    debuglink = OutputTarget.check(req.debuglink) if req.debuglink is not None else None
    for kind, t in (("-o", debug), ("--debuglink", debuglink)):
        if t is not None and _same_file(t.path, binary):
            raise UsageError(f"{kind} {t.given} is the input binary itself; refusing to overwrite it")
    if debug is not None and debuglink is not None and debug.path == debuglink.path:
        raise UsageError(f"-o and --debuglink name the same file ({debug.given})")
    install = None
    if req.install_dir is not None:
        assert gnu is not None
        install = OutputTarget.check(build_id_debug_path(req.install_dir, gnu), parents=True)
    perf_debug = perf_elf = None
    perf_link: Path | None = None
    if req.perf_cache:
        assert gnu is not None
        cache = Path(req.perf_cache_dir) if req.perf_cache_dir is not None else default_perf_cache()
        entry = perf_cache_entry(cache, req.binary, gnu)
        perf_debug = OutputTarget.check(entry / "debug", parents=True)
        if req.perf_unwind:
            perf_elf = OutputTarget.check(entry / "elf", parents=True)
        perf_link = perf_cache_link(cache, gnu)
        OutputTarget.check(_link_tmp(perf_link), parents=True)  # where the new link is made, then renamed
        if perf_link.exists() and not perf_link.is_symlink() and perf_link.is_dir():
            raise OutputError(f"{perf_link}: is a directory; refusing to replace it with perf's build-id link")
    warnings = () if gnu is not None else (NO_BUILD_ID_WARNING.format(path=req.binary),)
    return PublishPlan(req, gnu, go_build_id(elf), debug, install, perf_debug, perf_elf, perf_link, debuglink,
                       os.path.basename(debug.given) if debug is not None and debug.path is not None else "",
                       warnings)


def execute(gobin: GoEngine, p: PublishPlan, result: RestoreResult | None = None) -> Published:
    """Build everything in memory, then write it; a failed write removes the files this run created."""
    res = result if result is not None else restore_result(gobin)
    req = p.request
    payload: dict[str, bytes] = {}
    modes: dict[str, int] = {}
    out = Published(res, warnings=list(p.warnings))
    unwind: dict[str, Any] = {}
    if p.perf_elf is not None:
        from symkeep.restore.ehframe import unwindable_copy

        uc = unwindable_copy(gobin, place=req.perf_unwind_place)
        payload["perf_cache_elf"], modes["perf_cache_elf"] = uc.data, 0o755
        unwind = uc.as_dict()
    if p.debuglink is not None:
        from symkeep.restore.debuglink import add_debuglink, read_binary

        data, mode = read_binary(req.binary)
        payload["debuglink_binary"] = add_debuglink(data, p.debuglink_name, res.data)
        modes["debuglink_binary"] = mode | 0o100
    done: list[OutputTarget] = []
    try:
        for kind, target in p.targets():
            target.write(payload.get(kind, res.data), mode=modes.get(kind, 0o644))
            done.append(target)
            out.written[kind] = str(target.path) if target.path is not None else "<stdout>"
            if kind == "perf_cache_elf":
                out.written["perf_unwind"] = unwind
        if p.perf_link is not None and p.perf_debug is not None and p.perf_debug.path is not None:
            _link(p.perf_link, p.perf_debug.path.parent)
            out.written["perf_cache_link"] = str(p.perf_link)
    except BaseException:
        for t in done:
            t.discard()
        raise
    if p.debuglink is not None:
        out.written["debuglink_name"] = p.debuglink_name
    return out


def _link_tmp(link: Path) -> Path:
    return link.with_name(f".{link.name}.tmp{os.getpid()}")


def _link(link: Path, target_dir: Path) -> None:
    """perf's ``.build-id/xx/rest`` symlink to the cache entry directory (relative, as perf makes it)."""
    rel = os.path.relpath(target_dir, link.parent)
    try:
        link.parent.mkdir(parents=True, exist_ok=True)
        if link.is_symlink() and os.readlink(link) == rel:
            return
        tmp = _link_tmp(link)
        if tmp.is_symlink() or tmp.exists():
            tmp.unlink()
        os.symlink(rel, tmp)
        os.replace(tmp, link)  # atomic: a reader sees the old link or the new one
    except OSError as e:
        raise OutputError(f"cannot create perf build-id link {link}: {e.strerror or e}") from e


def publish(gobin: GoEngine, req: PublishRequest) -> Published:
    """``plan`` then ``execute``: what ``symkeep restore`` does."""
    return execute(gobin, plan(gobin, req))
