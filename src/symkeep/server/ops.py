"""Operations endpoints: ``/healthz``, ``/metrics`` (Prometheus text) and ``/metadata`` (JSON search).

``/metadata?key=file&value=PATH`` (exact archived path) and ``key=glob&value=PATTERN`` (fnmatch on the
archived path) answer as elfutils does, ``{"results": [{"type", "buildid", "file", "archive"}],
"complete": true}``, each result extended with the record's Go metadata; ``key=buildid``,
``key=module`` and ``key=go_build_id`` are symkeep extensions. The search scans the index (in the pool).
"""

from __future__ import annotations

import fnmatch
import json
from typing import Any

from aiohttp import web

from symkeep.errors import UsageError
from symkeep.server.context import CTX, ServerContext
from symkeep.store import Record

__all__ = ["setup"]

MAX_RESULTS = 10000
KEYS = ("file", "glob", "buildid", "module", "go_build_id")


async def healthz(request: web.Request) -> web.StreamResponse:
    request["endpoint"] = "healthz"
    ctx = request.app[CTX]
    ok = await ctx.blocking(_probe, ctx)
    return web.Response(status=200 if ok else 503, text="ok\n" if ok else "store unavailable\n")


def _probe(ctx: ServerContext) -> bool:
    try:
        ctx.store.records("00000000")
        return True
    except Exception:  # noqa: BLE001 - any failure of the store is "unhealthy"
        return False


async def metrics(request: web.Request) -> web.StreamResponse:
    request["endpoint"] = "metrics"
    ctx = request.app[CTX]
    ctx.check_read(request)
    return web.Response(text=ctx.metrics.render(), content_type="text/plain", charset="utf-8",
                        headers={"Cache-Control": "no-store"})


def _match(rec: Record, key: str, value: str) -> bool:
    if key == "file":
        return rec.file == value
    if key == "glob":
        return fnmatch.fnmatchcase(rec.file, value)
    if key == "buildid":
        return value in (rec.build_id, rec.gnu_build_id, rec.go_build_id)
    if key == "module":
        return rec.module == value
    return rec.go_build_id == value


def _search(ctx: ServerContext, key: str, value: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    seen: set[tuple[str, str, str]] = set()
    for rec in ctx.store.iter_records():
        if rec.kind == "index" or not _match(rec, key, value):
            continue
        ident = (rec.sha256, rec.kind, rec.path)
        if ident in seen:  # one result per artifact, not per build ID it is filed under
            continue
        seen.add(ident)
        out.append({"type": rec.kind, "buildid": rec.gnu_build_id or rec.build_id, "file": rec.file,
                    "archive": rec.archive or None, "go_build_id": rec.go_build_id, "size": rec.size,
                    "sha256": rec.sha256, "go_version": rec.go_version, "module": rec.module,
                    "vcs_revision": rec.vcs_revision, "has_dwarf": rec.has_dwarf, "source_path": rec.path or None,
                    "uploaded_at": rec.uploaded_at})
        if len(out) >= MAX_RESULTS:
            break
    return out


async def metadata(request: web.Request) -> web.StreamResponse:
    request["endpoint"] = "metadata"
    ctx = request.app[CTX]
    ctx.check_read(request)
    key = request.query.get("key", "")
    value = request.query.get("value", "")
    if key not in KEYS or not value or len(value) > 4096:
        raise UsageError(f"/metadata needs key={'|'.join(KEYS)} and a value")
    results = await ctx.blocking(_search, ctx, key, value)
    body = {"results": results, "complete": len(results) < MAX_RESULTS}
    return web.Response(text=json.dumps(body) + "\n", content_type="application/json")


def setup(app: web.Application) -> None:
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/metadata", metadata)
