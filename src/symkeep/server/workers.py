"""Run the server: one process, or ``--workers N`` processes sharing the port via ``SO_REUSEPORT``.

The parent binds a placeholder socket with ``SO_REUSEPORT`` (this resolves port 0 and keeps the port
reserved; it never listens, so the kernel gives it no connections), prints the URL, and forks the
workers; each worker opens the store itself (SQLite connections and S3 clients do not survive a fork),
binds its own listening socket to the same port and runs an event loop. The kernel spreads connections
over the workers by hash. SIGTERM/SIGINT to the parent stops every worker; a worker that dies is restarted.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
import time
from collections.abc import Callable

from aiohttp import web

from symkeep.server.app import make_app, make_context
from symkeep.server.context import ServerConfig

__all__ = ["run_server"]


def _socket(host: str, port: int, listen: bool) -> socket.socket:
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    s.bind((host, port))
    if listen:
        s.listen(1024)
        s.setblocking(False)
    return s


async def _serve(config: ServerConfig, sock: socket.socket) -> None:
    ctx = make_context(config)
    app = make_app(ctx)
    runner = web.AppRunner(app, handle_signals=False) if config.access_log else \
        web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    site = web.SockSite(runner, sock, shutdown_timeout=5.0, backlog=1024)
    await site.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def _die_with_parent() -> None:
    """Linux: SIGTERM this worker when the parent dies, even by SIGKILL (no orphaned workers on the port)."""
    with contextlib.suppress(OSError, AttributeError):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        if os.getppid() == 1:  # the parent died before prctl took effect
            os._exit(0)


def _worker(config: ServerConfig, host: str, port: int) -> None:
    sock = _socket(host, port, listen=True)
    asyncio.run(_serve(config, sock))


def run_server(config: ServerConfig, ready: Callable[[str], None] | None = None) -> None:
    """Serve until SIGTERM/SIGINT. ``ready(url)`` is called once the port is bound."""
    make_context(config).close()  # open the store once up front: a bad URL or token file fails here, exit code
    placeholder = _socket(config.host, config.port, listen=config.workers <= 1)
    port = placeholder.getsockname()[1]
    url = f"http://{'[' + config.host + ']' if ':' in config.host else config.host}:{port}"
    if config.workers <= 1:
        if ready:
            ready(url)
        asyncio.run(_serve(config, placeholder))
        return
    children: dict[int, int] = {}

    def spawn(slot: int) -> None:
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                signal.signal(signal.SIGINT, signal.SIG_DFL)
                _die_with_parent()
                placeholder.close()
                _worker(config, config.host, port)
            except BaseException as e:  # noqa: BLE001 - a worker reports and exits
                print(f"symkeep serve worker {os.getpid()}: {type(e).__name__}: {e}", file=sys.stderr)
                code = 1
            os._exit(code)
        children[pid] = slot

    for i in range(config.workers):
        spawn(i)
    if ready:
        ready(url)
    stopping = False

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True
        for pid in list(children):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while children:
        try:
            pid, _ = os.wait()
        except ChildProcessError:
            break
        except InterruptedError:
            continue
        slot = children.pop(pid, None)
        if slot is not None and not stopping:
            time.sleep(0.2)
            spawn(slot)
    placeholder.close()
