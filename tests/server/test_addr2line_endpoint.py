"""``POST /addr2line`` on a real 2-worker ``symkeep serve``: the answer is byte for byte what
``symkeep addr2line -e BIN`` prints for the same input, and its outer names are ``go tool addr2line``'s."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

import pytest

from fixtures.twins import go_addr2line
from server.api_fixtures import ApiHog
from server.harness import ServeProc, cli_env, http
from symkeep.binfmt import open_binary
from symkeep.golang.buildid import build_ids
from symkeep.symbolize import open_go_binary


def _pcs(binary: Path, n: int = 3000, seed: int = 13) -> list[int]:
    """Entries and random PCs inside functions (not the alignment padding go tool names with :-1)."""
    gob = open_go_binary(binary)
    fns = list(gob.functions())
    rnd = random.Random(seed)
    pcs = [f.entry for f in fns[:: max(1, len(fns) // 500)]]
    while len(pcs) < n:
        f = rnd.choice(fns)
        pc = rnd.randrange(f.entry, f.end)
        if gob.lookup(pc):
            pcs.append(pc)
    return pcs


def _input(pcs: list[int]) -> bytes:
    hostile = ["zz", "0x0x10", "+4010", "-1", "1_0", "٣", "0x" + "f" * 300, "0xffffffffffffffffff"]
    toks = [f"{pc:#x}" if k % 3 else f"{pc:x}" for k, pc in enumerate(pcs)] + hostile
    return ("\n".join(toks[: len(toks) // 2]) + " \t" + " ".join(toks[len(toks) // 2:]) + "\n").encode()


def _cli(binary: Path, args: list[str], stdin: bytes) -> bytes:
    r = subprocess.run([sys.executable, "-m", "symkeep", "addr2line", "-e", str(binary), *args], input=stdin,
                       capture_output=True, env=cli_env(), timeout=300)
    assert r.returncode == 0, r.stderr
    return r.stdout


FLAGS = [
    ([], ""),
    (["-f"], "functions=1"),
    (["-f", "-i"], "functions=1&inlines=1"),
    (["-a", "-f", "-i", "-p"], "addresses=1&functions=1&inlines=1&pretty=1"),
    (["-a", "-f"], "addresses&functions"),
    (["--json"], "json=1"),
    (["--json", "--return-addresses"], "json=1&return_addresses=1"),
    (["-f", "-i", "--offset"], "functions=1&inlines=1&offsets=1"),
]


@pytest.mark.parametrize("args,query", FLAGS)
def test_equals_cli(api_server: ServeProc, api_hog: Callable[[str], ApiHog], args: list[str], query: str) -> None:
    hog = api_hog("1.27")
    body = _input(_pcs(hog.binary))
    gnu = build_ids(open_binary(hog.binary)).gnu
    st, hdr, got = http("POST", f"{api_server.url}/addr2line?build_id={gnu}&{query}", body,
                        {"Content-Type": "text/plain"})
    assert st == 200, got[:300]
    assert got == _cli(hog.binary, args, body)
    assert hdr["Content-Type"].startswith("application/x-ndjson" if "json" in query else "text/plain")


def test_outer_names_equal_go_tool_addr2line(api_server: ServeProc, api_hog: Callable[[str], ApiHog],
                                             gotool: Callable[[str, str], Path]) -> None:
    for tc in ("1.27", "1.21"):
        hog = api_hog(tc)
        pcs = _pcs(hog.binary, 2000)
        ids = build_ids(open_binary(hog.binary))
        bid = ids.gnu or ids.go
        assert bid
        st, _, got = http("POST", f"{api_server.url}/addr2line?build_id={quote(bid, safe='')}&json=1",
                          "".join(f"{pc:#x}\n" for pc in pcs).encode())
        assert st == 200, got[:300]
        rows = [json.loads(x) for x in got.splitlines()]
        want = go_addr2line(gotool(tc, "addr2line"), hog.binary, pcs)
        assert len(rows) == len(want) == len(pcs)
        for pc, row, (name, _file, line) in zip(pcs, rows, want, strict=True):
            assert row["frames"], hex(pc)
            assert row["frames"][-1]["function"] == name, (tc, hex(pc))
            if line > 0:  # -1: past the function's line table (HACKING: symkeep answers the name with ??:0)
                assert row["frames"][0]["line"] == line, (tc, hex(pc))


def test_json_body_equals_cli_arguments(api_server: ServeProc, api_hog: Callable[[str], ApiHog]) -> None:
    hog = api_hog("1.27")
    pcs = _pcs(hog.binary, 50)
    toks = [f"{pc:#x}" for pc in pcs] + ["zz", "0x 1", "٣"]
    gnu = build_ids(open_binary(hog.binary)).gnu
    st, _, got = http("POST", f"{api_server.url}/addr2line?build_id={gnu}&functions=1&inlines=1&addresses=1",
                      json.dumps(toks).encode(), {"Content-Type": "application/json"})
    assert st == 200, got
    r = subprocess.run([sys.executable, "-m", "symkeep", "addr2line", "-e", str(hog.binary), "-f", "-i", "-a", *toks],
                       capture_output=True, env=cli_env(), timeout=120)
    assert r.returncode == 0 and got == r.stdout
    st, _, got = http("POST", f"{api_server.url}/addr2line?build_id={gnu}&json=1", json.dumps(pcs).encode(),
                      {"Content-Type": "application/json"})  # integers are addresses
    assert st == 200 and [json.loads(x)["address"] for x in got.splitlines()] == [hex(pc) for pc in pcs]


def test_errors(api_server: ServeProc, api_hog: Callable[[str], ApiHog]) -> None:
    hog = api_hog("1.27")
    gnu = build_ids(open_binary(hog.binary)).gnu
    u = api_server.url + "/addr2line"
    cases = [
        (f"{u}?build_id=0123456789abcdef0123456789abcdef01234567", b"0x1", {}, 404, "FOUNDERROR"),
        (u, b"0x1", {}, 400, "USAGEERROR"),
        (f"{u}?build_id=..%2F..%2Fetc", b"0x1", {}, 400, "USAGEERROR"),
        (f"{u}?build_id={gnu}&functions=maybe", b"0x1", {}, 400, "USAGEERROR"),
        (f"{u}?build_id={gnu}", b"[1, {}]", {"Content-Type": "application/json"}, 422, "FORMATERROR"),
        (f"{u}?build_id={gnu}", b"[1, 2", {"Content-Type": "application/json"}, 422, "FORMATERROR"),
    ]
    for url, body, headers, status, cls in cases:
        st, hdr, got = http("POST", url, body, headers)
        assert st == status, (url, st, got)
        assert got.startswith(b"symkeep: error: ") and got.count(b"\n") == 1, got
        assert hdr["X-Symkeep-Error"].upper().endswith(cls), hdr
    st, _, got = http("POST", f"{u}?build_id={gnu}", b"")
    assert st == 200 and got == b""
