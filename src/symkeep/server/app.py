"""Compose the aiohttp application from handler modules.

Each module in ``MODULES`` (and any in ``ServerConfig.modules``) has ``setup(app)`` that adds its
routes; handlers reach the shared ``ServerContext`` as ``request.app[CTX]``, name their endpoint in
``request["endpoint"]`` (metrics label) and the body bytes in ``request["bytes"]``, and raise
``SymkeepError`` subclasses, which one middleware turns into ``err.http_status`` with a one-line text
body. Later features add a module (``symkeep.server.symbolize``, ``symkeep.server.ui``) to ``MODULES``.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from symkeep.errors import SymkeepError
from symkeep.server.auth import TokenSet
from symkeep.server.context import CTX, ServerConfig, ServerContext
from symkeep.store import open_store
from symkeep.store.resolver import StoreEngines

__all__ = ["ENGINES", "MODULES", "make_app", "make_context"]

MODULES = ["symkeep.server.debuginfod", "symkeep.server.upload", "symkeep.server.ops", "symkeep.server.ui",
           "symkeep.server.symbolize", "symkeep.server.addr2line"]

#: Open Go binaries from the store, shared by every handler that symbolizes (the web UI, POST /symbolize):
#: ``StoreResolver(ctx.store, engines=request.app[ENGINES])``. Bounded by count and mapped bytes.
ENGINES: web.AppKey[StoreEngines] = web.AppKey("symkeep_engines", StoreEngines)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def edge(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Errors to statuses, and one metrics observation per request."""
    t0 = time.perf_counter()
    status = 500
    ctx = request.app[CTX]
    try:
        resp = await handler(request)
        status = resp.status
        return resp
    except web.HTTPException as e:
        status = e.status
        raise
    except SymkeepError as e:
        status = e.http_status
        msg = str(e).replace("\n", " ")[:2000]
        # the class name lets a symkeep client re-raise the same error (same exit code as the local command)
        return web.Response(status=status, text=f"symkeep: error: {msg}\n",
                            headers={"X-Symkeep-Error": type(e).__name__})
    except Exception as e:  # noqa: BLE001 - a bug: one line, logged, never a traceback to the client
        ctx.log(f"internal error on {request.method} {request.rel_url.raw_path[:200]}: {type(e).__name__}: {e}")
        return web.Response(status=500, text="symkeep: internal error\n")
    finally:
        ctx.metrics.observe(request.get("endpoint", "other"), request.method, status,
                            time.perf_counter() - t0, request.get("bytes", 0))


def make_context(config: ServerConfig) -> ServerContext:
    tokens = TokenSet.load(config.token_file)
    return ServerContext(config, open_store(config.store_url, cache_dir=config.cache_dir), tokens)


def make_app(ctx: ServerContext) -> web.Application:
    app = web.Application(middlewares=[edge], client_max_size=1 << 20)
    app[CTX] = ctx
    app[ENGINES] = StoreEngines(ctx.config.max_engines, ctx.config.max_engine_bytes)
    for name in MODULES + list(ctx.config.modules):
        importlib.import_module(name).setup(app)

    async def cleanup(app: web.Application) -> None:
        app[ENGINES].close()
        await app[CTX].aclose()

    app.on_cleanup.append(cleanup)
    return app
