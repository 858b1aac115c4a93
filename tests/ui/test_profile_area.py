"""``ProfileArea``: the UI's bounded store of uploaded profiles (count, bytes, age), on real
profile bytes, with the clock moved by the test instead of waiting days."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from ui_helpers import Hog

from symkeep.errors import LimitError, NotFoundError, UsageError
from symkeep.profile.pprof import read_profile, serialize_profile
from symkeep.server.ui.profiles import ProfileArea


class Clock:
    def __init__(self) -> None:
        self.t = 1_800_000_000.0

    def __call__(self) -> float:
        return self.t


def _variants(raw: Path, n: int) -> list[bytes]:
    out = []
    for i in range(n):
        p = read_profile(raw)
        p.time_nanos += i + 1
        out.append(serialize_profile(p))
    assert len(set(out)) == n
    return out


def _area(tmp: Path, clock: Clock, **kw: float) -> ProfileArea:
    args = {"keep_count": 1000, "keep_bytes": 1 << 30, "keep_seconds": 86400.0, **kw}
    return ProfileArea(tmp / "area", clock=clock, **args)  # type: ignore[arg-type]


def test_count_limit_drops_the_least_recently_uploaded(tmp_path: Path, hog: Callable[[str], Hog]) -> None:
    clock = Clock()
    a = _area(tmp_path, clock, keep_count=3)
    vs = _variants(hog("1.27").raw, 5)
    ids = []
    for v in vs[:3]:
        ids.append(a.put(v, {"name": "x"}))
        clock.t += 1
    a.put(vs[0], {"name": "again"})  # refreshed: now the newest
    clock.t += 1
    ids.append(a.put(vs[3], {"name": "x"}))
    assert a.usage()[0] == 3
    with pytest.raises(NotFoundError):
        a.get(ids[1])
    data, meta = a.get(ids[0])
    assert data == vs[0] and meta["name"] == "x" and meta["size"] == len(vs[0])  # first upload's metadata
    assert {e.sha256 for e in a.entries()} == {ids[0], ids[2], ids[3]}


def test_bytes_limit_and_oversized(tmp_path: Path, hog: Callable[[str], Hog]) -> None:
    clock = Clock()
    vs = _variants(hog("1.27").raw, 4)
    per = len(vs[0]) + 300
    a = _area(tmp_path, clock, keep_bytes=2 * per)
    for v in vs:
        a.put(v, {})
        clock.t += 1
    n, total = a.usage()
    assert n == 2 and total <= 2 * per
    with pytest.raises(LimitError):
        a.put(vs[0] * 3, {})
    assert a.usage()[0] == 2


def test_age_limit(tmp_path: Path, hog: Callable[[str], Hog]) -> None:
    clock = Clock()
    a = _area(tmp_path, clock, keep_seconds=100)
    v1, v2 = _variants(hog("1.27").raw, 2)
    s1 = a.put(v1, {})
    clock.t += 60
    s2 = a.put(v2, {})
    clock.t += 50  # v1 is 110 s old, v2 50 s
    with pytest.raises(NotFoundError, match="expired"):
        a.get(s1)
    assert not list((tmp_path / "area").glob(f"*/{s1}.*"))
    a.check(s2)
    clock.t += 60
    assert a.prune() == [s2] and a.usage() == (0, 0)


def test_ids_are_validated_and_writers_agree(tmp_path: Path, hog: Callable[[str], Hog]) -> None:
    clock = Clock()
    a = _area(tmp_path, clock, keep_count=4)
    for bad in ("../../etc/passwd", "A" * 64, "0" * 63):
        with pytest.raises(UsageError):
            a.get(bad)
    vs = _variants(hog("1.27").raw, 24)
    errors: list[BaseException] = []

    def put(v: bytes) -> None:
        try:
            ProfileArea(tmp_path / "area", keep_count=4, keep_bytes=1 << 30, keep_seconds=86400, clock=clock).put(v, {})
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=put, args=(v,)) for v in vs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    assert a.usage()[0] == 4
    assert not list((tmp_path / "area" / "tmp").iterdir())
