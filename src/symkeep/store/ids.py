"""Build IDs as store keys and URL path components: one validator for the CLI, the store and the server.

A build is found by its GNU build-id (lower-case hex, what debuginfod clients send) or by its Go build
ID (``go tool buildid``: up to four base64url hashes joined by ``/``). In URLs the Go build ID's ``/``
is percent-encoded (``%2F``): that is the form elfutils' ``debuginfod-find`` accepts and passes
through unchanged (a raw ``/`` makes it treat the argument as a file name). Anything else is refused
before it reaches a file name, an SQL parameter or an object key.
"""

from __future__ import annotations

import re
from urllib.parse import quote, unquote

from symkeep.errors import UsageError

__all__ = ["MAX_ID_LEN", "id_kind", "normalize_id", "quote_id", "unquote_id"]

#: debuginfod clients cap a build ID at 64 bytes = 128 hex digits; a Go build ID is 83 characters today.
MAX_ID_LEN = 256
_HEX = re.compile(r"^[0-9a-fA-F]{8,128}$")
_GO_PART = r"[A-Za-z0-9_=+-]{1,64}"
_GO = re.compile(rf"^{_GO_PART}(?:/{_GO_PART}){{0,3}}$")


def id_kind(build_id: str) -> str:
    """'gnu' (even-length hex) or 'go' (Go build ID); raises UsageError for anything else."""
    if not build_id or len(build_id) > MAX_ID_LEN:
        raise UsageError(f"bad build ID: length {len(build_id)} (1..{MAX_ID_LEN})")
    if _HEX.match(build_id) and len(build_id) % 2 == 0:
        return "gnu"
    if _GO.match(build_id) and build_id != "redacted":
        return "go"
    raise UsageError(f"bad build ID: {build_id[:80]!r} (neither a hex GNU build-id nor a Go build ID)")


def normalize_id(build_id: str) -> str:
    """The canonical key: GNU build-ids lower-cased, Go build IDs as they are (they are case-sensitive)."""
    return build_id.lower() if id_kind(build_id) == "gnu" else build_id


def quote_id(build_id: str) -> str:
    """The URL path component for a build ID (``/`` as ``%2F``)."""
    return quote(build_id, safe="")


def unquote_id(component: str) -> str:
    """A raw (still percent-encoded) URL path component back to a validated, canonical build ID."""
    if len(component) > 3 * MAX_ID_LEN:
        raise UsageError(f"bad build ID: length {len(component)}")
    try:
        text = unquote(component, errors="strict")
    except UnicodeDecodeError:
        raise UsageError("bad build ID: invalid percent-encoding") from None
    return normalize_id(text)
