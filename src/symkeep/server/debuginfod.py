"""The debuginfod read protocol: ``GET``/``HEAD /buildid/ID/{debuginfo,executable,section/NAME,source/PATH}``.

``ID`` is a GNU build-id or a Go build ID (``/`` sent as ``%2F``). The URL is parsed from the raw
(still percent-encoded) path, one segment at a time, so ``%2F`` inside the ID and ``..``/``%2e%2e``
in a source path are seen for what they are; source paths are looked up in the index, never on disk.
On a miss: ``/debuginfo`` of a stored stripped Go executable is synthesized (once, in the thread pool)
and stored; then upstream servers are asked (``federation``). Responses carry the debuginfod headers
(``X-DEBUGINFOD-SIZE``, ``-FILE``, ``-ARCHIVE``) and honour ``X-DEBUGINFOD-MAXSIZE`` (406).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from aiohttp import web

from symkeep.binfmt import open_binary
from symkeep.errors import NotFoundError, SymkeepError, UsageError
from symkeep.server.context import CTX, ServerContext
from symkeep.server.federation import FEDERATED_HEADER, federate
from symkeep.server.files import SMALL, file_response
from symkeep.store import Record, unquote_id

__all__ = ["parse_buildid_path", "setup"]

_SECTION = re.compile(r"^[\x21\x23-\x5b\x5d-\x7e]{1,256}$")  # printable ASCII but '"' and '\\'
MAX_SOURCE_PATH = 4096


def _seg(raw: str) -> str:
    try:
        return unquote(raw, errors="strict")
    except UnicodeDecodeError:
        raise UsageError("bad percent-encoding in URL") from None


def parse_buildid_path(raw_path: str) -> tuple[str, str, str]:
    """(build ID, kind, arg) from a raw ``/buildid/...`` path; arg = section name or source path."""
    parts = raw_path.split("/")
    if len(parts) < 4 or parts[0] != "" or parts[1] != "buildid":
        raise NotFoundError("not a /buildid/ID/KIND URL")
    bid = unquote_id(parts[2])
    kind = parts[3]
    if kind in ("debuginfo", "executable") and len(parts) == 4:
        return bid, kind, ""
    if kind == "section" and len(parts) == 5:
        name = _seg(parts[4])
        if not _SECTION.match(name) or "/" in name:
            raise UsageError(f"bad section name {name[:60]!r}")
        return bid, kind, name
    if kind == "source" and len(parts) >= 5:
        if len(raw_path) > 3 * MAX_SOURCE_PATH:
            raise UsageError("source path too long")
        segs = [_seg(p) for p in parts[4:]]
        path = "/" + "/".join(segs)
        comps = path.split("/")[1:]
        if any(c in ("", ".", "..") for c in comps) or "\0" in path or "\\" in path:
            raise UsageError("bad source path: empty, '.' or '..' components are refused")
        return bid, kind, path
    raise NotFoundError(f"unknown debuginfod request kind {kind[:40]!r}")


def _header_value(s: str) -> str:
    """A file name as a header value: printable ASCII kept, anything else percent-encoded."""
    return quote(s, safe="/:@+,;=~!$&'()*-._ ")[:1024]


def _check_maxsize(request: web.Request, size: int) -> None:
    m = request.headers.get("X-DEBUGINFOD-MAXSIZE")
    if m is not None:
        try:
            limit = int(m)
        except ValueError:
            raise UsageError("bad X-DEBUGINFOD-MAXSIZE") from None
        if 0 < limit < size:
            raise web.HTTPNotAcceptable(text=f"symkeep: error: file is {size} bytes, over the client's "
                                             f"X-DEBUGINFOD-MAXSIZE {limit}\n")


async def resolve(ctx: ServerContext, request: web.Request, bid: str, kind: str, path: str,
                  synthesize: bool = True) -> Record | None:
    """The record a request gets; on a miss, synthesize (``/debuginfo`` only) and then federate."""
    key = (bid, kind, path, synthesize)
    hit = ctx.resolved.get(key)
    if hit is not None:
        ctx.metrics.inc("resolve_cache", "hit")
        return hit if isinstance(hit, Record) else None
    ctx.metrics.inc("resolve_cache", "miss")
    store = ctx.store
    rec = (await ctx.blocking(store.resolve, bid, kind, path)) if ctx.remote else store.resolve(bid, kind, path)
    if rec is None and kind == "debuginfo" and synthesize and ctx.config.synthesize:
        rec = await _synthesize(ctx, bid)
    if (rec is None and ctx.config.upstreams and FEDERATED_HEADER not in request.headers
            and await federate(ctx, bid, kind, path)):
        rec = await ctx.blocking(store.resolve, bid, kind, path)
    ctx.resolved.put(key, rec if rec is not None else False)
    return rec


async def _synthesize(ctx: ServerContext, bid: str) -> Record | None:
    store = ctx.store
    exe = (await ctx.blocking(store.lookup, bid, "executable")) if ctx.remote else store.lookup(bid, "executable")
    if exe is None or exe.format != "elf" or not exe.has_pclntab or exe.has_dwarf:
        return None

    async def run() -> None:
        await ctx.blocking(store.synthesize, bid, "symkeep-serve")

    try:
        await ctx.single_flight(("synth", exe.sha256), run)
        ctx.metrics.inc("synthesized")
    except SymkeepError as e:
        ctx.metrics.inc("synthesis_failures")
        ctx.log(f"synthesis of {bid} failed: {e}")
        return None
    return await ctx.blocking(store.resolve, bid, "debuginfo", "")


async def blob_path(ctx: ServerContext, rec: Record) -> Path:
    p = ctx.store.is_verified(rec)
    if p is not None:
        return Path(p)
    try:
        return await ctx.blocking(ctx.store.blob_file, rec)
    except SymkeepError:
        ctx.metrics.inc("integrity_failures")
        raise


def _debug_headers(rec: Record, size: int) -> dict[str, str]:
    h = {"X-DEBUGINFOD-SIZE": str(size), "X-DEBUGINFOD-FILE": _header_value(rec.file or rec.sha256),
         "X-Symkeep-Kind": rec.kind, "Cache-Control": "public, max-age=3600"}
    if rec.archive:
        h["X-DEBUGINFOD-ARCHIVE"] = _header_value(rec.archive)
    if rec.kind == "synthesized":
        h["X-Symkeep-Synthesized"] = "1"
    return h


def _find_section(path: Path, name: str) -> tuple[int, int, bytes | None] | None:
    b = open_binary(path)
    try:
        sec = b.section(name)
        if sec is None or sec.file_size == 0 or sec.raw_type == 8:  # absent or SHT_NOBITS
            return None
        size = sec.file_size
        data = bytes(b.view(sec.offset, size)) if size <= SMALL else None
        return sec.offset, size, data
    finally:
        b.close()


async def _section(ctx: ServerContext, request: web.Request, bid: str, name: str) -> web.StreamResponse:
    for kind in ("debuginfo", "executable"):
        # sections come from a real file of the build: never synthesize one just to look inside it
        rec = await resolve(ctx, request, bid, kind, "", synthesize=False)
        if rec is None:
            continue
        path = await blob_path(ctx, rec)
        key = (rec.sha256, name)
        found: Any = ctx.sections.get(key)
        if found is None:
            try:
                found = await ctx.blocking(_find_section, path, name) or False
            except SymkeepError:
                found = False
            ctx.sections.put(key, found)
        if found:
            off, size, data = found
            etag, headers = f'"{rec.sha256[:32]}-{name}"', _debug_headers(rec, size)
            if data is not None:  # verified bytes in memory: later requests skip the lookups (resolve_ttl)
                ctx.small.put(request.rel_url.raw_path, (etag, headers, data))
            _check_maxsize(request, size)
            request["bytes"] = 0 if request.method == "HEAD" else size
            return file_response(request, path, off, size, etag, headers, body=data)
    raise NotFoundError(f"build {bid}: no section {name}")


async def handle_buildid(request: web.Request) -> web.StreamResponse:
    ctx = request.app[CTX]
    ctx.check_read(request)
    small = ctx.small.get(request.rel_url.raw_path)
    if small is not None:
        etag, headers, data = small
        request["endpoint"] = "section"
        _check_maxsize(request, len(data))
        request["bytes"] = 0 if request.method == "HEAD" else len(data)
        return file_response(request, None, 0, len(data), etag, headers, body=data)
    bid, kind, arg = parse_buildid_path(request.rel_url.raw_path)
    request["endpoint"] = kind
    if kind == "section":
        return await _section(ctx, request, bid, arg)
    rec = await resolve(ctx, request, bid, kind, arg)
    if rec is None:
        raise NotFoundError(f"build {bid}: no {kind}{' ' + arg if arg else ''}")
    _check_maxsize(request, rec.size)
    path = await blob_path(ctx, rec)
    request["bytes"] = 0 if request.method == "HEAD" else rec.size
    return file_response(request, path, 0, rec.size, f'"{rec.sha256}"', _debug_headers(rec, rec.size))


def setup(app: web.Application) -> None:
    app.router.add_get("/buildid/{tail:.+}", handle_buildid)  # and HEAD
