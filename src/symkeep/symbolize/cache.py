"""EngineCache: the byte-bounded, thread-safe memory of one engine (decoded functions, interned frames).

A server keeps engines open for weeks and answers from many threads, so nothing an engine remembers
may grow with the number of lookups: every cached value is charged an estimate of its bytes, and the
least recently used values are dropped when the total passes the bound. Interned frames and chains
(equal frames shared across functions: less memory, cheap identity comparisons) are charged to the
same bound; when they alone would fill half of it they are forgotten and interning starts afresh
(answers stay equal, only their sharing is lost).

The bound is ``max_bytes`` (constructor), else ``$SYMKEEP_ENGINE_CACHE_BYTES`` (a number of bytes,
optionally with a K, M or G suffix), else 256 MiB. Estimates are deliberately simple (CPython object
sizes per element), not measurements.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any, TypeVar

from symkeep.errors import UsageError
from symkeep.symbolize.frames import Frame, make_frame

__all__ = ["DEFAULT_CACHE_BYTES", "ENV_CACHE_BYTES", "CacheStats", "EngineCache", "cache_bytes_setting"]

DEFAULT_CACHE_BYTES = 256 << 20
ENV_CACHE_BYTES = "SYMKEEP_ENGINE_CACHE_BYTES"
_MIN_BYTES = 64 << 10
_FLUSH = 32 << 10
_SUFFIX = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
FRAME_BYTES = 240  # Frame (slots) + its key tuple + two dict entries
CHAIN_BYTES = 160  # chain tuple + identity-key tuple + dict entry, plus 16 per frame

V = TypeVar("V")
FrameKey = tuple[str, str, int, int, bool]


def env_bytes(name: str, default: int) -> int:
    """A byte count from environment variable ``name`` (suffix K, M or G allowed), else ``default``."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    mult = _SUFFIX.get(raw[-1].lower(), 1)
    digits = raw[:-1] if mult != 1 else raw
    if not digits.isdigit():
        raise UsageError(f"{name}={raw!r}: expected a number of bytes (suffix K, M or G allowed)")
    return int(digits) * mult


def cache_bytes_setting(max_bytes: int | None = None) -> int:
    """The bound in bytes: ``max_bytes``, else the environment, else the default (at least 64 KiB)."""
    if max_bytes is None:
        max_bytes = env_bytes(ENV_CACHE_BYTES, DEFAULT_CACHE_BYTES)
    if max_bytes < 0:
        raise UsageError(f"engine cache bound must not be negative: {max_bytes}")
    return max(max_bytes, _MIN_BYTES)


@dataclass(frozen=True, slots=True)
class CacheStats:
    """What the cache holds now (``bytes`` includes ``intern_bytes``) and what it dropped so far."""

    max_bytes: int
    bytes: int
    intern_bytes: int
    items: int
    evictions: int
    intern_resets: int


class EngineCache:
    """A least-recently-used map charged in bytes, plus the frame/chain interning tables.

    Every method may be called from several threads: the map is guarded by one lock held only for
    dictionary operations (decoding happens outside it, so two threads may decode the same function
    at once; both get equal answers and one copy is kept)."""

    def __init__(self, max_bytes: int | None = None) -> None:
        self.max_bytes = cache_bytes_setting(max_bytes)
        self._lock = threading.Lock()
        self._items: OrderedDict[Hashable, tuple[Any, int]] = OrderedDict()
        self._bytes = 0
        self._intern_bytes = 0
        self._evictions = 0
        self._resets = 0
        self.frames: dict[FrameKey, Frame] = {}
        self.chains: dict[tuple[int, ...], tuple[Frame, ...]] = {}
        self._pending = threading.local()

    # -- the LRU map -----------------------------------------------------------------------------
    def get(self, key: Hashable) -> Any | None:
        with self._lock:
            got = self._items.get(key)
            if got is None:
                return None
            self._items.move_to_end(key)
            return got[0]

    def put(self, key: Hashable, value: V, nbytes: int) -> V:
        """Remember ``value`` (charged ``nbytes``); returns the value kept (an equal one another
        thread stored first wins). A value larger than the whole bound is returned, not kept."""
        with self._lock:
            got = self._items.get(key)
            if got is not None:
                self._items.move_to_end(key)
                kept: V = got[0]
                return kept
            if nbytes > self.max_bytes // 2:
                return value
            self._items[key] = (value, nbytes)
            self._bytes += nbytes
            self._shrink()
            return value

    def _shrink(self) -> None:
        """Evict (lock held) until the charge fits; forget the interning tables if they alone would not."""
        items = self._items
        while self._bytes + self._intern_bytes > self.max_bytes and items:
            _, (_, n) = items.popitem(last=False)
            self._bytes -= n
            self._evictions += 1
        if self._intern_bytes > self.max_bytes // 2:
            self.frames = {}
            self.chains = {}
            self._intern_bytes = 0
            self._resets += 1

    # -- interning -------------------------------------------------------------------------------
    def frame(self, function: str, file: str, line: int, start_line: int, inlined: bool) -> Frame:
        """The shared Frame with these fields."""
        key = (function, file, line, start_line, inlined)
        frames = self.frames
        f = frames.get(key)
        if f is None:
            f = frames.setdefault(key, make_frame(function, file, line, start_line, inlined))
            self._charge_later(FRAME_BYTES)
        return f

    def chain(self, ch: tuple[Frame, ...]) -> tuple[Frame, ...]:
        """The shared tuple equal to ``ch`` (its frames must be interned: keyed by their identities)."""
        key = tuple(map(id, ch))
        chains = self.chains
        got = chains.get(key)
        if got is None:
            got = chains.setdefault(key, ch)
            self._charge_later(CHAIN_BYTES + 16 * len(ch))
        return got

    def _charge_later(self, nbytes: int) -> None:
        """Interning is hot (millions of frames in a whole-binary walk): charges are summed per thread
        and applied under the lock once they reach 32 KiB (at most that much per thread is uncounted)."""
        loc = self._pending
        p = getattr(loc, "n", 0) + nbytes
        if p >= _FLUSH:
            self.charge_intern(p)
            p = 0
        loc.n = p

    def charge_intern(self, nbytes: int) -> None:
        with self._lock:
            self._intern_bytes += nbytes
            if self._bytes + self._intern_bytes > self.max_bytes:
                self._shrink()

    def stats(self) -> CacheStats:
        with self._lock:
            return CacheStats(self.max_bytes, self._bytes + self._intern_bytes, self._intern_bytes,
                              len(self._items), self._evictions, self._resets)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0
            self.frames = {}
            self.chains = {}
            self._intern_bytes = 0
