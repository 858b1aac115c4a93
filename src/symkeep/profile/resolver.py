"""Where the symbolizer gets binaries from: the :class:`BinaryResolver` Protocol.

The symbolizer never touches the file system: for each file mapping that needs names it asks a
resolver for an engine (:class:`symkeep.symbolize.GoEngine`) and records the answer's provenance in
the report. The CLI's resolver searches paths (:class:`symkeep.profile.locate.Locator`); a server's
resolver looks build IDs up in its store. A resolver owns the engines it hands out (their lifetime,
their cache); the symbolizer only borrows them for one call and never closes them.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from symkeep.symbolize.engine import GoEngine

__all__ = ["BinaryRequest", "BinaryResolver", "EngineCache", "FirstFound", "FixedResolver", "Resolved"]


@dataclass(frozen=True)
class BinaryRequest:
    """One mapping's question: which Go binary is this?

    ``filename``/``build_id``: as the profile records them ("" when absent). ``is_main``: the
    profile's main mapping (a lone ``--binary`` may stand in for it). ``local_path``: the exact path
    the input named, when it differs from ``filename`` (perf dso paths that are not valid UTF-8
    keep their bytes as surrogate escapes here, while the profile stores a printable form)."""

    filename: str
    build_id: str
    is_main: bool
    file_mappings: int = 1
    local_path: str | None = None

    @property
    def path(self) -> str:
        return self.local_path if self.local_path is not None else self.filename


@dataclass
class Resolved:
    """The answer: an engine (or None) and how it was found, for the report.

    ``failure`` says why there is no engine ("binary not found", ...); ``notes`` lists candidates
    that were skipped and why; ``verified`` is True when the binary's build ID was checked against
    the mapping's."""

    engine: GoEngine | None
    binary: str | None = None
    found_by: str = ""
    notes: list[str] = field(default_factory=list)
    failure: str | None = None
    verified: bool = False


class BinaryResolver(Protocol):
    """Finds the engine for a mapping. Implementations: ``Locator`` (search paths), the store."""

    def resolve(self, request: BinaryRequest) -> Resolved: ...


class EngineCache:
    """Opened engines by key, least recently used dropped past ``capacity`` (a dropped engine is not
    closed here: a caller may still hold it; its file is unmapped when the last reference goes).
    ``close()`` closes what is still cached. Thread-safe."""

    def __init__(self, opener: Callable[[str], GoEngine], capacity: int = 8) -> None:
        self._opener = opener
        self._capacity = max(1, capacity)
        self._items: OrderedDict[str, GoEngine] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> GoEngine:
        with self._lock:
            eng = self._items.get(key)
            if eng is not None:
                self._items.move_to_end(key)
                return eng
        eng = self._opener(key)  # outside the lock: opening can take a while
        with self._lock:
            have = self._items.get(key)
            if have is not None:
                return have
            self._items[key] = eng
            while len(self._items) > self._capacity:
                self._items.popitem(last=False)
        return eng

    def close(self) -> None:
        with self._lock:
            items = list(self._items.values())
            self._items.clear()
        for eng in items:
            eng.close()


class FixedResolver:
    """Every file mapping gets the same engine, unchecked: for callers that already chose the binary
    (benchmarks, fuzzing, a server that matched the build ID itself). The caller owns the engine."""

    def __init__(self, engine: GoEngine, name: str = "(given engine)") -> None:
        self.engine = engine
        self.name = name

    def resolve(self, request: BinaryRequest) -> Resolved:
        return Resolved(self.engine, self.name, "given")


class NoBinaries:
    """Finds nothing: for callers that only want a text input turned into a profile, with the names
    the input itself printed (perf's symbols, folded frames) and nothing looked up."""

    def resolve(self, request: BinaryRequest) -> Resolved:
        return Resolved(None, failure="no binaries given")


class FirstFound:
    """Asks each resolver in turn; the first answer with an engine wins (``symbolize --store``: the
    search paths first, then the store). Without one, the last failure, with every resolver's notes."""

    def __init__(self, resolvers: Sequence[BinaryResolver]) -> None:
        self.resolvers = list(resolvers)

    def resolve(self, request: BinaryRequest) -> Resolved:
        notes: list[str] = []
        last = Resolved(None, failure="binary not found")
        for r in self.resolvers:
            last = r.resolve(request)
            if last.engine is not None:
                last.notes = notes + last.notes
                return last
            notes.extend(last.notes)
        last.notes = notes
        return last
