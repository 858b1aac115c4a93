"""The web UI's routes under ``/ui`` (see ``symkeep.server.ui`` for the list and the security model)."""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import math
import os
import re
import time
from importlib import resources
from typing import Any

from aiohttp import BodyPartReader, MultipartReader, web

from symkeep.errors import AuthError, LimitError, NotFoundError, SymkeepError, UsageError
from symkeep.profile.limits import Limits
from symkeep.server.app import ENGINES
from symkeep.server.context import CTX, ServerContext
from symkeep.server.ui.builds import Build, group_builds, inspect_record, treemap_record
from symkeep.server.ui.config import UiConfig
from symkeep.server.ui.html import build_page, builds_page, human_bytes, profile_link, upload_page
from symkeep.server.ui.profiles import check_sha
from symkeep.server.ui.render import Rendered, render_profile
from symkeep.server.ui.state import UiState
from symkeep.store import Record, Store
from symkeep.store.ids import normalize_id

__all__ = ["UI", "setup"]

UI: web.AppKey[UiState] = web.AppKey("symkeep_ui", UiState)

#: pages of the UI: scripts and styles from this server only, no inline script, never framed elsewhere
UI_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
          "frame-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)
_STATIC = {"ui.css": "text/css", "ui.js": "text/javascript", "favicon.svg": "image/svg+xml"}
_CTRL = re.compile(r"[\x00-\x1f\x7f]")
MULTIPART_SLACK = 64 << 10  # form fields and part headers around the file


def doc_csp(doc: bytes) -> str:
    """The policy for a generated document (flame graph, treemap): exactly its own inline scripts
    (by sha256), inline styles, nothing fetched, framed only by this server's pages."""
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(m.group(1)).digest()).decode() + "'"
        for m in re.finditer(_SCRIPT.pattern.encode(), doc, re.DOTALL))
    scripts = hashes or "'none'"
    return (f"default-src 'none'; script-src {scripts}; style-src 'unsafe-inline'; img-src data:; "
            "form-action 'none'; base-uri 'none'; frame-ancestors 'self'")


def _html(body: bytes, csp: str = UI_CSP, status: int = 200) -> web.Response:
    return web.Response(body=body, status=status, content_type="text/html", charset="utf-8",
                        headers={"Content-Security-Policy": csp, "Cache-Control": "no-store"})


# -- access -----------------------------------------------------------------------------------------
def authorize(request: web.Request, need: str) -> str:
    """Reads are anonymous unless ``--read-token``; ``need='write'`` always needs a write token.
    Browsers cannot send bearer tokens on navigation, so HTTP Basic with the token as the password
    (any user name) is accepted too, and a 401 asks for it (``WWW-Authenticate: Basic``)."""
    ctx = request.app[CTX]
    if need == "read" and not ctx.config.read_token:
        return ""
    if need == "write" and not ctx.tokens:
        raise AuthError("profile uploads need a write token, and the server has none (--token-file)")
    authz = request.headers.get("Authorization")
    if authz and authz[:6].lower() == "basic ":
        try:
            _, _, pw = base64.b64decode(authz[6:].strip(), validate=True).decode("utf-8").partition(":")
        except (ValueError, UnicodeDecodeError):
            pw = ""
        authz = f"Bearer {pw}" if pw else None
    try:
        return ctx.tokens.check(authz, need)
    except AuthError as e:
        raise web.HTTPUnauthorized(text=f"symkeep: error: {e}\n",
                                   headers={"WWW-Authenticate": 'Basic realm="symkeep", charset="UTF-8"'}) from None


def same_origin(request: web.Request) -> None:
    """Refuse a POST another site's page makes with this browser's credentials (CSRF)."""
    site = request.headers.get("Sec-Fetch-Site")
    origin = request.headers.get("Origin")
    if site in ("cross-site", "same-site") or (origin and origin != "null"
                                                and origin.split("://", 1)[-1] != request.host):
        raise web.HTTPForbidden(text="symkeep: error: cross-site upload refused\n")


def _state(request: web.Request) -> tuple[ServerContext, UiState]:
    return request.app[CTX], request.app[UI]


def _bid(text: str | None, what: str) -> str | None:
    if not text:
        return None
    if len(text) > 300:
        raise UsageError(f"bad {what}: too long")
    return normalize_id(text)


# -- builds -----------------------------------------------------------------------------------------
def find_build(store: Store, bid: str) -> Build:
    """The build filed under ``bid``, with the records under its other ID too."""
    recs = store.records(bid)
    if not recs:
        raise NotFoundError(f"build {bid} is not in the store")
    ids = {bid} | {i for r in recs if r.kind != "source" for i in (r.gnu_build_id, r.go_build_id) if i}
    allrecs: list[Record] = list(recs)
    for other in sorted(ids - {bid}):
        allrecs.extend(store.records(other))
    for b in group_builds(allrecs):
        if bid in b.ids:
            return b
    raise NotFoundError(f"build {bid} is not in the store")


async def _all_builds(ctx: ServerContext, st: UiState) -> list[Build]:
    now = time.monotonic()
    if st.builds is not None and st.builds[0] > now:
        return st.builds[1]

    async def scan() -> list[Build]:
        return await ctx.blocking(lambda: group_builds(ctx.store.iter_records()))

    builds = await ctx.single_flight("ui-builds", scan)
    st.builds = (time.monotonic() + st.config.list_ttl, builds)
    return builds


def _inspect_one(store: Store, rec: Record) -> tuple[dict[str, Any] | None, str | None]:
    try:
        return inspect_record(store, rec), None
    except SymkeepError as e:
        return None, str(e)


def _inspect_many(store: Store, recs: list[Record], budget: float) -> dict[str, tuple[Any, Any]]:
    out: dict[str, tuple[Any, Any]] = {}
    stop = time.monotonic() + budget
    for r in recs:
        if time.monotonic() > stop:
            break
        out[r.sha256] = _inspect_one(store, r)
    return out


def _cost(rep: tuple[Any, Any]) -> int:
    return len(json.dumps(rep[0])) if rep[0] is not None else 256


async def builds_list(request: web.Request) -> web.StreamResponse:
    request["endpoint"] = "ui"
    ctx, st = _state(request)
    authorize(request, "read")
    q = request.query.get("q", "")[:500]
    try:
        page = max(1, int(request.query.get("page", "1")))
    except ValueError:
        raise UsageError("bad page number") from None
    builds = await _all_builds(ctx, st)
    matched = [b for b in builds if b.matches(q)]
    size = st.config.page_size
    pages = max(1, math.ceil(len(matched) / size))
    shown = matched[(page - 1) * size: page * size]
    todo = [b.exe for b in shown if b.exe is not None and st.inspected.get(b.exe.sha256) is None]
    if todo:
        got = await st.heavy(_inspect_many, ctx.store, [r for r in todo if r is not None], st.config.verdict_budget)
        for sha, rep in got.items():
            st.inspected.put(sha, rep, _cost(rep))
    rows: list[tuple[Build, list[dict[str, Any]] | None, str]] = []
    for b in shown:
        if b.exe is None:
            rows.append((b, None, "no executable stored"))
            continue
        hit = st.inspected.get(b.exe.sha256)
        if hit is None:
            rows.append((b, None, "not inspected yet: open the build (or reload)"))
        elif hit[0] is None:
            rows.append((b, None, f"inspect failed: {hit[1]}"))
        else:
            rows.append((b, hit[0]["consumers"], ""))
    return _html(builds_page(rows, q=q, total=len(builds), matched=len(matched), page=page, pages=pages))


async def _inspect_cached(ctx: ServerContext, st: UiState, rec: Record) -> tuple[dict[str, Any] | None, str | None]:
    hit = st.inspected.get(rec.sha256)
    if hit is None:
        try:
            hit = await ctx.single_flight(("ui-inspect", rec.sha256),
                                          lambda: st.heavy(_inspect_one, ctx.store, rec))
        except LimitError as e:
            return None, str(e)
        st.inspected.put(rec.sha256, hit, _cost(hit))
    return hit[0], hit[1]


async def build_view(request: web.Request) -> web.StreamResponse:
    request["endpoint"] = "ui-build"
    ctx, st = _state(request)
    authorize(request, "read")
    bid = _bid(request.query.get("id"), "build ID")
    if bid is None:
        raise UsageError("/ui/build needs ?id=BUILD_ID")
    b = await ctx.blocking(find_build, ctx.store, bid)
    target = b.exe or b.best("debuginfo")
    rep, err = (await _inspect_cached(ctx, st, target)) if target is not None else (None, "no executable stored")
    origin = f"{request.scheme}://{request.host}"
    return _html(build_page(b, rep, err, origin=origin, upload=st.config.upload))


async def build_treemap(request: web.Request) -> web.StreamResponse:
    request["endpoint"] = "ui-build"
    ctx, st = _state(request)
    authorize(request, "read")
    bid = _bid(request.query.get("id"), "build ID")
    if bid is None:
        raise UsageError("/ui/build/treemap needs ?id=BUILD_ID")
    b = await ctx.blocking(find_build, ctx.store, bid)
    if b.exe is None:
        raise NotFoundError(f"build {bid}: no executable stored")
    exe = b.exe
    doc = st.treemaps.get(exe.sha256)
    if doc is None:
        doc = await ctx.single_flight(("ui-treemap", exe.sha256),
                                      lambda: st.heavy(treemap_record, ctx.store, exe))
        st.treemaps.put(exe.sha256, doc, len(doc))
    return _html(doc, doc_csp(doc))


# -- profiles ---------------------------------------------------------------------------------------
def _limits(c: UiConfig) -> Limits:
    return Limits(max_input=c.max_input)


async def profiles_page(request: web.Request) -> web.StreamResponse:
    request["endpoint"] = "ui"
    _, st = _state(request)
    authorize(request, "read")
    c = st.config
    lim = {"upload": human_bytes(c.max_profile), "decompressed": human_bytes(c.max_input),
           "time": f"{c.timeout:g} s", "kept": f"{c.keep_count:,} profiles, {human_bytes(c.keep_bytes)}, "
                                              f"{c.keep_seconds / 86400:g} days"}
    return _html(upload_page(c.upload, lim))


async def _read_capped(stream: Any, cap: int) -> bytes:
    buf = bytearray()
    while True:
        chunk = await (stream.read_chunk(1 << 16) if isinstance(stream, BodyPartReader)
                       else stream.read(1 << 16))
        if not chunk:
            return bytes(buf)
        buf += chunk
        if len(buf) > cap:
            raise LimitError(f"profile upload is over the UI's limit of {cap} bytes (--ui-max-profile)")


def _clean_name(name: str | None) -> str:
    base = os.path.basename((name or "").replace("\\", "/"))
    return _CTRL.sub("", base)[:200] or "profile"


async def _render(ctx: ServerContext, st: UiState, request: web.Request, data: bytes, sha: str, name: str,
                  build: str | None, sample: str | None) -> Rendered:
    key = (sha, build, sample)
    hit: Rendered | None = st.pages.get(key)
    if hit is not None:
        return hit
    engines = request.app[ENGINES]

    async def make() -> Rendered:
        return await st.heavy(functools.partial(render_profile, ctx.store, engines, data, sha=sha, name=name,
                                                build=build, sample=sample, limits=_limits(st.config)))

    out: Rendered = await ctx.single_flight(("ui-render",) + key, make)
    st.pages.put(key, out, len(out.html))
    return out


async def upload(request: web.Request) -> web.StreamResponse:
    request["endpoint"] = "ui-upload"
    ctx, st = _state(request)
    c = st.config
    if c.upload == "off":
        raise web.HTTPForbidden(text="symkeep: error: profile uploads are disabled on this server (--ui-upload off)\n")
    uploader = authorize(request, "write" if c.upload == "token" else "read")
    same_origin(request)
    cap = c.max_profile
    if request.content_length is not None and request.content_length > cap + MULTIPART_SLACK:
        raise LimitError(f"profile upload of {request.content_length} bytes is over the UI's limit of {cap} bytes "
                         "(--ui-max-profile)")
    build_s = request.query.get("build")
    name = request.query.get("name")
    data: bytes | None = None
    if request.content_type == "multipart/form-data":
        reader = await request.multipart()
        parts = 0
        while True:
            part = await reader.next()
            if part is None:
                break
            parts += 1
            if parts > 8 or isinstance(part, MultipartReader):
                raise UsageError("unexpected form: send one file field 'profile' (and 'build')")
            if part.name == "profile":
                name = name or part.filename
                data = await _read_capped(part, cap)
            elif part.name == "build":
                build_s = (await _read_capped(part, 1024)).decode("utf-8", "replace").strip() or build_s
            else:
                await _read_capped(part, 1024)
    else:
        data = await _read_capped(request.content, cap)
    if not data:
        raise UsageError("empty upload: send a profile (pprof, perf script or folded stacks)")
    request["bytes"] = len(data)
    build = _bid(build_s, "build ID")
    name = _clean_name(name)
    sha = hashlib.sha256(data).hexdigest()
    # Drawn before it is kept: what cannot be symbolized and drawn is refused, never stored.
    rendered = await _render(ctx, st, request, data, sha, name, build, None)
    meta = {"name": name, "build": build, "uploaded_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "uploader": uploader, "input_format": rendered.summary["input_format"]}
    await ctx.blocking(st.area.put, data, meta)
    url = profile_link(sha, build)
    if "application/json" in request.headers.get("Accept", ""):
        body = {"id": sha, "url": url, "summary": rendered.summary}
        return web.Response(status=201, text=json.dumps(body) + "\n", content_type="application/json",
                            headers={"Location": url})
    raise web.HTTPSeeOther(url)


async def profile_view(request: web.Request) -> web.StreamResponse:
    request["endpoint"] = "ui-profile"
    ctx, st = _state(request)
    authorize(request, "read")
    sha = check_sha(request.match_info["sha"])
    build = _bid(request.query.get("build"), "build ID")
    sample = request.query.get("sample") or None
    if sample is not None and len(sample) > 200:
        raise UsageError("bad sample type: too long")
    hit: Rendered | None = st.pages.get((sha, build, sample))
    if hit is not None:
        st.area.check(sha)  # evicted or expired since it was drawn: gone
    else:
        data, meta = await ctx.blocking(st.area.get, sha)
        hit = await _render(ctx, st, request, data, sha, _clean_name(str(meta.get("name") or "")), build, sample)
    return _html(hit.html, doc_csp(hit.html))


async def profile_raw(request: web.Request) -> web.StreamResponse:
    request["endpoint"] = "ui-profile"
    ctx, st = _state(request)
    authorize(request, "read")
    sha = check_sha(request.match_info["sha"])
    data, meta = await ctx.blocking(st.area.get, sha)
    fname = re.sub(r"[^A-Za-z0-9._-]", "_", _clean_name(str(meta.get("name") or "")))
    return web.Response(body=data, content_type="application/octet-stream",
                        headers={"Content-Disposition": f'attachment; filename="{fname}"',
                                 "Cache-Control": "private, max-age=300"})


# -- the rest ---------------------------------------------------------------------------------------
async def root(request: web.Request) -> web.StreamResponse:
    raise web.HTTPFound("/ui/")


def _static_handler(name: str) -> Any:
    body = resources.files("symkeep.server.ui").joinpath(f"static/{name}").read_bytes()
    etag = hashlib.sha256(body).hexdigest()[:32]

    async def handler(request: web.Request) -> web.StreamResponse:
        request["endpoint"] = "ui-static"
        if request.headers.get("If-None-Match") == f'"{etag}"':
            return web.Response(status=304, headers={"ETag": f'"{etag}"'})
        return web.Response(body=body, content_type=_STATIC[name], charset=None if name.endswith(".svg") else "utf-8",
                            headers={"ETag": f'"{etag}"', "Cache-Control": "public, max-age=300"})

    return handler


async def _security_headers(request: web.BaseRequest, response: web.StreamResponse) -> None:
    """Every answer under /ui (errors included): no sniffing, no referrer, no framing elsewhere."""
    if request.path == "/ui" or request.path.startswith("/ui/"):
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        response.headers.setdefault("Content-Security-Policy", UI_CSP)
        response.headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")


def setup(app: web.Application) -> None:
    cfg = app[CTX].config.options.get("ui") or UiConfig()
    if not isinstance(cfg, UiConfig):
        raise TypeError("ServerConfig.options['ui'] must be a UiConfig")
    if not cfg.enabled:
        return
    st = UiState(cfg)
    app[UI] = st
    r = app.router
    r.add_get("/ui", root)
    r.add_get("/ui/", builds_list)
    r.add_get("/ui/build", build_view)
    r.add_get("/ui/build/treemap", build_treemap)
    r.add_get("/ui/profiles", profiles_page)
    r.add_post("/ui/profiles", upload)
    r.add_get("/ui/p/{sha}", profile_view)
    r.add_get("/ui/p/{sha}/raw", profile_raw)
    for name in _STATIC:
        r.add_get(f"/ui/static/{name}", _static_handler(name))
    r.add_get("/favicon.ico", _static_handler("favicon.svg"))  # browsers ask for it on every page
    app.on_response_prepare.append(_security_headers)

    async def cleanup(app: web.Application) -> None:
        st.close()

    app.on_cleanup.append(cleanup)
