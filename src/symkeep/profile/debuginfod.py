"""Fetch an executable by GNU build-id from debuginfod servers (``DEBUGINFOD_URLS``), with a cache.

The layout is debuginfod's own (FACTS.md §6): ``URL/buildid/ID/executable`` on the server,
``CACHE/ID/executable`` locally, as ``debuginfod-find`` keeps it. Downloads are size-capped, written
to a temporary file and renamed, so a failed download leaves nothing behind.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

from symkeep.binfmt.debugdirs import HEX_BUILD_ID
from symkeep.errors import ToolError

__all__ = ["DEBUGINFOD_MAX_BYTES", "DEBUGINFOD_TIMEOUT", "DebuginfodMiss", "debuginfod_fetch", "default_cache"]

DEBUGINFOD_MAX_BYTES = 2 << 30  # refuse to download more than 2 GiB
DEBUGINFOD_TIMEOUT = 30.0


def default_cache() -> str:
    return os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "symkeep", "debuginfod")


def debuginfod_fetch(build_id: str, urls: Sequence[str], cache_dir: str, timeout: float) -> str | None:
    """GET ``URL/buildid/ID/executable`` from each server in turn; cache as ``cache/ID/executable``."""
    # Imported here: urllib.request (http.client, ssl) costs ~50 ms of CLI start-up, needed only here.
    import urllib.error
    import urllib.parse
    import urllib.request

    bid = build_id.lower()
    if not HEX_BUILD_ID.match(bid):
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
        raise DebuginfodMiss("debuginfod: " + "; ".join(errors))
    return None


class DebuginfodMiss(ToolError):
    """No server had it (or none answered): a note in the report, not a failure of the run."""


