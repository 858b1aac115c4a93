"""Binaries for the symbolizer from the store: :class:`StoreResolver` (a ``BinaryResolver``).

A profile mapping names its binary by build ID (GNU build-id or Go build ID); the store files every
build under both. The resolver looks the ID up, takes the stored file that carries ``.gopclntab``
(the executable first, else a debug file that kept the table), opens it from the store's verified
blob and keeps it open in a shared, thread-safe LRU (:class:`StoreEngines`, bounded by count and by
the bytes of the files it maps), so a server opens each build once however many requests name it.

Why it never looks anywhere else: a server must not open files a request names (a profile's mapping
path is the client's file system, not ours). The only files it reads are the store's blob files.

``verified`` is True only when the opened file carries the mapping's build ID. A mapping without a
build ID (perf script text, Go before 1.24 without a GNU build-id) can be given a build explicitly
(``build=``: "this profile is of that build", from the web UI's build page); that answer is marked
unverified, as the CLI marks a ``--binary`` it could not check.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from symkeep.errors import (
    FormatError,
    NotABinaryError,
    NotGoError,
    SymkeepError,
    UnsupportedError,
    UsageError,
)
from symkeep.profile.resolver import BinaryRequest, Resolved
from symkeep.store.ids import normalize_id
from symkeep.store.record import Record
from symkeep.store.store import Store
from symkeep.symbolize.engine import GoEngine

__all__ = ["StoreEngines", "StoreResolver", "pick_symbol_record"]

DEFAULT_MAX_ENGINES = 16
DEFAULT_MAX_BYTES = 2 << 30  # bytes of the files the open engines map


@dataclass
class EngineStats:
    open: int = 0
    bytes: int = 0
    opened: int = 0  # engines opened since start (misses)
    hits: int = 0  # answered without opening (cached, or opened by a concurrent caller)
    evicted: int = 0


class StoreEngines:
    """Open engines by blob sha256, least recently used dropped past ``max_engines`` or past
    ``max_bytes`` of mapped files (the newest one always stays). Concurrent requests for the same
    blob open it once (the others wait for that one). A dropped engine is not closed here: another
    thread may still be using it; its file is unmapped when the last reference goes. ``close()``
    closes what is still cached."""

    def __init__(self, max_engines: int = DEFAULT_MAX_ENGINES, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.max_engines = max(1, max_engines)
        self.max_bytes = max(1, max_bytes)
        self._items: OrderedDict[str, tuple[GoEngine, int]] = OrderedDict()
        self._opening: dict[str, concurrent.futures.Future[GoEngine]] = {}
        self._lock = threading.Lock()
        self._stats = EngineStats()

    def get(self, sha256: str, size: int, opener: Callable[[], GoEngine]) -> GoEngine:
        with self._lock:
            hit = self._items.get(sha256)
            if hit is not None:
                self._items.move_to_end(sha256)
                self._stats.hits += 1
                return hit[0]
            fut = self._opening.get(sha256)
            mine = fut is None
            if not mine:
                self._stats.hits += 1  # another thread is opening it: wait for that one
            if fut is None:
                fut = concurrent.futures.Future()
                self._opening[sha256] = fut
        if not mine:
            return fut.result()  # the opener's error, if it failed, is raised here too
        try:
            eng = opener()
        except BaseException as e:
            with self._lock:
                del self._opening[sha256]
            fut.set_exception(e)
            raise
        with self._lock:
            del self._opening[sha256]
            self._items[sha256] = (eng, size)
            self._stats.opened += 1
            self._evict()
        fut.set_result(eng)
        return eng

    def _evict(self) -> None:
        total = sum(n for _, n in self._items.values())
        while len(self._items) > 1 and (len(self._items) > self.max_engines or total > self.max_bytes):
            _, (_, n) = self._items.popitem(last=False)
            total -= n
            self._stats.evicted += 1

    def stats(self) -> EngineStats:
        with self._lock:
            return EngineStats(len(self._items), sum(n for _, n in self._items.values()), self._stats.opened,
                               self._stats.hits, self._stats.evicted)

    def close(self) -> None:
        with self._lock:
            items = [e for e, _ in self._items.values()]
            self._items.clear()
        for eng in items:
            with contextlib.suppress(Exception):  # closing is best effort
                eng.close()


def pick_symbol_record(records: list[Record]) -> Record | None:
    """The stored file to symbolize a build with: one that carries ``.gopclntab``; the executable
    first (it always has the table), then a debug file that kept it; the highest rank within a kind."""
    cands = [r for r in records if r.kind in ("executable", "debuginfo") and r.has_pclntab]
    if not cands:
        return None
    return min(cands, key=lambda r: (r.kind != "executable", -r.rank))


def _open_engine(path: str) -> GoEngine:
    from symkeep.symbolize import open_go_binary

    return open_go_binary(path)


def _open_indexed(store: Store, path: str, build_ids: list[str]) -> GoEngine:
    """An engine whose whole table comes from the build's ``index`` record (built and stored if none)."""
    from symkeep.store.symindex import StoreIndexCache
    from symkeep.symbolize import open_go_binary

    return open_go_binary(path, index=StoreIndexCache(store, build_ids))


class StoreResolver:
    """A ``BinaryResolver`` over a :class:`Store`. Cheap to make per request: the open engines live in
    ``engines`` (share one :class:`StoreEngines` across requests; the resolver owns it only when it
    made it, and then ``close()`` closes it). ``build``: the build to use for mappings that record no
    build ID (the main mapping, or any when the profile has one file mapping); unverified."""

    def __init__(self, store: Store, *, engines: StoreEngines | None = None, build: str | None = None,
                 opener: Callable[[str], GoEngine] | None = None) -> None:
        self.store = store
        self._own = engines is None
        self.engines = engines if engines is not None else StoreEngines()
        self.build = normalize_id(build) if build else None
        self._opener = opener or _open_engine

    def __enter__(self) -> StoreResolver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._own:
            self.engines.close()

    def resolve(self, request: BinaryRequest) -> Resolved:
        bid = request.build_id.strip()
        if bid:
            try:
                key = normalize_id(bid)
            except UsageError as e:
                return Resolved(None, failure="not a valid build ID for the store", notes=[str(e)])
            return self._by_id(key, bid, explicit=False)
        if self.build is not None and (request.is_main or request.file_mappings == 1):
            return self._by_id(self.build, "", explicit=True)
        return Resolved(None, failure="the mapping records no build ID (name the build to use)")

    def _by_id(self, key: str, recorded: str, explicit: bool) -> Resolved:
        recs = self.store.records(key)
        if not recs:
            return Resolved(None, failure="build not in the store")
        rec = pick_symbol_record(recs)
        if rec is None:
            kinds = ", ".join(sorted({r.kind for r in recs}))
            return Resolved(None, failure="the store has no file of this build with .gopclntab",
                            notes=[f"{key}: stored kinds: {kinds}"])
        name = f"store {rec.kind} {rec.sha256[:16]}" + (f" ({os.path.basename(rec.file)})" if rec.file else "")
        filed = [i for i in (rec.gnu_build_id, rec.go_build_id, key) if i]
        opener = self._opener
        if opener is _open_engine:  # the default: with the build's symbol index from the store

            def opener(p: str) -> GoEngine:
                return _open_indexed(self.store, p, filed)
        # what an open engine maps: the binary, and its index (about twice the binary's pclntab)
        charge = rec.size + sum(r.size for r in recs if r.kind == "index")
        try:
            path = str(self.store.blob_file(rec))
            eng = self.engines.get(rec.sha256, charge, lambda: opener(path))
        except (FormatError, NotABinaryError, NotGoError, UnsupportedError) as e:
            return Resolved(None, name, "store", [f"{name}: {e}"], f"cannot read stored binary: {type(e).__name__}")
        notes: list[str] = []
        if explicit:
            return Resolved(eng, name, "store (build chosen by the caller, build ID not checked)", notes,
                            verified=False)
        from symkeep.golang.buildid import build_ids

        try:
            ids = build_ids(eng.binary)
        except SymkeepError as e:
            ids = None
            notes.append(f"{name}: cannot read its build IDs: {e}")
        if ids is not None and ids.matches(recorded):
            return Resolved(eng, name, "store (build ID)", notes, verified=True)
        notes.append(f"{name}: filed under {key} by its uploader, but the file carries "
                     f"{ids.describe() if ids else 'no readable build ID'}")
        return Resolved(eng, name, "store (filed under this ID, not carried by the file)", notes, verified=False)
