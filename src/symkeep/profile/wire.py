"""Protobuf wire format in bulk: the serialized Location entries of a profile without message objects,
and their fields decoded for all of them at once with numpy.

Why: upb builds a Python wrapper for every message touched (~500 bytes and ~1 µs each with its
``line`` container); a profile has up to millions of locations. Here a "shadow" message type that
declares ``location`` as ``repeated bytes`` lets upb split the profile in C, and the fields of every
location (and of every Line inside them) are decoded one field position at a time across all
messages: a handful of numpy passes, however many messages.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from google.protobuf import descriptor_pb2, descriptor_pool, message, message_factory

from symkeep.errors import FormatError

__all__ = ["Fields", "decode_fields", "location_entries", "read_varints"]

U8 = npt.NDArray[np.uint8]
U64 = npt.NDArray[np.uint64]
I64 = npt.NDArray[np.int64]
_SLOW = 64  # messages still being decoded when the rest goes field by field in Python


def _shadow_class() -> type[message.Message]:
    f = descriptor_pb2.FileDescriptorProto(name="symkeep_profile_shadow.proto", package="symkeep.shadow",
                                           syntax="proto3")
    m = f.message_type.add(name="ProfileLocations")
    m.field.add(name="location", number=4, type=descriptor_pb2.FieldDescriptorProto.TYPE_BYTES,
                label=descriptor_pb2.FieldDescriptorProto.LABEL_REPEATED)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(f)
    cls: type[message.Message] = message_factory.GetMessageClass(
        pool.FindMessageTypeByName("symkeep.shadow.ProfileLocations"))
    return cls


_Shadow = _shadow_class()


def location_entries(serialized: bytes) -> list[bytes]:
    """The body of every ``Profile.location`` entry of a serialized profile, in order."""
    sh = _Shadow()
    sh.ParseFromString(serialized)
    return list(sh.location)  # type: ignore[attr-defined]


def read_varints(buf: U8, pos: I64) -> tuple[U64, I64]:
    """(value, byte length) of the varint at each position (``buf`` padded by 10 bytes)."""
    b = buf[pos]
    val = (b & 0x7F).astype(np.uint64)
    size = np.ones(len(pos), dtype=np.int64)
    todo = np.flatnonzero(b >= 0x80)  # most varints here are one byte
    for k in range(1, 10):
        if not len(todo):
            return val, size
        b = buf[pos[todo] + k]
        val[todo] |= (b & 0x7F).astype(np.uint64) << np.uint64(7 * k)
        size[todo] = k + 1
        todo = todo[b >= 0x80]
    if len(todo):
        raise FormatError("varint longer than 10 bytes", int(pos[todo[0]]), what="profile")
    return val, size


@dataclass
class Fields:
    """Decoded occurrences: per field number, (owner message index, value) for varints and
    (owner, start, end) for length-delimited fields, in message order then field order."""

    varints: dict[int, tuple[I64, U64]]
    spans: dict[int, tuple[I64, I64, I64]]


def decode_fields(buf: U8, starts: I64, ends: I64, varint_fields: tuple[int, ...],
                  span_fields: tuple[int, ...]) -> Fields:
    """Decode the fields of many messages lying at ``buf[starts[k]:ends[k]]``."""
    vparts: dict[int, list[tuple[I64, U64]]] = {f: [] for f in varint_fields}
    sparts: dict[int, list[tuple[I64, I64, I64]]] = {f: [] for f in span_fields}
    pos = starts.astype(np.int64).copy()
    active = np.flatnonzero(pos < ends)
    while len(active) > _SLOW:
        p = pos[active]
        tag, tl = read_varints(buf, p)
        p = p + tl
        wt = (tag & np.uint64(7)).astype(np.int64)
        fld = (tag >> np.uint64(3)).astype(np.int64)
        if bool(((fld == 0) | ((wt != 0) & (wt != 1) & (wt != 2) & (wt != 5))).any()):
            raise FormatError("not a protobuf message (bad tag)", what="profile")
        val = np.zeros(len(active), dtype=np.uint64)
        adv = np.where(wt == 1, 8, np.where(wt == 5, 4, 0))
        vi = np.flatnonzero((wt == 0) | (wt == 2))
        if len(vi):
            v, vl = read_varints(buf, p[vi])
            val[vi] = v
            p[vi] += vl
            li = vi[wt[vi] == 2]
            adv[li] = val[li].astype(np.int64)
            if bool((val[li] > np.uint64(1 << 62)).any()):
                raise FormatError("length past the end of a message", what="profile")
        for f, lst in vparts.items():
            m = (fld == f) & (wt == 0)
            if m.any():
                lst.append((active[m], val[m]))
        for f, sl in sparts.items():
            m = (fld == f) & (wt == 2)
            if m.any():
                sl.append((active[m], p[m], p[m] + adv[m]))
        p = p + adv
        if bool((p > ends[active]).any()):
            raise FormatError("field past the end of its message", what="profile")
        pos[active] = p
        active = active[p < ends[active]]
    for k in active.tolist():  # the few long messages left: field by field
        _decode_one(buf, k, int(pos[k]), int(ends[k]), vparts, sparts)
    return Fields(
        {f: _cat2(v) for f, v in vparts.items()},
        {f: _cat3(s) for f, s in sparts.items()},
    )


def _decode_one(buf: U8, k: int, p: int, end: int, vparts: dict[int, list[tuple[I64, U64]]],
                sparts: dict[int, list[tuple[I64, I64, I64]]]) -> None:
    data = buf[p:end].tobytes()
    i = 0
    owner = np.array([k], dtype=np.int64)

    def varint() -> int:
        nonlocal i
        shift = out = 0
        while True:
            if i >= len(data) or shift > 63:
                raise FormatError("truncated varint", p + i, what="profile")
            b = data[i]
            i += 1
            out |= (b & 0x7F) << shift
            shift += 7
            if b < 0x80:
                return out

    while i < len(data):
        tag = varint()
        f, wt = tag >> 3, tag & 7
        if f == 0 or wt not in (0, 1, 2, 5):
            raise FormatError("not a protobuf message (bad tag)", p + i, what="profile")
        if wt == 0:
            v = varint()
            if f in vparts:
                vparts[f].append((owner, np.array([v & ((1 << 64) - 1)], dtype=np.uint64)))
        elif wt == 2:
            ln = varint()
            if i + ln > len(data):
                raise FormatError("field past the end of its message", p + i, what="profile")
            if f in sparts:
                sparts[f].append((owner, np.array([p + i], dtype=np.int64), np.array([p + i + ln], dtype=np.int64)))
            i += ln
        else:
            i += 8 if wt == 1 else 4
    if i > len(data):
        raise FormatError("field past the end of its message", p, what="profile")


def _cat2(parts: list[tuple[I64, U64]]) -> tuple[I64, U64]:
    if not parts:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.uint64)
    o = np.concatenate([a for a, _ in parts])
    v = np.concatenate([b for _, b in parts])
    order = np.argsort(o, kind="stable")  # message order, then field order within a message
    return o[order], v[order]


def _cat3(parts: list[tuple[I64, I64, I64]]) -> tuple[I64, I64, I64]:
    if not parts:
        z = np.zeros(0, dtype=np.int64)
        return z, z, z
    o = np.concatenate([a for a, _, _ in parts])
    order = np.argsort(o, kind="stable")
    return o[order], np.concatenate([b for _, b, _ in parts])[order], np.concatenate([c for _, _, c in parts])[order]
