"""Zoomable treemap of a size report: one self-contained HTML file (no network).

Hierarchy: module -> package -> class (code, padding, pclntab, funcdata, symtab, dwarf, ...) ->
the largest functions. Click a box to zoom into it, click the path above to zoom out. The layout
(squarified) runs in the browser on the current node only, so big binaries stay fast.
``render_treemap`` is what ``symkeep serve`` reuses.
"""

from __future__ import annotations

import html
import json
from typing import Any

import numpy as np

from symkeep.size.analyze import SizeReport
from symkeep.size.ledger import PARTS

__all__ = ["render_treemap", "tree_of"]

MAX_FUNCS_PER_LEAF = 40


def tree_of(rep: SizeReport) -> dict[str, Any]:
    sp, nm = rep.spans, rep.spans.names
    size = sp.size
    key = sp.package.astype(np.int64) * len(PARTS) + sp.part.astype(np.int64)
    fkey = key * (len(nm) + 1) + sp.function.astype(np.int64)
    uf, inv = np.unique(fkey, return_inverse=True)
    fsum = np.zeros(len(uf), dtype=np.int64)
    np.add.at(fsum, inv, size)
    by_leaf: dict[tuple[int, int], list[tuple[int, int]]] = {}
    for k, v in zip(uf.tolist(), fsum.tolist(), strict=True):
        pk_part, fn = divmod(k, len(nm) + 1)
        pk, part = divmod(pk_part, len(PARTS))
        by_leaf.setdefault((pk, part), []).append((fn, v))
    mods: dict[str, dict[str, Any]] = {}
    for (pk, part), fns in by_leaf.items():
        pkg = nm[pk]
        mod = rep.module_of(pkg)
        m = mods.setdefault(mod, {"name": mod, "children": {}})
        p = m["children"].setdefault(pkg, {"name": pkg, "children": []})
        fns.sort(key=lambda x: -x[1])
        total = sum(v for _, v in fns)
        kids: list[dict[str, Any]] = [{"name": nm[f], "value": v} for f, v in fns[:MAX_FUNCS_PER_LEAF] if f]
        rest = total - sum(int(k["value"]) for k in kids)
        if rest:
            kids.append({"name": f"(other {PARTS[part]})" if len(fns) > 1 else PARTS[part], "value": rest})
        p["children"].append({"name": PARTS[part], "part": PARTS[part], "children": kids})
    root = {"name": rep.path.rsplit("/", 1)[-1], "children": [
        {"name": m["name"], "children": list(m["children"].values())} for m in mods.values()]}
    return root


_JS = r"""
(function(){
"use strict";
const D = JSON.parse(document.getElementById("tm-data").textContent);
const COL = D.colors;
function total(n){ if (n.value !== undefined) return n.value; let s = 0; for (const c of n.children) s += total(c); n.value = s; return s; }
total(D.tree);
const box = document.getElementById("tm"), crumbs = document.getElementById("tm-path"), tip = document.getElementById("tm-tip");
let path = [D.tree];
function fmt(v){ if (v >= 1<<20) return (v/(1<<20)).toFixed(2)+" MiB"; if (v >= 1024) return (v/1024).toFixed(1)+" KiB"; return v+" B"; }
function squarify(items, x, y, w, h, out){
  items = items.filter(c => c.value > 0).sort((a,b) => b.value - a.value);
  let sum = items.reduce((s,c) => s + c.value, 0);
  while (items.length){
    const short = Math.min(w, h); let row = [], rs = 0, worst = Infinity;
    for (const it of items){
      const nrs = rs + it.value, area = nrs / sum * w * h, side = area / short;
      let nw = 0; for (const r of row.concat([it])) { const a = r.value / sum * w * h, l = a / side; nw = Math.max(nw, Math.max(side/l, l/side)); }
      if (row.length && nw > worst) break;
      row.push(it); rs = nrs; worst = nw;
    }
    items = items.slice(row.length);
    const area = rs / sum * w * h, side = area / short; let off = 0;
    for (const r of row){ const l = (r.value / rs) * short;
      if (w >= h) out.push([r, x, y + off, side, l]); else out.push([r, x + off, y, l, side]); off += l; }
    if (w >= h) { x += side; w -= side; } else { y += side; h -= side; }
    sum -= rs;
  }
  return out;
}
function color(n, depth){ if (n.part) return COL[n.part] || "#ccc"; const h = [...n.name].reduce((a,c) => (a*31 + c.charCodeAt(0)) >>> 0, 7) % 360; return "hsl("+h+",45%,"+(78-depth*6)+"%)"; }
function draw(){
  const node = path[path.length-1];
  box.innerHTML = "";
  const W = box.clientWidth, H = box.clientHeight;
  for (const [c, x, y, w, h] of squarify(node.children || [], 0, 0, W, H, [])){
    const d = document.createElement("div");
    d.className = "tm-box"; d.style.left = x+"px"; d.style.top = y+"px"; d.style.width = Math.max(w-1,0)+"px"; d.style.height = Math.max(h-1,0)+"px";
    d.style.background = color(c, path.length);
    if (w > 40 && h > 14) d.textContent = c.name + " " + fmt(c.value);
    d.dataset.name = c.name;
    d.addEventListener("mousemove", ev => { tip.style.display = "block"; tip.style.left = (ev.pageX+12)+"px"; tip.style.top = (ev.pageY+12)+"px";
      tip.textContent = path.map(p => p.name).concat([c.name]).join(" › ") + " — " + fmt(c.value) + " (" + (100*c.value/D.tree.value).toFixed(2) + "% of the file)"; });
    d.addEventListener("mouseleave", () => { tip.style.display = "none"; });
    if (c.children) d.addEventListener("click", () => { path.push(c); draw(); });
    box.appendChild(d);
  }
  crumbs.innerHTML = "";
  path.forEach((p, i) => { const a = document.createElement("a"); a.href = "#"; a.textContent = p.name + " (" + fmt(p.value) + ")";
    a.addEventListener("click", ev => { ev.preventDefault(); path = path.slice(0, i+1); draw(); }); crumbs.appendChild(a);
    if (i < path.length-1) crumbs.appendChild(document.createTextNode(" › ")); });
  window.treemap = {path: path.map(p => p.name), boxes: [...box.children].map(b => b.dataset.name), ready: true};
}
window.addEventListener("resize", draw);
draw();
})();
"""

_COLORS = {"code": "#f4a261", "padding": "#e9c46a", "pclntab": "#8ecae6", "funcdata": "#90be6d", "types": "#b5838d",
           "data": "#cdb4db", "symtab": "#e76f51", "dwarf": "#e63946", "other": "#bbbbbb"}


def render_treemap(rep: SizeReport, title: str = "") -> bytes:
    data = json.dumps({"tree": tree_of(rep), "colors": _COLORS}, separators=(",", ":")).replace("</", "<\\/")
    sav = rep.savings()
    legend = "".join(f'<span><span class="sw" style="background:{c}"></span>{p}</span>' for p, c in _COLORS.items())
    title = title or f"symkeep size: {rep.path}"
    doc = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'">
<title>{html.escape(title)}</title>
<style>body{{font:13px system-ui,sans-serif;margin:8px 12px}} #tm{{position:relative;width:100%;height:80vh;border:1px solid #999}}
.tm-box{{position:absolute;overflow:hidden;font:11px monospace;padding:1px 2px;box-sizing:border-box;border:1px solid #fff;cursor:pointer;white-space:nowrap}}
#tm-tip{{position:absolute;display:none;background:#fffff0;border:1px solid #999;padding:3px 5px;font:12px monospace;pointer-events:none;z-index:2}}
.legend{{display:flex;gap:10px;flex-wrap:wrap;margin:4px 0}} .sw{{display:inline-block;width:12px;height:12px;margin-right:3px;vertical-align:middle}}
#tm-path a{{margin-right:2px}}</style></head><body>
<h1 style="font-size:16px">{html.escape(title)}</h1>
<div>{rep.file_size:,} bytes, Go {html.escape(rep.go_version or "?")}, {html.escape(rep.format)}/{html.escape(rep.arch)};
-w would save {sav["-w"]:,} bytes, -s {sav["-s"]:,} bytes.</div>
<div class="legend">{legend}</div>
<div id="tm-path"></div>
<div id="tm"></div><div id="tm-tip"></div>
<script type="application/json" id="tm-data">{data}</script>
<script>{_JS}</script>
</body></html>
"""
    return doc.encode("utf-8")
