"""``POST /addr2line?build_id=ID``: addresses in the body, exactly what ``symkeep addr2line -e BIN`` prints.

The binary is the build's file with ``.gopclntab`` in the store (``StoreResolver`` over the shared
``app[ENGINES]``: opened once per worker); an ID the store does not know is 404. The body is the CLI's
stdin: address tokens separated by ASCII whitespace (any ``Content-Type``), or, with
``Content-Type: application/json``, a JSON array of tokens (strings, or integers taken as addresses).
Options mirror the CLI's flags: ``functions`` (-f), ``inlines`` (-i), ``addresses`` (-a), ``pretty``
(-p), ``json`` (NDJSON out), ``return_addresses``, ``offsets`` (--offset); each ``=1`` or ``=0``. Parsing,
batching and every layout are :mod:`symkeep.symbolize.addr2line`'s (no formatting here).
"""

from __future__ import annotations

import json

from aiohttp import web

from symkeep.errors import FormatError, NotFoundError, UsageError
from symkeep.profile.resolver import BinaryRequest
from symkeep.server.api import api_config, api_jobs, flag, read_body
from symkeep.server.app import ENGINES
from symkeep.server.context import CTX
from symkeep.store import Store
from symkeep.store.ids import normalize_id
from symkeep.store.resolver import StoreEngines, StoreResolver
from symkeep.symbolize.addr2line import Addresses, Layout, Renderer, answer_bytes
from symkeep.symbolize.engine import GoEngine

__all__ = ["engine_for", "setup"]

MAX_JSON_TOKENS = 1 << 22  # a JSON body is held as Python objects: fewer tokens than a text body may have


def engine_for(store: Store, engines: StoreEngines, build_id: str) -> GoEngine:
    """The open engine of a stored build (NotFoundError 404 when the store cannot symbolize it)."""
    res = StoreResolver(store, engines=engines).resolve(BinaryRequest("", build_id, True, 1, None))
    if res.engine is None:
        why = res.failure or "not found"
        if why.startswith("cannot read"):
            raise FormatError(f"build {build_id}: {why}" + (f" ({res.notes[0]})" if res.notes else ""))
        raise NotFoundError(f"build {build_id}: {why}")
    return res.engine


def _answer(store: Store, engines: StoreEngines, build_id: str, layout: Layout, data: bytes,
            tokens: list[bytes] | None) -> bytes:
    eng = engine_for(store, engines, build_id)
    if tokens is None:
        return answer_bytes(eng, layout, data)
    return b"".join(Renderer(eng, layout).answer(Addresses.of_tokens(tokens)))


def _json_tokens(data: bytes) -> list[bytes]:
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError) as e:
        raise FormatError(f"addresses body is not JSON: {e}", what="request body") from None
    if not isinstance(doc, list) or len(doc) > MAX_JSON_TOKENS:
        raise FormatError(f"addresses body must be a JSON array of at most {MAX_JSON_TOKENS} tokens",
                          what="request body")
    out: list[bytes] = []
    for t in doc:
        if isinstance(t, bool) or not isinstance(t, str | int):
            raise FormatError("addresses body: each token must be a string or an integer", what="request body")
        out.append(t.encode("utf-8", "surrogateescape") if isinstance(t, str)
                   else (hex(t) if t >= 0 else str(t)).encode())
    return out


async def addr2line(request: web.Request) -> web.StreamResponse:
    request["endpoint"] = "addr2line"
    ctx = request.app[CTX]
    ctx.check_read(request)
    bid = request.query.get("build_id", "").strip()
    if not bid:
        raise UsageError("build_id is required: POST /addr2line?build_id=ID")
    normalize_id(bid)  # 400 for a malformed ID, before the body is read
    layout = Layout(functions=flag(request, "functions"), inlines=flag(request, "inlines"),
                    addresses=flag(request, "addresses"), pretty=flag(request, "pretty"), json=flag(request, "json"),
                    return_addresses=flag(request, "return_addresses"), offsets=flag(request, "offsets"))
    api_jobs(request.app).check()  # busy: 503 before the body is read
    data = await read_body(request, api_config(request.app).max_body)
    tokens = _json_tokens(data) if request.content_type == "application/json" else None
    out = await api_jobs(request.app).run(_answer, ctx.store, request.app[ENGINES], bid, layout, data, tokens)
    ctype = "application/x-ndjson" if layout.json else "text/plain"
    return web.Response(body=out, content_type=ctype, charset="utf-8")


def setup(app: web.Application) -> None:
    api_jobs(app)
    app.router.add_post("/addr2line", addr2line)
