"""The UI's per-process state: its job pool (heavy work, under a timeout and a slot limit), the
profile area, and small caches (rendered pages, inspect reports, treemaps, the grouped build list)."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, TypeVar

from symkeep.server.jobs import Jobs
from symkeep.server.ui.config import UiConfig
from symkeep.server.ui.profiles import ProfileArea

__all__ = ["ByteLRU", "UiState"]

T = TypeVar("T")


class ByteLRU:
    """Values with a byte cost, least recently used dropped past ``max_bytes`` or ``max_items``;
    entries older than ``ttl`` seconds are misses. Used from the event loop only (no lock)."""

    def __init__(self, max_bytes: int, ttl: float, max_items: int = 4096) -> None:
        self.max_bytes, self.ttl, self.max_items = max_bytes, ttl, max_items
        self._d: OrderedDict[Any, tuple[float, int, Any]] = OrderedDict()
        self._bytes = 0

    def get(self, key: Any) -> Any:
        hit = self._d.get(key)
        if hit is None:
            return None
        if hit[0] < time.monotonic():
            self._drop(key)
            return None
        self._d.move_to_end(key)
        return hit[2]

    def put(self, key: Any, value: Any, cost: int) -> None:
        if cost > self.max_bytes:
            return
        self._drop(key)
        self._d[key] = (time.monotonic() + self.ttl, cost, value)
        self._bytes += cost
        while self._d and (self._bytes > self.max_bytes or len(self._d) > self.max_items):
            k = next(iter(self._d))
            self._drop(k)

    def _drop(self, key: Any) -> None:
        old = self._d.pop(key, None)
        if old is not None:
            self._bytes -= old[1]


class UiState:
    def __init__(self, config: UiConfig) -> None:
        self.config = config
        self.jobs = Jobs(config.jobs, config.queue, config.timeout, option="--ui-timeout", who="the UI",
                         name="symkeep-ui")
        self.pages = ByteLRU(256 << 20, 300.0)  # (sha, build, sample) -> Rendered
        self.inspected = ByteLRU(64 << 20, 86400.0)  # blob sha256 -> (report | None, error | None)
        self.treemaps = ByteLRU(128 << 20, 86400.0)  # blob sha256 -> HTML bytes
        self.builds: tuple[float, list[Any]] | None = None
        self._area: ProfileArea | None = None

    @property
    def area(self) -> ProfileArea:
        """Made on first use (a directory that cannot be created is a 500 on upload, not a dead worker)."""
        if self._area is None:
            c = self.config
            self._area = ProfileArea(c.profiles_path, keep_count=c.keep_count, keep_bytes=c.keep_bytes,
                                     keep_seconds=c.keep_seconds)
        return self._area

    async def heavy(self, fn: Callable[..., T], *args: Any) -> T:
        """CPU-bound work in the UI's own job pool (``server.jobs.Jobs``: admission, 503, timeout 413)."""
        return await self.jobs.run(fn, *args)

    def close(self) -> None:
        self.jobs.close()
