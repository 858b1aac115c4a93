"""Acceptance: `check --tier prod` fails a `-s -w` binary whose debug info is not archived, passes after
archiving, fails again when the archived blob is tampered with.

``test_prod_tier_with_debugdir`` runs it now through the ArchiveView on a build-id tree (the archive
made with ``BuildIdDirArchive.add``); ``test_prod_tier_with_symkeep_store`` runs the same story with the
real ``symkeep archive`` once ``symkeep.store`` (issue 12) is part of the tree: it skips only while that
module does not exist, and fails (never skips) when it exists and anything is missing.
"""

from __future__ import annotations

import hashlib
import importlib.util
import shutil
from pathlib import Path

import pytest

from symkeep.binfmt import open_binary
from symkeep.golang.buildid import gnu_build_id
from symkeep.policy.archive import BuildIdDirArchive

from .helpers import run_cli


def _copy(src: Path, dst: Path) -> Path:
    shutil.copy2(src, dst)
    return dst


def _check(bin_: Path, store: str) -> tuple[int, str]:
    r = run_cli(["check", "--tier", "prod", "--store", store, str(bin_)])
    assert r.code in (0, 1), r
    return r.code, r.stdout


def test_prod_tier_with_debugdir(fixture, tmp_path: Path) -> None:
    sw = _copy(fixture(variant="sw"), tmp_path / "svc")
    syms = tmp_path / "symbols"
    syms.mkdir()
    store = f"debugdir:{syms}"
    code, out = _check(sw, store)
    assert code == 1 and "FAIL retention.archived" in out and "nothing archived" in out, out
    with open_binary(sw) as b:
        bid = gnu_build_id(b)
    assert bid
    blob = BuildIdDirArchive(syms).add(sw, bid, "executable")
    code, out = _check(sw, store)
    assert code == 0, out
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0xFF
    blob.write_bytes(bytes(data))
    code, out = _check(sw, store)
    assert code == 1 and "FAIL retention.archived" in out and "tampered" in out, out


def _blobs(root: Path) -> list[Path]:
    """Files under the store directory whose name is the sha256 of their bytes (content-addressed blobs)."""
    out = []
    for p in root.rglob("*"):
        named = p.is_file() and len(p.name) == 64 and all(c in "0123456789abcdef" for c in p.name)
        if named and hashlib.sha256(p.read_bytes()).hexdigest() == p.name:
            out.append(p)
    return out


@pytest.mark.skipif(importlib.util.find_spec("symkeep.store") is None,
                    reason="symkeep.store (issue 12) is not in this tree yet")
def test_prod_tier_with_symkeep_store(fixture, tmp_path: Path) -> None:
    sw = _copy(fixture(variant="sw"), tmp_path / "svc")
    store = str(tmp_path / "store")
    code, out = _check(sw, store)
    assert code == 1 and "FAIL retention.archived" in out, out
    r = run_cli(["archive", "--store", store, str(sw)])
    assert r.code == 0, r
    code, out = _check(sw, store)
    assert code == 0, out
    blobs = _blobs(Path(store))
    assert blobs, f"no content-addressed blob found under {store}"
    for b in blobs:  # tamper with every stored blob (executable and synthesized debug file)
        b.chmod(0o644)
        data = bytearray(b.read_bytes())
        data[len(data) // 2] ^= 0xFF
        b.write_bytes(bytes(data))
    code, out = _check(sw, store)
    assert code == 1 and "FAIL retention.archived" in out, out
