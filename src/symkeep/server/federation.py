"""Federation: a miss is asked of the upstream debuginfod servers, and what they send is stored.

Each upstream is tried in order (``--upstream``, default ``$DEBUGINFOD_URLS``), with our own timeout and
size cap; the file is streamed to a staging file, checked like an upload (an executable or debug file
must carry the requested build ID) and ingested with uploader ``upstream:URL`` and the upstream's
``X-DEBUGINFOD-ARCHIVE``. Concurrent misses for the same file make one fetch; a miss everywhere is
remembered for a minute. Requests we send carry ``X-Symkeep-Federated: 1`` and a symkeep server never
federates such a request, so two servers listing each other cannot loop.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from urllib.parse import quote, unquote

import aiohttp

from symkeep.errors import SymkeepError
from symkeep.server.context import ServerContext
from symkeep.store import quote_id
from symkeep.store.meta import describe

__all__ = ["federate"]

FEDERATED_HEADER = "X-Symkeep-Federated"


async def federate(ctx: ServerContext, bid: str, kind: str, path: str) -> bool:
    key = ("fed", bid, kind, path)
    if ctx.negative.get(key):
        return False

    async def run() -> bool:
        for base in ctx.config.upstreams:
            try:
                if await _fetch_one(ctx, base.rstrip("/"), bid, kind, path):
                    ctx.metrics.inc("federation", "hit")
                    return True
            except (aiohttp.ClientError, TimeoutError, OSError, SymkeepError) as e:
                ctx.log(f"upstream {base}: {type(e).__name__}: {e}")
                ctx.metrics.inc("federation", "error")
        ctx.metrics.inc("federation", "miss")
        ctx.negative.put(key, True)
        return False

    return await ctx.single_flight(key, run)


async def _session(ctx: ServerContext) -> aiohttp.ClientSession:
    if ctx.http is None or ctx.http.closed:
        ctx.http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=ctx.config.upstream_timeout))
    return ctx.http


async def _fetch_one(ctx: ServerContext, base: str, bid: str, kind: str, path: str) -> bool:
    url = f"{base}/buildid/{quote_id(bid)}/{kind}"
    if kind == "source":
        url += quote(path, safe="/")
    sess = await _session(ctx)
    cap = ctx.config.max_fetch
    headers = {FEDERATED_HEADER: "1", "X-DEBUGINFOD-MAXSIZE": str(cap)}
    async with sess.get(url, headers=headers) as resp:
        if resp.status != 200:
            return False
        if resp.content_length is not None and resp.content_length > cap:
            return False
        stage = ctx.store.new_staging_path()
        try:
            h = hashlib.sha256()
            n = 0
            with open(stage, "wb") as f:
                async for chunk in resp.content.iter_chunked(1 << 20):
                    n += len(chunk)
                    if n > cap:
                        return False
                    h.update(chunk)
                    f.write(chunk)
                f.flush()
                os.fsync(f.fileno())
            if n == 0:
                return False
            file_name = unquote(resp.headers.get("X-DEBUGINFOD-FILE", ""))[:1024]
            archive = unquote(resp.headers.get("X-DEBUGINFOD-ARCHIVE", ""))[:1024]
            return await ctx.blocking(_ingest, ctx, stage, bid, kind, path, base, (h.hexdigest(), n),
                                      file_name, archive)
        finally:
            with contextlib.suppress(OSError):
                stage.unlink()


def _ingest(ctx: ServerContext, stage: os.PathLike[str], bid: str, kind: str, path: str, base: str,
            sha: tuple[str, int], file_name: str, archive: str) -> bool:
    store = ctx.store
    if kind == "source":
        recs = store.records(bid)
        keys = sorted({k for r in recs for k in (r.gnu_build_id, r.go_build_id) if k} | {bid})
        res = store.ingest(stage, kind="source", keys=keys, source_path=path, uploader=f"upstream:{base}",
                           file_name=file_name or path, sha=sha, archive=archive)
    else:
        info = describe(os.fspath(stage))
        if bid not in info.ids:
            ctx.log(f"upstream {base} sent a file for {bid} that carries {info.ids}; dropped")
            return False
        res = store.ingest(stage, kind=kind, info=info, keys=info.ids, uploader=f"upstream:{base}",
                           file_name=file_name, sha=sha, archive=archive)
    for r in res:
        for syn in (True, False):
            ctx.resolved.drop((r.build_id, kind, path, syn))
    return any(r.status in ("stored", "exists") for r in res)
