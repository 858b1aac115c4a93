"""Profile bytes -> a symbolized flame graph page, with the same code as the CLI.

``symbolize_profile`` (profile API) with a :class:`~symkeep.store.resolver.StoreResolver`, then
``flame``'s ``decode_samples`` -> ``graph`` -> ``render_html``. Blocking and CPU-bound: the handlers
run it in the UI's job pool, under its timeout and input caps.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from symkeep.errors import LimitError
from symkeep.profile.limits import Limits
from symkeep.server.ui.html import flame_preamble, profile_link
from symkeep.store import Store
from symkeep.store.resolver import StoreEngines, StoreResolver

__all__ = ["Rendered", "render_profile"]


@dataclass
class Rendered:
    html: bytes
    summary: dict[str, Any]  # what the page says, as data (tests, the upload's JSON answer)


def _main_module(store: Store, mappings: list[dict[str, Any]], build: str | None) -> str:
    """The main module path (for the flame graph's colours) from the store's record of the build."""
    ids = ([build] if build else []) + [m["build_id"] for m in mappings if m.get("build_id")]
    for bid in ids:
        try:
            recs = store.records(bid)
        except Exception:  # noqa: BLE001 - a malformed ID in a profile: no colours from it
            continue
        for r in recs:
            if r.module and r.module != "command-line-arguments":
                return r.module
    return ""


def render_profile(store: Store, engines: StoreEngines, data: bytes, *, sha: str, name: str,
                   build: str | None, sample: str | None, limits: Limits) -> Rendered:
    from symkeep.flame.html import HtmlOptions, render_html
    from symkeep.flame.pbsamples import decode_samples
    from symkeep.flame.render import FlameOptions, graph, summarize
    from symkeep.profile.symbolizer import symbolize_profile

    resolver = StoreResolver(store, engines=engines, build=build)
    try:
        res = symbolize_profile(data, resolver, limits=limits)
    except LimitError as e:  # name the server's option, not the CLI's
        raise LimitError(str(e).replace("(--max-input)", "(--ui-max-input)")) from None
    rep = res.report.to_json()
    mappings = [m for m in rep.get("mappings", []) if m.get("kind") == "file"]
    rs = decode_samples(res.profile, name=name)
    opts = FlameOptions(sample_type=sample or None, title=name or "profile",
                        main_module=_main_module(store, mappings, build))
    main, _, tree = graph([rs], opts)
    drawn = summarize(main, tree)
    st = rs.meta.string_table
    sample_types = [str(st[vt.type]) for vt in rs.meta.sample_type]
    summary: dict[str, Any] = {
        "sha256": sha,
        "name": name,
        "build": build,
        "input_format": res.input_format,
        "link": profile_link(sha, build, sample),
        "sample_type": drawn["sample_type"],
        "sample_types": sample_types,
        "total": drawn["total"],
        "unit": drawn["unit"],
        "symbolize": rep,
    }
    subtitle = (f"{res.input_format} input, {drawn['sample_type']} "
                f"({drawn['total']:,} {drawn['unit']}), {rep['with_names']:,} of {rep['locations']:,} "
                "locations named")
    pre = flame_preamble(summary)
    doc = render_html(tree, HtmlOptions(title=name or "profile", subtitle=subtitle, min_width=opts.min_width,
                                        preamble=pre))
    return Rendered(doc, summary)
