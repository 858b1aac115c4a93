"""The locations of a profile as numpy columns, read and written without message objects.

Why: protobuf (upb) makes a Python wrapper for every message touched and keeps it while referenced;
a list of 10^6 Location wrappers (plus their ``line`` containers) cost ~500 MB and a second. The
symbolizer needs a few numbers per location, so they are decoded from the serialized entries in
bulk (:mod:`symkeep.profile.wire`), and new locations and samples are encoded as wire bytes in bulk
(numpy) and merged into the profile in one call.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from symkeep.profile import profile_pb2
from symkeep.profile.wire import decode_fields, location_entries

__all__ = ["LocationColumns", "encode_locations", "encode_samples", "varint_lengths"]

U64 = npt.NDArray[np.uint64]
I64 = npt.NDArray[np.int64]


@dataclass
class LocationColumns:
    """Location ``k`` of the profile (in its order): ``ids[k]``, ``mapping_ids[k]``, ``addresses[k]``,
    ``nlines[k]`` (0 = no name yet) and ``folded[k]`` (``is_folded``); its Line entries are rows
    ``line_start[k]:line_start[k] + nlines[k]`` of ``line_function`` and ``line_number``."""

    ids: U64
    mapping_ids: U64
    addresses: U64
    nlines: I64
    folded: npt.NDArray[np.bool_]
    line_function: U64 = field(default_factory=lambda: np.zeros(0, dtype=np.uint64))
    line_number: I64 = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    line_start: I64 = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    def __len__(self) -> int:
        return len(self.ids)

    @classmethod
    def read(cls, prof: profile_pb2.Profile) -> LocationColumns:
        """The columns of a profile's locations (serialized once, decoded in bulk: no wrappers)."""
        return cls.from_entries(location_entries(prof.SerializeToString()))

    @classmethod
    def from_entries(cls, entries: list[bytes]) -> LocationColumns:
        """Columns from serialized Location bodies (:func:`symkeep.profile.wire.location_entries`)."""
        n = len(entries)
        lens = np.fromiter(map(len, entries), dtype=np.int64, count=n)
        buf = np.frombuffer(b"".join(entries) + bytes(16), dtype=np.uint8)
        ends = np.cumsum(lens)
        loc = decode_fields(buf, ends - lens, ends, (1, 2, 3, 5), (4,))

        def col(f: int) -> U64:
            out = np.zeros(n, dtype=np.uint64)
            owner, val = loc.varints[f]
            out[owner] = val  # a repeated scalar: the last one wins, as protobuf reads it
            return out

        lo, ls, le = loc.spans[4]
        line = decode_fields(buf, ls, le, (1, 2), ())
        fn = np.zeros(len(lo), dtype=np.uint64)
        num = np.zeros(len(lo), dtype=np.uint64)
        fn[line.varints[1][0]] = line.varints[1][1]
        num[line.varints[2][0]] = line.varints[2][1]
        nlines = np.bincount(lo, minlength=n).astype(np.int64) if n else np.zeros(0, dtype=np.int64)
        start = np.zeros(n, dtype=np.int64)
        if n:
            np.cumsum(nlines[:-1], out=start[1:])
        return cls(col(1), col(2), col(3), nlines, col(5) != 0, fn, num.view(np.int64), start)

    def index_of(self, ids: U64) -> I64:
        """Position of each id in the profile's order (-1 when absent)."""
        n = len(self.ids)
        if not len(ids) or not n:
            return np.full(len(ids), -1, dtype=np.int64)
        if n and int(self.ids[0]) == 1 and int(self.ids[-1]) == n and bool((np.diff(self.ids) == 1).all()):
            pos = ids.astype(np.int64) - 1  # the usual numbering 1..n
            return np.where((ids >= 1) & (ids <= n), pos, -1)
        order = np.argsort(self.ids, kind="stable")
        s = self.ids[order]
        j = np.searchsorted(s, ids)
        jc = np.minimum(j, max(n - 1, 0))
        hit = (j < n) & (s[jc] == ids)
        return np.where(hit, order[jc], -1).astype(np.int64)


_THRESH = np.array([1 << (7 * k) for k in range(1, 10)], dtype=np.uint64)


def varint_lengths(x: U64) -> I64:
    """Bytes of each value's protobuf varint (1 to 10)."""
    return 1 + np.searchsorted(_THRESH, x, side="right").astype(np.int64)


def _put_varints(out: npt.NDArray[np.uint8], pos: I64, x: U64, n: I64) -> None:
    for k in range(10):
        m = n > k
        if not m.any():
            break
        byte = ((x[m] >> np.uint64(7 * k)) & np.uint64(0x7F)).astype(np.uint8)
        byte |= np.where(n[m] - 1 > k, 0x80, 0).astype(np.uint8)
        out[pos[m] + k] = byte


def encode_locations(ids: U64, mapping_ids: U64, addresses: U64) -> bytes:
    """Wire bytes of ``Profile.location`` entries (field 4) {id, mapping_id, address}, in bulk: what
    ``prof.location.add(...)`` per location would give, at numpy speed."""
    n = len(ids)
    if n == 0:
        return b""
    cols = [(0x08, ids), (0x10, mapping_ids), (0x18, addresses)]
    lens = [varint_lengths(x) for _, x in cols]
    body = 3 + lens[0] + lens[1] + lens[2]  # at most 33 bytes: a one-byte length
    rec = 2 + body
    start = np.zeros(n, dtype=np.int64)
    np.cumsum(rec[:-1], out=start[1:])
    out = np.zeros(int(start[-1] + rec[-1]), dtype=np.uint8)
    out[start] = 0x22
    out[start + 1] = body.astype(np.uint8)
    pos = start + 2
    for (tag, x), ln in zip(cols, lens, strict=True):
        out[pos] = tag
        _put_varints(out, pos + 1, x, ln)
        pos = pos + 1 + ln
    return out.tobytes()


def encode_samples(location_ids: U64, offsets: I64, values: npt.NDArray[np.int64]) -> bytes:
    """Wire bytes of ``Profile.sample`` entries (field 2) with packed ``location_id`` and ``value``:
    sample ``k`` has ids ``location_ids[offsets[k]:offsets[k + 1]]`` and values ``values[k]`` (a row
    of the 2-D array; negative values as protobuf writes int64). Same bytes as ``sample.add(...)``."""
    n = len(offsets) - 1
    if n <= 0:
        return b""
    counts = np.diff(offsets)
    vals = values.reshape(n, -1).astype(np.int64).view(np.uint64)
    nv = vals.shape[1]
    vl_ids = varint_lengths(location_ids)
    cum = np.zeros(len(location_ids) + 1, dtype=np.int64)
    np.cumsum(vl_ids, out=cum[1:])
    ids_len = cum[offsets[1:]] - cum[offsets[:-1]]  # packed bytes of each sample's ids
    vl_vals = varint_lengths(vals.reshape(-1)).reshape(n, nv)
    vals_len = vl_vals.sum(axis=1)
    has_ids = counts > 0
    body = np.where(has_ids, 1 + varint_lengths(ids_len.astype(np.uint64)) + ids_len, 0)
    body = body + (1 + varint_lengths(vals_len.astype(np.uint64)) + vals_len if nv else 0)
    head = 1 + varint_lengths(body.astype(np.uint64))
    start = np.zeros(n, dtype=np.int64)
    np.cumsum((head + body)[:-1], out=start[1:])
    out = np.zeros(int(start[-1] + head[-1] + body[-1]), dtype=np.uint8)
    out[start] = 0x12
    _put_varints(out, start + 1, body.astype(np.uint64), head - 1)
    pos = start + head
    # location_id (field 1, packed): tag, length, then each id at its offset within the sample
    idp = pos[has_ids]
    out[idp] = 0x0A
    lens = varint_lengths(ids_len[has_ids].astype(np.uint64))
    _put_varints(out, idp + 1, ids_len[has_ids].astype(np.uint64), lens)
    ids_at = np.zeros(n, dtype=np.int64)
    ids_at[has_ids] = idp + 1 + lens
    owner = np.repeat(np.arange(n), counts)
    _put_varints(out, ids_at[owner] + (cum[:-1] - cum[offsets[:-1]][owner]), location_ids, vl_ids)
    pos = np.where(has_ids, ids_at + ids_len, pos)
    if nv:  # value (field 2, packed)
        out[pos] = 0x12
        lens = varint_lengths(vals_len.astype(np.uint64))
        _put_varints(out, pos + 1, vals_len.astype(np.uint64), lens)
        at = pos + 1 + lens
        for j in range(nv):
            _put_varints(out, at, vals[:, j], vl_vals[:, j])
            at = at + vl_vals[:, j]
    return out.tobytes()
