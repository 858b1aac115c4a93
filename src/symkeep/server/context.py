"""Server configuration and the per-process context every handler module reaches via ``app[CTX]``.

Handler modules (``debuginfod``, ``upload``, ``ops``, and later ``symbolize``/``ui``) are plain
functions ``setup(app)`` that add routes; they share the store, tokens, metrics, the thread pool for
blocking work (hashing, synthesis, S3) and the caches through this one object.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

import aiohttp
from aiohttp import web

from symkeep.errors import AuthError
from symkeep.server.auth import TokenSet
from symkeep.server.metrics import Metrics
from symkeep.store import Store

__all__ = ["CTX", "ServerConfig", "ServerContext", "TTLCache"]

T = TypeVar("T")


@dataclass
class ServerConfig:
    store_url: str | None = None
    host: str = "127.0.0.1"
    port: int = 8002
    workers: int = 1
    token_file: str | None = None
    read_token: bool = False  # reads need a token too
    max_upload: int = 1 << 30
    upstreams: list[str] = field(default_factory=list)
    upstream_timeout: float = 30.0
    max_fetch: int = 1 << 30  # biggest file fetched from an upstream
    synthesize: bool = True  # /debuginfo of a stripped Go executable: synthesize on demand
    cache_dir: str | None = None  # S3 blob cache
    resolve_ttl: float = 1.0  # seconds a resolved (build ID, kind) is reused
    access_log: bool = False
    max_engines: int = 16  # Go binaries kept open per worker for symbolizing (store.resolver.StoreEngines)
    max_engine_bytes: int = 2 << 30  # ... and the bytes of the files they map
    modules: list[str] = field(default_factory=list)  # extra handler modules (dotted names)
    options: dict[str, Any] = field(default_factory=dict)  # per-module settings ("ui": ui.config.UiConfig)


class TTLCache:
    """A small dict with per-entry expiry and a size bound (cleared when full: cheap and good enough)."""

    def __init__(self, ttl: float, max_items: int = 50000) -> None:
        self.ttl = ttl
        self.max_items = max_items
        self._d: dict[Any, tuple[float, Any]] = {}

    def get(self, key: Any) -> Any:
        hit = self._d.get(key)
        if hit is None:
            return None
        if hit[0] < time.monotonic():
            del self._d[key]
            return None
        return hit[1]

    def put(self, key: Any, value: Any, ttl: float | None = None) -> None:
        if len(self._d) >= self.max_items:
            self._d.clear()
        self._d[key] = (time.monotonic() + (self.ttl if ttl is None else ttl), value)

    def drop(self, key: Any) -> None:
        self._d.pop(key, None)


class ServerContext:
    def __init__(self, config: ServerConfig, store: Store, tokens: TokenSet) -> None:
        self.config = config
        self.store = store
        self.tokens = tokens
        self.metrics = Metrics()
        self.pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="symkeep")
        self.resolved = TTLCache(config.resolve_ttl)
        self.sections = TTLCache(3600.0, 4096)  # (sha256, name) -> (offset, size, bytes if small) | False
        self.small = TTLCache(config.resolve_ttl, 1024)  # raw URL path -> (etag, headers, bytes): small sections
        self.negative = TTLCache(60.0)  # federation misses
        self._flights: dict[Any, asyncio.Future[Any]] = {}
        self.http: aiohttp.ClientSession | None = None  # upstream client (federation), made on first use
        self.remote = store.url.startswith("s3://")  # index lookups go over the network: use the pool

    def log(self, msg: str) -> None:
        print(f"symkeep serve[{os.getpid()}]: {msg}", file=sys.stderr, flush=True)

    def check_read(self, request: web.Request) -> None:
        """With --read-token, reads need a valid token too (AuthError -> 401)."""
        if self.config.read_token:
            self.tokens.check(request.headers.get("Authorization"), "read")

    def check_write(self, request: web.Request) -> str:
        """The uploader's token name; AuthError (401) without a valid write token."""
        if not self.tokens:
            raise AuthError("uploads are disabled: the server has no tokens (--token-file or SYMKEEP_TOKENS)")
        return self.tokens.check(request.headers.get("Authorization"), "write")

    async def blocking(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self.pool, fn, *args)

    async def single_flight(self, key: Any, make: Callable[[], Awaitable[T]]) -> T:
        """Run ``make()`` once for concurrent callers with the same key (synthesis, federation)."""
        fut = self._flights.get(key)
        if fut is not None:
            res: T = await asyncio.shield(fut)
            return res
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        self._flights[key] = fut
        try:
            val = await make()
            fut.set_result(val)
            return val
        except BaseException as e:
            fut.set_exception(e)
            fut.exception()  # mark retrieved
            raise
        finally:
            del self._flights[key]

    async def aclose(self) -> None:
        if self.http is not None:
            await self.http.close()
        self.close()

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)
        self.store.close()


CTX: web.AppKey[ServerContext] = web.AppKey("symkeep_ctx", ServerContext)
