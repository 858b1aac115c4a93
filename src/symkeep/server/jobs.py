"""Admission and timeouts for CPU-bound request work: one :class:`Jobs` per user (the web UI, the API).

Why its own thread pool: CPU-bound work (symbolizing a profile, rendering, addr2line of a big body)
must never starve ``ctx.pool``, which the debuginfod handlers use for short blocking reads. At most
``jobs`` run at once and ``queue`` more wait; beyond that a client gets 503 with ``Retry-After`` at
once. Each call is answered within ``timeout`` seconds (``LimitError``, 413, naming the server option
that sets it). Python threads cannot be killed, so a job that overruns keeps its slot until it ends:
the slots, not the timeout, bound the CPU that clients can take; the event loop keeps answering.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from aiohttp import web

from symkeep.errors import LimitError

__all__ = ["Jobs"]

T = TypeVar("T")


class Jobs:
    def __init__(self, jobs: int, queue: int, timeout: float, *, option: str, who: str, name: str) -> None:
        self.jobs, self.queue, self.timeout = jobs, queue, timeout
        self.option, self.who = option, who  # "--ui-timeout", "the UI"
        self.pool = concurrent.futures.ThreadPoolExecutor(max_workers=jobs, thread_name_prefix=name)
        self.slots = threading.BoundedSemaphore(jobs + queue)

    def _busy(self) -> web.HTTPServiceUnavailable:
        return web.HTTPServiceUnavailable(text=f"symkeep: error: {self.who} is busy; try again shortly\n",
                                          headers={"Retry-After": "5"})

    def check(self) -> None:
        """503 now if no slot is free (before reading a large body that could not be worked on anyway)."""
        if not self.slots.acquire(blocking=False):
            raise self._busy()
        self.slots.release()

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` in the pool, admitted or 503, answered within the timeout or 413."""
        if not self.slots.acquire(blocking=False):
            raise self._busy()
        try:
            fut = self.pool.submit(fn, *args)
        except BaseException:
            self.slots.release()
            raise
        fut.add_done_callback(lambda _f: self.slots.release())
        try:
            return await asyncio.wait_for(asyncio.wrap_future(fut), self.timeout)
        except TimeoutError:
            raise LimitError(f"the work took longer than {self.who}'s limit of {self.timeout:g} s "
                             f"({self.option})") from None

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)
