"""Clients of a ``symkeep serve``'s compute endpoints: ``POST /symbolize`` and ``POST /addr2line``.

What ``symkeep symbolize --server URL`` and ``symkeep addr2line --server URL`` call: the work runs on the
server (binaries from its store, by build ID) and the answer is what the local command prints.
``server_url(flag)`` is the one rule for choosing the server: an explicit ``--server`` wins, ``--server ''``
disables, else ``$SYMKEEP_SERVER``. A server's one-line error comes back as the same error class
(``X-Symkeep-Error``), so the client exits with the code the local command would have; a server that
cannot be reached or answers something else is a ``ToolError`` (exit 8), and a busy one (503) too.
"""

from __future__ import annotations

import http.client
import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO
from urllib.parse import urlencode, urlsplit

from symkeep import errors
from symkeep.errors import SymkeepError, ToolError, UsageError

__all__ = ["ENV", "RemoteResult", "SymkeepServer", "server_url"]

ENV = "SYMKEEP_SERVER"
_BLOCK = 1 << 16


def server_url(flag: str | None) -> str | None:
    """The server to send work to: ``--server`` if given (``''`` = none), else ``$SYMKEEP_SERVER``."""
    url = flag if flag is not None else os.environ.get(ENV, "")
    return url.strip() or None


@dataclass
class RemoteResult:
    input_format: str
    summary: str  # the text `symkeep symbolize` prints on stderr (without its "input:" line)
    report: dict[str, Any]  # `symbolize --json`
    output: bytes


def _error_class(name: str | None, status: int) -> type[SymkeepError]:
    cls = getattr(errors, name or "", None)
    if isinstance(cls, type) and issubclass(cls, SymkeepError) and cls.http_status == status:
        return cls
    return ToolError


class SymkeepServer:
    """One keep-alive connection to a server (reopened when the server closes it)."""

    def __init__(self, url: str, token: str | None = None, timeout: float = 300.0) -> None:
        u = urlsplit(url.rstrip("/"))
        if u.scheme not in ("http", "https") or not u.hostname:
            raise UsageError(f"bad --server URL {url!r}: http://HOST:PORT")
        self.url = url.rstrip("/")
        self.scheme, self.host, self.port, self.base = u.scheme, u.hostname, u.port, u.path
        self.token = token if token is not None else os.environ.get("SYMKEEP_TOKEN") or None
        self.timeout = timeout
        self._conn: http.client.HTTPConnection | None = None

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> SymkeepServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            cls = http.client.HTTPSConnection if self.scheme == "https" else http.client.HTTPConnection
            self._conn = cls(self.host, self.port, timeout=self.timeout)
        return self._conn

    def post(self, path: str, params: dict[str, str], body: bytes | BinaryIO | Iterable[bytes],
             content_type: str = "application/octet-stream", length: int | None = None) -> bytes:
        """POST and return the body of a 200 answer; raise the server's error class otherwise."""
        target = f"{self.base}{path}?{urlencode(params)}" if params else f"{self.base}{path}"
        headers = {"Content-Type": content_type}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        if isinstance(body, bytes):
            length = len(body)
        if length is not None:
            headers["Content-Length"] = str(length)
        else:
            headers["Transfer-Encoding"] = "chunked"
        for attempt in (0, 1):
            conn = self._connection()
            try:
                conn.request("POST", target, body=body, headers=headers,
                             encode_chunked=length is None)
                resp = conn.getresponse()
                data = resp.read()
                break
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as e:
                self.close()  # a kept-alive connection the server closed: one retry if the body can be resent
                if attempt or not isinstance(body, bytes):
                    raise ToolError(f"server {self.url}: {e or type(e).__name__}") from e
            except (OSError, http.client.HTTPException) as e:
                self.close()
                raise ToolError(f"server {self.url}: {e or type(e).__name__}") from e
        if resp.status == 200:
            return data
        text = data.decode("utf-8", "replace").strip()
        msg = text.removeprefix("symkeep: error: ")[:2000] or f"HTTP {resp.status}"
        if resp.status == 503:
            raise ToolError(f"server {self.url} is busy (503, retry after {resp.getheader('Retry-After', '?')} s): "
                            f"{msg}")
        cls = _error_class(resp.getheader("X-Symkeep-Error"), resp.status)
        if cls is ToolError:
            raise ToolError(f"server {self.url} answered {resp.status}: {msg}")
        raise cls(msg)

    def symbolize(self, body: bytes | BinaryIO | Iterable[bytes], params: dict[str, str],
                  length: int | None = None, content_type: str = "application/octet-stream") -> RemoteResult:
        """``POST /symbolize?report=inline``: the output and the report of one profile."""
        data = self.post("/symbolize", {**params, "report": "inline"}, body, content_type, length=length)
        nl = data.find(b"\n")
        try:
            meta = json.loads(data[:nl])
            return RemoteResult(str(meta["input_format"]), str(meta["summary"]), dict(meta["report"]),
                                data[nl + 1:])
        except (ValueError, KeyError, TypeError) as e:
            raise ToolError(f"server {self.url}: unexpected /symbolize answer ({e})") from None

    def addr2line(self, build_id: str, flags: dict[str, bool], batches: Iterable[bytes]) -> Iterator[bytes]:
        """``POST /addr2line`` per batch of complete tokens (one request each on one connection): the
        answers in order, one piece per batch, so a huge stdin is never held whole."""
        params = self._a2l_params(build_id, flags)
        for batch in batches:
            yield self.post("/addr2line", params, batch, content_type="text/plain")

    def addr2line_tokens(self, build_id: str, flags: dict[str, bool], tokens: Iterable[str]) -> bytes:
        """``POST /addr2line`` of tokens as given (command-line arguments: a JSON array, so a token is
        answered as one token even if it holds whitespace, as the local command answers it)."""
        body = json.dumps(list(tokens)).encode()
        return self.post("/addr2line", self._a2l_params(build_id, flags), body, content_type="application/json")

    @staticmethod
    def _a2l_params(build_id: str, flags: dict[str, bool]) -> dict[str, str]:
        return {"build_id": build_id, **{k: "1" for k, v in flags.items() if v}}


