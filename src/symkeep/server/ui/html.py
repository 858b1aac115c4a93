"""Server-rendered HTML for the web UI. Every value that comes from the store, a profile or the
request goes through :func:`esc` (or :func:`attr`/``urlencode``) on its way into markup; the pages
load only ``/ui/static/ui.css`` and ``ui.js`` from this server (the CSP forbids anything else)."""

from __future__ import annotations

import html as _html
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import quote, urlencode

from symkeep.server.ui.builds import Build
from symkeep.store import Record
from symkeep.store.ids import quote_id

__all__ = ["build_page", "builds_page", "esc", "flame_preamble", "profile_link", "upload_page"]

#: short column titles for the consumer verdicts (``symkeep.inspect.consumers.verdicts`` names)
SHORT = {
    "runtime/pprof (in-process)": "runtime pprof",
    "go tool pprof / go tool addr2line": "go tool",
    "google/pprof + llvm-symbolizer": "llvm",
    "binutils addr2line": "addr2line",
    "perf report": "perf",
    "gdb": "gdb",
    "delve": "delve",
    "nm / objdump": "nm",
    "debuginfod indexing": "debuginfod",
    "symkeep": "symkeep",
}


def esc(x: object) -> str:
    return _html.escape("" if x is None else str(x), quote=True)


def attr(x: object) -> str:
    return esc(x)


def human_bytes(n: int | None) -> str:
    if n is None:
        return ""
    f = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if f < 1024 or unit == "GiB":
            return f"{f:.0f} {unit}" if unit == "B" else f"{f:.1f} {unit}"
        f /= 1024
    return f"{n} B"


def build_url(bid: str) -> str:
    return "/ui/build?" + urlencode({"id": bid})


def profile_link(sha: str, build: str | None = None, sample: str | None = None) -> str:
    """The shareable link of an uploaded profile (the build it was drawn against and the sample type
    are part of it)."""
    q = {k: v for k, v in (("build", build), ("sample", sample)) if v}
    return f"/ui/p/{sha}" + (f"?{urlencode(q)}" if q else "")


def _nav(active: str) -> str:
    items = [("/ui/", "Builds", "builds"), ("/ui/profiles", "Profile a file", "profiles")]
    links = "".join(f'<a href="{u}"{" class=on" if k == active else ""}>{t}</a>' for u, t, k in items)
    return f'<nav class="sk-nav"><span class="sk-brand">symkeep</span>{links}</nav>'


def layout(title: str, body: str, active: str = "") -> bytes:
    doc = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{esc(title)} · symkeep</title>
<link rel="icon" href="/ui/static/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/ui/static/ui.css">
<script src="/ui/static/ui.js" defer></script>
</head><body>
{_nav(active)}
<main>
{body}
</main>
</body></html>
"""
    return doc.encode("utf-8")


def verdict_mark(v: dict[str, Any]) -> tuple[str, str]:
    """(mark, css class): ✓ names and lines, ◐ names only, ✗ nothing (as the CLI's tables)."""
    if not v.get("works"):
        return "✗", "v-no"
    if v.get("lines") is False:
        return "◐", "v-part"
    return "✓", "v-ok"


def _flags(b: Build) -> str:
    return " ".join(f'<span class="flag {tone}" title="{attr(why)}">{esc(label)}</span>'
                    for label, why, tone in b.flags())


def _ids(b: Build) -> str:
    out = []
    if b.gnu:
        out.append(f'<div class="id"><span class="idk">GNU</span> <code class="gnu">{esc(b.gnu)}</code></div>')
    if b.go:
        out.append(f'<div class="id"><span class="idk">Go</span> <code class="goid">{esc(b.go)}</code></div>')
    if not out:
        out.append(f'<div class="id"><span class="idk">key</span> <code>{esc(b.key)}</code></div>')
    return "".join(out)


def _module(m: Record) -> str:
    mod = esc(m.module or "(no build info)")
    ver = f' <span class="ver">{esc(m.module_version)}</span>' if m.module_version else ""
    return f"{mod}{ver}"


def _vcs(m: Record) -> str:
    if not m.vcs_revision:
        return '<span class="muted">–</span>'
    dirty = ' <span class="flag warn">modified</span>' if m.vcs_modified else ""
    return f'<code title="{attr(m.vcs_revision)}">{esc(m.vcs_revision[:12])}</code>{dirty}'


def _verdict_cells(verdicts: list[dict[str, Any]] | None, note: str) -> str:
    if verdicts is None:
        return f'<td class="verdicts pending" colspan="{len(SHORT)}">{esc(note)}</td>'
    cells = []
    for v in verdicts:
        mark, cls = verdict_mark(v)
        cells.append(f'<td class="verdict {cls}" data-consumer="{attr(v["name"])}" '
                     f'title="{attr(v["name"])}: {attr(v.get("reason", ""))}">{mark}</td>')
    return "".join(cells)


def builds_page(rows: Sequence[tuple[Build, list[dict[str, Any]] | None, str]], *, q: str, total: int, matched: int,
                page: int, pages: int) -> bytes:
    search = f"""<form class="search" method="get" action="/ui/">
<input type="search" name="q" value="{attr(q)}" placeholder="module, version, Go version, revision, build ID, file, sha256"
 aria-label="search builds" id="build-search" autofocus>
<button type="submit">Search</button>
{'<a href="/ui/">clear</a>' if q else ''}
</form>"""
    count = (f'<p class="count" id="build-count">{matched:,} of {total:,} builds match '
             f'<q>{esc(q)}</q></p>' if q else f'<p class="count" id="build-count">{total:,} builds</p>')
    heads = "".join(f'<th class="vh" title="{attr(n)}"><span>{esc(s)}</span></th>' for n, s in SHORT.items())
    body_rows = []
    for b, verdicts, note in rows:
        m = b.main
        exe, dbg = b.exe, b.debug
        sizes = []
        if exe is not None:
            sizes.append(f"exe {human_bytes(exe.size)}")
        if dbg is not None and dbg is not exe:
            sizes.append(f"debug {human_bytes(dbg.size)}")
        go = esc((m.go_version or "").removeprefix("go") or "?")
        body_rows.append(
            f'<tr class="build" data-key="{attr(b.key)}" data-gnu="{attr(b.gnu or "")}" data-go="{attr(b.go or "")}">'
            f'<td class="mod"><a href="{attr(build_url(b.key))}">{_module(m)}</a>'
            f'<div class="file">{esc(m.file)}</div></td>'
            f"<td>{go}</td><td>{_vcs(m)}</td><td class=ids>{_ids(b)}</td>"
            f'<td class="flags">{_flags(b)}</td><td class="num">{"<br>".join(sizes)}</td>'
            f"{_verdict_cells(verdicts, note)}"
            f'<td class="when">{esc(b.uploaded_at)}</td></tr>')
    table = (f'<table class="builds"><thead><tr><th>module</th><th>Go</th><th>revision</th><th>build IDs</th>'
             f'<th>quality</th><th>size</th>{heads}<th>archived</th></tr></thead>'
             f'<tbody>{"".join(body_rows)}</tbody></table>') if rows else '<p class="empty">No builds match.</p>'
    pager = ""
    if pages > 1:
        links = []
        for p in range(1, pages + 1):
            qs = urlencode({k: v for k, v in (("q", q), ("page", str(p))) if v})
            links.append(f"<b>{p}</b>" if p == page else f'<a href="/ui/?{attr(qs)}">{p}</a>')
        pager = f'<p class="pager">{" ".join(links)}</p>'
    legend = ('<p class="legend">consumers (what works on the stored executable, from <code>symkeep inspect</code>): '
              '✓ names and lines · ◐ names only · ✗ nothing; hover for the reason.</p>')
    return layout("builds", f"<h1>Archived builds</h1>{search}{count}{legend}{table}{pager}", "builds")


def upload_form(build: str | None, allowed: str) -> str:
    if allowed == "off":
        return '<p class="muted">Profile uploads are disabled on this server.</p>'
    hidden = f'<input type="hidden" name="build" value="{attr(build)}">' if build else ""
    note = (" (needs a write token)" if allowed == "token" else "")
    target = "this build's binary" if build else "the binaries archived here, found by the profile's build IDs"
    return f"""<form class="upload" id="upload-form" method="post" action="/ui/profiles" enctype="multipart/form-data">
<div class="drop" id="drop-zone">Drop a pprof profile, <code>perf script</code> output or folded stacks here,
or choose a file{esc(note)}: <input type="file" name="profile" id="profile-file" required>
{hidden}<button type="submit" id="upload-button">Symbolize and draw</button></div>
<p class="muted">Symbolized with {target}. The profile is kept on this server under its sha256 so the
link can be shared, until the retention limit drops it.</p>
<p class="error" id="upload-error" hidden></p>
</form>"""


def upload_page(allowed: str, limits: dict[str, str]) -> bytes:
    lim = ", ".join(f"{esc(k)} {esc(v)}" for k, v in limits.items())
    body = f"""<h1>Profile a file</h1>
{upload_form(None, allowed)}
<p class="muted">Limits: {lim}.</p>"""
    return layout("profile a file", body, "profiles")


def _dl(items: Iterable[tuple[str, str]]) -> str:
    return "<dl class=meta>" + "".join(f"<dt>{esc(k)}</dt><dd>{v}</dd>" for k, v in items) + "</dl>"


def _records_table(b: Build) -> str:
    rows = []
    for r in b.records:
        bid = b.gnu or b.go or r.build_id
        if r.kind == "source":
            href = f"/buildid/{quote_id(r.build_id)}/source/{quote(r.path.lstrip('/'), safe='/')}"
        elif r.kind in ("executable", "debuginfo"):
            href = f"/buildid/{quote_id(bid)}/{r.kind}"
        else:
            href = f"/buildid/{quote_id(bid)}/debuginfo" if r is b.debug else ""
        link = f'<a href="{attr(href)}">download</a>' if href else ""
        rows.append(f'<tr class="rec" data-kind="{attr(r.kind)}"><td>{esc(r.kind)}</td><td>{r.rank}</td>'
                    f'<td class="num">{human_bytes(r.size)}</td><td>{esc(r.path or r.file)}</td>'
                    f'<td><code title="{attr(r.sha256)}">{esc(r.sha256[:16])}</code></td>'
                    f"<td>{esc(r.uploaded_at)}</td><td>{esc(r.uploader)}</td><td>{link}</td></tr>")
    return ('<table class="records"><thead><tr><th>kind</th><th>rank</th><th>size</th><th>file</th><th>sha256</th>'
            f'<th>archived</th><th>by</th><th></th></tr></thead><tbody>{"".join(rows)}</tbody></table>')


def _inspect_section(rep: dict[str, Any] | None, error: str | None) -> str:
    if rep is None:
        return f'<p class="error">inspect failed: {esc(error or "no executable stored")}</p>'
    rows = []
    for v in rep.get("consumers", []):
        mark, cls = verdict_mark(v)
        lines = v.get("lines")
        lmark = "–" if lines is None else ("✓" if lines else "✗")
        rows.append(f'<tr class="consumer" data-consumer="{attr(v["name"])}"><td>{esc(v["name"])}</td>'
                    f'<td class="verdict {cls}">{mark}</td><td>{lmark}</td><td>{esc(v.get("reason", ""))}</td></tr>')
    go = rep.get("go") or {}
    p = go.get("pclntab") or {}
    facts = [
        ("format", esc(f"{rep.get('format', '')} {rep.get('arch', '')} {rep.get('bits', '')}-bit "
                       f"{rep.get('endian', '')}-endian {rep.get('type', '')}")),
        ("file size", esc(f"{rep.get('file_size', 0):,} bytes")),
        ("Go", esc(f"{go.get('version') or '?'} (from {go.get('version_source', '?')})")),
        ("pclntab", esc(f"Go {p.get('generation', '?')}+ format ({p.get('magic', '?')}), "
                        f"{p.get('functions', 0):,} functions, {p.get('files', 0):,} files") if p else "not found"),
        ("stripped", esc(", ".join(k for k, v in (rep.get("stripped") or {}).items() if v) or "nothing")),
    ]
    classes = "".join(f'<tr><td>{esc(c["name"])}</td><td class="num">{c["bytes"]:,}</td>'
                      f'<td class="num">{c["percent"]}%</td><td>{esc(c.get("help", ""))}</td></tr>'
                      for c in rep.get("classes", []))
    advice = "".join(f"<li>{esc(a)}</li>" for a in rep.get("advice", []))
    warnings = "".join(f"<li>{esc(w)}</li>" for w in rep.get("warnings", []))
    return (f"{_dl(facts)}"
            '<h3>What still works on the stored executable</h3>'
            '<table class="consumers" id="consumers"><thead><tr><th>consumer</th><th>names</th><th>lines</th>'
            f'<th>why</th></tr></thead><tbody>{"".join(rows)}</tbody></table>'
            + (f'<h3>Advice</h3><ul class="advice">{advice}</ul>' if advice else "")
            + (f'<h3>Warnings</h3><ul class="warnings">{warnings}</ul>' if warnings else "")
            + '<h3>Where the bytes are</h3><table class="classes"><thead><tr><th>class</th><th>bytes</th>'
            f'<th>%</th><th>what</th></tr></thead><tbody>{classes}</tbody></table>')


def build_page(b: Build, rep: dict[str, Any] | None, error: str | None, *, origin: str, upload: str) -> bytes:
    m = b.main
    settings = "".join(f"<tr><td>{esc(k)}</td><td>{esc(v)}</td></tr>" for k, v in sorted(m.settings.items()))
    meta = [
        ("module", _module(m)),
        ("Go version", esc(m.go_version or "?")),
        ("vcs revision", _vcs(m)),
        ("GNU build-id", f'<code id="gnu-build-id">{esc(b.gnu)}</code>' if b.gnu else "none"),
        ("Go build ID", f'<code id="go-build-id">{esc(b.go)}</code>' if b.go else "none"),
        ("format", esc(f"{m.format} {m.arch}")),
        ("quality", _flags(b)),
    ]
    dbg = b.debug
    how = ""
    if dbg is not None and b.gnu:
        how = (f'<p>gdb, perf and other debuginfod clients get its debug file from this server: '
               f'<code>DEBUGINFOD_URLS={esc(origin)}</code> ({esc(dbg.kind)}, {human_bytes(dbg.size)}).</p>')
    treemap = ""
    if b.exe is not None:
        turl = "/ui/build/treemap?" + urlencode({"id": b.key})
        treemap = (f'<h2>Size</h2><p class="muted">Every byte of the stored executable, by module, package and '
                   f'table (<code>symkeep size</code>). <a href="{attr(turl)}">open alone</a></p>'
                   f'<iframe class="treemap" id="treemap" src="{attr(turl)}" sandbox="allow-scripts" '
                   f'title="size treemap"></iframe>')
    body = (f'<h1 id="build-title">{_module(m)}</h1>{_dl(meta)}{how}'
            f'<h2>Stored files</h2>{_records_table(b)}'
            f'<h2>Profile this build</h2>{upload_form(b.key, upload)}'
            f'<h2>Inspect</h2>{_inspect_section(rep, error)}'
            f"{treemap}"
            + (f'<h2>Build settings</h2><table class="settings"><tbody>{settings}</tbody></table>' if settings else ""))
    return layout(m.module or b.key, body, "builds")


def flame_preamble(summary: dict[str, Any]) -> str:
    """The UI's bar above a flame graph: navigation, the shareable link, what was symbolized how."""
    sym = summary["symbolize"]
    rows = []
    for mp in sym.get("mappings", []):
        if mp.get("kind") != "file":
            continue
        failed = ", ".join(f"{esc(k)}: {n:,}" for k, n in (mp.get("failures") or {}).items())
        rows.append(
            f'<tr class="mapping"><td>{esc(mp.get("filename"))}</td><td><code>{esc(mp.get("build_id"))}</code></td>'
            f'<td>{esc(mp.get("binary") or "")}</td><td>{esc(mp.get("found_by") or "")}</td>'
            f'<td>{"yes" if mp.get("verified") else "no"}</td>'
            f'<td class="num">{mp.get("symbolized", 0):,} / {mp.get("locations", 0):,}</td><td>{failed}</td></tr>')
    table = ('<table class="mappings"><thead><tr><th>mapping</th><th>build ID</th><th>binary</th><th>found by</th>'
             '<th>build ID checked</th><th>named here</th><th>not named</th></tr></thead>'
             f'<tbody>{"".join(rows)}</tbody></table>') if rows else ""
    types = summary.get("sample_types") or []
    switch = ""
    if len(types) > 1:
        links = " ".join(
            f"<b>{esc(t)}</b>" if t == summary.get("sample_type") else
            f'<a href="{attr(profile_link(summary["sha256"], summary.get("build"), t))}">{esc(t)}</a>'
            for t in types)
        switch = f'<span class="types">sample type: {links}</span>'
    warn = "".join(f"<li>{esc(w)}</li>" for w in sym.get("warnings", []))
    build = summary.get("build")
    build_note = (f' · symbolized with build <a href="{attr(build_url(build))}"><code>{esc(build)}</code></a>'
                  if build else "")
    link = summary["link"]
    return (f'<div class="sk-pre" style="font:13px system-ui,sans-serif;border-bottom:1px solid #ccc;'
            f'margin:-8px -12px 8px;padding:6px 12px;background:#f4f6f8">'
            f'<b>symkeep</b> · <a href="/ui/">builds</a> · <a href="/ui/profiles">profile a file</a>'
            f' · share: <a id="share-link" href="{attr(link)}">{esc(link)}</a>'
            f' · <a href="/ui/p/{esc(summary["sha256"])}/raw" download>download the upload</a>{build_note} {switch}'
            f'<details id="symbolize-report"><summary>symbolization: {sym.get("with_names", 0):,} of '
            f'{sym.get("locations", 0):,} locations named ({sym.get("symbolized", 0):,} from the store now)'
            f"</summary>{table}" + (f"<ul>{warn}</ul>" if warn else "") + "</details></div>\n")
