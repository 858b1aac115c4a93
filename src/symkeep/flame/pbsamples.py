"""Decode a pprof profile's samples with numpy instead of one protobuf object per sample.

A 1,000,000-sample profile takes ~5 s to walk through upb's Python objects (and 3 s more to
validate); flame graphs need that to be well under a second. Everything in ``Sample`` and ``Label``
is a varint or a length-delimited run of varints, so the concatenated sample bytes are one varint
stream: numpy decodes it in a few passes, and a handful of vectorized rounds (one per field of the
longest sample) find each sample's location ids, values and labels. The rest of the profile
(strings, mappings, locations, functions: small) is parsed by upb through a twin of ``Profile``
whose ``sample`` field is declared ``bytes``, so upb hands over each sample's raw bytes.

Anything irregular (unpacked repeated fields, unknown wire types, a varint over 10 bytes) makes the
fast path decline (:class:`Irregular`) and :func:`decode_samples` falls back to upb objects: same
output, slower. Validation matches ``symkeep.profile.pprof.validate_profile`` for what flame uses.
"""

from __future__ import annotations

import itertools
import zlib
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
import numpy.typing as npt
from google.protobuf import descriptor_pool, message_factory
from google.protobuf.message import DecodeError

from symkeep.errors import FormatError
from symkeep.profile import profile_pb2
from symkeep.profile.pprof import MAX_PROFILE_BYTES, is_gzip

__all__ = ["Irregular", "RawSamples", "decode_samples", "gunzip", "lite_profile_class"]

I64 = npt.NDArray[np.int64]
U64 = npt.NDArray[np.uint64]
I32 = npt.NDArray[np.int32]

# Fields of one sample the value-merging pass walks (one numpy round each) before it declines.
_MAX_FIELDS = 256

# Bytes of sample data decoded per numpy pass: bounds the temporaries (a few x 8 bytes per byte).
_CHUNK_BYTES = 4 << 20


class Irregular(Exception):
    """The fast decoder declines this encoding (the object path handles it)."""


# ``profile.proto``'s FileDescriptorProto with package ``symkeep.flame.lite`` and ``Profile.sample``
# declared ``repeated bytes``: built by :func:`build_lite_descriptor` (tests check the two agree) and
# stored here so the CLI does not import ``descriptor_pb2`` (~0.15 s) on every run.
_LITE_DESCRIPTOR_B64 = (
    "CiBzeW1rZWVwX2ZsYW1lX2xpdGVfcHJvZmlsZS5wcm90bxISc3lta2VlcC5mbGFtZS5saXRlIsoDCgdQcm9maWxlEjIKC3NhbXBs"
    "ZV90eXBlGAEgAygLMh0uc3lta2VlcC5mbGFtZS5saXRlLlZhbHVlVHlwZRIOCgZzYW1wbGUYAiADKAwSLAoHbWFwcGluZxgDIAMo"
    "CzIbLnN5bWtlZXAuZmxhbWUubGl0ZS5NYXBwaW5nEi4KCGxvY2F0aW9uGAQgAygLMhwuc3lta2VlcC5mbGFtZS5saXRlLkxvY2F0"
    "aW9uEi4KCGZ1bmN0aW9uGAUgAygLMhwuc3lta2VlcC5mbGFtZS5saXRlLkZ1bmN0aW9uEhQKDHN0cmluZ190YWJsZRgGIAMoCRIT"
    "Cgtkcm9wX2ZyYW1lcxgHIAEoAxITCgtrZWVwX2ZyYW1lcxgIIAEoAxISCgp0aW1lX25hbm9zGAkgASgDEhYKDmR1cmF0aW9uX25h"
    "bm9zGAogASgDEjIKC3BlcmlvZF90eXBlGAsgASgLMh0uc3lta2VlcC5mbGFtZS5saXRlLlZhbHVlVHlwZRIOCgZwZXJpb2QYDCAB"
    "KAMSDwoHY29tbWVudBgNIAMoAxIbChNkZWZhdWx0X3NhbXBsZV90eXBlGA4gASgDEg8KB2RvY191cmwYDyABKAMiJwoJVmFsdWVU"
    "eXBlEgwKBHR5cGUYASABKAMSDAoEdW5pdBgCIAEoAyJWCgZTYW1wbGUSEwoLbG9jYXRpb25faWQYASADKAQSDQoFdmFsdWUYAiAD"
    "KAMSKAoFbGFiZWwYAyADKAsyGS5zeW1rZWVwLmZsYW1lLmxpdGUuTGFiZWwiQAoFTGFiZWwSCwoDa2V5GAEgASgDEgsKA3N0chgC"
    "IAEoAxILCgNudW0YAyABKAMSEAoIbnVtX3VuaXQYBCABKAMi3QEKB01hcHBpbmcSCgoCaWQYASABKAQSFAoMbWVtb3J5X3N0YXJ0"
    "GAIgASgEEhQKDG1lbW9yeV9saW1pdBgDIAEoBBITCgtmaWxlX29mZnNldBgEIAEoBBIQCghmaWxlbmFtZRgFIAEoAxIQCghidWls"
    "ZF9pZBgGIAEoAxIVCg1oYXNfZnVuY3Rpb25zGAcgASgIEhUKDWhhc19maWxlbmFtZXMYCCABKAgSGAoQaGFzX2xpbmVfbnVtYmVy"
    "cxgJIAEoCBIZChFoYXNfaW5saW5lX2ZyYW1lcxgKIAEoCCJ2CghMb2NhdGlvbhIKCgJpZBgBIAEoBBISCgptYXBwaW5nX2lkGAIg"
    "ASgEEg8KB2FkZHJlc3MYAyABKAQSJgoEbGluZRgEIAMoCzIYLnN5bWtlZXAuZmxhbWUubGl0ZS5MaW5lEhEKCWlzX2ZvbGRlZBgF"
    "IAEoCCI5CgRMaW5lEhMKC2Z1bmN0aW9uX2lkGAEgASgEEgwKBGxpbmUYAiABKAMSDgoGY29sdW1uGAMgASgDIl8KCEZ1bmN0aW9u"
    "EgoKAmlkGAEgASgEEgwKBG5hbWUYAiABKAMSEwoLc3lzdGVtX25hbWUYAyABKAMSEAoIZmlsZW5hbWUYBCABKAMSEgoKc3RhcnRf"
    "bGluZRgFIAEoA2IGcHJvdG8z"
)


def build_lite_descriptor() -> bytes:
    """The serialized lite FileDescriptorProto, derived from ``profile_pb2`` (the source of the blob)."""
    from google.protobuf import descriptor_pb2

    fdp = descriptor_pb2.FileDescriptorProto()
    profile_pb2.DESCRIPTOR.CopyToProto(fdp)
    fdp.name = "symkeep_flame_lite_profile.proto"
    fdp.package = "symkeep.flame.lite"
    for msg in fdp.message_type:
        for fld in msg.field:
            if fld.type_name.startswith(".perftools.profiles."):
                fld.type_name = fld.type_name.replace(".perftools.profiles.", ".symkeep.flame.lite.")
        if msg.name == "Profile":
            for fld in msg.field:
                if fld.number == 2:
                    fld.type = descriptor_pb2.FieldDescriptorProto.TYPE_BYTES
                    fld.ClearField("type_name")
    out: bytes = fdp.SerializeToString(deterministic=True)
    return out


@cache
def lite_profile_class() -> Any:
    """``Profile`` with ``repeated bytes sample = 2``: upb parses everything but the samples."""
    import base64

    pool = descriptor_pool.DescriptorPool()
    pool.AddSerializedFile(base64.b64decode("".join(_LITE_DESCRIPTOR_B64)))
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("symkeep.flame.lite.Profile"))


@dataclass
class RawSamples:
    """Every sample of a profile as flat arrays (CSR: sample ``i`` owns ``loc_idx[loc_off[i]:loc_off[i+1]]``).

    ``meta`` is the profile without samples (strings, sample types, mappings, locations, functions).
    Sample records with the same stack and labels (byte for byte) are merged, their values summed. Labels: sample ``i`` owns ``lab_*[lab_off[i]:lab_off[i+1]]``.
    """

    meta: Any
    loc_off: I64
    loc_idx: I32  # into meta.location, leaf first
    values: I64  # shape (nsamples, nvalues)
    lab_off: I64
    lab_key: I64
    lab_str: I64
    lab_num: I64

    @property
    def n(self) -> int:
        return int(len(self.loc_off) - 1)


def gunzip(data: bytes, limit: int) -> bytes:
    """Gunzip (multi-member) in one call per member, output capped at ``limit``: FormatError past it.

    (Feeding zlib 1 MiB at a time re-copies the unconsumed input on every call: 0.6 s instead of
    0.15 s on a 40 MB profile.)"""
    out: list[bytes] = []
    total = 0
    buf = data
    try:
        while buf:
            if not is_gzip(buf):
                if buf.strip(b"\0"):
                    raise FormatError("trailing garbage after gzip stream", len(data) - len(buf), what="gzip")
                break
            d = zlib.decompressobj(16 + zlib.MAX_WBITS)
            chunk = d.decompress(buf, limit - total + 1)
            total += len(chunk)
            if total > limit:
                raise FormatError(f"decompressed size exceeds {limit} bytes", what="gzip")
            out.append(chunk)
            if not d.eof:
                raise FormatError("truncated gzip stream", len(data), what="gzip")
            buf = d.unused_data
    except zlib.error as e:
        raise FormatError(f"corrupt gzip data: {e}", what="gzip") from e
    return b"".join(out)


def _parse_meta(raw: bytes, name: str) -> Any:
    prof = lite_profile_class()()
    try:
        prof.ParseFromString(raw)
    except (DecodeError, RuntimeError, ValueError) as e:
        raise FormatError(f"not a pprof profile (protobuf decode failed: {e})", what=name) from e
    return prof


def decode_samples(data: bytes | profile_pb2.Profile, *, name: str = "profile") -> RawSamples:
    """Profile bytes (gzip or not) or a parsed ``Profile`` -> :class:`RawSamples` (validated)."""
    if isinstance(data, profile_pb2.Profile):
        data = data.SerializeToString()
    if not data:
        raise FormatError("empty input is not a pprof profile", what=name)
    raw = gunzip(data, MAX_PROFILE_BYTES) if is_gzip(data) else bytes(data)
    meta = _parse_meta(raw, name)
    _validate_meta(meta, name)
    nvalues = len(meta.sample_type)
    # Identical sample records (same stack, labels and values) are common in big profiles (perf
    # conversions, long CPU profiles): decode each distinct record once and scale its values.
    # A sample of the records tells whether counting pays (counting 1M distinct records costs ~0.4 s
    # for nothing; rows with equal stacks are merged later anyway, see stacks._merge_rows).
    allrec: list[bytes] = list(meta.sample)
    del meta.sample[:]
    probe = allrec[:: max(1, len(allrec) // 20000)]
    if len(set(probe)) < 0.9 * len(probe):
        counts: Counter[bytes] = Counter(allrec)  # counted in C
        samples = list(counts)
        mult = np.fromiter(counts.values(), dtype=np.int64, count=len(counts))
        del counts
    else:
        samples = allrec
        mult = np.ones(len(allrec), dtype=np.int64)
    del allrec
    # Records that differ only in their values (every CPU sample its own record): merged by their
    # bytes without the value field, so the stacks are decoded once per distinct (stack, labels).
    merged = _merge_by_stack(samples, mult, nvalues)
    summed: I64 | None = None
    if merged is not None:
        samples, summed = merged
    table = _loc_table(meta)
    try:
        out = _fast(samples, nvalues, table)
    except Irregular:
        out = _slow(samples, nvalues, name, table)
    loc_off, loc_idx, values, lab_off, lab_key, lab_str, lab_num = out
    if summed is not None:
        values = summed
    elif len(mult) and int(mult.max()) > 1:
        values = values * mult[:, None]
    rs = RawSamples(meta, loc_off, loc_idx, values, lab_off, lab_key, lab_str, lab_num)
    nstr = len(meta.string_table)
    for arr, what in ((lab_key, "label key"), (lab_str, "label str")):
        if len(arr) and (int(arr.min()) < 0 or int(arr.max()) >= nstr):
            raise FormatError(f"{what} string index out of range (table has {nstr})", what=name)
    return rs


def _varint_at(buf: npt.NDArray[np.uint8], pos: I64) -> tuple[U64, I64]:
    """The varint starting at each ``pos`` (``buf`` padded with 10 zero bytes): value and length."""
    val = np.zeros(len(pos), dtype=np.uint64)
    nb = np.zeros(len(pos), dtype=np.int64)
    act = np.arange(len(pos), dtype=np.int64)
    for k in range(10):
        b = buf[pos[act] + k]
        val[act] |= (b & 0x7F).astype(np.uint64) << np.uint64(7 * k)
        done = b < 0x80
        nb[act[done]] = k + 1
        act = act[~done]
        if not len(act):
            return val, nb
    raise Irregular("varint longer than 10 bytes")


def _value_spans(buf: npt.NDArray[np.uint8], start: I64, end: I64) -> tuple[I64, I64, I64]:
    """Per record ``[start, end)`` of ``buf``: the value field's first byte, payload start and end.

    Irregular unless every top-level field is a one-byte-tag length-delimited field 1, 2 or 3 and
    there is exactly one value field (what the object-free decoder accepts, and what Go writes)."""
    n = len(start)
    vs = np.full(n, -1, dtype=np.int64)
    vp = np.zeros(n, dtype=np.int64)
    ve = np.zeros(n, dtype=np.int64)
    cur = start.copy()
    act = np.flatnonzero(cur < end)
    for _ in range(_MAX_FIELDS):
        if not len(act):
            break
        c = cur[act]
        tag = buf[c]
        if not np.isin(tag, (0x0A, 0x12, 0x1A)).all():
            raise Irregular("field")
        ln, nb = _varint_at(buf, c + 1)
        if (ln > np.uint64(1 << 40)).any():
            raise Irregular("field length")
        pay = c + 1 + nb
        fend = pay + ln.astype(np.int64)
        if (fend > end[act]).any():
            raise Irregular("field past the sample's end")
        m = tag == 0x12
        if m.any():
            r = act[m]
            if (vs[r] >= 0).any():
                raise Irregular("repeated field split in several runs")
            vs[r], vp[r], ve[r] = c[m], pay[m], fend[m]
        cur[act] = fend
        act = act[fend < end[act]]
    if len(act):
        raise Irregular("too many fields for the merge pass")
    if (vs < 0).any():
        raise Irregular("sample without values")
    return vs, vp, ve


def _stripped_keys(samples: list[bytes], nvalues: int) -> tuple[Iterator[bytes], I64]:
    """Each record's bytes without its value field, and its values (n x nvalues)."""
    n = len(samples)
    lens = np.fromiter(map(len, samples), dtype=np.int64, count=n)
    start = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(lens, out=start[1:])
    total = int(start[-1])
    buf = np.frombuffer(b"".join(samples) + bytes(11), dtype=np.uint8)
    vs, vp, ve = _value_spans(buf, start[:-1], start[1:])
    plen = ve - vp
    if (plen == 0).any() or (buf[ve - 1] >= 0x80).any():
        raise Irregular("values end inside a varint")
    vbytes = buf[_ranges(vp, plen)]
    tok, vals = _varints(vbytes)
    poff = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(plen, out=poff[1:])
    if len(tok) != n * nvalues or not (tok[::nvalues] == poff[:-1]).all():
        raise Irregular("value count")  # the object path names the bad sample
    values = vals.view(np.int64).reshape(n, nvalues)
    keep = np.ones(total, dtype=bool)
    keep[_ranges(vs, ve - vs)] = False
    kb = buf[:total][keep].tobytes()
    klen = lens - (ve - vs)
    koff = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(klen, out=koff[1:])
    ko = koff.tolist()
    return map(kb.__getitem__, map(slice, ko[:-1], ko[1:])), values  # C-level loops


def _merge_by_stack(samples: list[bytes], mult: I64, nvalues: int) -> tuple[list[bytes], I64] | None:
    """Records whose bytes are equal but for the value field, merged: (one record of each, summed
    values), or None when the probe says few would merge or the encoding is irregular.

    Equal bytes mean an equal stack and equal labels, so merging is exact (a dict compares the
    bytes); a stack written in two byte forms just stays two records (merged as rows later)."""
    n = len(samples)
    if n < 2 or nvalues == 0:
        return None
    try:
        probe = samples[:: max(1, n // 20000)]
        pk, _ = _stripped_keys(probe, nvalues)
        if len(set(pk)) >= 0.9 * len(probe):
            return None
        # a new key gets the next id (defaultdict + count: no Python code per record)
        ids: defaultdict[bytes, int] = defaultdict(itertools.count().__next__)
        get = ids.__getitem__
        invs: list[I64] = []
        vparts: list[I64] = []
        lens = np.fromiter(map(len, samples), dtype=np.int64, count=n)
        csum = np.cumsum(lens)
        i = 0
        while i < n:  # chunks of ~_CHUNK_BYTES bound the temporaries
            base = int(csum[i - 1]) if i else 0
            j = max(int(np.searchsorted(csum, base + _CHUNK_BYTES, side="right")), i + 1)
            keys, vals = _stripped_keys(samples[i:j], nvalues)
            invs.append(np.fromiter(map(get, keys), dtype=np.int64, count=j - i))
            vparts.append(vals * mult[i:j, None] if int(mult[i:j].max()) > 1 else vals)
            i = j
    except Irregular:
        return None
    inv = np.concatenate(invs)
    nu = len(ids)
    del ids
    # ids were given in order of first occurrence: a record is its group's first where inv rises
    first = np.ones(n, dtype=bool)
    first[1:] = inv[1:] > np.maximum.accumulate(inv)[:-1]
    reps = [samples[k] for k in np.flatnonzero(first).tolist()]
    summed = np.zeros((nu, nvalues), dtype=np.int64)
    np.add.at(summed, inv, np.concatenate(vparts))
    return reps, summed


def _validate_meta(meta: Any, name: str) -> None:
    from symkeep.profile.pprof import validate_tables

    mids, _ = validate_tables(meta, name=name)  # the header's checks, shared with symkeep.profile
    # locations: the bulk of the metadata; checked with numpy (Line.function_id is checked where the
    # lines are read: symkeep.flame.stacks.location_frames)
    locs = list(meta.location)
    ids = np.fromiter((loc.id for loc in locs), dtype=np.uint64, count=len(locs))
    if len(ids) and (not ids.all() or len(np.unique(ids)) != len(ids)):
        seen: set[int] = set()
        for i in ids.tolist():
            if i == 0 or i in seen:
                raise FormatError(f"location id {i} is zero or duplicated", what=name)
            seen.add(i)
    mref = np.fromiter((loc.mapping_id for loc in locs), dtype=np.uint64, count=len(locs))
    known = np.array(sorted(mids) or [0], dtype=np.uint64)
    bad = (mref != 0) & ~np.isin(mref, known)
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        raise FormatError(f"location {int(ids[k])} refers to unknown mapping {int(mref[k])}", what=name)


class _LocTable:
    """Location id -> index into ``meta.location`` (dense table, or sorted ids when ids are sparse)."""

    def __init__(self, ids: U64) -> None:
        self.n = len(ids)
        self.top = int(ids.max()) if self.n else 0
        self.dense = self.top <= 8 * self.n + 4096
        if self.dense:
            self.table = np.full(self.top + 1, -1, dtype=np.int32)
            self.table[ids.astype(np.int64)] = np.arange(self.n, dtype=np.int32)
        else:
            self.order = np.argsort(ids, kind="stable").astype(np.int32)
            self.sids = ids[self.order]

    def map(self, loc_ids: U64) -> npt.NDArray[np.int32]:
        if not len(loc_ids):
            return np.zeros(0, dtype=np.int32)
        if self.n == 0:
            raise FormatError(f"a sample refers to unknown location {int(loc_ids[0])}", what="profile")
        if self.dense:
            if int(loc_ids.max()) > self.top:
                bad = int(loc_ids[np.flatnonzero(loc_ids > np.uint64(self.top))[0]])
                raise FormatError(f"a sample refers to unknown location {bad}", what="profile")
            idx = self.table[loc_ids.view(np.int64)]
        else:
            pos = np.minimum(np.searchsorted(self.sids, loc_ids), self.n - 1)
            idx = np.where(self.sids[pos] == loc_ids, self.order[pos], -1).astype(np.int32)
        if (idx < 0).any():
            bad = int(loc_ids[np.flatnonzero(idx < 0)[0]])
            raise FormatError(f"a sample refers to unknown location {bad}", what="profile")
        return idx


def _loc_table(meta: Any) -> _LocTable:
    n = len(meta.location)
    return _LocTable(np.fromiter((loc.id for loc in meta.location), dtype=np.uint64, count=n))


def _ranges(starts: I64, counts: I64) -> I64:
    """Concatenation of ``arange(s, s + c)`` for every (s, c), vectorized."""
    total = int(counts.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    offs = np.cumsum(counts) - counts
    return np.repeat(starts - offs, counts) + np.arange(total, dtype=np.int64)


def _fast(samples: list[bytes], nvalues: int, table: _LocTable) -> tuple[I64, I32, I64, I64, I64, I64, I64]:
    lens = np.fromiter(map(len, samples), dtype=np.int64, count=len(samples))
    parts: list[tuple[I64, I32, I64, I64, I64, I64, I64]] = []
    i = 0
    n = len(samples)
    csum = np.cumsum(lens)
    while i < n:
        base = int(csum[i - 1]) if i else 0
        j = int(np.searchsorted(csum, base + _CHUNK_BYTES, side="right"))
        j = max(j, i + 1)
        parts.append(_fast_chunk(samples[i:j], lens[i:j], nvalues, table))
        i = j
    if not parts:
        z = np.zeros(0, dtype=np.int64)
        return (np.zeros(1, dtype=np.int64), np.zeros(0, dtype=np.int32), np.zeros((0, nvalues), dtype=np.int64),
                np.zeros(1, dtype=np.int64), z, z, z)
    return _concat_parts(parts)


def _concat_parts(parts: list[tuple[I64, I32, I64, I64, I64, I64, I64]]) -> tuple[I64, I32, I64, I64, I64, I64, I64]:
    loc_offs = []
    lab_offs = []
    lo = la = 0
    for p in parts:
        loc_offs.append(p[0][:-1] + lo)
        lab_offs.append(p[3][:-1] + la)
        lo += int(p[0][-1])
        la += int(p[3][-1])
    loc_offs.append(np.array([lo], dtype=np.int64))
    lab_offs.append(np.array([la], dtype=np.int64))
    return (
        np.concatenate(loc_offs),
        np.concatenate([p[1] for p in parts]),
        np.concatenate([p[2] for p in parts]),
        np.concatenate(lab_offs),
        np.concatenate([p[4] for p in parts]),
        np.concatenate([p[5] for p in parts]),
        np.concatenate([p[6] for p in parts]),
    )


def _varints(buf: npt.NDArray[np.uint8]) -> tuple[I64, U64]:
    """Start byte and value of every varint in ``buf`` (which must be varints only)."""
    ends = np.flatnonzero(buf < 0x80)
    tok_start = np.empty(len(ends), dtype=np.int64)
    if len(ends):
        tok_start[0] = 0
        tok_start[1:] = ends[:-1] + 1
    tlen = ends - tok_start + 1
    maxlen = int(tlen.max()) if len(tlen) else 0
    if maxlen > 10:
        raise Irregular("varint longer than 10 bytes")
    vals = (buf[tok_start] & 0x7F).astype(np.uint64)
    for k in range(1, maxlen):
        m = np.flatnonzero(tlen > k)
        vals[m] |= (buf[tok_start[m] + k] & 0x7F).astype(np.uint64) << np.uint64(7 * k)
    return tok_start, vals


def _fast_chunk(samples: list[bytes], lens: I64, nvalues: int, table: _LocTable) -> tuple[I64, I32, I64, I64, I64, I64, I64]:
    n = len(samples)
    buf = np.frombuffer(b"".join(samples) + b"\x00\x00\x00", dtype=np.uint8)  # sentinel tokens
    tok_start, vals = _varints(buf)
    s_byte = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(lens, out=s_byte[1:])
    bounds = np.searchsorted(tok_start, s_byte)
    # every sample must start (and so the previous one end) on a varint boundary
    if not (tok_start[bounds] == s_byte).all():
        raise Irregular("sample does not end on a varint")
    cur = bounds[:-1].copy()
    endt = bounds[1:]
    loc_a = np.zeros(n, dtype=np.int64)
    loc_b = np.zeros(n, dtype=np.int64)
    val_a = np.zeros(n, dtype=np.int64)
    val_b = np.zeros(n, dtype=np.int64)
    nloc = np.zeros(n, dtype=np.int64)
    nval = np.zeros(n, dtype=np.int64)
    lab_sample: list[I64] = []
    lab_a: list[I64] = []
    lab_b: list[I64] = []
    act = np.flatnonzero(cur < endt)
    while len(act):
        c = cur[act]
        tag = vals[c]
        field = tag >> np.uint64(3)
        wire = tag & np.uint64(7)
        if not ((wire == 0) | (wire == 2)).all():
            raise Irregular("wire type")
        if ((wire == 0) & ((field == 1) | (field == 2))).any():
            raise Irregular("unpacked repeated field")
        is_len = wire == 2
        nxt = c + 2
        li = act[is_len]
        cl = c[is_len]
        plen = vals[cl + 1].astype(np.int64)
        pend_byte = tok_start[cl + 2] + plen
        if (pend_byte > s_byte[li + 1]).any() or (plen < 0).any():
            raise Irregular("field past the sample's end")
        pend = np.searchsorted(tok_start, pend_byte)
        if not (tok_start[pend] == pend_byte).all():
            raise Irregular("field ends inside a varint")
        nxt[is_len] = pend
        fl = field[is_len]
        for fno, a_arr, b_arr, cnt in ((1, loc_a, loc_b, nloc), (2, val_a, val_b, nval)):
            m = fl == fno
            if m.any():
                ids = li[m]
                cnt[ids] += 1
                a_arr[ids] = cl[m] + 2
                b_arr[ids] = pend[m]
        m3 = fl == 3
        if m3.any():
            lab_sample.append(li[m3])
            lab_a.append(cl[m3] + 2)
            lab_b.append(pend[m3])
        if (nxt > endt[act]).any():
            raise Irregular("field past the sample's end")
        cur[act] = nxt
        act = act[nxt < endt[act]]
    if (nloc > 1).any() or (nval > 1).any():
        raise Irregular("repeated field split in several runs")
    lcount = loc_b - loc_a
    loc_ids = table.map(vals[_ranges(loc_a, lcount)])
    loc_off = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(lcount, out=loc_off[1:])
    vcount = val_b - val_a
    if n and not (vcount == nvalues).all():
        bad = int(np.flatnonzero(vcount != nvalues)[0])
        raise FormatError(f"sample {bad} has {int(vcount[bad])} values, expected {nvalues}", what="profile")
    values = vals[_ranges(val_a, vcount)].view(np.int64).reshape(n, nvalues)
    lab_off, lk, ls, ln = _labels(vals, n, lab_sample, lab_a, lab_b)
    return loc_off, loc_ids, values, lab_off, lk, ls, ln


def _labels(vals: U64, n: int, lab_sample: list[I64], lab_a: list[I64], lab_b: list[I64]) -> tuple[I64, I64, I64, I64]:
    lab_off = np.zeros(n + 1, dtype=np.int64)
    if not lab_sample:
        z = np.zeros(0, dtype=np.int64)
        return lab_off, z, z, z
    smp = np.concatenate(lab_sample)
    a = np.concatenate(lab_a)
    b = np.concatenate(lab_b)
    order = np.lexsort((a, smp))  # by sample, then in file order
    smp, a, b = smp[order], a[order], b[order]
    key = np.zeros(len(a), dtype=np.int64)
    sv = np.zeros(len(a), dtype=np.int64)
    num = np.zeros(len(a), dtype=np.int64)
    act = np.flatnonzero(a < b)
    while len(act):
        c = a[act]
        tag = vals[c]
        if not ((tag & np.uint64(7)) == 0).all():
            raise Irregular("label wire type")
        f = tag >> np.uint64(3)
        v = vals[c + 1].view(np.int64)
        for fno, arr in ((1, key), (2, sv), (3, num)):
            m = f == fno
            arr[act[m]] = v[m]
        a[act] = c + 2
        act = act[a[act] < b[act]]
    np.add.at(lab_off, smp + 1, 1)
    np.cumsum(lab_off, out=lab_off)
    return lab_off, key, sv, num


def _slow(samples: list[bytes], nvalues: int, name: str, table: _LocTable) -> tuple[I64, I32, I64, I64, I64, I64, I64]:
    """The same arrays through upb ``Sample`` objects (irregular but valid encodings)."""
    n = len(samples)
    loc_off = np.zeros(n + 1, dtype=np.int64)
    lab_off = np.zeros(n + 1, dtype=np.int64)
    locs: list[int] = []
    values = np.zeros((n, nvalues), dtype=np.int64)
    lk: list[int] = []
    ls: list[int] = []
    ln: list[int] = []
    for i, raw in enumerate(samples):
        s = profile_pb2.Sample()
        try:
            s.ParseFromString(raw)
        except (DecodeError, RuntimeError, ValueError) as e:
            raise FormatError(f"sample {i}: protobuf decode failed: {e}", what=name) from e
        if len(s.value) != nvalues:
            raise FormatError(f"sample {i} has {len(s.value)} values, expected {nvalues}", what=name)
        locs.extend(s.location_id)
        loc_off[i + 1] = len(locs)
        values[i] = list(s.value)
        for lb in s.label:
            lk.append(lb.key)
            ls.append(lb.str)
            ln.append(lb.num)
        lab_off[i + 1] = len(lk)
    return (loc_off, table.map(np.array(locs, dtype=np.uint64)), values, lab_off, np.array(lk, dtype=np.int64),
            np.array(ls, dtype=np.int64), np.array(ln, dtype=np.int64))
