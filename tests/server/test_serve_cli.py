"""`symkeep serve` / `archive --server` refuse bad options with one line and the documented exit code."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from server.harness import ServeProc, cli_env, symkeep


def test_bad_options(tmp_path: Path) -> None:
    cases = [
        (["serve", "--listen", "nonsense"], 2, "bad --listen"),
        (["serve", "--store", "ftp://x/y", "--listen", "127.0.0.1:0"], 2, "bad store URL"),
        (["serve", "--store", str(tmp_path / "s"), "--token-file", str(tmp_path / "missing"),
          "--listen", "127.0.0.1:0"], 3, "no such file"),
        (["serve", "--store", str(tmp_path / "s"), "--read-token", "--listen", "127.0.0.1:0"], 2, "needs tokens"),
        (["serve", "--max-upload", "lots"], 2, "--max-upload"),
    ]
    (tmp_path / "notastore").mkdir()
    (tmp_path / "notastore" / "file").write_text("x")
    cases.append((["store", "verify", "--store", str(tmp_path / "notastore")], 2, "not a symkeep store"))
    bad_tokens = tmp_path / "tokens"
    bad_tokens.write_text("alice write md5:abc\n")
    cases.append((["serve", "--store", str(tmp_path / "s"), "--token-file", str(bad_tokens),
                   "--listen", "127.0.0.1:0"], 2, "NAME ROLE sha256:HEX"))
    for args, code, text in cases:
        r = symkeep(*args, timeout=60)
        assert r.returncode == code, (args, r.returncode, r.stderr)
        assert text in r.stderr and "Traceback" not in r.stderr, (args, r.stderr)
        assert len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_archive_through_server_with_env_token(fixture: Callable[..., Path], tmp_path: Path) -> None:
    sw = fixture(variant="sw", toolchain="1.27")
    d = tmp_path / "bins"
    d.mkdir()
    (d / "hello").write_bytes(sw.read_bytes())
    r = symkeep("archive", "--server", "http://127.0.0.1:1", str(d))  # a directory: still fails at once
    assert r.returncode == 8 and r.stderr.strip().splitlines()[-1].startswith("symkeep: error: upload to")
    store = tmp_path / "s"
    env = cli_env(SYMKEEP_TOKENS="ci:s3cret")
    with ServeProc(str(store), "--no-upstream", env=env) as s:
        r = symkeep("archive", "--server", s.url, "--no-synthesize", str(sw), "--json")
        assert r.returncode == 2 and "missing bearer token" in r.stderr
        r = symkeep("archive", "--server", s.url, "--token", "wrong", "--no-synthesize", str(sw))
        assert r.returncode == 2 and "invalid token" in r.stderr
        r = symkeep("archive", "--server", s.url, "--no-synthesize", str(sw), "--json",
                    env=cli_env(SYMKEEP_TOKEN="s3cret"))
        assert r.returncode == 0, r.stderr
        assert {x["status"] for x in json.loads(r.stdout)["results"]} == {"stored"}
    recs = [json.loads(x) for x in symkeep("store", "ls", "--store", str(store), "--json").stdout.splitlines()]
    assert recs and all(x["uploader"] == "ci" for x in recs)
    # the executable as sent, and the symbol index the server built from it (never sent by the client)
    assert {(x["kind"], x["file"]) for x in recs} == {("executable", str(sw)), ("index", str(sw) + ".symidx")}
