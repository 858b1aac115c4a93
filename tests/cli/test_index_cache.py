"""The symbol index cache as a user meets it: `symkeep addr2line` builds it on first use, answers from it
afterwards (without importing click or numpy), and is never fooled by a rebuilt binary with the same
build IDs, a binary overwritten in place, or a damaged index file: the answers stay those of the binary
on disk (checked against the uncached run and `go tool addr2line`)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from fixtures.factory import go_tool
from policy.builds import custom
from symkeep.binfmt import open_binary
from symkeep.golang.buildid import build_ids
from symkeep.symbolize import open_go_binary

SAME_IDS = "-buildid=symkeep-test/same -B 0x5eed5eed5eed5eed"


def run(args: list[str], env: dict[str, str], stdin: bytes = b"", probe: bool = False) -> subprocess.CompletedProcess[bytes]:
    """`python -m symkeep ARGS`; with ``probe`` the child also prints which heavy modules it imported."""
    boot = ("import sys, atexit\n"
            "atexit.register(lambda: sys.stderr.write('MODULES ' + ' '.join(m for m in ('click', 'numpy') "
            "if m in sys.modules) + '\\n'))\n" if probe else "import sys\n")
    boot += "sys.argv[0] = 'symkeep'\nfrom symkeep.cli import main\nmain()\n"
    return subprocess.run([sys.executable, "-c", boot, *args], input=stdin, capture_output=True, env=env, timeout=120)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    e = dict(os.environ)
    e["SYMKEEP_CACHE"] = str(tmp_path / "cache")
    e.pop("SYMKEEP_SERVER", None)
    return e


def _pcs(path: Path, n: int = 400) -> bytes:
    with open_go_binary(path) as g:
        ents = g.entries.tolist()
    step = max(1, (len(ents) - 1) // n)
    return b"".join(b"0x%x\n0x%x\n" % (ents[i] + 3, ents[i]) for i in range(0, len(ents) - 1, step))


def _index_files(env: dict[str, str]) -> list[Path]:
    return sorted((Path(env["SYMKEEP_CACHE"]) / "index").glob("*.symidx"))


def test_first_run_builds_warm_run_skips_click_and_numpy(fixture, env: dict[str, str], tmp_path: Path) -> None:
    b = fixture(toolchain="1.27", variant="sw", program="callers")
    pcs = _pcs(b)
    want = run(["addr2line", "-f", "-i", "-e", str(b), "--no-cache"], env, pcs)
    assert want.returncode == 0 and not _index_files(env)  # --no-cache writes nothing
    cold = run(["addr2line", "-f", "-i", "-e", str(b)], env, pcs, probe=True)
    assert cold.stdout == want.stdout and len(_index_files(env)) == 1
    assert b"click" in cold.stderr  # the first run goes through the click command (and builds)
    warm = run(["addr2line", "-f", "-i", "-e", str(b)], env, pcs, probe=True)
    assert warm.returncode == 0 and warm.stdout == want.stdout
    assert warm.stderr.strip() == b"MODULES", warm.stderr  # neither click nor numpy imported
    # the warm answers' outermost functions are the Go tool's names for the same PCs
    js = run(["addr2line", "--json", "-e", str(b)], env, pcs, probe=True)
    assert b"numpy" not in js.stderr
    outer = [(json.loads(ln)["frames"] or [{"function": "?"}])[-1]["function"] for ln in js.stdout.splitlines()]
    go = subprocess.run([str(go_tool("1.27", "addr2line")), str(b)], input=pcs, capture_output=True, check=True)
    go_names = go.stdout.decode().splitlines()[0::2]
    assert len(go_names) == len(outer) == pcs.count(b"\n")
    assert [g for g, o in zip(go_names, outer, strict=True) if o != "?" and g != o] == []
    assert sum(1 for o in outer if o != "?") > len(outer) * 0.9

def test_rebuilt_binary_with_the_same_build_ids_never_meets_the_old_index(env: dict[str, str], tmp_path: Path) -> None:
    a = custom("callers", name="same-ids-a", ldflags=SAME_IDS)
    b = custom("hello", name="same-ids-b", ldflags=SAME_IDS)
    with open_binary(a) as ba, open_binary(b) as bb:
        ia, ib = build_ids(ba), build_ids(bb)
    assert (ia.gnu, ia.go) == (ib.gnu, ib.go) and ia.go  # same build IDs, different programs
    assert a.read_bytes() != b.read_bytes()
    target = tmp_path / "svc"
    shutil.copy(a, target)
    pcs = _pcs(a) + _pcs(b)
    first = run(["addr2line", "-f", "-e", str(target)], env, pcs)
    assert first.stdout == run(["addr2line", "-f", "-e", str(a), "--no-cache"], env, pcs).stdout
    want_b = run(["addr2line", "-f", "-e", str(b), "--no-cache"], env, pcs).stdout
    assert want_b != first.stdout
    # deploy the rebuild: a new file renamed over the old path
    tmp = tmp_path / "svc.new"
    shutil.copy(b, tmp)
    os.replace(tmp, target)
    assert run(["addr2line", "-f", "-e", str(target)], env, pcs).stdout == want_b
    assert run(["addr2line", "-f", "-e", str(target)], env, pcs).stdout == want_b  # warm, from its own index
    # overwrite in place (same inode) with the old program and put the old mtime back
    st = target.stat()
    with open(target, "r+b") as fh:
        fh.truncate(0)
        fh.write(a.read_bytes())
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert run(["addr2line", "-f", "-e", str(target)], env, pcs).stdout == first.stdout
    assert len(_index_files(env)) == 2  # one index per distinct program, keyed by content


@pytest.mark.parametrize("damage", ["truncate", "flip-header", "flip-data", "flip-last", "empty", "garbage"])
def test_damaged_index_is_rebuilt_never_trusted(fixture, env: dict[str, str], damage: str) -> None:
    b = fixture(toolchain="1.27", variant="sw", program="callers")
    pcs = _pcs(b)
    want = run(["addr2line", "-f", "-i", "-e", str(b), "--no-cache"], env, pcs).stdout
    assert run(["addr2line", "-f", "-i", "-e", str(b)], env, pcs).stdout == want
    (ix,) = _index_files(env)
    data = bytearray(ix.read_bytes())
    if damage == "truncate":
        data = data[: len(data) // 2]
    elif damage == "flip-header":
        data[40] ^= 0x04  # inside the JSON header
    elif damage == "flip-data":
        data[len(data) // 2] ^= 0x01
    elif damage == "flip-last":
        data[-1] ^= 0x80
    elif damage == "empty":
        data = bytearray()
    else:
        data = bytearray(os.urandom(len(data)))
    ix.write_bytes(bytes(data))
    again = run(["addr2line", "-f", "-i", "-e", str(b)], env, pcs)
    assert again.returncode == 0 and again.stdout == want, again.stderr
    assert ix.read_bytes() != bytes(data)  # rebuilt in place
    assert run(["addr2line", "-f", "-i", "-e", str(b)], env, pcs).stdout == want


def test_warm_path_matches_click_path_on_hostile_tokens(fixture, env: dict[str, str]) -> None:
    b = fixture(toolchain="1.27", variant="sw", program="callers")
    odd = b"0x0x10 +10 -1 1_0 \xff\xfe zz 0X401000 " + b"a" * 300 + b"\n\x1c0x401000\t\x0b"
    data = _pcs(b, 50) + odd
    args = [["-f", "-i"], ["-a", "-f"], ["--json"], ["-p", "-f", "-i"], ["-a"], ["--return-addresses", "-fi"]]
    for extra in args:
        want = run(["addr2line", *extra, "-e", str(b), "--no-cache"], env, data).stdout
        run(["addr2line", *extra, "-e", str(b)], env, data)
        warm = run(["addr2line", *extra, "-e", str(b)], env, data, probe=True)
        assert warm.stdout == want, extra
        assert b"numpy" not in warm.stderr
    # address arguments too (one with a blank inside is one token: left to the click command)
    for argv in (["0x401000", "zz"], ["0x401000 0x401001"]):
        want = run(["addr2line", "-f", "-e", str(b), "--no-cache", *argv], env).stdout
        assert run(["addr2line", "-f", "-e", str(b), *argv], env).stdout == want


def test_unwritable_cache_only_costs_speed(fixture, env: dict[str, str], tmp_path: Path) -> None:
    b = fixture(toolchain="1.27", variant="sw", program="callers")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    env["SYMKEEP_CACHE"] = str(blocker)  # a file where the cache directory should be
    pcs = _pcs(b)
    got = run(["addr2line", "-f", "-e", str(b)], env, pcs)
    assert got.returncode == 0 and got.stdout == run(["addr2line", "-f", "-e", str(b), "--no-cache"], env, pcs).stdout
