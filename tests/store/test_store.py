"""The store: index metadata against real tools, supersede order, archive rules, split, default location."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from fixtures.factory import toolchain
from server.harness import cli_env, dump_section, gnu_build_id_readelf, go_build_id_objcopy, symkeep
from symkeep.store import open_store
from symkeep.store.archive import StoreSink, archive_paths


def _go_version_m(path: Path) -> tuple[str, dict[str, str]]:
    tc = toolchain("1.27")
    out = subprocess.run([str(tc.go), "version", "-m", str(path)], capture_output=True, text=True, check=True,
                         env={**os.environ, "GOTOOLCHAIN": "local"}).stdout
    lines = out.splitlines()
    version = lines[0].split(": ", 1)[1].strip()
    settings = {}
    for ln in lines[1:]:
        parts = ln.strip().split("\t")
        if parts[0] == "build" and "=" in parts[1]:
            k, v = parts[1].split("=", 1)
            settings[k] = v
    return version, settings


def _readelf_sections(path: Path) -> set[str]:
    out = subprocess.run(["readelf", "-SW", str(path)], capture_output=True, text=True, check=True).stdout
    names = set()
    for ln in out.splitlines():
        if "]" in ln and ln.strip().startswith("["):
            rest = ln.split("]", 1)[1].split()
            if rest:
                names.add(rest[0])
    return names


def test_index_metadata_matches_real_tools(store_url: str, fixture: Callable[..., Path], tmp_path: Path) -> None:
    dwarf = fixture(variant="default", toolchain="1.27")
    sw = fixture(variant="sw", toolchain="1.21")
    store = open_store(store_url, cache_dir=str(tmp_path / "c"))
    summ = archive_paths([str(dwarf), str(sw)], StoreSink(store, "tester"))
    assert summ.errors == [] and summ.counts() == {"stored": 7}
    # DWARF build: executable + symbol index, each under 2 IDs; 1.21 -s -w: the Go ID for the executable,
    # its synthesized debug file and its index
    kinds = __import__("collections").Counter(r.kind for r in summ.results)
    assert kinds == {"executable": 3, "index": 3, "synthesized": 1}
    gnu = gnu_build_id_readelf(dwarf)
    rec = store.resolve(gnu, "executable")
    assert rec is not None and rec.gnu_build_id == gnu
    assert rec.go_build_id == go_build_id_objcopy(dwarf, tmp_path)
    same = store.resolve(rec.go_build_id, "executable")
    assert same is not None and same.sha256 == rec.sha256 == __import__("hashlib").sha256(dwarf.read_bytes()).hexdigest()
    version, settings = _go_version_m(dwarf)
    assert rec.go_version == version and rec.settings == settings
    assert rec.vcs_revision == settings.get("vcs.revision") and rec.module == "example.com/hello"
    dd = subprocess.run(["llvm-dwarfdump", "--debug-info", str(dwarf)], capture_output=True, text=True).stdout
    assert f"version = 0x000{rec.dwarf_version}" in dd.split("DW_TAG")[0]
    assert rec.has_dwarf and rec.has_symtab and rec.has_pclntab and rec.rank == 3
    assert rec.uploader == "tester" and rec.size == dwarf.stat().st_size and rec.uploaded_at.endswith("Z")
    go_id = go_build_id_objcopy(sw, tmp_path)
    r21 = store.resolve(go_id, "executable")
    assert r21 is not None and r21.gnu_build_id is None
    assert ".symtab" not in _readelf_sections(sw) and not r21.has_symtab and not r21.has_dwarf and r21.has_pclntab
    assert r21.go_version == _go_version_m(sw)[0]
    dbg = store.resolve(go_id, "debuginfo")
    assert dbg is not None and dbg.kind == "synthesized" and dbg.rank == 2
    store.close()


def test_supersede_order(fixture: Callable[..., Path], tmp_path: Path) -> None:
    """DWARF > synthesized > executable only, for one build (binutils strip keeps the build IDs)."""
    stripped = fixture(variant="strip", toolchain="1.27")
    full = fixture(variant="default", toolchain="1.27")
    gnu = gnu_build_id_readelf(full)
    assert gnu_build_id_readelf(stripped) == gnu
    only_debug = tmp_path / "only.debug"
    subprocess.run(["objcopy", "--only-keep-debug", str(full), str(only_debug)], check=True)
    store = open_store(str(tmp_path / "s"))
    sink = StoreSink(store)
    archive_paths([str(stripped)], sink)
    exe = store.resolve(gnu, "executable")
    dbg = store.resolve(gnu, "debuginfo")
    assert exe is not None and exe.rank == 1 and dbg is not None and dbg.kind == "synthesized"
    archive_paths([str(full)], sink)  # DWARF executable: supersedes both
    exe2 = store.resolve(gnu, "executable")
    dbg2 = store.resolve(gnu, "debuginfo")
    assert exe2 is not None and exe2.rank == 3 and exe2.file == str(full)
    assert dbg2 is not None and dbg2.kind == "executable" and dbg2.sha256 == exe2.sha256
    summ = archive_paths([str(only_debug)], sink)
    assert [r.kind for r in summ.results if r.status == "stored"] == ["debuginfo", "debuginfo"]
    dbg3 = store.resolve(gnu, "debuginfo")
    assert dbg3 is not None and dbg3.kind == "debuginfo" and dbg3.file == str(only_debug)
    # a worse upload after a better one changes nothing
    again = archive_paths([str(stripped)], sink)
    assert {r.status for r in again.results} <= {"exists", "kept-better"}
    assert store.resolve(gnu, "executable").sha256 == exe2.sha256  # type: ignore[union-attr]
    store.close()


def test_archive_refuses_a_binary_without_build_id(fixture: Callable[..., Path], tmp_path: Path) -> None:
    noid = tmp_path / "noid"
    subprocess.run(["objcopy", "--remove-section=.note.go.buildid", "--remove-section=.note.gnu.build-id",
                    str(fixture(variant="sw", toolchain="1.21")), str(noid)], check=True)
    assert "Build ID" not in subprocess.run(["readelf", "-n", str(noid)], capture_output=True, text=True).stdout
    store = str(tmp_path / "s")
    r = symkeep("archive", "--store", store, str(noid))
    assert r.returncode == 9 and "no GNU build-id and no Go build ID" in r.stderr and "Traceback" not in r.stderr
    d = tmp_path / "dir"
    d.mkdir()
    shutil.copy2(noid, d / "noid")
    r = symkeep("archive", "--store", store, str(d), "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["skipped"][0]["path"].endswith("noid")
    r = symkeep("archive", "--store", store, "--key", "feedface" * 5, str(noid), "--no-synthesize", "--json")
    assert r.returncode == 0, r.stderr
    assert sorted((x["kind"], x["build_id"]) for x in json.loads(r.stdout)["results"]) == [
        ("executable", "feedface" * 5), ("index", "feedface" * 5)]
    assert symkeep("archive", "--store", store, "--key", "../x", str(noid)).returncode == 2


def test_archive_walks_build_id_trees_once(fixture: Callable[..., Path], tmp_path: Path) -> None:
    full = fixture(variant="default", toolchain="1.27")
    gnu = gnu_build_id_readelf(full)
    root = tmp_path / "debug"
    real = root / "usr" / "lib" / "debug" / "hello.debug"
    real.parent.mkdir(parents=True)
    subprocess.run(["objcopy", "--only-keep-debug", str(full), str(real)], check=True)
    link = root / ".build-id" / gnu[:2] / f"{gnu[2:]}.debug"
    link.parent.mkdir(parents=True)
    link.symlink_to(real)
    (root / "README").write_text("not a binary\n")
    r = symkeep("archive", "--store", str(tmp_path / "s"), str(root), "--json")
    doc = json.loads(r.stdout)
    assert r.returncode == 0 and doc["files"] == 1
    assert {(x["kind"], x["status"]) for x in doc["results"]} == {("debuginfo", "stored")}
    assert "archive: store: 1 file" in r.stderr  # piped: one line per phase, no bar


def test_split_with_objcopy(fixture: Callable[..., Path], tmp_path: Path) -> None:
    full = fixture(variant="default", toolchain="1.27")
    out, dbg = tmp_path / "hello", tmp_path / "hello.debug"
    r = symkeep("split", str(full), "-o", str(out), "--debug-out", str(dbg), "--json", check=True)
    assert json.loads(r.stdout)["method"].endswith("objcopy")
    secs_out, secs_dbg = _readelf_sections(out), _readelf_sections(dbg)
    assert not {s for s in secs_out if "debug" in s and s != ".gnu_debuglink"} and ".symtab" not in secs_out
    assert ".gnu_debuglink" in secs_out and ".symtab" in secs_dbg
    assert any(s.endswith("debug_info") for s in secs_dbg)
    assert gnu_build_id_readelf(out) == gnu_build_id_readelf(dbg) == gnu_build_id_readelf(full)
    assert dump_section(out, ".gnu_debuglink", tmp_path).startswith(b"hello.debug\0")
    assert subprocess.run([str(out)], capture_output=True, timeout=60).returncode == 0
    # gdb finds the symbols through the debuglink next to the binary
    g = subprocess.run(["gdb", "-batch", "-nx", "-ex", "info line main.main", str(out)], capture_output=True,
                       text=True, timeout=120)
    assert "main.go" in g.stdout, g.stdout + g.stderr


def test_split_synthesize_and_errors(fixture: Callable[..., Path], tmp_path: Path) -> None:
    sw = fixture(variant="sw", toolchain="1.27")
    out, dbg = tmp_path / "a", tmp_path / "a.debug"
    r = symkeep("split", str(sw), "-o", str(out), "--debug-out", str(dbg))
    assert r.returncode == 2 and "--synthesize" in r.stderr and not out.exists() and not dbg.exists()
    symkeep("split", str(sw), "-o", str(out), "--debug-out", str(dbg), "--synthesize", check=True)
    ref = tmp_path / "ref.debug"
    symkeep("restore", str(sw), "-o", str(ref), check=True)
    assert dbg.read_bytes() == ref.read_bytes()
    assert ".gnu_debuglink" in _readelf_sections(out) and ".symtab" in _readelf_sections(dbg)
    r = symkeep("split", str(fixture(variant="default", toolchain="1.27")), "-o", str(tmp_path / "b"),
                "--debug-out", str(tmp_path / "b.debug"), "--objcopy", "/nonexistent/objcopy")
    assert r.returncode == 8 and "not found" in r.stderr and not (tmp_path / "b").exists()
    assert list(tmp_path.glob(".symkeep-split-*")) == []


def test_default_store_location(fixture: Callable[..., Path], tmp_path: Path) -> None:
    env = cli_env(XDG_DATA_HOME=str(tmp_path / "xdg"))
    r = symkeep("archive", "--no-synthesize", str(fixture(variant="sw", toolchain="1.27")), env=env)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "xdg" / "symkeep" / "store" / "index.sqlite").is_file()
    assert symkeep("store", "verify", env=env).returncode == 0


def test_index_kind_is_stored_per_build(fixture: Callable[..., Path], tmp_path: Path) -> None:
    """The 'index' kind (the per-build symbol index) is written by archive, filed under both of a
    build's IDs, write-once (other bytes for the slot conflict), and never served as a debug file."""
    from symkeep.symbolize import open_go_binary
    from symkeep.symbolize.indexfile import IndexFile

    sw = fixture(variant="sw", toolchain="1.27")
    store = open_store(str(tmp_path / "s"))
    archive_paths([str(sw)], StoreSink(store), synthesize=False)
    exe = store.resolve(gnu_build_id_readelf(sw), "executable")
    assert exe is not None and exe.go_build_id
    with open_go_binary(sw) as g:
        key = g.index_key
    blobs = set()
    for bid in (exe.gnu_build_id or "", exe.go_build_id):
        rec = store.lookup(bid, "index")
        assert rec is not None and IndexFile.open(store.blob_file(rec)).meta["key"] == key
        blobs.add(rec.sha256)
    assert len(blobs) == 1
    idx = tmp_path / "other.symidx"
    idx.write_bytes(b"SYMKIDX\0" + os.urandom(1000))
    res = store.ingest(idx, kind="index", keys=[exe.gnu_build_id or "", exe.go_build_id], uploader="x")
    assert [r.status for r in res] == ["conflict", "conflict"]
    assert store.resolve(exe.go_build_id, "debuginfo") is None  # an index is never served as a debug file
    store.close()
    assert symkeep("store", "verify", "--store", str(tmp_path / "s")).returncode == 0
