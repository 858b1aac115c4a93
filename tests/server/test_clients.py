"""Real debuginfod clients against `symkeep serve`, on a directory store and on S3 (SeaweedFS).

Every store is served by two replicas; files are uploaded through the first (``archive --server``) and
fetched from the second. Ground truth: the archived files themselves, `readelf -n` build IDs, sections
dumped by binutils `objcopy`, symbol names from the unstripped twin.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from fixtures.env import require_tool, unavailable
from server.harness import (
    cli_env,
    debuginfod_find,
    dump_section,
    gnu_build_id_readelf,
    go_build_id_objcopy,
    http,
    replicas,
    symkeep,
)


def _archive(server: str, token: str, *paths: Path) -> None:
    symkeep("archive", "--server", server, *map(str, paths), env=cli_env(SYMKEEP_TOKEN=token), check=True)


def test_debuginfod_find_gnu_and_go_build_ids(store_url: str, fixture: Callable[..., Path], tmp_path: Path) -> None:
    require_tool("debuginfod-find")
    sw = fixture(variant="sw", toolchain="1.27")  # GNU build-id (Go 1.24+) and Go build ID
    go_only = fixture(variant="sw", toolchain="1.21")  # Go build ID only
    dwarf = fixture(variant="default", toolchain="1.27")
    stripped, dbg = tmp_path / "hello.stripped", tmp_path / "hello.debug"
    symkeep("split", str(dwarf), "-o", str(stripped), "--debug-out", str(dbg), check=True)
    with replicas(store_url, tmp_path) as (servers, tok):
        up, down = servers[0].url, servers[-1].url
        _archive(up, tok, sw, go_only, stripped, dbg)
        n = iter(range(100))

        def find(*args: str) -> bytes:
            r = debuginfod_find(down, tmp_path / f"c{next(n)}", *args)
            assert r.returncode == 0, (args, r.stderr)
            return Path(r.stdout.strip()).read_bytes()

        # GNU build-id
        gnu = gnu_build_id_readelf(sw)
        assert find("section", gnu, ".note.go.buildid") == dump_section(sw, ".note.go.buildid", tmp_path)
        assert find("executable", gnu) == sw.read_bytes()
        split_id = gnu_build_id_readelf(dwarf)
        assert find("debuginfo", split_id) == dbg.read_bytes()
        assert find("executable", split_id) == stripped.read_bytes()
        assert find("section", split_id, ".debug_line") == dump_section(dbg, ".debug_line", tmp_path)
        # Go build ID (debuginfod-find passes the ID through unchanged: '/' must be sent as %2F)
        go_id = go_build_id_objcopy(go_only, tmp_path)
        assert "/" in go_id
        q = go_id.replace("/", "%2F")
        assert find("executable", q) == go_only.read_bytes()
        assert find("section", q, ".gopclntab") == dump_section(go_only, ".gopclntab", tmp_path)
        syn = tmp_path / "go_only.debug"
        symkeep("restore", str(go_only), "-o", str(syn), check=True)
        assert find("debuginfo", q) == syn.read_bytes()  # what archive stored: the synthesized file
        st, hdr, _ = http("HEAD", f"{down}/buildid/{q}/debuginfo")
        assert st == 200 and hdr.get("X-Symkeep-Synthesized") == "1"
        assert int(hdr["X-DEBUGINFOD-SIZE"]) == syn.stat().st_size
        # the same build by the GNU ID of the 1.27 binary and by its Go ID
        go27 = go_build_id_objcopy(sw, tmp_path).replace("/", "%2F")
        assert find("executable", go27) == sw.read_bytes()
        # a raw '/' in the argument is refused by debuginfod-find itself (it takes it for a file name)
        r = debuginfod_find(down, tmp_path / "raw", "executable", go_id)
        assert r.returncode != 0


def test_gdb_named_backtrace(store_url: str, fixture: Callable[..., Path], tmp_path: Path) -> None:
    require_tool("gdb")
    sw = fixture(variant="sw", toolchain="1.27", program="cpuhog")
    exe = tmp_path / "cpuhog"
    shutil.copy2(sw, exe)
    home = tmp_path / "home"
    home.mkdir()
    with replicas(store_url, tmp_path) as (servers, tok):
        _archive(servers[0].url, tok, exe)
        env = cli_env(DEBUGINFOD_URLS=servers[-1].url, DEBUGINFOD_CACHE_PATH=str(tmp_path / "dc"), HOME=str(home))

        def gdb(*ex: str, debuginfod: bool = True) -> str:
            cmd = ["gdb", "-batch", "-nx", "-iex", f"set debuginfod enabled {'on' if debuginfod else 'off'}"]
            for e in ex:
                cmd += ["-ex", e]
            r = subprocess.run([*cmd, str(exe)], capture_output=True, text=True, env=env, timeout=300)
            return r.stdout + r.stderr

        before = gdb("break main.leaf", debuginfod=False)
        assert "No symbol table is loaded" in before, before
        out = gdb("break main.leaf", f"run {tmp_path / 'x.prof'} 0.2", "bt")
        assert "Breakpoint 1 at" in out, out
        frames = [ln for ln in out.splitlines() if ln.startswith("#")]
        assert frames and "main.leaf" in frames[0] and "main.go:" in frames[0], out
        assert "main.spin" in frames[1] and any("main.main" in f for f in frames[1:]), out


def _perf_ok() -> bool:
    if shutil.which("perf") is None:
        return False
    r = subprocess.run(["perf", "record", "-e", "cpu-clock", "-o", "/dev/null", "true"], capture_output=True)
    return r.returncode == 0


def test_perf_report_names_functions(store_url: str, fixture: Callable[..., Path], tmp_path: Path) -> None:
    """perf (Debian's is built without debuginfod support) names a -s -w binary's functions once the debug
    file fetched from symkeep by debuginfod-find is in its build-id cache."""
    require_tool("debuginfod-find")
    if not _perf_ok():
        unavailable("perf is missing or cannot record here (needs perf_event access)")
    exe = tmp_path / "cpuhog"
    shutil.copy2(fixture(variant="sw", toolchain="1.27", program="cpuhog"), exe)
    home = tmp_path / "home"
    home.mkdir()
    env = cli_env(HOME=str(home))
    data = tmp_path / "perf.data"
    subprocess.run(["perf", "record", "-N", "-e", "cpu-clock", "-o", str(data), str(exe), str(tmp_path / "x.prof"), "1"],
                   env=env, check=True, capture_output=True, timeout=120)

    def report() -> str:
        return subprocess.run(["perf", "report", "-i", str(data), "--stdio", "--no-children", "--sort", "sym"],
                              env=env, capture_output=True, text=True, timeout=120).stdout

    assert "main.spin" not in report()
    with replicas(store_url, tmp_path) as (servers, tok):
        _archive(servers[0].url, tok, exe)
        r = debuginfod_find(servers[-1].url, tmp_path / "dc", "debuginfo", str(exe), home=home)
        assert r.returncode == 0, r.stderr
    subprocess.run(["perf", "buildid-cache", "-a", r.stdout.strip()], env=env, check=True, capture_output=True)
    after = report()
    first = next(ln for ln in after.splitlines() if ln.strip() and not ln.startswith("#") and "%" in ln)
    assert "main.spin" in first, after[:2000]


def test_metadata_metrics_healthz(tmp_path: Path, fixture: Callable[..., Path]) -> None:
    import json

    sw = fixture(variant="sw", toolchain="1.27")
    with replicas(str(tmp_path / "store"), tmp_path, n=1) as (servers, tok):
        url = servers[0].url
        _archive(url, tok, sw)
        st, _, body = http("GET", f"{url}/metadata?key=file&value={sw}")
        res = json.loads(body)["results"]
        assert st == 200 and [r["type"] for r in res] == ["executable"]
        assert res[0]["buildid"] == gnu_build_id_readelf(sw)
        st, _, body = http("GET", f"{url}/metadata?key=glob&value=*{sw.name[:12]}*")
        assert st == 200 and len(json.loads(body)["results"]) == 2
        st, _, body = http("GET", f"{url}/metadata?key=nope&value=x")
        assert st == 400
        http("GET", f"{url}/buildid/{gnu_build_id_readelf(sw)}/executable")
        st, hdr, body = http("GET", f"{url}/metrics")
        text = body.decode()
        assert st == 200 and 'endpoint="executable",method="GET",code="200"} 1' in text
        assert "symkeep_http_request_duration_seconds_bucket" in text
        assert f'endpoint="executable"}} {sw.stat().st_size}' in text
        st, _, body = http("GET", f"{url}/healthz")
        assert st == 200 and body == b"ok\n"
    assert os.path.exists(tmp_path / "store" / "index.sqlite")


def test_sources_and_on_demand_synthesis(fixture: Callable[..., Path], tmp_path: Path) -> None:
    """`archive --sources` + `debuginfod-find source`; /debuginfo of an executable archived without a debug
    file is synthesized on the first request (what `symkeep restore` writes), marked by a header."""
    require_tool("debuginfod-find")
    full = fixture(variant="default", toolchain="1.27")
    sw = fixture(variant="sw", toolchain="1.21")
    store = tmp_path / "store"
    main_go = next(ln.split('"')[1] for ln in subprocess.run(
        ["gdb", "-batch", "-nx", "-ex", "info line main.main", str(full)], capture_output=True, text=True,
        timeout=120).stdout.splitlines() if ln.startswith("Line "))
    assert Path(main_go).is_file()
    symkeep("archive", "--store", str(store), "--sources", "--source-root", str(Path(main_go).parent), str(full),
            check=True)
    symkeep("archive", "--store", str(store), "--no-synthesize", str(sw), check=True)
    with replicas(str(store), tmp_path, n=1) as (servers, _):
        url = servers[0].url
        r = debuginfod_find(url, tmp_path / "c", "source", gnu_build_id_readelf(full), main_go)
        assert r.returncode == 0, r.stderr
        assert Path(r.stdout.strip()).read_bytes() == Path(main_go).read_bytes()
        r = debuginfod_find(url, tmp_path / "c", "source", gnu_build_id_readelf(full), "/etc/passwd")
        assert r.returncode != 0
        go_id = go_build_id_objcopy(sw, tmp_path).replace("/", "%2F")
        st, hdr, body = http("GET", f"{url}/buildid/{go_id}/debuginfo")
        assert st == 200 and hdr.get("X-Symkeep-Synthesized") == "1"
        ref = tmp_path / "ref.debug"
        symkeep("restore", str(sw), "-o", str(ref), check=True)
        assert body == ref.read_bytes()
