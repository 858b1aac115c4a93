"""The web UI of ``symkeep serve`` at ``/ui``: server-rendered HTML over the store.

Routes (``setup(app)``, registered through ``symkeep.server.app.MODULES``):

- ``GET /ui/`` — the archived builds (``?q=`` search, ``?page=``) with their IDs, quality flags, sizes
  and what each consumer can do with the stored executable (``symkeep.inspect`` verdicts);
- ``GET /ui/build?id=ID`` — one build: its records, the inspect report, a profile upload bound to it,
  and its size treemap (``GET /ui/build/treemap?id=ID``, ``symkeep.size``'s HTML, in a sandboxed frame);
- ``GET /ui/profiles`` / ``POST /ui/profiles`` — upload a pprof / perf script / folded file (multipart
  field ``profile``, or the raw body with ``?name=&build=``); it is symbolized from the store
  (``StoreResolver``), drawn with ``symkeep.flame`` and kept by sha256 in a bounded area
  (``profiles.ProfileArea``); answers 303 to ``/ui/p/SHA256`` (JSON with ``Accept: application/json``);
- ``GET /ui/p/SHA256[?build=ID&sample=TYPE]`` — the flame graph (the shareable link),
  ``/ui/p/SHA256/raw`` — the upload as it was sent.

Security model: reads follow the server (anonymous unless ``--read-token``; browsers may send the
token as an HTTP Basic password). Uploading a profile is allowed to anyone who may read
(``--ui-upload anonymous``, the default: a profile is not symbol data, it changes nothing in the
store, and it is capped in size, decompressed size, time and concurrency, and expires) or needs a
write token (``--ui-upload token``) or is off. Cross-site POSTs are refused. Every page is escaped
HTML under a strict Content-Security-Policy (scripts and styles from ``/ui/static`` only; generated
documents may run exactly their own inline scripts, by hash); nothing is loaded from the network.
"""

from __future__ import annotations

from symkeep.server.ui.config import UiConfig
from symkeep.server.ui.handlers import UI, setup

__all__ = ["UI", "UiConfig", "setup"]
