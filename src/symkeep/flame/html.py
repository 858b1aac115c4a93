"""One self-contained HTML file per flame graph: data + canvas viewer, no network access.

The tree goes in as base64 typed arrays (preorder frame ids and depths in the narrowest integer
width, self values per label set; parents and subtree ends are derived in the browser), so the
browser decodes a million nodes in milliseconds and never parses JSON objects per node.
The viewer (``assets/flame.js``) draws on a canvas and skips subtrees narrower than ``min_width``
pixels, so the cost of a paint follows what is visible, not the profile's size. ``render_html`` is
what ``symkeep serve`` reuses unchanged.
"""

from __future__ import annotations

import base64
import html
import json
from dataclasses import dataclass
from importlib import resources

import numpy as np

from symkeep.flame.classify import CLASS_HELP, CLASSES, PALETTE, color_of, fnv1a, packed_rgba
from symkeep.flame.stacks import Interner
from symkeep.flame.tree import FlameTree

__all__ = ["HtmlOptions", "render_html"]


@dataclass(frozen=True)
class HtmlOptions:
    title: str = "symkeep flame graph"
    subtitle: str = ""
    icicle: bool = False
    min_width: float = 0.5  # pixels: narrower subtrees are not drawn
    coarse_above: int = 20000  # trees with more nodes paint a coarse payload first
    coarse_share: float = 1 / 2000  # ... made of the frames at least this share of the total wide
    preamble: str = ""  # trusted HTML put first in <body> (the web UI's navigation); callers escape it


def _b64(a: np.ndarray) -> str:  # type: ignore[type-arg]
    return base64.b64encode(np.ascontiguousarray(a).astype(a.dtype.newbyteorder("<")).tobytes()).decode("ascii")


def _small_ints(a: np.ndarray, key: str) -> dict[str, object]:  # type: ignore[type-arg]
    """Non-negative ints in the narrowest of 1, 2, 4 bytes (``KEY``: base64, ``KEY_bytes``: width):
    depth fits a byte and frame ids two on nearly every graph, a third of the file's int32 size."""
    hi = int(a.max()) if len(a) else 0
    dt = np.uint8 if hi < 1 << 8 else np.uint16 if hi < 1 << 16 else np.int32
    return {key: _b64(a.astype(dt)), f"{key}_bytes": np.dtype(dt).itemsize}


def _nodes(frame: np.ndarray, depth: np.ndarray) -> dict[str, object]:  # type: ignore[type-arg]
    """Preorder nodes as frame ids (the root's -1 stored as 0: never read) and depths; the browser
    derives parents and subtree ends from the depths (a smaller file than parents or ends)."""
    return {**_small_ints(np.maximum(frame, 0), "frame"), **_small_ints(depth, "depth")}


def _frames_table(it: Interner, used: list[int] | None = None) -> dict[str, object]:
    frames = it.frames if used is None else [it.frames[i] for i in used]
    files: dict[str, int] = {"": 0}
    ffile = [files.setdefault(f.file, len(files)) for f in frames]
    kind_idx = {c: i for i, c in enumerate(CLASSES)}
    return {
        "name": [f.name for f in frames],
        "file": ffile,
        "files": list(files),
        "line": [f.line for f in frames],
        "inl": [1 if f.inlined else 0 for f in frames],
        "kind": [kind_idx.get(f.kind, 0) for f in frames],
    }


def coarse_payload(tree: FlameTree, opts: HtmlOptions) -> dict[str, object]:
    """The nodes wide enough to be seen at full width, with their own small frame table."""
    p = _common(tree, opts)
    # default 1/2000: 0.7 px on a 1400 px wide canvas; the thinner slivers arrive with the full tree
    thr = tree.total[0] * opts.coarse_share if tree.n else 0
    keep = tree.total >= thr
    keep[0] = True
    idx = np.flatnonzero(keep)
    newid = np.cumsum(keep) - 1
    par = tree.parent[idx].astype(np.int64)
    cpar = np.where(par >= 0, newid[np.maximum(par, 0)], -1)
    tot = tree.total[idx].astype(np.float64)
    child = np.zeros(len(idx), dtype=np.float64)
    np.add.at(child, cpar[1:], tot[1:])
    selfv = tot - child
    frames = tree.frame[idx].astype(np.int64)
    cdepth = tree.depth[idx]
    used = sorted(set(frames[1:].tolist()))
    fmap = {f: i for i, f in enumerate(used)}
    cframe = np.array([-1] + [fmap[f] for f in frames[1:].tolist()], dtype=np.int32)
    # Names only where a label can be drawn at full width (>= 1/100 of the total); the colour comes
    # from the name's hash, shipped as a number. Tooltips get names and files with the full tree.
    wide = set(frames[1:][tot[1:] >= tree.total[0] / 100].tolist()) if tree.n > 1 else set()
    it = tree.interner
    ftab = {
        "name": [it.frames[f].name if f in wide else "" for f in used],
        # the painted colour itself (classify.packed_rgba): no per-frame colour maths before the first paint
        "rgba": _b64(np.array([packed_rgba(it.frames[f].kind, fnv1a(it.frames[f].name) % 1000) for f in used],
                              dtype=np.uint32)),
        "inl": [1 if it.frames[f].inlined else 0 for f in used],
        "kind": [CLASSES.index(it.frames[f].kind) if it.frames[f].kind in CLASSES else 0 for f in used],
    }
    empty = np.zeros(0, dtype=np.int32)
    p.update({
        "frames": ftab,
        # parents and ends derived in the browser; self values: one per node (node i, every label set)
        "nodes": _nodes(cframe, cdepth),
        "self": {"val": _b64(selfv.astype(np.float32))},
        "base": {"node": _b64(empty), **_small_ints(empty, "ls"), "val": _b64(np.zeros(0, np.float64))},
    })
    return p


def _common(tree: FlameTree, opts: HtmlOptions) -> dict[str, object]:
    return {
        "title": opts.title,
        "sample_type": tree.sample_type,
        "unit": tree.unit,
        "icicle": opts.icicle,
        "min_width": opts.min_width,
        "diff": tree.has_base,
        "classes": list(CLASSES),
        "palette": {c: list(p) for c, p in PALETTE.items()},
        "labelsets": [list(ls) for ls in tree.interner.labelsets],
        "labels": payload_labels(tree),
        "max_depth": int(tree.depth.max()) if tree.n else 0,
    }


def payload(tree: FlameTree, opts: HtmlOptions) -> dict[str, object]:
    p = _common(tree, opts)
    p.update({
        "frames": _frames_table(tree.interner),
        "nodes": _nodes(tree.frame, tree.depth),
        "self": {
            "node": _b64(tree.self_node.astype(np.int32)),
            **_small_ints(tree.self_ls, "ls"),
            "val": _b64(tree.self_val.astype(np.float64)),
        },
        "base": {
            "node": _b64(tree.base_node.astype(np.int32)),
            **_small_ints(tree.base_ls, "ls"),
            "val": _b64(tree.base_val.astype(np.float64)),
        },
    })
    return p


_CSS = """
body{font:13px system-ui,sans-serif;margin:8px 12px;color:#222;background:#fff}
h1{font-size:16px;margin:4px 0}
.sub{color:#666;font-size:12px;margin-bottom:6px}
#flame-bar{display:flex;gap:8px;align-items:center;flex-wrap:wrap;margin:6px 0}
#flame-bar input{width:260px}
#flame-wrap{position:relative;width:100%}
#flame-canvas{display:block;cursor:pointer}
#flame-tip{position:absolute;display:none;background:#fffff0;border:1px solid #999;padding:4px 6px;
  font:12px monospace;max-width:600px;pointer-events:none;box-shadow:2px 2px 4px rgba(0,0,0,.2);z-index:2;
  word-break:break-all}
#flame-status{color:#444;font-size:12px}
.legend{display:flex;gap:10px;flex-wrap:wrap;font-size:12px;margin:4px 0}
.legend span.sw{display:inline-block;width:12px;height:12px;vertical-align:middle;margin-right:3px;
  border:1px solid #888}
"""


def render_html(tree: FlameTree, opts: HtmlOptions | None = None) -> bytes:
    """The complete HTML document (UTF-8 bytes) for ``tree``."""
    opts = opts or HtmlOptions()
    data = _json(payload(tree, opts))
    # a big graph paints its visible part first; the diff view needs the base values from the start
    full = f'<script type="application/json" id="flame-data">{data}</script>\n'
    if tree.has_base or tree.n < opts.coarse_above:
        head_data, tail_data = full, ""
    else:
        # the viewer runs (and paints) before the parser reaches the big payload after it
        head_data = f'<script type="application/json" id="flame-coarse">{_json(coarse_payload(tree, opts))}</script>\n'
        tail_data = full
    js = resources.files("symkeep.flame").joinpath("assets/flame.js").read_text("utf-8")
    labels = payload_labels(tree)
    options = '<option value="">all samples</option>' + "".join(
        f'<option value="{html.escape(v)}">{html.escape(v)}</option>' for v in labels
    )
    legend = "".join(
        f'<span title="{html.escape(CLASS_HELP[c])}"><span class="sw" style="background:{color_of(c, c)}"></span>'
        f"{html.escape(c)}</span>"
        for c in CLASSES
    )
    if tree.has_base:
        legend = ('<span><span class="sw" style="background:hsl(0,85%,60%)"></span>grew</span>'
                  '<span><span class="sw" style="background:hsl(220,85%,60%)"></span>shrank</span>'
                  '<span>(widths: this profile; colours: change vs. the base, both normalised to the same total)</span>')
    doc = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:">
<title>{html.escape(opts.title)}</title><style>{_CSS}</style></head>
<body>
{opts.preamble}<h1>{html.escape(opts.title)}</h1>
<div class="sub">{html.escape(opts.subtitle)}</div>
<div id="flame-bar">
<button id="flame-reset" type="button">Reset zoom</button>
<input id="flame-search" type="search" placeholder="search (regex), Enter" aria-label="search">
<button id="flame-clear" type="button">Clear</button>
<span id="flame-matched"></span>
<label>label: <select id="flame-labels">{options}</select></label>
</div>
<div class="legend">{legend}<span id="flame-inl-key">dashed, italic = inlined</span></div>
<div id="flame-status"></div>
<div id="flame-wrap"><canvas id="flame-canvas"></canvas><div id="flame-tip"></div></div>
{head_data}<script>{js}</script>
{tail_data}
</body></html>
"""
    return doc.encode("utf-8")


def _json(obj: object) -> str:
    return json.dumps(obj, separators=(",", ":")).replace("</", "<\\/")  # never close the script early


def payload_labels(tree: FlameTree) -> list[str]:
    it = tree.interner
    used = set(np.unique(np.concatenate([tree.self_ls, tree.base_ls])).tolist()) if tree.n else set()
    labels: set[str] = set()
    keys: set[str] = set()
    for i in used:
        for lb in it.labelsets[i]:
            labels.add(lb)
            keys.add(lb.partition("=")[0])
    return sorted(labels) + [f"{k}=(none)" for k in sorted(keys)]
