"""``split``: a stripped executable plus its debug file, as ``objcopy --only-keep-debug`` + ``strip``.

With DWARF or a symbol table present, binutils ``objcopy`` (or ``llvm-objcopy``) does the work:
``--only-keep-debug`` for the debug file (build-id notes kept), then ``--strip-debug --strip-unneeded
--add-gnu-debuglink=DEBUG`` for the executable. A missing tool is a ToolError (exit 8). For a binary that
is already stripped, ``synthesize=True`` writes the ``restore`` debug file instead and a copy of the
binary with a ``.gnu_debuglink`` to it. Both outputs are written to temporary files and renamed at the end.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from symkeep.errors import ToolError, UnsupportedError, UsageError
from symkeep.fsio import OutputTarget, check_input_file
from symkeep.store.meta import describe

__all__ = ["SplitResult", "find_objcopy", "split_binary"]


@dataclass
class SplitResult:
    stripped: str
    debug: str
    method: str  # objcopy path, or "synthesized"
    gnu_build_id: str | None
    go_build_id: str | None
    stripped_size: int
    debug_size: int

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def find_objcopy(explicit: str | None = None) -> str:
    for name in ([explicit] if explicit else ["objcopy", "llvm-objcopy"]):
        p = shutil.which(name)
        if p:
            return p
    raise ToolError(f"{explicit or 'objcopy (binutils) or llvm-objcopy'} not found; install binutils, or use "
                    "--synthesize on an already stripped Go binary")


def _run(cmd: list[str]) -> None:
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    except OSError as e:
        raise ToolError(f"{cmd[0]}: {e}") from e
    if r.returncode != 0:
        raise ToolError(f"{os.path.basename(cmd[0])} failed: {(r.stderr or r.stdout).strip()[:500]}")


def split_binary(binary: str, stripped_out: str | None = None, debug_out: str | None = None, *,
                 synthesize: bool = False, objcopy: str | None = None) -> SplitResult:
    src = check_input_file(binary)
    info = describe(str(src))
    if info.format != "elf":
        raise UnsupportedError(f"{binary}: split handles ELF only ({info.format})")
    if not info.has_code:
        raise UsageError(f"{binary}: is already a debug-only file")
    stripped_t = OutputTarget.check(stripped_out or f"{binary}.stripped")
    debug_t = OutputTarget.check(debug_out or f"{binary}.debug")
    if stripped_t.path is None or debug_t.path is None:
        raise UsageError("split writes files; '-' is not accepted")
    has_debug = info.has_dwarf or info.has_symtab
    if not has_debug and not synthesize:
        raise UsageError(f"{binary}: already stripped (no DWARF, no .symtab); --synthesize writes a debug file "
                         "synthesized from .gopclntab instead")
    work = Path(tempfile.mkdtemp(prefix=".symkeep-split-", dir=debug_t.path.parent))
    try:
        dbg_tmp = work / debug_t.path.name
        exe_tmp = work / (stripped_t.path.name + ".tmp")
        if has_debug and not synthesize:
            tool = find_objcopy(objcopy)
            _run([tool, "--only-keep-debug", str(src), str(dbg_tmp)])
            _run([tool, "--strip-debug", "--strip-unneeded", f"--add-gnu-debuglink={dbg_tmp}", str(src),
                  str(exe_tmp)])
            method = tool
        else:
            if not info.has_pclntab:
                raise UnsupportedError(f"{binary}: no .gopclntab to synthesize a debug file from")
            from symkeep.restore import restore_result
            from symkeep.restore.debuglink import add_debuglink
            from symkeep.symbolize import open_go_binary

            gob = open_go_binary(str(src))
            data = restore_result(gob).data
            dbg_tmp.write_bytes(data)
            exe_tmp.write_bytes(add_debuglink(src.read_bytes(), debug_t.path.name, data))
            method = "synthesized"
        os.chmod(exe_tmp, os.stat(src).st_mode & 0o777)
        for p in (dbg_tmp, exe_tmp):
            with open(p, "rb+") as f:
                os.fsync(f.fileno())
        os.replace(dbg_tmp, debug_t.path)
        os.replace(exe_tmp, stripped_t.path)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return SplitResult(str(stripped_t.path), str(debug_t.path), method, info.gnu_build_id, info.go_build_id,
                       os.path.getsize(stripped_t.path), os.path.getsize(debug_t.path))


