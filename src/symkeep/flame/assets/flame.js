// symkeep flame graph viewer: canvas rendering of a preorder tree (see symkeep/flame/html.py).
// No network, no dependencies. window.flame exposes state for tests and benchmarks.
(function () {
  "use strict";
  const T0 = performance.now();
  // Two payloads: "flame-coarse" (the frames wide enough to see at full width, drawn first) and
  // "flame-data" (everything), decoded after the first paint.
  const coarseEl = document.getElementById("flame-coarse");
  const D = JSON.parse((coarseEl || document.getElementById("flame-data")).textContent);  // (coarse: data follows)
  const T_PARSED = performance.now();

  function b64(s, Ctor) {
    let u;
    if (typeof Uint8Array.fromBase64 === "function") u = Uint8Array.fromBase64(s);
    else {
      const bin = atob(s);
      const n = bin.length;
      u = new Uint8Array(n);
      for (let i = 0; i < n; i++) u[i] = bin.charCodeAt(i);
    }
    return new Ctor(u.buffer, u.byteOffset, u.byteLength / Ctor.BYTES_PER_ELEMENT);
  }

  let F, NF, frame, parent, depth, end, N, sNode, sLs, sVal, bNode, bLs, bVal, maxDepth, fpacked;
  let tot, selfv, btot, x, cursor, selfIsNode = false;
  function ints(s, bytes) { return b64(s, bytes === 1 ? Uint8Array : bytes === 2 ? Uint16Array : Int32Array); }
  function load(P) {
    F = P.frames;
    NF = F.name.length;
    maxDepth = P.max_depth;
    frame = ints(P.nodes.frame, P.nodes.frame_bytes);
    depth = ints(P.nodes.depth, P.nodes.depth_bytes);
    N = depth.length;
    // parents and subtree ends from the preorder depths (a smaller file than shipping them)
    parent = new Int32Array(N);
    end = new Int32Array(N);
    const last = new Int32Array(maxDepth + 2);  // the latest node seen at each depth
    parent[0] = -1;
    for (let i = 1; i < N; i++) { const d = depth[i]; parent[i] = last[d - 1]; last[d] = i; }
    for (let i = 0; i < N; i++) end[i] = i + 1;
    for (let i = N - 1; i > 0; i--) if (end[i] > end[parent[i]]) end[parent[i]] = end[i];
    sVal = P.self.node ? b64(P.self.val, Float64Array) : new Float64Array(b64(P.self.val, Float32Array));
    selfIsNode = !P.self.node;
    if (P.self.node) { sNode = b64(P.self.node, Int32Array); sLs = ints(P.self.ls, P.self.ls_bytes); }
    else {  // coarse payload: one self value per node, all label sets
      sNode = new Int32Array(sVal.length); sLs = new Int32Array(sVal.length);
      for (let i = 0; i < sNode.length; i++) sNode[i] = i;
    }
    bNode = b64(P.base.node, Int32Array); bLs = ints(P.base.ls, P.base.ls_bytes); bVal = b64(P.base.val, Float64Array);
    if (F.rgba) fpacked = b64(F.rgba, Uint32Array);  // the coarse payload ships the colours
    else {
      fpacked = new Uint32Array(NF);
      for (let f = 0; f < NF; f++) fpacked[f] = packedOf(D.classes[F.kind[f]], F.name[f]);
    }
    tot = new Float64Array(N); selfv = new Float64Array(N); btot = new Float64Array(N);
    x = new Float64Array(N); cursor = new Float64Array(N);
  }

  // --- colours: the same function as symkeep/flame/classify.py color_of ---
  const ENC = new TextEncoder();
  function fnv1a(s) {  // over the UTF-8 bytes, like classify.fnv1a
    let h = 0x811c9dc5;
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c >= 128) return fnv1aBytes(ENC.encode(s));
      h ^= c;
      h = Math.imul(h, 0x01000193) >>> 0;
    }
    return h >>> 0;
  }
  function fnv1aBytes(bytes) {
    let h = 0x811c9dc5;
    for (let i = 0; i < bytes.length; i++) {
      h ^= bytes[i];
      h = Math.imul(h, 0x01000193) >>> 0;
    }
    return h >>> 0;
  }
  function lightOf(p, name) { return p[2] + (fnv1a(name) % 1000) * (p[3] - p[2]) / 1000.0; }
  function colorOf(kind, name) {
    const p = D.palette[kind] || D.palette.runtime;
    return "hsl(" + p[0] + "," + p[1] + "%," + lightOf(p, name).toFixed(1) + "%)";
  }
  function packedOf(kind, name) { return packedShade(kind, fnv1a(name) % 1000); }
  function packedShade(kind, shade) {
    const p = D.palette[kind] || D.palette.runtime;
    return hslToPacked(p[0], p[1], p[2] + shade * (p[3] - p[2]) / 1000.0);
  }
  // --- state ---
  let zoom = 0;
  let match = null; // Uint8Array per frame, or null
  let accept = null; // Uint8Array per label set, or null = all
  // the frames of the last draw, in typed arrays (window.flame.drawn: plain copies, for tests)
  let dNode = new Int32Array(4096), dX = new Float64Array(4096), dW = new Float64Array(4096);
  let dDepth = new Int32Array(4096), nDrawn = 0;
  const state = { timings: {}, matched: null, label: "" };
  Object.defineProperty(state, "drawn", { enumerable: true, get: () => ({
    node: Array.from(dNode.subarray(0, nDrawn)), x: Array.from(dX.subarray(0, nDrawn)),
    y: Array.from(dDepth.subarray(0, nDrawn), rowY), w: Array.from(dW.subarray(0, nDrawn)) }) });
  window.flame = state;

  function compute() {
    tot.fill(0); selfv.fill(0); btot.fill(0);
    if (selfIsNode && !accept) selfv.set(sVal);  // the coarse payload's first paint: one value per node
    else for (let k = 0; k < sNode.length; k++) if (!accept || accept[sLs[k]]) selfv[sNode[k]] += sVal[k];
    tot.set(selfv);
    for (let i = N - 1; i > 0; i--) tot[parent[i]] += tot[i];
    if (D.diff) {
      for (let k = 0; k < bNode.length; k++) if (!accept || accept[bLs[k]]) btot[bNode[k]] += bVal[k];
      for (let i = N - 1; i > 0; i--) btot[parent[i]] += btot[i];
    }
    cursor.fill(0);
    x[0] = 0;
    for (let i = 1; i < N; i++) {
      const p = parent[i];
      x[i] = x[p] + cursor[p];
      cursor[p] += tot[i];
    }
  }

  // --- formatting ---
  function fmt(v) {
    const u = D.unit;
    if (u === "nanoseconds") {
      if (v >= 1e9) return (v / 1e9).toFixed(2) + " s";
      if (v >= 1e6) return (v / 1e6).toFixed(2) + " ms";
      if (v >= 1e3) return (v / 1e3).toFixed(2) + " µs";
      return v + " ns";
    }
    if (u === "bytes") {
      if (v >= 1 << 30) return (v / (1 << 30)).toFixed(2) + " GiB";
      if (v >= 1 << 20) return (v / (1 << 20)).toFixed(2) + " MiB";
      if (v >= 1 << 10) return (v / (1 << 10)).toFixed(2) + " KiB";
      return v + " B";
    }
    return v.toLocaleString("en-US") + (u && u !== "count" ? " " + u : "");
  }
  function pct(v, t) { return t > 0 ? (100 * v / t).toFixed(2) + "%" : "0%"; }
  function esc(s) { return String(s).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" }[c])); }

  // --- drawing ---
  const canvas = document.getElementById("flame-canvas");
  // Opaque: the page behind is white anyway, and an opaque canvas is composited without blending
  // (the first frame reaches the screen sooner); empty areas are painted white instead.
  const ctx = canvas.getContext("2d", { alpha: false });
  const ROW = 17;
  const FONT_PX = 11;
  const CHAR_W = FONT_PX * 0.6;
  const FONT = FONT_PX + "px monospace", FONT_ITALIC = "italic " + FONT_PX + "px monospace";
  const MINW = D.min_width > 0 ? D.min_width : 0.5;
  let width = 800;

  function nodeName(i) { return i === 0 ? "all" : F.name[frame[i]]; }
  function rowY(d) { return D.icicle ? d * ROW : (maxDepth - d) * ROW; }

  // Rectangles go into a pixel buffer (one TypedArray.fill per row of a rectangle: no canvas state
  // changes, no colour-string parsing per frame); outlines and labels are drawn on top.
  function hslToPacked(h, sat, l) {
    sat /= 100; l /= 100;
    const k = (n) => (n + h / 30) % 12;
    const a = sat * Math.min(l, 1 - l);
    const f = (n) => l - a * Math.max(-1, Math.min(k(n) - 3, Math.min(9 - k(n), 1)));
    return packRGB(Math.round(255 * f(0)), Math.round(255 * f(8)), Math.round(255 * f(4)));
  }
  function packRGB(r, g, b) { return ((255 << 24) | (b << 16) | (g << 8) | r) >>> 0; }  // little-endian RGBA
  const HIGHLIGHT = packRGB(230, 0, 230), ROOT = hslToPacked(0, 0, 85), BACKGROUND = packRGB(255, 255, 255);
  function nodeRGB(i) {
    if (i === 0) return ROOT;
    const f = frame[i];
    if (match && match[f]) return HIGHLIGHT;
    if (D.diff) {
      const t0 = tot[0], b0 = btot[0];
      const before = b0 > 0 ? btot[i] * t0 / b0 : 0;
      const now = tot[i];
      const m = Math.max(now, before);
      const r = m > 0 ? Math.min(1, Math.abs(now - before) / m) : 0;
      return hslToPacked(now >= before ? 0 : 220, 85, 96 - 46 * r);
    }
    return fpacked[f];
  }

  function put(i, px, w, d) {
    if (nDrawn === dNode.length) {
      const grow = (a) => { const b = new a.constructor(a.length * 2); b.set(a); return b; };
      dNode = grow(dNode); dX = grow(dX); dW = grow(dW); dDepth = grow(dDepth);
    }
    dNode[nDrawn] = i; dX[nDrawn] = px; dW[nDrawn] = w; dDepth[nDrawn] = d; nDrawn++;
  }
  // the frames at least MINW wide under the zoomed node, in preorder (a narrow subtree is skipped whole)
  // (vis: rows to keep, per depth; null = every row)
  function collect(z, width, vis) {
    const zt = tot[z];
    if (!(zt > 0)) { put(z, 0, width, depth[z]); return; }
    const scale = width / zt, x0 = x[z], stop = end[z];
    let i = z;
    while (i < stop) {
      const w = tot[i] * scale;
      if (w < MINW) { i = end[i]; continue; }
      if (!vis || vis[depth[i]]) put(i, (x[i] - x0) * scale, w, depth[i]);
      i++;
    }
  }

  function label(text, px, y, w) {
    const m = Math.floor((w - 6) / CHAR_W);
    if (text.length > m) text = m > 2 ? text.slice(0, m - 2) + ".." : "";
    if (text) ctx.fillText(text, px + 3, y + ROW - 5);
  }

  let img = null, buf = null, partial = false;
  // visibleOnly (the first paint): only the rows inside the window; the caller draws the rest next
  function draw(visibleOnly) {
    const t = performance.now();
    width = Math.max(200, document.getElementById("flame-wrap").clientWidth);
    const height = (maxDepth + 1) * ROW;
    const dpr = window.devicePixelRatio || 1;
    const W = Math.round(width * dpr), H = Math.round(height * dpr);
    let vis = null, bandLo = 0, bandHi = H;
    if (visibleOnly) {  // the layout is fresh (clientWidth): reading the position costs nothing
      const top = canvas.getBoundingClientRect().top;
      const lo = Math.max(0, -top), hi = Math.min(height, window.innerHeight - top);
      if (hi > lo && (lo > 0 || hi < height)) {
        vis = new Uint8Array(maxDepth + 1);
        for (let d = 0; d <= maxDepth; d++) if (rowY(d) < hi && rowY(d) + ROW > lo) vis[d] = 1;
        bandLo = Math.max(0, Math.floor(lo * dpr)); bandHi = Math.min(H, Math.ceil(hi * dpr));
      }
    }
    partial = vis !== null;
    if (canvas.width !== W || canvas.height !== H) {
      canvas.width = W;
      canvas.height = H;
      canvas.style.width = width + "px";
      canvas.style.height = height + "px";
    }
    if (!img || img.width !== W || img.height !== H) {
      img = ctx.createImageData(W, H);
      buf = new Uint32Array(img.data.buffer);
    }
    buf.fill(BACKGROUND);
    const tLaid = performance.now();
    nDrawn = 0;
    const anc = [];
    for (let a = zoom; a > 0; a = parent[a]) anc.push(a);
    anc.push(0);
    for (let k = anc.length - 1; k >= 1; k--) {  // ancestors: full width
      if (!vis || vis[depth[anc[k]]]) put(anc[k], 0, width, depth[anc[k]]);
    }
    collect(zoom, width, vis);
    const n = nDrawn;
    const tCollected = performance.now();
    // Every frame of a row covers the same pixel lines: write the row's first line, copy it down.
    const touched = new Uint8Array(maxDepth + 1), lineOff = new Float64Array(maxDepth + 1);
    for (let d = 0; d <= maxDepth; d++) lineOff[d] = Math.round(rowY(d) * dpr) * W;
    const plain = !match && !D.diff;  // the colour is the frame's own: no call per frame
    for (let k = 0; k < n; k++) {
      const i = dNode[k], d = dDepth[k];
      const c = plain && i > 0 ? fpacked[frame[i]] : nodeRGB(i);
      let xa = Math.floor(dX[k] * dpr);
      if (xa < 0) xa = 0;
      let xb = Math.floor((dX[k] + dW[k] - 0.5) * dpr);
      if (xb <= xa) xb = xa + 1;
      if (xb > W) xb = W;
      const o = lineOff[d];
      if (xb - xa <= 8) { for (let xx = xa; xx < xb; xx++) buf[o + xx] = c; }
      else buf.fill(c, o + xa, o + xb);
      touched[d] = 1;
    }
    for (let d = 0; d <= maxDepth; d++) {
      if (!touched[d]) continue;
      const y = rowY(d), ya = Math.round(y * dpr), yb = Math.min(H, Math.round((y + ROW - 1) * dpr));
      for (let yy = ya + 1; yy < yb; yy++) buf.copyWithin(yy * W, ya * W, ya * W + W);
    }
    const tFilled = performance.now();
    if (vis) {  // the rows outside the window: white (an opaque canvas starts black) until drawn
      ctx.setTransform(1, 0, 0, 1, 0, 0);
      ctx.putImageData(img, 0, 0, 0, bandLo, W, bandHi - bandLo);
      ctx.fillStyle = "#fff";
      ctx.fillRect(0, 0, W, bandLo);
      ctx.fillRect(0, bandHi, W, H - bandHi);
    } else ctx.putImageData(img, 0, 0);
    const tPut = performance.now();
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.font = FONT;
    ctx.fillStyle = "#000";
    ctx.strokeStyle = "rgba(0,0,0,0.55)";
    ctx.setLineDash([3, 2]);
    let curFont = FONT;
    for (let k = 0; k < n; k++) {
      const w = dW[k];
      if (w <= 3) continue;
      const i = dNode[k], px = dX[k], y = rowY(dDepth[k]);
      const inl = i > 0 && F.inl[frame[i]];
      if (inl) ctx.strokeRect(px + 0.5, y + 0.5, Math.max(w - 1.5, 0.5), ROW - 2);
      if (w > 3 * CHAR_W) {
        const font = inl ? FONT_ITALIC : FONT;
        if (curFont !== font) { ctx.font = font; curFont = font; }  // font parsing is costly: switch rarely
        label((inl ? "⤷ " : "") + nodeName(i), px, y, w);
      }
    }
    ctx.setLineDash([]);
    const ms = performance.now() - t;
    state.timings.drawPhases = { layout: tLaid - t, collect: tCollected - tLaid, fill: tFilled - tCollected,
                                 put: tPut - tFilled, text: t + ms - tPut };
    state.drawnCount = n;
    updateStatus();
    return ms;
  }

  function hit(px, py) {
    for (let k = nDrawn - 1; k >= 0; k--) {
      const y = rowY(dDepth[k]);
      if (py >= y && py < y + ROW && px >= dX[k] && px < dX[k] + dW[k]) return dNode[k];
    }
    return -1;
  }

  // --- UI ---
  const tip = document.getElementById("flame-tip");
  const status = document.getElementById("flame-status");
  function updateStatus() {
    let s = D.sample_type + ": " + fmt(tot[0]) + " total";
    if (state.label) s += " (label " + state.label + ")";
    if (zoom) s += " · zoomed to " + nodeName(zoom) + " (" + pct(tot[zoom], tot[0]) + ")";
    status.textContent = s;
  }
  function tooltip(i, ev) {
    if (i < 0) { tip.style.display = "none"; return; }
    const f = frame[i];
    let h = "<b>" + esc(nodeName(i)) + "</b>";
    if (i > 0) {
      if (F.inl[f]) h += " <i>(inlined)</i>";
      const file = F.files ? F.files[F.file[f]] : "";
      if (file) h += "<br>" + esc(file) + (F.line[f] ? ":" + F.line[f] : "");
      h += "<br>class: " + esc(D.classes[F.kind[f]]);
    }
    h += "<br>total: " + esc(fmt(tot[i])) + " (" + pct(tot[i], tot[0]) + ")";
    h += "<br>self: " + esc(fmt(selfv[i])) + " (" + pct(selfv[i], tot[0]) + ")";
    if (D.diff) {
      const before = btot[0] > 0 ? btot[i] * tot[0] / btot[0] : 0;
      const d = tot[i] - before;
      h += "<br>change vs base (normalised): " + (d >= 0 ? "+" : "") + pct(d, tot[0]);
    }
    tip.innerHTML = h;
    tip.style.display = "block";
    const r = canvas.getBoundingClientRect();
    tip.style.left = Math.min(ev.clientX - r.left + 12, width - 320) + "px";
    tip.style.top = (ev.clientY - r.top + canvas.offsetTop + 14) + "px";
  }
  canvas.addEventListener("mousemove", (ev) => {
    const r = canvas.getBoundingClientRect();
    tooltip(hit(ev.clientX - r.left, ev.clientY - r.top), ev);
  });
  canvas.addEventListener("mouseleave", () => { tip.style.display = "none"; });
  canvas.addEventListener("click", (ev) => {
    const r = canvas.getBoundingClientRect();
    const i = hit(ev.clientX - r.left, ev.clientY - r.top);
    if (i >= 0) zoomTo(i);
  });
  state.zoomTo = (i) => zoomTo(i);
  function zoomTo(i) {
    zoom = i;
    state.timings.zoom = draw();
    state.zoom = i;
    state.zoomName = nodeName(i);
  }
  document.getElementById("flame-reset").addEventListener("click", () => zoomTo(0));
  document.addEventListener("keydown", (ev) => { if (ev.key === "Escape") zoomTo(0); });

  const sbox = document.getElementById("flame-search");
  const smsg = document.getElementById("flame-matched");
  function search(pattern) {
    if (!pattern) {
      match = null; state.matched = null; smsg.textContent = ""; draw(); return;
    }
    let re;
    try { re = new RegExp(pattern); } catch (e) { smsg.textContent = "bad regex"; return; }
    match = new Uint8Array(NF);
    for (let f = 0; f < NF; f++) if (re.test(F.name[f])) match[f] = 1;
    let m = 0, i = 1;
    while (i < N) {
      if (match[frame[i]]) { m += tot[i]; i = end[i]; } else i++;
    }
    state.matched = { value: m, total: tot[0], percent: tot[0] > 0 ? 100 * m / tot[0] : 0 };
    smsg.textContent = "matched: " + fmt(m) + " (" + pct(m, tot[0]) + ")";
    draw();
  }
  state.search = search;
  sbox.addEventListener("keydown", (ev) => { if (ev.key === "Enter") search(sbox.value); });
  sbox.addEventListener("change", () => search(sbox.value));
  document.getElementById("flame-clear").addEventListener("click", () => { sbox.value = ""; search(""); });

  const sel = document.getElementById("flame-labels");
  function setLabel(v) {
    state.label = v;
    if (!v) accept = null;
    else {
      const key = v.slice(0, v.indexOf("="));
      const none = v === key + "=(none)";
      accept = new Uint8Array(D.labelsets.length);
      for (let k = 0; k < D.labelsets.length; k++) {
        const ls = D.labelsets[k];
        if (none) accept[k] = ls.every((l) => !l.startsWith(key + "=")) ? 1 : 0;
        else accept[k] = ls.indexOf(v) >= 0 ? 1 : 0;
      }
    }
    compute();
    zoom = 0;
    if (sbox.value) search(sbox.value); else draw();
  }
  state.setLabel = setLabel;
  sel.addEventListener("change", () => setLabel(sel.value));
  window.addEventListener("resize", () => draw());

  function finish() {
    state.nodes = N;
    state.frameName = (i) => nodeName(i);
    state.inlined = (i) => i > 0 && !!F.inl[frame[i]];
    state.kind = (i) => (i > 0 ? D.classes[F.kind[frame[i]]] : "root");
    state.total = (i) => tot[i];
    state.colorOf = colorOf;
    state.packedOf = packedOf;
    state.ready = true;
  }
  load(D);
  const T_LOADED = performance.now();
  compute();
  const T_COMPUTED = performance.now();
  state.timings.firstDraw = draw(true);
  state.timings.firstDrawPhases = state.timings.drawPhases;
  state.timings.phases = { parse: T_PARSED - T0, load: T_LOADED - T_PARSED, compute: T_COMPUTED - T_LOADED };
  state.timings.firstPaint = performance.now();  // since navigation start
  state.timings.script = performance.now() - T0;
  state.coarseNodes = N;
  // the frame after the first draw has been painted (two animation frames later, conservatively)
  requestAnimationFrame(() => requestAnimationFrame(() => {
    state.timings.painted = performance.now();
    state.timings.firstPartial = partial;
    // The legend's mark comes after the first paint: "⤷" is missing from common UI fonts, and the
    // font fallback search for it (10-15 ms in a new renderer) would hold the first graph back.
    const key = document.getElementById("flame-inl-key");
    if (key) key.textContent = "dashed, italic, ⤷ = inlined";
    if (!coarseEl) {
      if (partial) draw();  // the rows below (or above) the window
      finish();
      return;
    }
    const loadFull = () => {
      const t = performance.now();
      load(JSON.parse(document.getElementById("flame-data").textContent));
      compute();
      zoom = 0;
      if (sbox.value) search(sbox.value); else draw();
      state.timings.full = performance.now() - t;
      finish();
    };
    // the full payload follows this script in the document: wait until the parser has read it
    if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", loadFull);
    else setTimeout(loadFull, 0);
  }));
})();
