"""Find the binary for a profile mapping: explicit paths, the mapping's path, build-ID directories
(pprof, perf, gdb/llvm layouts), ``PPROF_BINARY_PATH`` and debuginfod.

A candidate whose build ID differs from the mapping's is never used: an explicit ``--binary`` that
mismatches raises :class:`MismatchError`; a candidate found by searching is skipped and the skip is
recorded so the summary can say why the mapping stayed unsymbolized.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from symkeep.binfmt.debugdirs import pprof_candidates
from symkeep.errors import MismatchError, SymkeepError

__all__ = ["BinaryIDs", "Candidate", "Locator", "binary_ids", "debuginfod_fetch"]

_HEX_RE = re.compile(r"^[0-9a-f]{8,128}$")
DEBUGINFOD_MAX_BYTES = 2 << 30  # refuse to download more than 2 GiB
DEBUGINFOD_TIMEOUT = 30.0


@dataclass(frozen=True)
class BinaryIDs:
    gnu: str | None
    go: str | None

    def matches(self, build_id: str) -> bool:
        b = build_id.strip().lower()
        if not b:
            return True
        if self.gnu and self.gnu.lower() == b:
            return True
        return bool(self.go) and self.go == build_id.strip()

    def describe(self) -> str:
        parts = []
        if self.gnu:
            parts.append(f"GNU build-id {self.gnu}")
        if self.go:
            parts.append(f"Go build ID {self.go}")
        return ", ".join(parts) or "no build ID"


_ids_cache: dict[tuple[str, int, int], BinaryIDs | None] = {}


def binary_ids(path: str | os.PathLike[str]) -> BinaryIDs | None:
    """Build IDs of the executable at ``path``; None when it is not an executable we can read."""
    from symkeep.binfmt import open_binary
    from symkeep.golang.buildid import gnu_build_id, go_build_id

    p = os.fspath(path)
    try:
        st = os.stat(p)
    except OSError:
        return None
    key = (p, st.st_mtime_ns, st.st_size)
    if key in _ids_cache:
        return _ids_cache[key]
    res: BinaryIDs | None
    try:
        b = open_binary(p)
        try:
            res = BinaryIDs(gnu_build_id(b), go_build_id(b))
        finally:
            b.close()
    except SymkeepError:
        res = None
    _ids_cache[key] = res
    return res


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
    """Resolves (filename, build_id, is_main) to a local file, following pprof's search order."""

    def __init__(
        self,
        binaries: Sequence[str] = (),
        search_dirs: Sequence[str] = (),
        *,
        use_env: bool = True,
        debuginfod_urls: Sequence[str] | None = None,
        cache_dir: str | None = None,
        timeout: float | None = None,
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
        self.cache_dir = cache_dir or os.environ.get("DEBUGINFOD_CACHE_PATH") or _default_cache()
        t = timeout
        if t is None:
            try:
                t = float(os.environ.get("DEBUGINFOD_TIMEOUT", DEBUGINFOD_TIMEOUT))
            except ValueError:
                t = DEBUGINFOD_TIMEOUT
        self.timeout = t
        for b in self.binaries:
            if not os.path.isfile(b):
                from symkeep.errors import InputError

                raise InputError(f"--binary {b}: no such file")

    def locate(self, filename: str, build_id: str, *, is_main: bool, n_file_mappings: int) -> LocateResult:
        res = LocateResult(None)
        base = os.path.basename(filename)
        # 1. explicit binaries: by build ID, else by name, else the only binary for the main mapping.
        if self.binaries:
            by_id = [b for b in self.binaries if build_id and _ids_match(b, build_id)]
            if by_id:
                res.path, res.how = by_id[0], "--binary (build ID)"
                return res
            named = [b for b in self.binaries if base and os.path.basename(b) == base]
            if not named and is_main and len(self.binaries) == 1:
                named = list(self.binaries)
            if named:
                b = named[0]
                if build_id and not _ids_match(b, build_id):
                    ids = binary_ids(b)
                    raise MismatchError(
                        f"--binary {b} does not match mapping {filename or '(main)'}: the profile "
                        f"recorded build ID {build_id}, the file has {ids.describe() if ids else 'no readable build ID'}"
                    )
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
        if self.debuginfod_urls and _HEX_RE.match(bid):
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


def _default_cache() -> str:
    return os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "symkeep", "debuginfod")


def debuginfod_fetch(build_id: str, urls: Sequence[str], cache_dir: str, timeout: float) -> str | None:
    """GET ``URL/buildid/ID/executable`` from each server in turn; cache as ``cache/ID/executable``."""
    # Imported here: urllib.request (http.client, ssl) costs ~50 ms of CLI start-up, needed only here.
    import urllib.error
    import urllib.parse
    import urllib.request

    bid = build_id.lower()
    if not _HEX_RE.match(bid):
        return None
    dest = Path(cache_dir) / bid / "executable"
    if dest.is_file():
        return str(dest)
    errors: list[str] = []
    for base in urls:
        url = base.rstrip("/") + "/buildid/" + urllib.parse.quote(bid) + "/executable"
        if not url.startswith(("http://", "https://")):
            errors.append(f"{base}: not an http(s) URL")
            continue
        req = urllib.request.Request(url, headers={"X-DEBUGINFOD-MAXSIZE": str(DEBUGINFOD_MAX_BYTES)})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 - http(s) checked above
                dest.parent.mkdir(parents=True, exist_ok=True)
                fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=".part-")
                h = hashlib.sha256()
                total = 0
                try:
                    with os.fdopen(fd, "wb") as out:
                        while True:
                            chunk = resp.read(1 << 20)
                            if not chunk:
                                break
                            total += len(chunk)
                            if total > DEBUGINFOD_MAX_BYTES:
                                raise OSError(f"response larger than {DEBUGINFOD_MAX_BYTES} bytes")
                            h.update(chunk)
                            out.write(chunk)
                    os.replace(tmp, dest)
                finally:
                    if os.path.exists(tmp):
                        os.unlink(tmp)
                return str(dest)
        except urllib.error.HTTPError as e:
            errors.append(f"{url}: HTTP {e.code}")
        except (urllib.error.URLError, OSError, TimeoutError, ValueError) as e:
            errors.append(f"{url}: {getattr(e, 'reason', e)}")
    if errors:
        raise _DebuginfodMiss("debuginfod: " + "; ".join(errors))
    return None


class _DebuginfodMiss(SymkeepError):
    pass


