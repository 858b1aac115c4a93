"""``symkeep serve``: a debuginfod-compatible symbol server over a ``symkeep.store`` (aiohttp).

``make_context(ServerConfig)`` + ``make_app(ctx)`` build the application from handler modules
(``app.MODULES``); ``run_server(config)`` serves it with one or ``workers`` processes. See HACKING.md
"server" for the handler contract.
"""

from __future__ import annotations

from symkeep.server.app import MODULES, make_app, make_context
from symkeep.server.context import CTX, ServerConfig, ServerContext
from symkeep.server.workers import run_server

__all__ = ["CTX", "MODULES", "ServerConfig", "ServerContext", "make_app", "make_context", "run_server"]
