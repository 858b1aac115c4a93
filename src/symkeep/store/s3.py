"""The scale-out backend: any S3-compatible object store holds blobs, index and audit log; no other state.

Object layout under ``s3://bucket/prefix``::

    blobs/ab/<sha256>                                  the artifact bytes
    audit/<seq, 12 digits>.json                        one audit entry each (hash-chained)
    index/<quoted build ID>/<kind>[.<path hash>].r<rank>.json   one record per build ID, kind and rank

Writes go blob first, then the audit entry, then the index record, each index and audit object created
with ``If-None-Match: *`` (write-once): two uploaders of the same slot, even on different replicas, never
both win, and a reader that finds a record always finds its blob. The audit sequence is serialized the
same way (the loser of ``audit/N`` retries at ``N+1``). Blobs are served from a local read-through cache
(``cache_dir``), each verified against its sha256 when fetched.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote, urlsplit

from symkeep.errors import FormatError, NotFoundError, ToolError, UsageError
from symkeep.store.audit import GENESIS, AuditEntry, now_rfc3339
from symkeep.store.record import Record

__all__ = ["S3Backend"]

LIST_TTL = 1.0  # seconds a build's listing is reused (misses become visible to other replicas this fast)
CACHE_BYTES = 4 << 30


def _default_cache() -> Path:
    from symkeep.cachedir import cache_root

    return cache_root() / "s3-blobs"


def record_key(rec: Record) -> str:
    slot = rec.kind
    if rec.path:
        slot += "." + hashlib.sha256(rec.path.encode()).hexdigest()[:32]
    return f"index/{quote(rec.build_id, safe='')}/{slot}.r{rec.rank}.json"


class S3Backend:
    def __init__(self, url: str, *, cache_dir: str | None = None) -> None:
        try:
            import boto3
            from botocore.config import Config
        except ImportError as e:  # pragma: no cover - boto3 is a dependency
            raise ToolError("the S3 backend needs boto3 (pip install 'symkeep[s3]')") from e
        u = urlsplit(url)
        if not u.netloc:
            raise UsageError(f"bad store URL {url!r}: s3://bucket[/prefix]")
        self.url = url
        self.bucket = u.netloc
        self.prefix = u.path.strip("/")
        if self.prefix:
            self.prefix += "/"
        params = dict(p.split("=", 1) for p in u.query.split("&") if "=" in p)
        endpoint = params.get("endpoint") or os.environ.get("SYMKEEP_S3_ENDPOINT") or None
        self._client = boto3.client(
            "s3", endpoint_url=endpoint, region_name=params.get("region") or os.environ.get("AWS_REGION")
            or "us-east-1", config=Config(retries={"max_attempts": 3, "mode": "standard"},
                                          max_pool_connections=32, s3={"addressing_style": "path"}))
        from botocore.exceptions import BotoCoreError, ClientError

        self._ClientError = ClientError
        self._errors: tuple[type[BaseException], ...] = (ClientError, BotoCoreError)
        self.cache = Path(cache_dir) if cache_dir else _default_cache()
        self.cache_bytes = CACHE_BYTES
        self._lock = threading.Lock()
        self._lists: dict[str, tuple[float, list[str]]] = {}
        self._recs: dict[str, Record] = {}
        self._audit_tail: tuple[int, str] | None = None
        (self.cache / "tmp").mkdir(parents=True, exist_ok=True)
        from symkeep.store.local import sweep_staging

        sweep_staging(self.cache / "tmp")
        try:
            self._client.head_bucket(Bucket=self.bucket)
        except self._errors as e:
            raise ToolError(f"S3 store {url}: {self._why(e)}") from e

    # -- plumbing ---------------------------------------------------------------------------------
    def _why(self, e: BaseException) -> str:
        if isinstance(e, self._ClientError):
            err = e.response.get("Error", {})
            return f"{err.get('Code', '?')}: {err.get('Message', '')}".strip()
        return str(e)

    def _status(self, e: BaseException) -> int:
        if isinstance(e, self._ClientError):
            return int(e.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
        return 0

    def _get(self, key: str) -> bytes | None:
        try:
            body: bytes = self._client.get_object(Bucket=self.bucket, Key=self.prefix + key)["Body"].read()
            return body
        except self._errors as e:
            if self._status(e) == 404 or "NoSuchKey" in self._why(e):
                return None
            raise ToolError(f"S3 get {key}: {self._why(e)}") from e

    def _put_new(self, key: str, body: bytes) -> bool:
        """Create ``key`` if absent (If-None-Match: *); False if it already exists."""
        try:
            self._client.put_object(Bucket=self.bucket, Key=self.prefix + key, Body=body, IfNoneMatch="*")
            return True
        except self._errors as e:
            if self._status(e) in (409, 412):
                return False
            raise ToolError(f"S3 put {key}: {self._why(e)}") from e

    def _list(self, prefix: str, start_after: str = "") -> Iterator[tuple[str, int]]:
        kw: dict[str, Any] = {"Bucket": self.bucket, "Prefix": self.prefix + prefix}
        if start_after:
            kw["StartAfter"] = self.prefix + start_after
        try:
            for page in self._client.get_paginator("list_objects_v2").paginate(**kw):
                for c in page.get("Contents", []):
                    yield c["Key"][len(self.prefix):], int(c["Size"])
        except self._errors as e:
            raise ToolError(f"S3 list {prefix}: {self._why(e)}") from e

    def staging_dir(self) -> Path:
        return self.cache / "tmp"

    def new_staging_path(self) -> Path:
        return self.cache / "tmp" / f"{os.getpid()}-{uuid.uuid4().hex}"

    # -- blobs ------------------------------------------------------------------------------------
    def _blob_key(self, sha256: str) -> str:
        return f"blobs/{sha256[:2]}/{sha256}"

    def has_blob(self, sha256: str) -> bool:
        try:
            self._client.head_object(Bucket=self.bucket, Key=self.prefix + self._blob_key(sha256))
            return True
        except self._errors as e:
            if self._status(e) == 404:
                return False
            raise ToolError(f"S3 head blob {sha256}: {self._why(e)}") from e

    def put_blob(self, src: Path, sha256: str) -> None:
        if self.has_blob(sha256):
            return
        from boto3.s3.transfer import TransferConfig

        try:  # a single PUT up to 256 MiB (S3 makes an object visible only when complete, either way)
            self._client.upload_file(str(src), self.bucket, self.prefix + self._blob_key(sha256),
                                     Config=TransferConfig(multipart_threshold=256 << 20))
        except (self._errors + (OSError,)) as e:
            raise ToolError(f"S3 put blob {sha256}: {self._why(e)}") from e

    def open_blob(self, sha256: str) -> IO[bytes]:
        try:
            obj = self._client.get_object(Bucket=self.bucket, Key=self.prefix + self._blob_key(sha256))
        except self._errors as e:
            if self._status(e) == 404:
                raise NotFoundError(f"blob {sha256} is missing from the store") from None
            raise ToolError(f"S3 get blob {sha256}: {self._why(e)}") from e
        body: IO[bytes] = obj["Body"]
        return body

    def blob_file(self, sha256: str) -> Path:
        """The cached, verified local copy (downloaded once per replica, streamed through sha256)."""
        dest = self.cache / "blobs" / sha256[:2] / sha256
        if dest.is_file():
            with contextlib.suppress(OSError):
                os.utime(dest)  # LRU by mtime
            return dest
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.new_staging_path()
        h = hashlib.sha256()
        try:
            with self.open_blob(sha256) as body, open(tmp, "wb") as fo:
                while True:
                    chunk = body.read(1 << 20)
                    if not chunk:
                        break
                    h.update(chunk)
                    fo.write(chunk)
                fo.flush()
                os.fsync(fo.fileno())
            if h.hexdigest() != sha256:
                raise FormatError(f"stored blob {sha256} is corrupt (its bytes hash to {h.hexdigest()}); "
                                  "run `symkeep store verify`")
            os.replace(tmp, dest)
        finally:
            with contextlib.suppress(OSError):
                tmp.unlink()
        self._evict()
        return dest

    def _evict(self) -> None:
        files = [(p.stat().st_mtime, p.stat().st_size, p) for p in (self.cache / "blobs").glob("*/*")]
        total = sum(f[1] for f in files)
        for _, size, p in sorted(files):
            if total <= self.cache_bytes:
                break
            with contextlib.suppress(OSError):
                p.unlink()
                total -= size

    def iter_blobs(self) -> Iterator[str]:
        for key, _ in self._list("blobs/"):
            yield key.rsplit("/", 1)[-1]

    # -- index and audit --------------------------------------------------------------------------
    def _audit_key(self, seq: int) -> str:
        return f"audit/{seq:012d}.json"

    def _find_audit_tail(self) -> tuple[int, str]:
        seq, h = self._audit_tail if self._audit_tail else (-1, GENESIS)
        last_key = ""
        start = self._audit_key(seq) if seq >= 0 else ""
        for key, _ in self._list("audit/", start_after=start):
            last_key = key
        if last_key:
            body = self._get(last_key)
            if body is None:
                raise ToolError(f"S3 audit entry {last_key} vanished")
            d = json.loads(body)
            seq, h = int(d["seq"]), str(d["hash"])
        return seq, h

    def add_record(self, rec: Record) -> Record:
        key = record_key(rec)
        existing = self._get(key)
        if existing is not None:
            return Record.from_json(existing)
        with self._lock:
            for _ in range(1000):
                seq, prev = self._find_audit_tail()
                entry = AuditEntry(seq=seq + 1, time=rec.uploaded_at or now_rfc3339(), op="put",
                                   build_id=rec.build_id, kind=rec.kind, path=rec.path, rank=rec.rank,
                                   sha256=rec.sha256, size=rec.size, uploader=rec.uploader, prev=prev)
                sealed = entry.sealed()
                if self._put_new(self._audit_key(entry.seq), json.dumps(sealed, sort_keys=True).encode()):
                    self._audit_tail = (entry.seq, sealed["hash"])
                    break
                self._audit_tail = (seq, prev)  # someone else took seq+1: look again from there
            else:
                raise ToolError("S3 audit log: could not append (too much contention)")
        rec.audit_seq = entry.seq
        if self._put_new(key, rec.to_json().encode()):
            self._lists.pop(rec.build_id, None)
            return rec
        won = self._get(key)
        if won is None:
            raise ToolError(f"S3 index {key}: write refused but object missing")
        return Record.from_json(won)

    def records(self, build_id: str) -> list[Record]:
        now = time.monotonic()
        hit = self._lists.get(build_id)
        if hit is not None and hit[0] > now:
            keys = hit[1]
        else:
            keys = [k for k, _ in self._list(f"index/{quote(build_id, safe='')}/")]
            self._lists[build_id] = (now + LIST_TTL, keys)
            if len(self._lists) > 10000:
                self._lists.clear()
        out: list[Record] = []
        for k in keys:
            rec = self._recs.get(k)
            if rec is None:
                body = self._get(k)
                if body is None:
                    continue
                rec = Record.from_json(body)
                if len(self._recs) > 100000:
                    self._recs.clear()
                self._recs[k] = rec  # write-once objects: safe to keep
            out.append(rec)
        return out

    def iter_records(self) -> Iterator[Record]:
        for key, _ in self._list("index/"):
            body = self._get(key)
            if body is not None:
                yield Record.from_json(body)

    def audit_entries(self) -> Iterator[dict[str, Any]]:
        for key, _ in self._list("audit/"):
            body = self._get(key)
            if body is not None:
                yield json.loads(body)

    def close(self) -> None:
        pass
