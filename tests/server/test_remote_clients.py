"""``symkeep symbolize --server`` and ``symkeep addr2line --server`` print what the local commands print
(same bytes on stdout, same summary on stderr, same exit codes), against a real 2-worker server."""

from __future__ import annotations

import gzip
import random
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from server.api_fixtures import ApiHog
from server.harness import ServeProc, cli_env
from symkeep.binfmt import open_binary
from symkeep.golang.buildid import build_ids
from symkeep.symbolize import open_go_binary


def run(*args: str, stdin: bytes | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "symkeep", *args], input=stdin, capture_output=True,
                          env=env or cli_env(), timeout=300)


@pytest.mark.parametrize("args", [[], ["--format", "folded"], ["--no-gzip", "--json"],
                                  ["--format", "folded", "--lines", "--kernel-suffix", "_K"]])
def test_symbolize_same_as_local(api_server: ServeProc, api_store: Path, api_hog: Callable[[str], ApiHog],
                                 tmp_path: Path, args: list[str]) -> None:
    raw = api_hog("1.27").raw
    loc = run("symbolize", str(raw), "--store", str(api_store), "--no-debuginfod", "-o", str(tmp_path / "l"), *args)
    rem = run("symbolize", str(raw), "--server", api_server.url, "-o", str(tmp_path / "r"), *args)
    assert loc.returncode == rem.returncode == 0, rem.stderr
    assert (tmp_path / "l").read_bytes() == (tmp_path / "r").read_bytes()
    assert loc.stdout == rem.stdout and loc.stderr == rem.stderr
    assert b"store (build ID)" in (rem.stdout + rem.stderr)
    # stdin, streamed (chunked), output on stdout; the server from $SYMKEEP_SERVER
    fmt = ["--format", "folded"] if "folded" in args else []
    env = cli_env(SYMKEEP_SERVER=api_server.url)
    r1 = run("symbolize", "-", "-q", *fmt, stdin=raw.read_bytes(), env=env)
    r2 = run("symbolize", "-", "-q", "--store", str(api_store), "--no-debuginfod", "--server", "", *fmt,
             stdin=raw.read_bytes(), env=env)  # --server '' wins over the environment: local
    assert r1.returncode == r2.returncode == 0, (r1.stderr, r2.stderr)
    assert r1.stdout == r2.stdout and r1.stdout


def test_symbolize_errors_same_exit_codes(api_server: ServeProc, api_store: Path, api_hog: Callable[[str], ApiHog],
                                          tmp_path: Path) -> None:
    raw = gzip.decompress(api_hog("1.27").raw.read_bytes())
    bad = tmp_path / "cut.pb"
    bad.write_bytes(raw[: len(raw) // 2])
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    for f in (bad, empty):
        loc = run("symbolize", str(f), "--store", str(api_store), "--no-debuginfod", "-o", str(tmp_path / "o"))
        rem = run("symbolize", str(f), "--server", api_server.url, "-o", str(tmp_path / "o"))
        assert loc.returncode == rem.returncode == 6, (loc.stderr, rem.stderr)
        assert rem.stderr.startswith(b"symkeep: error: ") and rem.stderr.count(b"\n") == 1
    r = run("symbolize", str(bad), "--server", "http://127.0.0.1:1", "-o", str(tmp_path / "o"))
    assert r.returncode == 8 and r.stderr.startswith(b"symkeep: error: server http://127.0.0.1:1")
    r = run("symbolize", str(bad), "--server", api_server.url, "--binary", str(api_hog("1.27").binary))
    assert r.returncode == 2 and b"--binary cannot be used with --server" in r.stderr
    r = run("symbolize", str(tmp_path / "missing"), "--server", api_server.url, "-o", str(tmp_path / "o"))
    assert r.returncode == 3
    r = run("symbolize", str(bad), "--server", "ftp://x", "-o", str(tmp_path / "o"))
    assert r.returncode == 2


def test_addr2line_same_as_local(api_server: ServeProc, api_hog: Callable[[str], ApiHog]) -> None:
    for tc in ("1.27", "1.21"):  # GNU build-id, Go build ID only
        hog = api_hog(tc)
        gob = open_go_binary(hog.binary)
        fns = list(gob.functions())
        rnd = random.Random(7)
        # 400k tokens (~3.6 MB through a pipe): several batches, several requests on one connection
        toks = [f"{rnd.randrange(f.entry, f.end):x}" for f in (rnd.choice(fns) for _ in range(400_000))]
        toks[::997] = ["zz"] * len(toks[::997])
        stdin = ("\n".join(toks) + "\n").encode()
        for flags in ([], ["-f", "-i", "-a"], ["--json", "--return-addresses"]):
            loc = run("addr2line", "-e", str(hog.binary), *flags, stdin=stdin)
            rem = run("addr2line", "-e", str(hog.binary), "--server", api_server.url, *flags, stdin=stdin)
            assert loc.returncode == rem.returncode == 0, rem.stderr
            assert loc.stdout == rem.stdout, (tc, flags)
        args = toks[:20] + ["0x 1"]
        loc = run("addr2line", "-e", str(hog.binary), "-f", "-p", *args)
        ids = build_ids(open_binary(hog.binary))
        rem = run("addr2line", "--build-id", ids.gnu or ids.go or "", "-f", "-p", *args,
                  env=cli_env(SYMKEEP_SERVER=api_server.url))
        assert loc.returncode == rem.returncode == 0 and loc.stdout == rem.stdout, rem.stderr


def test_addr2line_errors(api_server: ServeProc, api_hog: Callable[[str], ApiHog], fixture: Callable[..., Path]) -> None:
    other = fixture(variant="sw", toolchain="1.27", program="hello")  # not archived
    r = run("addr2line", "-e", str(other), "--server", api_server.url, "0x401000")
    assert r.returncode == 1 and b"not in the store" in r.stderr and r.stderr.count(b"\n") == 1
    r = run("addr2line", "-e", str(other), "--server", "http://127.0.0.1:1", "0x401000")
    assert r.returncode == 8 and r.stderr.count(b"\n") == 1
    r = run("addr2line", "--build-id", "abcdef0123", "0x1")
    assert r.returncode == 2  # --build-id needs a server
    r = run("addr2line", "0x1")
    assert r.returncode == 2 and b"-e" in r.stderr
    r = run("addr2line", "--server", api_server.url, "--build-id", "../x", "0x1")
    assert r.returncode == 2 and r.stderr.startswith(b"symkeep: error: ")


def test_perf_script_with_perf_data(api_server: ServeProc, api_store: Path, api_hog: Callable[[str], ApiHog],
                                    tmp_path: Path) -> None:
    """`perf script` text carries no build IDs: with --perf-data the client sends perf.data's (read locally)
    and the server gives them to the mappings, as the local command does; same output, same summary. The
    recorded binary is deleted afterwards, so the local command too finds it only in the store."""
    import os
    import shutil

    from fixtures.env import require_tool
    from fixtures.perfrec import perf_record_script

    require_tool("perf")
    exe = tmp_path / "cpuhog"
    shutil.copy(api_hog("1.27").binary, exe)
    home = tmp_path / "home"
    home.mkdir()
    env = dict(os.environ, HOME=str(home))  # an empty perf build-id cache
    data = tmp_path / "perf.data"
    txt = tmp_path / "perf.txt"
    perf_record_script([str(exe), str(tmp_path / "x"), "0.5"], data, txt, env)
    exe.unlink()
    for fmt in (["--format", "folded"], []):
        loc = run("symbolize", str(txt), "--perf-data", str(data), "--store", str(api_store), "--no-debuginfod",
                  "-o", str(tmp_path / "l"), *fmt)
        rem = run("symbolize", str(txt), "--perf-data", str(data), "--server", api_server.url,
                  "-o", str(tmp_path / "r"), *fmt)
        assert loc.returncode == rem.returncode == 0, rem.stderr
        assert (tmp_path / "l").read_bytes() == (tmp_path / "r").read_bytes()
        assert loc.stderr == rem.stderr and b"input: perf" in rem.stderr
        assert b"found by store (build ID), build ID checked" in rem.stderr
        if fmt:
            assert b"main.spin;main.mix_[i]" in (tmp_path / "r").read_bytes()
    # without perf.data the server cannot tell which build the text names
    rem = run("symbolize", str(txt), "--server", api_server.url, "--format", "folded", "-o", str(tmp_path / "r"))
    assert rem.returncode == 0 and b"records no build ID" in rem.stderr
