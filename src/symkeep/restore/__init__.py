"""Synthesize ELF debug companions from a Go binary's .gopclntab, and publish them.

Library entry points (the CLI and archive-time synthesis share them):

- ``restore_result(gobin) -> RestoreResult``: the debug file in memory (pure, deterministic);
- ``publish(gobin, PublishRequest)`` = ``plan`` (every destination checked, nothing written) then
  ``execute`` (``-o`` file, ``.build-id`` tree, perf cache with an unwindable copy, debuglinked copy);
- ``restore_to_file(gobin, path)``: the debug file at ``path`` (checked first, written atomically).

Modules: ``debugfile`` (layout), ``symtab`` (the linker's names), ``dwarf_writer``, ``cfi``,
``ehframe`` (unwindable copy for perf), ``debuglink``, ``elfwriter``, ``publish``.
"""

from __future__ import annotations

import os

from symkeep.fsio import OutputTarget
from symkeep.restore.debugfile import RestoreResult, restore_result
from symkeep.restore.publish import Published, PublishPlan, PublishRequest, execute, plan, publish
from symkeep.symbolize import GoEngine

__all__ = [
    "PublishPlan",
    "PublishRequest",
    "Published",
    "RestoreResult",
    "execute",
    "plan",
    "publish",
    "restore",
    "restore_result",
    "restore_to_file",
]


def restore(gobin: GoEngine) -> bytes:
    """The debug file's bytes (deterministic)."""
    return restore_result(gobin).data


def restore_to_file(gobin: GoEngine, path: str | os.PathLike[str]) -> RestoreResult:
    """Write the debug file to ``path`` (checked before the work, written atomically)."""
    target = OutputTarget.check(path)
    res = restore_result(gobin)
    target.write(res.data)
    return res
