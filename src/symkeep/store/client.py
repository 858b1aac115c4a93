"""``ServerSink``: archive through a ``symkeep serve`` (``PUT /buildid/ID/KIND`` with a bearer token).

The file is streamed from disk as the request body (``http.client`` sends a file object in blocks),
so a big debug file is never read into memory. One PUT per artifact: the server files it under every
build ID the file carries.
"""

from __future__ import annotations

import http.client
import io
import json
import os
from pathlib import Path
from typing import BinaryIO
from urllib.parse import quote, urlsplit

from symkeep.errors import AuthError, LimitError, MismatchError, ToolError, UsageError
from symkeep.store.ids import quote_id
from symkeep.store.meta import ArtifactInfo
from symkeep.store.store import PutResult

__all__ = ["ServerSink"]


class ServerSink:
    def __init__(self, server: str, token: str | None, timeout: float = 300.0) -> None:
        u = urlsplit(server.rstrip("/"))
        if u.scheme not in ("http", "https") or not u.hostname:
            raise UsageError(f"bad --server URL {server!r}: http://HOST:PORT")
        self.scheme = u.scheme
        self.host = u.hostname
        self.port = u.port
        self.base = u.path
        self.token = token
        self.timeout = timeout

    def _put(self, key: str, kind: str, body: BinaryIO, size: int, file_name: str, explicit: bool,
             source_path: str = "") -> list[PutResult]:
        path = f"{self.base}/buildid/{quote_id(key)}/{kind}"
        if kind == "source":
            path += quote(source_path, safe="/")
        conn_cls = http.client.HTTPSConnection if self.scheme == "https" else http.client.HTTPConnection
        conn = conn_cls(self.host, self.port, timeout=self.timeout)
        headers = {"Content-Length": str(size), "Content-Type": "application/octet-stream",
                   "X-Symkeep-File": quote(file_name, safe="/")}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        if explicit:
            headers["X-Symkeep-Key"] = "1"
        try:
            conn.request("PUT", path, body=body, headers=headers)
            resp = conn.getresponse()
            text = resp.read().decode("utf-8", "replace")
        except OSError as e:
            raise ToolError(f"upload to {self.scheme}://{self.host}:{self.port}: {e}") from e
        finally:
            conn.close()
        if resp.status in (200, 201, 409):
            try:
                return [PutResult(**r) for r in json.loads(text)["results"]]
            except (ValueError, KeyError, TypeError) as e:
                raise ToolError(f"server answered {resp.status} with unexpected body: {text[:200]}") from e
        msg = text.strip().removeprefix("symkeep: error: ")[:500]
        if resp.status == 401:
            raise AuthError(f"server refused the upload: {msg}")
        if resp.status == 413:
            raise LimitError(f"server refused the upload: {msg}")
        if resp.status == 409:
            raise MismatchError(msg)
        raise ToolError(f"server answered {resp.status}: {msg}")

    def put(self, path: Path, kind: str, info: ArtifactInfo | None, keys: list[str] | None,
            source_path: str = "") -> list[PutResult]:
        explicit = keys is not None and kind != "source" and (info is None or keys != info.ids)
        key = (keys or (info.ids if info else []))[0]
        with open(path, "rb") as f:
            return self._put(key, kind, f, os.fstat(f.fileno()).st_size, os.path.abspath(path), explicit,
                             source_path)

    def put_index(self, path: Path, keys: list[str]) -> list[PutResult]:
        """Nothing to send: the server builds the index of every executable it is given (a client's
        index is never accepted)."""
        return []

    def put_bytes(self, data: bytes, kind: str, info: ArtifactInfo, keys: list[str],
                  file_name: str) -> list[PutResult]:
        explicit = keys != info.ids
        return self._put(keys[0], kind, io.BytesIO(data), len(data), file_name, explicit)
