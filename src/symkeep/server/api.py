"""Settings and shared state of the compute endpoints (``POST /symbolize``, ``POST /addr2line``).

``ApiConfig`` travels as ``ServerConfig.options["api"]`` (``symkeep serve --api-*``). Both endpoints
share one :class:`~symkeep.server.jobs.Jobs` per process (``api_jobs(app)``): CPU-bound work runs there,
never on the event loop nor in ``ctx.pool``, at most ``jobs`` at once and ``queue`` waiting (503 +
``Retry-After`` beyond), each answered within ``timeout`` (413 naming ``--api-timeout``). Bodies are
read under ``max_body`` (413 naming ``--api-max-body``) before any work.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from symkeep.errors import LimitError, UsageError
from symkeep.server.context import CTX
from symkeep.server.jobs import Jobs

__all__ = ["API_JOBS", "ApiConfig", "api_config", "api_jobs", "flag", "read_body"]


@dataclass(frozen=True)
class ApiConfig:
    max_body: int = 64 << 20  # request body (compressed profile, address text): 413 above
    max_input: int = 256 << 20  # profile.Limits.max_input: memory budget for parsing one profile
    timeout: float = 60.0  # seconds one request's work may take (413 after; the thread keeps its slot)
    jobs: int = 2  # requests computing at once per worker process
    queue: int = 8  # ... and waiting for a thread; more get 503

    def __post_init__(self) -> None:
        if min(self.max_body, self.max_input, self.jobs) <= 0 or self.queue < 0 or self.timeout <= 0:
            raise UsageError("api limits must be positive")


API_JOBS: web.AppKey[Jobs] = web.AppKey("symkeep_api_jobs", Jobs)


def api_config(app: web.Application) -> ApiConfig:
    cfg = app[CTX].config.options.get("api") or ApiConfig()
    if not isinstance(cfg, ApiConfig):
        raise TypeError("ServerConfig.options['api'] must be an ApiConfig")
    return cfg


def api_jobs(app: web.Application) -> Jobs:
    """The API's job pool, made by the first module that asks (closed with the app)."""
    if API_JOBS not in app:
        c = api_config(app)
        jobs = Jobs(c.jobs, c.queue, c.timeout, option="--api-timeout", who="the server", name="symkeep-api")
        app[API_JOBS] = jobs

        async def cleanup(app: web.Application) -> None:
            jobs.close()

        app.on_cleanup.append(cleanup)
    return app[API_JOBS]


async def read_body(request: web.Request, cap: int) -> bytes:
    """The whole body, refused (413) as soon as it is over ``cap`` bytes: by ``Content-Length`` before
    reading anything, else while reading (chunked bodies)."""
    over = LimitError(f"request body over the server's limit of {cap} bytes (--api-max-body)")
    if request.content_length is not None and request.content_length > cap:
        raise over
    buf = bytearray()
    while True:
        chunk = await request.content.read(1 << 16)
        if not chunk:
            break
        buf += chunk
        if len(buf) > cap:
            raise over
    request["bytes"] = len(buf)
    return bytes(buf)


_TRUE = ("1", "true", "yes", "on", "")
_FALSE = ("0", "false", "no", "off")


def flag(request: web.Request, name: str) -> bool:
    """A boolean query parameter: absent = false; ``name``, ``name=1|true|yes|on`` = true."""
    v = request.query.get(name)
    if v is None:
        return False
    v = v.lower()
    if v in _TRUE:
        return True
    if v in _FALSE:
        return False
    raise UsageError(f"bad value for {name}: {v[:40]!r} (use 1 or 0)")
