"""Writing names into a profile: the Function table (interned) and Location ``Line[]`` bytes.

Why hand-encoded bytes: a profile of 100k locations gets one Line per frame; building protobuf
messages frame by frame costs more than the lookups. Each distinct (name, file, start line) becomes
one Function, each distinct row is encoded once, and a chain's Line[] is the concatenation of its
rows, merged into its Location in one call (``MergeFromString`` appends repeated fields).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from symkeep.golang.bulk import unique_rows
from symkeep.profile import profile_pb2
from symkeep.profile.limits import UINT64_MAX
from symkeep.profile.pprof import StringTable
from symkeep.symbolize.columns import ChainColumns

__all__ = ["FunctionTable", "IdAllocator", "LineEncoder", "uvarint"]


class IdAllocator:
    """Fresh non-zero uint64 ids next to the ones a profile already uses: the largest plus one,
    and when that would pass 2^64 - 1 (a hostile or odd profile), the gaps from 1 upwards."""

    def __init__(self, used: Iterable[int]) -> None:
        self.used = set(used)
        self.next = max(self.used, default=0) + 1
        self.gap = 1

    def take(self) -> int:
        if self.next <= UINT64_MAX:
            i, self.next = self.next, self.next + 1
            return i
        while self.gap in self.used:
            self.gap += 1
        i = self.gap
        self.used.add(i)
        self.gap += 1
        return i


class FunctionTable:
    """Function table with interning by (name, file, start_line), reusing the profile's entries."""

    def __init__(self, prof: profile_pb2.Profile, st: StringTable) -> None:
        self.prof = prof
        self.st = st
        self.by_key: dict[tuple[str, str, int], int] = {}
        self.by_id: dict[int, profile_pb2.Function] = {}
        for f in prof.function:
            self.by_id[f.id] = f
            self.by_key.setdefault((st.get(f.name), st.get(f.filename), f.start_line), f.id)
        self.ids = IdAllocator(self.by_id)

    def intern(self, name: str, file: str, start_line: int) -> int:
        key = (name, file, start_line)
        fid = self.by_key.get(key)
        if fid is None:
            fid = self.ids.take()
            n = self.st(name)
            f = self.prof.function.add(id=fid, name=n, system_name=n, filename=self.st(file), start_line=start_line)
            self.by_key[key] = fid
            self.by_id[fid] = f
        return fid


def uvarint(x: int) -> bytes:
    """Protobuf varint (negative int64 values: two's complement, 10 bytes)."""
    if 0 <= x < 0x80:
        return _SMALL[x]
    x &= UINT64_MAX
    out = bytearray()
    while x >= 0x80:
        out.append((x & 0x7F) | 0x80)
        x >>= 7
    out.append(x)
    return bytes(out)


_SMALL = [bytes((i,)) for i in range(0x80)]


def _line_tag(n: int) -> bytes:
    """Location.line (field 4, length-delimited) header for a body of ``n`` bytes."""
    return _LINE_TAG[n] if n < 0x80 else b"\x22" + uvarint(n)


_LINE_TAG = [b"\x22" + bytes((i,)) for i in range(0x80)]


class LineEncoder:
    """Serialized ``Location.line`` entries (field 4) of frame chains given as ChainColumns.

    Also records whether every frame had a name, a file and a line (the mapping's has_* flags)."""

    def __init__(self, funcs: FunctionTable) -> None:
        self.funcs = funcs
        self.all_named = self.all_files = self.all_lines = True

    def columns(self, cols: ChainColumns) -> list[bytes]:
        """Serialized Line[] of every chain of ``cols``, innermost first."""
        if cols.nrows == 0:
            return [b""] * len(cols)
        first, inv = unique_rows([cols.name, cols.file, cols.start_line])
        names, files = cols.names, cols.files
        intern = self.funcs.intern
        heads: list[bytes] = []
        for n, f, sl in zip(cols.name[first].tolist(), cols.file[first].tolist(),
                            cols.start_line[first].tolist(), strict=True):
            name, file = names[n], files[f]
            if file == "?":
                file = ""  # unknown (a function without line tables)
            if not name:
                self.all_named = False
            if not file:
                self.all_files = False
            heads.append(b"\x08" + uvarint(intern(name, file, sl)))
        lines = cols.line
        if bool((lines <= 0).any()):
            self.all_lines = False
        # the encoded line field once per distinct line value
        ul, linv = np.unique(lines, return_inverse=True)
        lfield = [b"\x10" + uvarint(ln) if ln else b"" for ln in ul.tolist()]
        rows = [
            _line_tag(len(body)) + body
            for body in (heads[h] + lfield[k] for h, k in zip(inv.tolist(), linv.reshape(-1).tolist(), strict=True))
        ]
        off = cols.off.tolist()
        return [rows[a] if b - a == 1 else b"".join(rows[a:b]) for a, b in zip(off, off[1:], strict=False)]
