"""The symbol index file: typed arrays in one memory-mappable file, checked before any use (no numpy).

A per-build symbol index (:mod:`symkeep.symbolize.symindex`) must load in milliseconds, be shared by
server worker processes through the page cache, and never be trusted when damaged. Layout (little
endian)::

    0   magic  b"SYMKIDX\\0"
    8   u32    format (FORMAT)
    12  u32    header length H
    16  u32    CRC-32 of every byte from offset 24 to the end of the file
    20  u32    0
    24  H bytes of JSON: metadata plus {"arrays": {name: [typecode, offset, count]}, "data_bytes": N}
        padding to a multiple of 64
    D   the data region: each array at D + offset (64-byte aligned), N bytes in all

Typecodes are those of :mod:`array`/``memoryview.cast``: ``Q`` (u64), ``q`` (i64), ``B`` (u8). A file
whose size, magic, format, header, CRC or array bounds disagree raises :class:`IndexCorrupt` (a
:class:`FormatError`): callers rebuild, never read it. The CRC covers the header, so a flipped bit in
metadata (the text end, a build ID) is caught like one in the arrays.
"""

from __future__ import annotations

import contextlib
import json
import mmap
import os
import struct
import sys
import zlib
from collections.abc import Mapping
from typing import Any

from symkeep.errors import FormatError

__all__ = ["FORMAT", "MAGIC", "IndexCorrupt", "IndexFile", "encode_index"]

MAGIC = b"SYMKIDX\x00"
FORMAT = 1
_FIXED = struct.Struct("<8sIIII")
_ALIGN = 64
_ITEM = {"Q": 8, "q": 8, "B": 1}
_MAX_HEADER = 1 << 20


class IndexCorrupt(FormatError):
    """An index file that must not be used (truncated, bit-flipped, another format)."""


def _pad(n: int) -> int:
    return -n % _ALIGN


def encode_index(meta: Mapping[str, Any], arrays: Mapping[str, tuple[str, Any]]) -> list[bytes | memoryview]:
    """The pieces of an index file (write them in order): ``arrays`` maps a name to (typecode, buffer)
    where the buffer holds little-endian items of that type (a numpy array, bytes, ...)."""
    if sys.byteorder != "little":  # pragma: no cover - every platform Go and symkeep run on is LE
        raise FormatError("symbol index files are little-endian; this host is not")
    table: dict[str, list[Any]] = {}
    bufs: list[memoryview] = []
    off = 0
    for name, (code, buf) in arrays.items():
        mv = memoryview(buf).cast("B")
        table[name] = [code, off, len(mv) // _ITEM[code]]
        bufs.append(mv)
        off += len(mv) + _pad(len(mv))
    head = json.dumps({**meta, "arrays": table, "data_bytes": off}, sort_keys=True, separators=(",", ":")).encode()
    head += b" " * _pad(_FIXED.size + len(head))
    pieces: list[bytes | memoryview] = [head]
    for mv in bufs:
        pieces.append(mv)
        if _pad(len(mv)):
            pieces.append(b"\0" * _pad(len(mv)))
    crc = 0
    for p in pieces:
        crc = zlib.crc32(p, crc)
    return [_FIXED.pack(MAGIC, FORMAT, len(head), crc, 0), *pieces]


class IndexFile:
    """An index file, mapped read-only and checked once (size, magic, format, CRC, array bounds).

    ``meta`` is the header JSON; :meth:`array` gives a typed zero-copy memoryview of one array,
    :meth:`strings` a string table (``NAME_off`` offsets into the ``NAME_blob`` bytes)."""

    def __init__(self, buf: mmap.mmap | bytes, path: str = "<bytes>", mapped: mmap.mmap | None = None) -> None:
        self.path = path
        self._mm = mapped
        self._mv = memoryview(buf)
        try:
            self._check()
        except BaseException:
            self._mv.release()  # so the caller can close the mapping
            raise

    def _check(self) -> None:
        path, mv = self.path, self._mv
        if len(mv) < _FIXED.size:
            raise IndexCorrupt(f"{path}: is truncated ({len(mv)} bytes)", 0, what="symbol index")
        magic, fmt, hlen, crc, _ = _FIXED.unpack_from(mv, 0)
        if magic != MAGIC:
            raise IndexCorrupt(f"{path}: not a symkeep symbol index file", 0, what="symbol index")
        if fmt != FORMAT:
            raise IndexCorrupt(f"{path}: format {fmt}, this symkeep reads {FORMAT}", 8,
                               what="symbol index")
        if hlen > _MAX_HEADER or _FIXED.size + hlen > len(mv):
            raise IndexCorrupt(f"{path}: header runs past the end of the file", 12, what="symbol index")
        if zlib.crc32(mv[_FIXED.size:]) != crc:
            raise IndexCorrupt(f"{path}: checksum mismatch (damaged or truncated)", 16,
                               what="symbol index")
        try:
            meta = json.loads(bytes(mv[_FIXED.size : _FIXED.size + hlen]))
            data = _FIXED.size + hlen
            table = meta["arrays"]
            if data + int(meta["data_bytes"]) != len(mv):
                raise IndexCorrupt(f"{path}: size {len(mv)} disagrees with its header", 24,
                                   what="symbol index")
            self._arrays: dict[str, tuple[str, int, int]] = {}
            for name, (code, off, count) in table.items():
                size = _ITEM[code] * int(count)
                if off < 0 or count < 0 or off % _ALIGN or off + size > int(meta["data_bytes"]):
                    raise IndexCorrupt(f"{path}: array {name} lies outside the symbol index", data + off,
                                       what="symbol index")
                self._arrays[name] = (code, data + off, int(count))
        except IndexCorrupt:
            raise
        except (ValueError, KeyError, TypeError) as e:
            raise IndexCorrupt(f"{path}: unreadable symbol index header: {e}", _FIXED.size, what="symbol index") from e
        self.meta: dict[str, Any] = meta

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> IndexFile:
        """Map ``path`` (OSError propagates: a missing file is the caller's cache miss)."""
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            if size == 0:
                raise IndexCorrupt(f"{path}: is empty", 0, what="symbol index")
            mm = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        try:
            return cls(mm, str(path), mm)
        except BaseException:
            mm.close()
            raise

    @property
    def nbytes(self) -> int:
        return len(self._mv)

    @property
    def buffer(self) -> memoryview:
        """The whole file (numpy maps its arrays from here)."""
        return self._mv

    def has(self, name: str) -> bool:
        return name in self._arrays

    def span(self, name: str) -> tuple[str, int, int]:
        """(typecode, byte offset in the file, item count) of array ``name``."""
        try:
            return self._arrays[name]
        except KeyError:
            raise IndexCorrupt(f"{self.path}: symbol index has no array {name!r}", what="symbol index") from None

    def array(self, name: str) -> memoryview:
        """Array ``name`` as a typed memoryview (zero copy)."""
        code, off, count = self.span(name)
        view = self._mv[off : off + _ITEM[code] * count]
        return view.cast("Q") if code == "Q" else view.cast("q") if code == "q" else view.cast("B")

    def strings(self, name: str) -> list[str]:
        """String table ``name`` (UTF-8, undecodable bytes kept as surrogate escapes)."""
        offs = self.array(name + "_off").tolist()
        raw = bytes(self.array(name + "_blob"))
        if offs != sorted(offs) or (offs and (offs[0] < 0 or offs[-1] > len(raw))):
            raise IndexCorrupt(f"{self.path}: string table {name} is out of order", what="symbol index")
        if raw.isascii():  # the usual case: byte offsets are character offsets, slice one decoded string
            text = raw.decode("ascii")
            return [text[a:b] for a, b in zip(offs, offs[1:], strict=False)]
        return [raw[a:b].decode("utf-8", "surrogateescape") for a, b in zip(offs, offs[1:], strict=False)]

    def close(self) -> None:
        with contextlib.suppress(BufferError):  # views still alive: the mapping goes when they do
            self._mv.release()
            if self._mm is not None:
                self._mm.close()

    def __enter__(self) -> IndexFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
