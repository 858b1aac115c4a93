"""Responses that stream a stored file, or a slice of one, with the HTTP semantics clients rely on.

``file_response`` gives ``Content-Length``, a strong ``ETag`` (the blob's sha256, identical on every
replica), ``If-None-Match`` -> 304, a single ``Range`` -> 206 (416 when unsatisfiable), HEAD without a
body, and the body by ``sendfile`` from the file (never read into memory). Small slices (ELF sections
up to ``SMALL``) are read once and kept by the caller's cache.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from pathlib import Path

from aiohttp import web
from aiohttp.abc import AbstractStreamWriter
from aiohttp.typedefs import LooseHeaders

__all__ = ["SMALL", "SliceResponse", "file_response", "parse_range"]

SMALL = 16 << 10  # bytes of a section kept in memory (caches hold at most 4096 + 1024 of them)
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def parse_range(header: str, size: int) -> tuple[int, int] | None:
    """(start, count) for one satisfiable ``bytes=`` range; None = ignore (serve all); raises on 416."""
    m = _RANGE.match(header.strip())
    if m is None:
        return None  # multiple ranges or another unit: serving the whole entity is allowed
    a, b = m.group(1), m.group(2)
    if not a and not b:
        return None
    if not a:  # suffix: the last N bytes
        n = int(b)
        if n == 0:
            raise web.HTTPRequestRangeNotSatisfiable(headers={"Content-Range": f"bytes */{size}"})
        n = min(n, size)
        return size - n, n
    start = int(a)
    end = min(int(b), size - 1) if b else size - 1
    if start >= size or end < start:
        raise web.HTTPRequestRangeNotSatisfiable(headers={"Content-Range": f"bytes */{size}"})
    return start, end - start + 1


class SliceResponse(web.StreamResponse):
    """``count`` bytes of ``path`` from ``offset``, by sendfile (HEAD: headers only)."""

    def __init__(self, path: Path, offset: int, count: int, *, status: int = 200,
                 headers: LooseHeaders | None = None) -> None:
        super().__init__(status=status, headers=headers)
        self._path = path
        self._offset = offset
        self._count = count
        self.content_length = count

    async def prepare(self, request: web.BaseRequest) -> AbstractStreamWriter | None:
        if self.prepared:
            return await super().prepare(request)
        if request.method == "HEAD" or self._count == 0:
            return await super().prepare(request)
        fobj = open(self._path, "rb")  # noqa: SIM115 - closed below, after sendfile
        try:
            writer = await super().prepare(request)
            transport = request.transport
            if transport is None:
                raise ConnectionResetError("connection lost")
            await asyncio.get_running_loop().sendfile(transport, fobj, self._offset, self._count)
            await super().write_eof()
            return writer
        finally:
            fobj.close()


def _etag_matches(header: str, etag: str) -> bool:
    for tag in header.split(","):
        t = tag.strip()
        if t == "*" or t.removeprefix("W/") == etag:
            return True
    return False


def file_response(request: web.Request, path: Path | None, offset: int, size: int, etag: str,
                  headers: Mapping[str, str], body: bytes | None = None) -> web.StreamResponse:
    """Serve ``size`` bytes at ``offset`` of ``path`` (or ``body`` when given, for small slices)."""
    h = dict(headers)
    h["ETag"] = etag
    h["Accept-Ranges"] = "bytes"
    inm = request.headers.get("If-None-Match")
    if inm is not None and _etag_matches(inm, etag):
        return web.Response(status=304, headers={"ETag": etag})
    start, count, status = 0, size, 200
    rng = request.headers.get("Range")
    if rng is not None:
        if_range = request.headers.get("If-Range")
        if if_range is None or if_range.strip() == etag:
            r = parse_range(rng, size)
            if r is not None:
                start, count = r
                status = 206
                h["Content-Range"] = f"bytes {start}-{start + count - 1}/{size}"
    h["Content-Type"] = "application/octet-stream"
    if body is not None:
        return web.Response(status=status, body=body[start:start + count], headers=h)
    assert path is not None
    return SliceResponse(path, offset + start, count, status=status, headers=h)
