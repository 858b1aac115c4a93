"""Reading addresses from stdin in batches (no click, no numpy: the warm addr2line path uses it too)."""

from __future__ import annotations

import os
import select
from collections.abc import Iterator
from typing import IO

__all__ = ["stdin_batches"]


def stdin_batches(stdin: IO[str], batch_bytes: int | None = None, read_size: int = 1 << 20) -> Iterator[bytes]:
    """Batches of complete tokens from ``stdin``: a batch ends when it is full or when no more input is
    ready right now (``select`` with a zero timeout), so a co-process gets each answer at once."""
    from symkeep.symbolize.a2ltext import BATCH_BYTES, TokenStream

    limit = batch_bytes or BATCH_BYTES
    ts = TokenStream()
    try:
        fd = stdin.fileno()
    except (AttributeError, OSError, ValueError):
        fd = -1
    if fd < 0:  # not a real file (a replaced stdin in tests): read it in pieces
        raw = getattr(stdin, "buffer", None)
        while True:
            piece = raw.read(read_size) if raw is not None else stdin.read(read_size).encode("utf-8", "replace")
            if not piece:
                break
            ts.push(piece)
            if ts.pending >= limit:
                yield ts.take()
        last = ts.close()
        if last:
            yield last
        return
    while True:
        chunk = os.read(fd, read_size)
        if not chunk:
            break
        ts.push(chunk)
        if ts.pending >= limit or (ts.pending and not _ready(fd)):
            yield ts.take()
    last = ts.close()
    if last:
        yield last


def _ready(fd: int) -> bool:
    try:
        return bool(select.select([fd], [], [], 0)[0])
    except (OSError, ValueError):
        return True
