"""The symbol store: content-addressed blobs plus an index by GNU build-id and Go build ID.

Public API: ``open_store(url)`` -> ``Store`` (``ingest``, ``resolve``, ``lookup``, ``blob_file``,
``synthesize``), ``verify_store``, ``archive_paths`` with ``StoreSink``, ``split_binary``, the
``Record`` schema and build-ID helpers (``normalize_id``, ``quote_id``, ``unquote_id``). Backends:
directory + SQLite (``local``) and S3 (``s3``), behind ``backend.Backend``. See HACKING.md "store".

The names load on first use (PEP 562): a command that only asks ``store.remote`` whether a server is
configured does not pay for the store's modules.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from symkeep.store.backend import Backend, default_store_url, open_backend
    from symkeep.store.ids import id_kind, normalize_id, quote_id, unquote_id
    from symkeep.store.record import KINDS, Record
    from symkeep.store.store import PutResult, Store, hash_file, open_store

__all__ = [
    "KINDS", "Backend", "PutResult", "Record", "Store", "default_store_url", "hash_file", "id_kind",
    "normalize_id", "open_backend", "open_store", "quote_id", "unquote_id",
]

_WHERE = {
    "Backend": "backend", "default_store_url": "backend", "open_backend": "backend",
    "id_kind": "ids", "normalize_id": "ids", "quote_id": "ids", "unquote_id": "ids",
    "KINDS": "record", "Record": "record",
    "PutResult": "store", "Store": "store", "hash_file": "store", "open_store": "store",
}


def __getattr__(name: str) -> Any:
    mod = _WHERE.get(name)
    if mod is None:
        raise AttributeError(f"module 'symkeep.store' has no attribute {name!r}")
    return getattr(importlib.import_module(f"symkeep.store.{mod}"), name)
