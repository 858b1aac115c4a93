"""The web UI over HTTP (no browser): pages and their security headers, uploads and shareable links,
hostile and oversized uploads with the status of their error class, upload and read policies, and
hostile build metadata escaped. Servers are real ``symkeep serve`` processes."""

from __future__ import annotations

import base64
import gzip
import hashlib
import http.client as httpc
import json
import re
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

import pytest
from ui_helpers import EVIL_REVISION, Hog, go_build_id, hostile_build, multipart

from server.harness import ServeProc, gnu_build_id_readelf, http, make_token, symkeep
from symkeep.errors import FormatError, LimitError, NotFoundError, UsageError
from symkeep.profile.pprof import read_profile, serialize_profile

MB = 1 << 20


def post_profile(url: str, data: bytes, *, name: str = "p.pb.gz", build: str | None = None,
                 headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    q = f"?name={quote(name)}" + (f"&build={quote(build, safe='')}" if build else "")
    h = {"Content-Type": "application/octet-stream", "Accept": "application/json", **(headers or {})}
    return http("POST", url + "/ui/profiles" + q, data, h)


def one_line_error(body: bytes) -> str:
    text = body.decode()
    assert text.startswith("symkeep: error: ") and text.count("\n") == 1, text
    return text


def variants(raw: Path, n: int) -> list[bytes]:
    """``n`` distinct real profiles: the same samples, a different recording time each."""
    out = []
    for i in range(n):
        p = read_profile(raw)
        p.time_nanos += 1_000_000_000 * (i + 1)
        out.append(serialize_profile(p))
    return out


def prof_files(d: Path) -> list[Path]:
    return sorted(d.glob("*/*.prof"))


# -- pages ------------------------------------------------------------------------------------------
def test_pages_answer_with_a_strict_policy(ui_server: ServeProc, hog: Callable[[str], Hog]) -> None:
    gnu = gnu_build_id_readelf(hog("1.27").binary)
    code, hdr, _ = http("GET", ui_server.url + "/ui")
    assert code == 200  # redirected to /ui/
    for path in ("/ui/", "/ui/profiles", f"/ui/build?id={gnu}", "/ui/?q=cpuhog"):
        code, hdr, body = http("GET", ui_server.url + path)
        assert code == 200, (path, body[:300])
        csp = hdr["Content-Security-Policy"]
        assert "default-src 'none'" in csp and "script-src 'self'" in csp and "'unsafe-inline'" not in csp, csp
        assert hdr["X-Content-Type-Options"] == "nosniff" and hdr["Referrer-Policy"] == "no-referrer"
        assert not re.search(rb"(src|href)=\"(https?:)?//", body), path  # nothing from another origin
        assert b"<script>" not in body  # no inline script on UI pages
    # the treemap document may run exactly its own inline script, by hash
    code, hdr, body = http("GET", ui_server.url + f"/ui/build/treemap?id={gnu}")
    assert code == 200
    scripts = re.findall(rb"<script>(.*?)</script>", body, re.DOTALL)
    assert len(scripts) == 1
    want = "'sha256-" + base64.b64encode(hashlib.sha256(scripts[0]).digest()).decode() + "'"
    assert f"script-src {want};" in hdr["Content-Security-Policy"], hdr["Content-Security-Policy"]
    # errors under /ui carry the headers too, and are one line of text
    code, hdr, body = http("GET", ui_server.url + "/ui/build?id=" + "ab" * 20)
    assert code == NotFoundError.http_status and hdr["X-Content-Type-Options"] == "nosniff"
    one_line_error(body)
    code, _, body = http("GET", ui_server.url + "/ui/build?id=..%2F..%2Fetc")
    assert code == UsageError.http_status, body


def test_upload_link_raw_and_form(ui_server: ServeProc, hog: Callable[[str], Hog]) -> None:
    h = hog("1.27")
    data = h.raw.read_bytes()
    code, hdr, body = post_profile(ui_server.url, data, name="cpu.pb.gz")
    assert code == 201, body
    ans = json.loads(body)
    sha = hashlib.sha256(data).hexdigest()
    assert ans["id"] == sha and ans["url"] == f"/ui/p/{sha}" and hdr["Location"] == ans["url"]
    m = [m for m in ans["summary"]["symbolize"]["mappings"] if m["kind"] == "file"][0]
    assert m["verified"] and m["symbolized"] == m["locations"] > 0 and m["found_by"] == "store (build ID)"
    code, _, page = http("GET", ui_server.url + ans["url"])
    assert code == 200 and b'"main.spin"' in page and b'id="share-link"' in page
    code, hdr, raw = http("GET", ui_server.url + ans["url"] + "/raw")
    assert code == 200 and raw == data and "attachment" in hdr["Content-Disposition"]
    # a browser form (multipart) gets a 303 to the same link
    body, ctype = multipart({}, {"profile": ("cpu.pb.gz", data)})
    conn = httpc.HTTPConnection(ui_server.url.removeprefix("http://"), timeout=120)
    conn.request("POST", "/ui/profiles", body=body, headers={"Content-Type": ctype})
    r = conn.getresponse()
    r.read()
    assert r.status == 303 and r.getheader("Location") == f"/ui/p/{sha}", r.status
    conn.close()
    # unknown and malformed ids
    code, _, body = http("GET", ui_server.url + "/ui/p/" + "0" * 64)
    assert code == NotFoundError.http_status, body
    code, _, body = http("GET", ui_server.url + "/ui/p/xyz")
    assert code == UsageError.http_status, body


@pytest.fixture
def small_server(ui_store: Path, tmp_path: Path) -> ServeProc:
    s = ServeProc(str(ui_store), "--no-upstream", "--ui-profiles", str(tmp_path / "prof"), "--ui-max-profile", "64K",
                  "--ui-max-input", "4M")
    yield s  # type: ignore[misc]
    s.stop()


def test_hostile_uploads_get_their_status(small_server: ServeProc, hog: Callable[[str], Hog], tmp_path: Path) -> None:
    url = small_server.url
    binary = hog("1.27").binary.read_bytes()
    # over --ui-max-profile: announced by Content-Length ...
    code, _, body = post_profile(url, binary[: 65 << 10])
    assert code == LimitError.http_status and "--ui-max-profile" in one_line_error(body)
    # ... and streamed without one (chunked)
    conn = httpc.HTTPConnection(url.removeprefix("http://"), timeout=120)
    conn.request("POST", "/ui/profiles", body=iter([binary[i:i + 1024] for i in range(0, 100 << 10, 1024)]),
                 headers={"Content-Type": "application/octet-stream"}, encode_chunked=True)
    r = conn.getresponse()
    assert r.status == LimitError.http_status and "--ui-max-profile" in one_line_error(r.read())
    conn.close()
    # a gzip bomb: a valid start, then 60 MiB of empty sample types (under 64 KiB on the wire; the
    # parse budget of 4 MiB stops it after half a MiB)
    bomb = gzip.compress(b"\x0a\x00" * (30 * MB), compresslevel=9, mtime=0)
    assert len(bomb) < 64 << 10
    code, _, body = post_profile(url, bomb)
    assert code == LimitError.http_status and "--ui-max-input" in one_line_error(body), body
    # not a profile: the first bytes of an executable
    code, _, body = post_profile(url, binary[:4096])
    assert code == FormatError.http_status, body
    one_line_error(body)
    # nothing, and a bad build ID
    code, _, body = post_profile(url, b"")
    assert code == UsageError.http_status and "empty upload" in one_line_error(body)
    code, _, body = post_profile(url, hog("1.27").raw.read_bytes(), build="../../etc/passwd")
    assert code == UsageError.http_status, body
    # the server is still there, and kept nothing it refused
    assert http("GET", url + "/healthz")[0] == 200
    assert not prof_files(tmp_path / "prof")


def test_timeout_answers_and_the_server_stays(ui_store: Path, hog: Callable[[str], Hog], tmp_path: Path) -> None:
    with ServeProc(str(ui_store), "--no-upstream", "--ui-profiles", str(tmp_path / "prof"),
                   "--ui-timeout", "0.001") as s:
        t0 = time.monotonic()
        code, _, body = post_profile(s.url, hog("1.27").raw.read_bytes())
        assert code == LimitError.http_status and "--ui-timeout" in one_line_error(body), body
        assert time.monotonic() - t0 < 60
        assert http("GET", s.url + "/healthz")[0] == 200
        assert http("GET", s.url + "/ui/profiles")[0] == 200
        assert not prof_files(tmp_path / "prof")


def test_retention_limits_enforced_by_the_server(ui_store: Path, hog: Callable[[str], Hog], tmp_path: Path) -> None:
    prof = tmp_path / "prof"
    vs = variants(hog("1.27").raw, 4)
    with ServeProc(str(ui_store), "--no-upstream", "--ui-profiles", str(prof), "--ui-keep", "2") as s:
        links = []
        for v in vs[:3]:
            code, _, body = post_profile(s.url, v)
            assert code == 201, body
            links.append(json.loads(body)["url"])
            time.sleep(0.05)  # distinct upload times
        assert http("GET", s.url + links[0])[0] == NotFoundError.http_status  # the oldest was dropped
        assert all(http("GET", s.url + u)[0] == 200 for u in links[1:])
        assert len(prof_files(prof)) == 2
        # uploading the second again makes it the newest: the third is dropped next
        assert post_profile(s.url, vs[1])[0] == 201
        assert post_profile(s.url, vs[3])[0] == 201
        assert http("GET", s.url + links[2])[0] == NotFoundError.http_status
        assert http("GET", s.url + links[1])[0] == 200
    # bytes: room for two profiles (and their metadata), not three
    size = len(vs[0]) + 400
    prof2 = tmp_path / "prof2"
    with ServeProc(str(ui_store), "--no-upstream", "--ui-profiles", str(prof2), "--ui-keep-bytes",
                   str(2 * size)) as s:
        for v in vs[:3]:
            assert post_profile(s.url, v)[0] == 201
            time.sleep(0.05)
        kept = prof_files(prof2)
        assert len(kept) == 2 and sum(p.stat().st_size + p.with_suffix(".json").stat().st_size for p in kept) <= 2 * size
    # age: 2 seconds
    prof3 = tmp_path / "prof3"
    with ServeProc(str(ui_store), "--no-upstream", "--ui-profiles", str(prof3), "--ui-keep-days",
                   str(2 / 86400)) as s:
        code, _, body = post_profile(s.url, vs[0])
        assert code == 201
        url = json.loads(body)["url"]
        assert http("GET", s.url + url)[0] == 200
        time.sleep(2.5)
        code, _, body = http("GET", s.url + url)
        assert code == NotFoundError.http_status and b"expired" in body, body
        assert not prof_files(prof3)


def test_upload_and_read_policies(ui_store: Path, hog: Callable[[str], Hog], tmp_path: Path) -> None:
    data = hog("1.27").raw.read_bytes()
    with ServeProc(str(ui_store), "--no-upstream", "--ui-profiles", str(tmp_path / "p0"), "--ui-upload", "off") as s:
        code, _, body = post_profile(s.url, data)
        assert code == 403 and b"disabled" in body
        assert b"uploads are disabled" in http("GET", s.url + "/ui/profiles")[2]
    tf, write_tok = make_token(tmp_path, "ci", "write")
    read_tok = symkeep("store", "add-token", "viewer", "--token-file", str(tf), "--role", "read",
                       check=True).stdout.strip()

    def basic(tok: str) -> dict[str, str]:
        return {"Authorization": "Basic " + base64.b64encode(f"me:{tok}".encode()).decode()}

    with ServeProc(str(ui_store), "--no-upstream", "--ui-profiles", str(tmp_path / "p1"), "--token-file", str(tf),
                   "--ui-upload", "token") as s:
        code, hdr, _ = post_profile(s.url, data)
        assert code == 401 and hdr["WWW-Authenticate"].startswith("Basic")
        assert post_profile(s.url, data, headers=basic(read_tok))[0] == 401
        assert post_profile(s.url, data, headers=basic(write_tok))[0] == 201
        assert post_profile(s.url, data, headers={"Authorization": f"Bearer {write_tok}"})[0] == 201
        assert http("GET", s.url + "/ui/")[0] == 200  # reads stay anonymous
    with ServeProc(str(ui_store), "--no-upstream", "--ui-profiles", str(tmp_path / "p2"), "--token-file", str(tf),
                   "--read-token") as s:
        code, hdr, _ = http("GET", s.url + "/ui/")
        assert code == 401 and hdr["WWW-Authenticate"].startswith("Basic")
        assert http("GET", s.url + "/ui/", headers=basic("wrong"))[0] == 401
        assert http("GET", s.url + "/ui/", headers=basic(read_tok))[0] == 200
        assert post_profile(s.url, data)[0] == 401
        code, _, body = post_profile(s.url, data, headers=basic(read_tok))
        assert code == 201, body
        # another site's page posting with this browser's credentials
        for h in ({"Origin": "http://evil.example"}, {"Sec-Fetch-Site": "cross-site"}):
            code, _, body = post_profile(s.url, data, headers={**basic(read_tok), **h})
            assert code == 403 and b"cross-site" in body, (h, body)


def test_hostile_build_metadata_is_escaped(tmp_path: Path, hog: Callable[[str], Hog], buildid_tool: Path) -> None:
    """A binary whose build info names the module ``<script>x</script>`` (same length as the real path,
    so the build info stays valid: ``go version -m`` reads it back), with a markup revision, archived
    under a file name that is markup: every page shows the text, none carries the markup."""
    from fixtures.factory import toolchain

    evil = hostile_build(hog("1.21").binary, tmp_path / "bin")
    evil_rev = EVIL_REVISION
    gv = subprocess.run([str(toolchain("1.27").go), "version", "-m", str(evil)], capture_output=True, text=True,
                        timeout=60)
    assert "\tpath\t<script>x</script>" in gv.stdout and evil_rev.decode() in gv.stdout, gv.stdout + gv.stderr
    store = tmp_path / "store"
    symkeep("archive", "--store", str(store), str(evil), check=True)
    go_id = go_build_id(buildid_tool, evil)
    with ServeProc(str(store), "--no-upstream", "--ui-profiles", str(tmp_path / "prof")) as s:
        pages = [http("GET", s.url + p) for p in
                 ("/ui/", f"/ui/build?id={quote(go_id, safe='')}", "/ui/?q=" + quote("<script>x</script>"),
                  "/ui/?q=" + quote('"><script>y</script>'))]
        for code, _, body in pages:
            assert code == 200, body[:300]
            assert b"<script>x" not in body and b"<script>y" not in body and b"<img" not in body, body
        assert b"&lt;script&gt;x&lt;/script&gt;" in pages[0][2] and b"&lt;script&gt;x&lt;/script&gt;" in pages[1][2]
        assert b"&lt;img src=x onerror=alert(2)&gt;" in pages[0][2]
        assert b"&lt;img/src=x/onerror=alert(1)&gt;" in pages[1][2]
        # inspect's advice names the archived file, shell-quoted (a command that can be pasted)
        assert b"symkeep restore &#x27;&lt;img src=x onerror=alert(2)&gt;&#x27; -o" in pages[1][2]
        assert b"1 of 1 builds match" in pages[2][2]
        assert b'value="&quot;&gt;&lt;script&gt;y&lt;/script&gt;"' in pages[3][2]


def test_ui_on_an_s3_store(seaweed: object, hog: Callable[[str], Hog], tmp_path: Path,
                           monkeypatch: pytest.MonkeyPatch) -> None:
    store = seaweed.new_store()  # type: ignore[attr-defined]
    h = hog("1.27")
    symkeep("archive", "--store", store, str(h.binary), check=True)
    with ServeProc(store, "--no-upstream", "--ui-profiles", str(tmp_path / "prof"),
                   "--cache-dir", str(tmp_path / "cache")) as s:
        code, _, body = post_profile(s.url, h.raw.read_bytes())
        assert code == 201, body
        m = [m for m in json.loads(body)["summary"]["symbolize"]["mappings"] if m["kind"] == "file"][0]
        assert m["verified"] and m["symbolized"] == m["locations"] > 0
        code, _, page = http("GET", s.url + "/ui/?q=" + gnu_build_id_readelf(h.binary))
        assert code == 200 and b"1 of 1 builds match" in page


def test_perf_script_upload_for_a_build(ui_server: ServeProc, hog: Callable[[str], Hog], tmp_path: Path,
                                        gotool: Callable[[str, str], Path]) -> None:
    """``perf script`` text of the stripped binary (hex addresses only: perf cannot name them) carries
    no build IDs: posted for the build (``build=``), it is symbolized with the stored executable."""
    import os
    import shutil

    from fixtures.env import require_tool, unavailable

    require_tool("perf")
    h = hog("1.27")
    exe = tmp_path / "cpuhog"
    shutil.copy(h.binary, exe)
    home = tmp_path / "home"
    home.mkdir()
    env = dict(os.environ, HOME=str(home))  # an empty perf build-id cache: perf sees only the stripped file
    data = tmp_path / "perf.data"
    inproc = tmp_path / "inproc.pprof"
    rec = subprocess.run(["perf", "record", "-e", "cpu-clock", "-g", "-o", str(data), str(exe), str(inproc), "1"],
                         capture_output=True, text=True, env=env, timeout=120)
    if rec.returncode != 0:
        unavailable(f"perf record not permitted here: {rec.stderr.strip()[-200:]}")
    text = subprocess.run(["perf", "script", "-i", str(data)], capture_output=True, env=env, check=True,
                          timeout=120).stdout
    assert b"main.spin" not in text  # perf itself could not name the stripped binary's frames
    gnu = gnu_build_id_readelf(h.binary)
    code, _, body = post_profile(ui_server.url, text, name="perf.txt", build=gnu)
    assert code == 201, body
    ans = json.loads(body)
    assert ans["summary"]["input_format"] == "perf"
    m = [m for m in ans["summary"]["symbolize"]["mappings"] if m["kind"] == "file"]
    assert len(m) == 1 and m[0]["verified"] is False and "not checked" in m[0]["found_by"], m
    assert m[0]["symbolized"] == m[0]["locations"] > 0, m
    code, _, page = http("GET", ui_server.url + ans["url"])
    assert code == 200
    top = subprocess.run([str(gotool("1.27", "pprof")), "-top", str(inproc)], capture_output=True, text=True,
                         timeout=120, env=dict(os.environ, HOME=str(home)), check=True).stdout
    names = {m.group(1) for m in re.finditer(r"%\s+(main\.\S+)(?: \(inline\))?$", top, re.MULTILINE)}
    assert "main.spin" in names and "main.mix" in names, top
    for name in names:  # every main function the runtime named is drawn
        assert f'"{name}"'.encode() in page, name
