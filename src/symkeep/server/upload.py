"""``PUT /buildid/ID/KIND``: authenticated uploads (KIND: executable, debuginfo, synthesized, source/PATH).

The body is streamed to a staging file next to the store (never held in memory), hashed on the way,
capped at ``max_upload`` (413, also refused up front from ``Content-Length``), then checked: an
executable or debug file must be an ELF/Mach-O/PE file carrying the ID of the URL (409 otherwise,
unless the writer sends ``X-Symkeep-Key: 1`` to file a file without build IDs under an explicit key);
a source needs the build to exist. The staging file is removed on every path out. Answers JSON
``{"results": [...]}``: 201 when something was stored, 200 when it already was, 409 on a conflicting
upload (another file already holds that slot: the first writer wins).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from pathlib import Path
from urllib.parse import unquote

from aiohttp import web

from symkeep.errors import LimitError, MismatchError, NotFoundError, SymkeepError, UsageError
from symkeep.server.context import CTX, ServerContext
from symkeep.server.debuginfod import parse_buildid_path
from symkeep.store import PutResult
from symkeep.store.meta import describe
from symkeep.store.record import check_kind

__all__ = ["setup"]


def _parse(raw_path: str) -> tuple[str, str, str]:
    parts = raw_path.split("/")
    if len(parts) == 4 and parts[3] == "synthesized":
        bid, _, _ = parse_buildid_path("/".join(parts[:3] + ["executable"]))
        return bid, "synthesized", ""
    bid, kind, arg = parse_buildid_path(raw_path)
    if kind == "index":
        raise UsageError("symbol indexes are built by the server from the executable; they cannot be uploaded")
    if kind == "section":
        raise UsageError("sections cannot be uploaded; upload the file that holds them")
    return bid, check_kind(kind), arg


def _ingest(ctx: ServerContext, stage: Path, bid: str, kind: str, path: str, uploader: str,
            sha: tuple[str, int], explicit_key: bool, file_name: str) -> list[PutResult]:
    store = ctx.store
    if kind == "source":
        recs = store.records(bid)
        if not recs:
            raise NotFoundError(f"build {bid} is not in the store; upload its executable or debug file first")
        keys = sorted({k for r in recs for k in (r.gnu_build_id, r.go_build_id) if k} | {bid})
        return store.ingest(stage, kind="source", keys=keys, source_path=path, uploader=uploader,
                            file_name=file_name or path, sha=sha)
    info = describe(str(stage))
    if explicit_key:
        keys = [bid]
    else:
        if bid not in info.ids:
            raise MismatchError(f"the uploaded file carries build IDs {info.ids or 'none'}, not {bid}")
        keys = info.ids
    if kind == "executable" and not info.has_code:
        raise UsageError("this file has no code (a debug-only file): upload it as debuginfo")
    out = store.ingest(stage, kind=kind, info=info, keys=keys, uploader=uploader,
                       file_name=file_name or bid, sha=sha)
    if kind == "executable" and info.has_pclntab and any(r.status == "stored" for r in out):
        from symkeep.store.symindex import archive_index

        try:  # built once here, so no worker or replica decodes this binary again
            out += archive_index(store, stage, keys, uploader)
        except SymkeepError as e:
            ctx.log(f"no symbol index for {bid}: {e}")
    return out


async def handle_put(request: web.Request) -> web.StreamResponse:
    ctx = request.app[CTX]
    request["endpoint"] = "upload"
    uploader = ctx.check_write(request)
    bid, kind, path = _parse(request.rel_url.raw_path)
    cap = ctx.config.max_upload
    if request.content_length is not None and request.content_length > cap:
        raise LimitError(f"upload of {request.content_length} bytes is over the server's limit of {cap} bytes")
    stage = ctx.store.new_staging_path()
    h = hashlib.sha256()
    n = 0
    try:
        with open(stage, "wb") as f:
            async for chunk in request.content.iter_chunked(1 << 20):
                n += len(chunk)
                if n > cap:
                    raise LimitError(f"upload is over the server's limit of {cap} bytes")
                h.update(chunk)
                f.write(chunk)
            f.flush()
            await ctx.blocking(os.fsync, f.fileno())
        if n == 0:
            raise UsageError("empty upload")
        file_name = unquote(request.headers.get("X-Symkeep-File", ""))[:1024]
        results = await ctx.blocking(_ingest, ctx, stage, bid, kind, path, uploader, (h.hexdigest(), n),
                                     request.headers.get("X-Symkeep-Key") == "1", file_name)
    finally:
        with contextlib.suppress(OSError):
            stage.unlink()
    for r in results:
        for syn in (True, False):
            ctx.resolved.drop((r.build_id, r.kind, r.path, syn))
            ctx.resolved.drop((r.build_id, "debuginfo", "", syn))
    statuses = {r.status for r in results}
    status = 201 if "stored" in statuses else (409 if statuses == {"conflict"} else 200)
    ctx.metrics.inc("uploads", "stored" if status == 201 else ("conflict" if status == 409 else "exists"))
    return web.Response(status=status, content_type="application/json",
                        text=json.dumps({"results": [r.as_dict() for r in results]}) + "\n")


def setup(app: web.Application) -> None:
    app.router.add_put("/buildid/{tail:.+}", handle_put)
