"""Make a cell's binary: ``go build`` with the variant's flags, or a post-build step on its base's binary.

Both write into the cell's build directory in the matrix cache (a build is reused when its key and
``build.json`` are there); failures are recorded on the cell, never raised.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

from symkeep.errors import SymkeepError
from symkeep.matrix.cache import MatrixCache
from symkeep.matrix.cells import Cell, fail

__all__ = ["bin_name", "build_cell", "post_cell"]


def bin_name(src: Path) -> str:
    return "symkeep-demo" if src.name == "demo" else (src.name or "prog")


def build_cell(c: Cell, src: Path, cache: MatrixCache, goos: str, goarch: str) -> None:
    from symkeep.build.gobuild import build

    assert c.tc is not None
    d = cache.build_dir(c.bkey)
    out = d / bin_name(src)
    meta = d / "build.json"
    if out.is_file() and meta.is_file():
        try:
            c.build = json.loads(meta.read_text())
            c.binary = out
            c.built_ldflags = c.variant.ldflags
            return
        except ValueError:
            pass
    v = c.variant
    try:
        res = build(c.tc, src, out, goos=goos, goarch=goarch, ldflags=v.ldflags, gcflags=v.gcflags,
                    buildmode=v.buildmode, trimpath=v.trimpath, cgo=v.cgo, extra_args=v.extra_args)
    except Exception as e:  # noqa: BLE001 - a failed build is this cell's result
        fail(c, "build", "build failed", e)
        return
    c.binary = res.path
    c.built_ldflags = v.ldflags
    c.build = {"seconds": res.seconds, "cmd": list(res.cmd)}
    meta.write_text(json.dumps(c.build))


def post_cell(c: Cell, base: Cell | None, cache: MatrixCache) -> None:
    """strip / split (objcopy --only-keep-debug + debuglink) / restore (symkeep restore + debuglink)."""
    if c.error:
        return
    if base is None or base.binary is None:
        why = base.error if base is not None else f"base variant {c.variant.base!r} not selected"
        c.error, c.error_stage = f"base variant {c.variant.base} unavailable: {why}", "post"
        return
    d = cache.build_dir(c.bkey)
    d.mkdir(parents=True, exist_ok=True)
    out = d / base.binary.name
    dbg = d / (out.name + ".debug")
    t0 = time.monotonic()
    cmds: list[list[str]] = []
    try:
        tmp = d / (out.name + ".tmp")
        shutil.copy2(base.binary, tmp)
        post = c.variant.post
        if post == "strip":
            cmds.append(["strip", str(tmp)])
        elif post == "split":
            cmds += [
                ["objcopy", "--only-keep-debug", str(tmp), str(dbg)],
                ["strip", "--strip-debug", "--strip-unneeded", str(tmp)],
                ["objcopy", f"--add-gnu-debuglink={dbg}", str(tmp)],
            ]
        elif post == "restore":
            from symkeep.restore import restore_to_file
            from symkeep.symbolize import open_go_binary

            with open_go_binary(str(tmp)) as gob:
                restore_to_file(gob, dbg)
            cmds.append(["symkeep restore", str(tmp), "-o", str(dbg)])
            cmds.append(["objcopy", f"--add-gnu-debuglink={dbg}", str(tmp)])
        for cmd in cmds:
            if cmd[0] == "symkeep restore":
                continue
            r = subprocess.run(cmd, capture_output=True, text=True, cwd=d, timeout=300)
            if r.returncode != 0:
                raise SymkeepError(f"{' '.join(cmd)} failed: {r.stderr.strip()[:300]}")
        os.replace(tmp, out)
    except Exception as e:  # noqa: BLE001 - a failed post step is this cell's result
        fail(c, "post", f"post-build step {c.variant.post} failed", e)
        return
    c.binary = out
    c.built_ldflags = base.built_ldflags
    c.build = {"seconds": float(base.build.get("seconds", 0.0)) + time.monotonic() - t0,
               "cmd": [*base.build.get("cmd", []), *(" ".join(x) for x in cmds)]}
    if dbg.exists():
        c.build["debug_file"] = str(dbg)
        c.build["debug_file_size"] = dbg.stat().st_size
