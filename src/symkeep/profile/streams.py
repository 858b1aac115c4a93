"""Input byte streams for profiles: a peeked head, streaming gunzip with a cap, capped line reading.

Why: inputs arrive as files, stdin pipes or HTTP bodies, possibly gzip'd, possibly hostile (a 4 MB
gzip bomb that expands to 4 GiB, ``/dev/zero`` on stdin, a 100 MB line). Everything here reads in
bounded chunks, so memory stays bounded by the caps in :mod:`symkeep.profile.limits`, and every
stop names the cap it hit (:class:`LimitError`).
"""

from __future__ import annotations

import io
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from symkeep.errors import FormatError, LimitError

__all__ = ["CHUNK", "GZIP_MAGIC", "HEAD", "LineStats", "Source", "gunzip", "is_gzip", "iter_lines", "read_capped"]

GZIP_MAGIC = b"\x1f\x8b"
CHUNK = 1 << 20
HEAD = 1 << 16  # bytes looked at to detect the input format


def is_gzip(data: bytes | bytearray | memoryview) -> bool:
    return bytes(data[:2]) == GZIP_MAGIC


class _HeadThenRest(io.RawIOBase):
    """The head bytes already read, then the rest of the underlying stream."""

    def __init__(self, head: bytes, rest: BinaryIO | None) -> None:
        self._head = memoryview(head)
        self._pos = 0
        self._rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        mv = memoryview(b).cast("B")
        if self._pos < len(self._head):
            n = min(len(mv), len(self._head) - self._pos)
            mv[:n] = self._head[self._pos : self._pos + n]
            self._pos += n
            return n
        if self._rest is None:
            return 0
        data = self._rest.read(len(mv))
        n = len(data)
        mv[:n] = data
        return n


@dataclass
class Source:
    """An input with its first bytes read (for format detection) and the rest still unread."""

    head: bytes
    rest: BinaryIO | None
    name: str

    @classmethod
    def from_bytes(cls, data: bytes | bytearray | memoryview, name: str = "profile") -> Source:
        return cls(bytes(data), None, name)

    @classmethod
    def from_stream(cls, stream: BinaryIO, name: str) -> Source:
        head = stream.read(HEAD) or b""
        return cls(head, stream, name)

    def raw(self) -> io.BufferedReader:
        """The whole input from its first byte, as a buffered stream."""
        return io.BufferedReader(_HeadThenRest(self.head, self.rest), CHUNK)


class _Gunzip(io.RawIOBase):
    """Streaming gunzip of concatenated members; stops with LimitError past ``limit`` output bytes.

    Trailing zero padding after the last member is accepted (tape/ftp padding), anything else not."""

    def __init__(self, src: BinaryIO, limit: int, what: str, cap_name: str) -> None:
        self._src = src
        self._limit = limit
        self._what = what
        self._cap = cap_name
        self._d: zlib._Decompress | None = zlib.decompressobj(16 + zlib.MAX_WBITS)
        self._pending = b""  # compressed input not yet given to the decompressor
        self._out = 0
        self._padding = 0
        self._eof = False

    def readable(self) -> bool:
        return True

    def _more(self) -> bytes:
        if self._pending:
            data, self._pending = self._pending, b""
            return data
        return self._src.read(CHUNK) or b""

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        mv = memoryview(b).cast("B")
        try:
            while not self._eof:
                d = self._d
                if d is None:  # between members: another member, zero padding, or garbage
                    data = self._more()
                    if not data:
                        self._eof = True
                        break
                    if data.strip(b"\0") == b"":
                        self._padding += len(data)
                        if self._padding > CHUNK:
                            raise FormatError("trailing garbage after gzip stream (zeros)", what=self._what)
                        continue
                    if not is_gzip(data) and len(data) >= 2:
                        raise FormatError("trailing garbage after gzip stream", what=self._what)
                    self._d = d = zlib.decompressobj(16 + zlib.MAX_WBITS)
                    self._pending = data
                data = d.unconsumed_tail or self._more()
                if not data and not d.unconsumed_tail:
                    raise FormatError("truncated gzip stream", what=self._what)
                out = d.decompress(data, len(mv))
                if d.eof:
                    self._pending = d.unused_data
                    self._d = None
                if out:
                    self._out += len(out)
                    if self._out > self._limit:
                        raise LimitError(
                            f"{self._what}: decompressed size exceeds {self._limit} bytes ({self._cap})"
                        )
                    mv[: len(out)] = out
                    return len(out)
        except zlib.error as e:
            raise FormatError(f"corrupt gzip data: {e}", what=self._what) from e
        return 0


def gunzip(src: BinaryIO, limit: int, what: str = "gzip", cap_name: str = "--max-input") -> io.BufferedReader:
    return io.BufferedReader(_Gunzip(src, limit, what, cap_name), CHUNK)


def read_capped(stream: BinaryIO, limit: int, what: str, cap_name: str = "--max-input") -> bytearray:
    """Everything ``stream`` holds, refusing more than ``limit`` bytes (in bounded chunks)."""
    out = bytearray()
    while True:
        chunk = stream.read(CHUNK)
        if not chunk:
            return out
        if len(out) + len(chunk) > limit:
            raise LimitError(f"{what}: larger than {limit} bytes ({cap_name})")
        out += chunk


@dataclass
class LineStats:
    """What the line reader skipped or cut, for the summary."""

    lines: int = 0
    too_long: int = 0


def iter_lines(stream: BinaryIO, *, max_line: int, max_total: int, stats: LineStats, what: str) -> Iterator[tuple[int, str]]:
    """(line number, decoded line) pairs: UTF-8 with undecodable bytes kept as surrogate escapes (so
    paths survive byte for byte), at most ``max_line`` bytes each; longer lines are skipped whole
    and counted in ``stats``. More than ``max_total`` bytes in all: LimitError. Linear time whatever
    the line lengths (C ``readline`` with a limit)."""
    total = 0
    lineno = 0
    readline = stream.readline

    def over() -> LimitError:
        return LimitError(f"{what}: input larger than {max_total} bytes (--max-input)")

    while True:
        raw = readline(max_line + 1)
        if not raw:
            return
        lineno += 1
        total += len(raw)
        if total > max_total:
            raise over()
        if len(raw) > max_line and not raw.endswith(b"\n"):
            # over-long: drop the rest of the line, however long, without holding it
            while raw and not raw.endswith(b"\n"):
                raw = readline(CHUNK)
                total += len(raw)
                if total > max_total:
                    raise over()
            stats.too_long += 1
            continue
        stats.lines = lineno
        yield lineno, raw.decode("utf-8", "surrogateescape").rstrip("\r\n")
