"""The symbol store: content-addressed blobs plus an index by GNU build-id and Go build ID.

Public API: ``open_store(url)`` -> ``Store`` (``ingest``, ``resolve``, ``lookup``, ``blob_file``,
``synthesize``), ``verify_store``, ``archive_paths`` with ``StoreSink``, ``split_binary``, the
``Record`` schema and build-ID helpers (``normalize_id``, ``quote_id``, ``unquote_id``). Backends:
directory + SQLite (``local``) and S3 (``s3``), behind ``backend.Backend``. See HACKING.md "store".
"""

from __future__ import annotations

from symkeep.store.backend import Backend, default_store_url, open_backend
from symkeep.store.ids import id_kind, normalize_id, quote_id, unquote_id
from symkeep.store.record import KINDS, Record
from symkeep.store.store import PutResult, Store, hash_file, open_store

__all__ = [
    "KINDS", "Backend", "PutResult", "Record", "Store", "default_store_url", "hash_file", "id_kind",
    "normalize_id", "open_backend", "open_store", "quote_id", "unquote_id",
]
