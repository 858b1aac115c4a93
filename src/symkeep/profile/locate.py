"""Find the binary for a profile mapping: explicit paths, the mapping's path, build-ID directories
(pprof, perf, gdb/llvm layouts), ``PPROF_BINARY_PATH`` and debuginfod; then open it (the CLI's
:class:`~symkeep.profile.resolver.BinaryResolver`).

A candidate whose build ID differs from the mapping's is never used: an explicit ``--binary`` that
mismatches raises :class:`MismatchError`; a candidate found by searching is skipped and the skip is
recorded so the summary can say why the mapping stayed unsymbolized. An explicit ``--binary`` that is
not a Go binary, or that matches no mapping of the profile, is refused before any work.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from symkeep.binfmt.debugdirs import HEX_BUILD_ID, pprof_candidates
from symkeep.errors import MismatchError, NotABinaryError, NotGoError, SymkeepError
from symkeep.fsio import check_input_file
from symkeep.golang.buildid import BuildIDs
from symkeep.profile.debuginfod import DEBUGINFOD_TIMEOUT, debuginfod_fetch, default_cache
from symkeep.profile.resolver import BinaryRequest, EngineCache, Resolved
from symkeep.symbolize.engine import GoEngine

__all__ = ["Candidate", "LocateResult", "Locator", "binary_ids"]

IDS_CACHE_SIZE = 256  # build IDs of recently seen files (keyed by path, inode, mtime and size)
_ids_cache: OrderedDict[tuple[str, int, int, int, int], BuildIDs | None] = OrderedDict()
_ids_lock = threading.Lock()


def binary_ids(path: str | os.PathLike[str]) -> BuildIDs | None:
    """Build IDs of the executable at ``path``; None when it is not an executable we can read."""
    from symkeep.binfmt import open_binary
    from symkeep.golang.buildid import build_ids

    p = os.fspath(path)
    try:
        st = os.stat(p)
    except OSError:
        return None
    key = (p, st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size)
    with _ids_lock:
        if key in _ids_cache:
            _ids_cache.move_to_end(key)
            return _ids_cache[key]
    res: BuildIDs | None
    try:
        check_input_file(p)
        with open_binary(p) as b:
            res = build_ids(b)
    except SymkeepError:
        res = None
    with _ids_lock:
        _ids_cache[key] = res
        while len(_ids_cache) > IDS_CACHE_SIZE:
            _ids_cache.popitem(last=False)
    return res


def _open_engine(path: str) -> GoEngine:
    from symkeep.symbolize import open_go_binary

    return open_go_binary(path)


@dataclass
class Candidate:
    path: str
    how: str  # 'binary', 'mapping path', 'search dir', 'debuginfod'


@dataclass
class LocateResult:
    path: str | None
    how: str = ""
    rejected: list[str] = field(default_factory=list)  # why candidates were skipped


class Locator:
    """Resolves (filename, build_id, is_main) to a local file, following pprof's search order, and
    opens it: a :class:`~symkeep.profile.resolver.BinaryResolver` that owns the engines it opened
    (``close()`` or ``with``)."""

    def __init__(
        self,
        binaries: Sequence[str] = (),
        search_dirs: Sequence[str] = (),
        *,
        use_env: bool = True,
        debuginfod_urls: Sequence[str] | None = None,
        cache_dir: str | None = None,
        timeout: float | None = None,
        opener: Callable[[str], GoEngine] | None = None,
        engines: int = 8,
    ) -> None:
        self.binaries = [os.fspath(b) for b in binaries]
        dirs = [os.fspath(d) for d in search_dirs]
        if use_env:
            env = os.environ.get("PPROF_BINARY_PATH")
            if env:
                dirs.extend(d for d in env.split(os.pathsep) if d)
        self.search_dirs = dirs
        if debuginfod_urls is None:
            debuginfod_urls = os.environ.get("DEBUGINFOD_URLS", "").split() if use_env else []
        self.debuginfod_urls = list(debuginfod_urls)
        self.cache_dir = cache_dir or os.environ.get("DEBUGINFOD_CACHE_PATH") or default_cache()
        t = timeout
        if t is None:
            try:
                t = float(os.environ.get("DEBUGINFOD_TIMEOUT", DEBUGINFOD_TIMEOUT))
            except ValueError:
                t = DEBUGINFOD_TIMEOUT
        self.timeout = t
        self._engines = EngineCache(opener or _open_engine, capacity=max(engines, len(self.binaries) + 1))
        for b in self.binaries:
            check_input_file(b)
            try:
                self._engines.get(b)
            except (NotGoError, NotABinaryError) as e:
                why = str(e).removeprefix(f"{b}: ")
                raise type(e)(f"--binary {b} is not a Go binary: {why}") from None

    def __enter__(self) -> Locator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the binaries this locator opened (it owns them)."""
        self._engines.close()

    def resolve(self, request: BinaryRequest) -> Resolved:
        """Search (see :meth:`locate`), then open the file found (engines are cached and reused)."""
        res = self.locate(
            request.path, request.build_id, is_main=request.is_main, n_file_mappings=request.file_mappings
        )
        if res.path is None:
            failure = "binary not found"
            if any("build ID differs" in r or "different build ID" in r for r in res.rejected):
                failure = "binary not found (candidates had a different build ID)"
            return Resolved(None, notes=res.rejected, failure=failure)
        try:
            engine = self._engines.get(res.path)
        except SymkeepError as e:
            return Resolved(
                None, res.path, res.how, [*res.rejected, f"{res.path}: {e}"], f"cannot read binary: {type(e).__name__}"
            )
        return Resolved(engine, res.path, res.how, res.rejected, verified=bool(request.build_id.strip()))

    def check_binaries(self, requests: Sequence[BinaryRequest]) -> None:
        """Refuse an explicit binary that would be used for no mapping, or whose build ID differs
        from the mapping it stands for (MismatchError, exit 7), whether or not that mapping still
        needs names: a ``--binary`` that is silently ignored hides a mistake."""
        for b in self.binaries:
            if any(r.build_id and _ids_match(b, r.build_id) for r in requests):
                continue
            named = [r for r in requests if self._stands_for(b, r.path, r.is_main)]
            if named:
                if named[0].build_id:
                    raise self._mismatch(b, named[0].path, named[0].build_id)
                continue
            names = sorted({r.path or "(no name)" for r in requests})
            ids = binary_ids(b)
            shown = ", ".join(names[:5]) + (f", ... ({len(names)} in all)" if len(names) > 5 else "")
            raise MismatchError(
                f"--binary {b} matches no mapping of the profile ({ids.describe() if ids else 'no build ID'}; "
                f"file mappings: {shown or 'none'})"
            )

    @staticmethod
    def _mismatch(b: str, filename: str, build_id: str) -> MismatchError:
        ids = binary_ids(b)
        return MismatchError(
            f"--binary {b} does not match mapping {filename or '(main)'}: the profile "
            f"recorded build ID {build_id}, the file has {ids.describe() if ids else 'no readable build ID'}"
        )

    def _stands_for(self, b: str, filename: str, is_main: bool) -> bool:
        """An explicit binary stands for a mapping of the same base name, and a lone one for the
        main mapping (the build ID, when recorded, is checked after)."""
        base = os.path.basename(filename)
        return bool(base and os.path.basename(b) == base) or (is_main and len(self.binaries) == 1)

    def locate(self, filename: str, build_id: str, *, is_main: bool, n_file_mappings: int) -> LocateResult:
        res = LocateResult(None)
        # 1. explicit binaries: by build ID, else by name, else the only binary for the main mapping.
        if self.binaries:
            by_id = [b for b in self.binaries if build_id and _ids_match(b, build_id)]
            if by_id:
                res.path, res.how = by_id[0], "--binary (build ID)"
                return res
            named = [b for b in self.binaries if self._stands_for(b, filename, is_main)]
            if named:
                b = named[0]
                if build_id and not _ids_match(b, build_id):
                    raise self._mismatch(b, filename, build_id)
                res.path, res.how = b, "--binary"
                return res
        # 2. the mapping's own path.
        if filename and os.path.isfile(filename):
            if not build_id or _ids_match(filename, build_id):
                res.path, res.how = filename, "mapping path"
                return res
            res.rejected.append(f"{filename}: build ID differs from the profile's ({build_id})")
        # 3. search directories (pprof + perf + gdb/llvm layouts).
        for d in self.search_dirs:
            for cand in _dir_candidates(d, filename, build_id):
                if not os.path.isfile(cand):
                    continue
                if build_id and not _ids_match(cand, build_id):
                    res.rejected.append(f"{cand}: build ID differs from the profile's ({build_id})")
                    continue
                if not build_id and cand.endswith(".debug"):
                    continue
                res.path, res.how = cand, f"search dir {d}"
                return res
        # 4. debuginfod (only GNU build-ids are indexed there).
        bid = build_id.strip().lower()
        if self.debuginfod_urls and HEX_BUILD_ID.match(bid):
            try:
                got = debuginfod_fetch(bid, self.debuginfod_urls, self.cache_dir, self.timeout)
            except SymkeepError as e:
                res.rejected.append(str(e))
                got = None
            if got is not None:
                if _ids_match(got, bid):
                    res.path, res.how = got, "debuginfod"
                    return res
                res.rejected.append(f"debuginfod returned {got} with a different build ID")
        return res


def _ids_match(path: str, build_id: str) -> bool:
    ids = binary_ids(path)
    return ids is not None and ids.matches(build_id)


def _dir_candidates(d: str, filename: str, build_id: str) -> list[str]:
    out = pprof_candidates(d, filename, build_id)
    bid = build_id.strip()
    bdir = os.path.join(d, bid)
    if bid and out and out[0].startswith(bdir) and os.path.isdir(bdir):
        with contextlib.suppress(OSError):  # pprof's $dir/<bid>/ may hold the binary under any name
            extra = sorted(os.path.join(bdir, n) for n in os.listdir(bdir))[:64]
            out = out[:1] + [c for c in extra if c not in out] + out[1:]
    return out
