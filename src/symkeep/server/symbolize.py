"""``POST /symbolize``: a profile in the body, the symbolized profile out, binaries from the store.

The body is what ``symkeep symbolize`` reads (a pprof profile, gzip'd or not; ``perf script`` text;
folded stacks; ``input_format=auto|pprof|perf|folded``). Each file mapping's binary is found by its build
ID in the store (:class:`~symkeep.store.resolver.StoreResolver` over the shared ``app[ENGINES]``;
``build=ID`` names the build for a main mapping that records none), and the work is the CLI's own:
``profile.symbolize_profile`` then ``serialize_profile`` or ``folded_lines`` with the same options, so
the answer is byte for byte what the command writes for the same input and binary.

Query: ``format=pprof|folded``, ``gzip=1|0`` (pprof), ``inline_suffix``, ``kernel_suffix``, ``lines``,
``sample_index`` (folded), ``force``, ``max_input`` (lowers the server's parse budget), and ``report``:

- ``header`` (default): the body is the output; totals in ``X-Symkeep-Locations``, ``-Named``,
  ``-Symbolized``, ``-Unsymbolized`` and ``X-Symkeep-Input-Format``;
- ``json``: the body is ``{"input_format", "summary", "report"}`` (``report`` = ``symbolize --json``,
  ``summary`` = the text the CLI prints on stderr), no profile;
- ``inline``: that JSON on the first line, then the output (``application/x-symkeep-symbolized``); what
  ``symkeep symbolize --server`` asks for.

A body of type ``application/x-symkeep-profile`` starts with one line of JSON ``{"build_ids": {PATH: ID},
"build_id_source": NAME}`` (build IDs recorded elsewhere, e.g. the client's perf.data, given to the
mappings by path as ``--perf-data`` does), then the profile.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from symkeep.errors import FormatError, LimitError, UsageError
from symkeep.profile.limits import Limits, parse_size
from symkeep.server.api import api_config, api_jobs, flag, read_body
from symkeep.server.app import ENGINES
from symkeep.server.context import CTX
from symkeep.store import Store
from symkeep.store.resolver import StoreEngines, StoreResolver

__all__ = ["BUNDLE_TYPE", "REPORTS", "REQUEST_BUNDLE_TYPE", "SymbolizeOptions", "setup", "symbolize_bytes"]

FORMATS = ("pprof", "folded")
INPUTS = ("auto", "pprof", "perf", "folded")
REPORTS = ("header", "json", "inline")
BUNDLE_TYPE = "application/x-symkeep-symbolized"
#: request body: one line of JSON ``{"build_ids": {path: id}, "build_id_source": name}``, then the profile
#: (what ``symkeep symbolize --perf-data F --server URL`` sends: perf script text has no build IDs)
REQUEST_BUNDLE_TYPE = "application/x-symkeep-profile"


@dataclass(frozen=True)
class SymbolizeOptions:
    fmt: str = "pprof"
    input_format: str = "auto"
    force: bool = False
    gzip: bool = True
    inline_suffix: str = "_[i]"
    kernel_suffix: str = "_[k]"
    with_lines: bool = False
    sample_index: int = -1
    build: str | None = None
    build_ids: dict[str, str] | None = None  # path -> build ID, recorded elsewhere (the client's perf.data)
    build_id_source: str = ""  # where they come from (named in the report, as the CLI names --perf-data)


@dataclass
class Symbolized:
    output: bytes
    input_format: str
    report: dict[str, Any]
    summary: str


def symbolize_bytes(store: Store, engines: StoreEngines, data: bytes, opts: SymbolizeOptions,
                    limits: Limits) -> Symbolized:
    """What ``symkeep symbolize --store`` does with a profile whose binaries are only in the store."""
    from symkeep.profile.folded import folded_lines
    from symkeep.profile.inputs import load_bytes
    from symkeep.profile.pprof import serialize_profile
    from symkeep.profile.summary import format_summary
    from symkeep.profile.symbolizer import symbolize_profile

    resolver = StoreResolver(store, engines=engines, build=opts.build)
    try:
        loaded = load_bytes(data, opts.input_format, limits)
        if opts.build_ids is not None:
            loaded.set_build_ids(opts.build_ids, opts.build_id_source)
        res = symbolize_profile(loaded, resolver, force=opts.force)
    except LimitError as e:  # name the server's option, not the CLI's
        raise LimitError(str(e).replace("(--max-input)", "(--api-max-input)")) from None
    del data
    if opts.fmt == "folded":
        out = b"".join(ln.encode("utf-8", "surrogateescape") for ln in folded_lines(
            res.profile, sample_index=opts.sample_index, inline_suffix=opts.inline_suffix,
            kernel_suffix=opts.kernel_suffix, with_lines=opts.with_lines))
    else:
        out = serialize_profile(res.profile, compress=opts.gzip)
    rep = res.report.to_json()
    rep["input_format"] = res.input_format
    return Symbolized(out, res.input_format, rep, format_summary(res.report))


def _options(request: web.Request) -> SymbolizeOptions:
    q = request.query
    fmt = q.get("format", "pprof")
    if fmt not in FORMATS:
        raise UsageError(f"bad format {fmt[:40]!r}: one of {', '.join(FORMATS)}")
    inp = q.get("input_format", "auto")
    if inp not in INPUTS:
        raise UsageError(f"bad input_format {inp[:40]!r}: one of {', '.join(INPUTS)}")
    try:
        sample_index = int(q.get("sample_index", "-1"))
    except ValueError:
        raise UsageError("bad sample_index: an integer") from None
    gz = q.get("gzip")
    return SymbolizeOptions(
        fmt=fmt, input_format=inp, force=flag(request, "force"),
        gzip=True if gz is None else flag(request, "gzip"),
        inline_suffix=q.get("inline_suffix", "_[i]"), kernel_suffix=q.get("kernel_suffix", "_[k]"),
        with_lines=flag(request, "lines"), sample_index=sample_index, build=q.get("build") or None)


def _unbundle(data: bytes, opts: SymbolizeOptions) -> tuple[bytes, SymbolizeOptions]:
    from dataclasses import replace

    nl = data.find(b"\n")
    try:
        meta = json.loads(data[:nl]) if nl >= 0 else None
        ids = meta["build_ids"] if isinstance(meta, dict) else None
        src = str(meta.get("build_id_source", "")) if isinstance(meta, dict) else ""
    except (ValueError, UnicodeDecodeError, KeyError):
        ids = None
    if not isinstance(ids, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in ids.items()):
        raise FormatError(f"a {REQUEST_BUNDLE_TYPE} body starts with one line of JSON "
                          '{"build_ids": {"PATH": "ID", ...}}', what="request body")
    return data[nl + 1:], replace(opts, build_ids=ids, build_id_source=src)


async def symbolize(request: web.Request) -> web.StreamResponse:
    request["endpoint"] = "symbolize"
    ctx = request.app[CTX]
    ctx.check_read(request)
    cfg = api_config(request.app)
    opts = _options(request)
    report = request.query.get("report", "header")
    if report not in REPORTS:
        raise UsageError(f"bad report {report[:40]!r}: one of {', '.join(REPORTS)}")
    max_input = cfg.max_input
    if "max_input" in request.query:
        max_input = min(max_input, parse_size(request.query["max_input"]))
    if opts.build:
        from symkeep.store.ids import normalize_id

        normalize_id(opts.build)  # a bad ID is a 400 before the body is read
    api_jobs(request.app).check()  # busy: 503 before the body is read
    data = await read_body(request, cfg.max_body)
    if request.content_type == REQUEST_BUNDLE_TYPE:
        data, opts = _unbundle(data, opts)
    res = await api_jobs(request.app).run(symbolize_bytes, ctx.store, request.app[ENGINES], data, opts,
                                          Limits(max_input=max_input))
    meta = {"input_format": res.input_format, "summary": res.summary, "report": res.report}
    if report == "json":
        return web.json_response(meta)
    headers = {
        "X-Symkeep-Input-Format": res.input_format,
        "X-Symkeep-Locations": str(res.report["locations"]),
        "X-Symkeep-Named": str(res.report["with_names"]),
        "X-Symkeep-Symbolized": str(res.report["symbolized"]),
        "X-Symkeep-Unsymbolized": str(res.report["unsymbolized"]),
    }
    if report == "inline":
        head = json.dumps(meta, separators=(",", ":")).encode() + b"\n"
        return web.Response(body=head + res.output, content_type=BUNDLE_TYPE, headers=headers)
    ctype = "text/plain" if opts.fmt == "folded" else "application/octet-stream"
    return web.Response(body=res.output, content_type=ctype, charset="utf-8" if opts.fmt == "folded" else None,
                        headers=headers)


def setup(app: web.Application) -> None:
    api_jobs(app)
    app.router.add_post("/symbolize", symbolize)
