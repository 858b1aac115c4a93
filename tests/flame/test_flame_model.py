"""The stack model and tree against counts made independently from the protobuf (and go tool pprof)."""

from __future__ import annotations

import re
import subprocess
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from flame_helpers import read_pb, sample_index, sample_records, weight

from symkeep.flame.load import load_samples
from symkeep.flame.pbsamples import decode_samples
from symkeep.flame.render import FlameOptions, graph, stackset
from symkeep.flame.stacks import Interner
from symkeep.profile.lines import uvarint


def _records_from_raw(path: Path) -> Counter[tuple[tuple[int, ...], tuple[tuple[int, int, int], ...], tuple[int, ...]]]:
    rs = decode_samples(path.read_bytes())
    ids = [loc.id for loc in rs.meta.location]
    c: Counter[tuple[tuple[int, ...], tuple[tuple[int, int, int], ...], tuple[int, ...]]] = Counter()
    for i in range(rs.n):
        locs = tuple(ids[j] for j in rs.loc_idx[rs.loc_off[i]:rs.loc_off[i + 1]])
        a, b = rs.lab_off[i], rs.lab_off[i + 1]
        labs = tuple(zip(rs.lab_key[a:b].tolist(), rs.lab_str[a:b].tolist(), rs.lab_num[a:b].tolist(), strict=True))
        c[(locs, labs, tuple(rs.values[i].tolist()))] += 1
    return c


def _merge_values(c: Counter[tuple[tuple[int, ...], tuple[tuple[int, int, int], ...], tuple[int, ...]]]) -> Counter[tuple[object, ...]]:
    out: Counter[tuple[object, ...]] = Counter()
    for (locs, labs, vals), n in c.items():
        for k, v in enumerate(vals):
            out[(locs, labs, k)] += v * n
    return out


@pytest.mark.parametrize("which", ["cpuhog", "demo_labels"])
def test_numpy_decoder_equals_upb(which: str, request: pytest.FixtureRequest) -> None:
    _, prof = request.getfixturevalue(which)
    want = _merge_values(sample_records(read_pb(prof)))
    got = _records_from_raw(prof)
    # the decoder merges identical records (values summed): compare the per-(stack, labels) sums
    assert _merge_values(got) == want
    assert sum(got.values()) <= sum(sample_records(read_pb(prof)).values())


def test_irregular_encoding_falls_back_to_upb(cpuhog: tuple[Path, Path]) -> None:
    """Unpacked repeated fields (legal protobuf, written by some producers) take the object path."""
    from symkeep.profile import profile_pb2

    p = read_pb(cpuhog[1])

    def unpacked_sample(s: profile_pb2.Sample) -> bytes:
        def uv(x: int) -> bytes:
            x &= (1 << 64) - 1
            out = bytearray()
            while True:
                b = x & 0x7F
                x >>= 7
                if x:
                    out.append(b | 0x80)
                else:
                    out.append(b)
                    return bytes(out)
        return b"".join(b"\x08" + uv(v) for v in s.location_id) + b"".join(b"\x10" + uv(v) for v in s.value)

    body = bytearray()
    q = profile_pb2.Profile()
    q.CopyFrom(p)
    del q.sample[:]
    for s in p.sample:
        raw = unpacked_sample(s)
        body += b"\x12" + bytes([len(raw)]) if len(raw) < 128 else b""
        if len(raw) >= 128:
            pytest.skip("a sample too long for this hand encoder")
        body += raw
    data = q.SerializeToString() + bytes(body)
    rs = decode_samples(data)
    assert int(rs.values[:, -1].sum()) == sum(s.value[-1] for s in p.sample)


@pytest.mark.parametrize("pattern", [r"^main\.mix$", r"^main\.", r"^runtime\.", r"asyncPreempt"])
def test_focus_and_ignore_totals(cpuhog: tuple[Path, Path], pattern: str) -> None:
    p = read_pb(cpuhog[1])
    rs = load_samples(str(cpuhog[1]))
    it = Interner()
    assert stackset([rs], FlameOptions(focus=pattern), it).total() == weight(p, match=pattern)
    assert stackset([rs], FlameOptions(ignore=pattern), it).total() == weight(p, exclude=pattern)


def test_tree_inclusive_totals_per_function(cpuhog: tuple[Path, Path]) -> None:
    """Each function's inclusive value (outermost occurrences in the tree) = the weight of the samples
    whose stack contains it."""
    p = read_pb(cpuhog[1])
    _, _, tree = graph([load_samples(str(cpuhog[1]))], FlameOptions())
    it = tree.interner
    assert int(tree.total[0]) == weight(p)
    names = {it.frames[f].name for f in np.unique(tree.frame[1:])}
    for name in names:
        got = 0
        i = 1
        while i < tree.n:
            if it.frames[int(tree.frame[i])].name == name:
                got += int(tree.total[i])
                i = int(tree.end[i])
            else:
                i += 1
        assert got == weight(p, match="^" + re.escape(name) + "$"), name


def test_tree_preorder_invariants(demo_labels: tuple[Path, Path]) -> None:
    _, _, t = graph([load_samples(str(demo_labels[1]))], FlameOptions())
    n = t.n
    assert t.end[0] == n and t.parent[0] == -1
    assert (t.parent[1:] < np.arange(1, n)).all()
    # every child's total <= its parent's; subtree of i is (i, end[i])
    for i in range(1, n):
        p = t.parent[i]
        assert t.end[p] >= t.end[i] > i > p
        assert t.depth[i] == t.depth[p] + 1
    child_sum = np.zeros(n, dtype=np.int64)
    np.add.at(child_sum, t.parent[1:], t.total[1:])
    selfv = np.zeros(n, dtype=np.int64)
    np.add.at(selfv, t.self_node, t.self_val)
    assert (t.total == child_sum + selfv).all()
    # siblings sorted by name
    it = t.interner
    kids: dict[int, list[str]] = {}
    for i in range(1, n):
        kids.setdefault(int(t.parent[i]), []).append(it.frames[int(t.frame[i])].name)
    for lst in kids.values():
        assert lst == sorted(lst)


def test_tag_filter_and_group_by_label(demo_labels: tuple[Path, Path]) -> None:
    p = read_pb(demo_labels[1])
    rs = load_samples(str(demo_labels[1]))
    busy = weight(p, tag="worker=busy")
    total = weight(p)
    assert 0 < busy < total, "the demo profile must have labelled and unlabelled samples"
    it = Interner()
    assert stackset([rs], FlameOptions(tags=(("worker", "busy"),)), it).total() == busy
    _, _, t = graph([rs], FlameOptions(group_by_label="worker"))
    roots = {t.interner.frames[int(t.frame[i])].name: int(t.total[i]) for i in range(1, t.n) if t.depth[i] == 1}
    assert roots == {"worker=busy": busy, "worker=(none)": total - busy}


def test_focus_total_matches_go_tool_pprof(cpuhog: tuple[Path, Path], gotool: Callable[[str, str], Path]) -> None:
    pprof = gotool("1.27", "pprof")
    out = subprocess.run([str(pprof), "-top", "-nodecount=100000", "-unit=ns", "-focus=^main\\.mix$", str(cpuhog[1])],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    # "Showing nodes accounting for FOCUSED, P% of TOTAL total": with every node shown, FOCUSED is
    # the weight of the samples the focus keeps
    m = re.search(r"Showing nodes accounting for (\d+)ns, [\d.]+% of \d+ns total", out.stdout)
    assert m, out.stdout
    focused = int(m.group(1))
    it = Interner()
    got = stackset([load_samples(str(cpuhog[1]))], FlameOptions(focus=r"^main\.mix$"), it).total()
    assert got == focused


def test_sample_type_selection(cpuhog: tuple[Path, Path]) -> None:
    p = read_pb(cpuhog[1])
    rs = load_samples(str(cpuhog[1]))
    it = Interner()
    assert stackset([rs], FlameOptions(sample_type="samples"), it).total() == weight(p, index=sample_index(p, "samples"))
    assert stackset([rs], FlameOptions(), it).total() == weight(p, index=sample_index(p, "cpu"))


@pytest.mark.parametrize(
    "name, kind",
    [
        ("runtime.mallocgc", "runtime"), ("internal/runtime/maps.(*Map).Get", "runtime"),
        ("runtime/pprof.Do", "stdlib"), ("net/http.(*conn).serve", "stdlib"),
        ("vendor/golang.org/x/net/http2/hpack.(*Decoder).Write", "stdlib"),
        ("main.crunch", "main"), ("main.main.func1", "main"), ("example.com/app/internal/db.Open", "main"),
        ("github.com/foo/bar.(*T[...]).M", "deps"), ("golang.org/x/sync/errgroup.(*Group).Go.func1", "deps"),
        ("type:.eq.main.T", "runtime"), ("__libc_start_main", "cgo"), ("_cgo_topofstack", "cgo"),
        ("do_syscall_64_[k]", "kernel"),
    ],
)
def test_classes(name: str, kind: str) -> None:
    from symkeep.flame.classify import classify_name

    assert classify_name(name, "example.com/app") == kind


def test_stored_lite_descriptor_matches_profile_proto() -> None:
    """The stored descriptor blob is what build_lite_descriptor derives from profile_pb2 today."""
    import base64

    from symkeep.flame import pbsamples

    assert base64.b64decode("".join(pbsamples._LITE_DESCRIPTOR_B64)) == pbsamples.build_lite_descriptor()


def test_mutated_profiles_fail_cleanly(demo_labels: tuple[Path, Path]) -> None:
    """Random byte flips in a real (uncompressed) profile: a report or a SymkeepError, never another exception."""
    import gzip
    import random

    from symkeep.errors import SymkeepError
    from symkeep.flame.html import render_html

    raw = gzip.decompress(demo_labels[1].read_bytes())
    rnd = random.Random(15)
    outcomes: Counter[str] = Counter()
    for _ in range(300):
        data = bytearray(raw)
        for _ in range(rnd.choice((1, 4, 32))):
            data[rnd.randrange(len(data))] = rnd.randrange(256)
        try:
            _, _, tree = graph([load_samples("mutated", data=bytes(data))], FlameOptions())
            render_html(tree)
            outcomes["ok"] += 1
        except SymkeepError:
            outcomes["error"] += 1
    assert outcomes["ok"] and outcomes["error"], outcomes


def test_records_differing_in_values_are_merged(demo_labels: tuple[Path, Path], tmp_path: Path) -> None:
    """Every record split in two with different values (one of them also written twice, and some in
    another field order or with a padded varint): the per-(stack, labels) sums stay those of upb."""
    from symkeep.profile import profile_pb2

    p = read_pb(demo_labels[1])
    q = profile_pb2.Profile()
    q.CopyFrom(p)
    del q.sample[:]
    body = bytearray()
    for k, s in enumerate(p.sample):
        a = [v // 3 for v in s.value]
        b = [v - 2 * x for v, x in zip(s.value, a, strict=True)]
        for vals in (a, a, b):
            r = profile_pb2.Sample()
            r.CopyFrom(s)
            del r.value[:]
            r.value.extend(vals)
            raw = r.SerializeToString()
            if k % 7 == 3 and vals is b:  # values first: the same record in another byte form
                locs = b"".join(uvarint(x) for x in s.location_id)
                vb = b"".join(uvarint(x) for x in vals)
                raw = b"\x12" + uvarint(len(vb)) + vb + b"\x0a" + uvarint(len(locs)) + locs + b"".join(
                    b"\x1a" + uvarint(len(lb.SerializeToString())) + lb.SerializeToString() for lb in s.label)
            elif k % 11 == 5 and vals is b and s.location_id:  # a padded (non-canonical) varint
                locs = b"".join(uvarint(x) for x in s.location_id[1:])
                locs = bytes([(s.location_id[0] & 0x7F) | 0x80, 0x80, s.location_id[0] >> 7]) + locs
                assert s.location_id[0] < 1 << 14
                vb = b"".join(uvarint(x) for x in vals)
                raw = b"\x0a" + uvarint(len(locs)) + locs + b"\x12" + uvarint(len(vb)) + vb + b"".join(
                    b"\x1a" + uvarint(len(lb.SerializeToString())) + lb.SerializeToString() for lb in s.label)
            body += b"\x12" + uvarint(len(raw)) + raw
    path = tmp_path / "split.pb"
    path.write_bytes(q.SerializeToString() + bytes(body))
    check = profile_pb2.Profile()
    check.ParseFromString(path.read_bytes())
    assert len(check.sample) == 3 * len(p.sample)
    want = _merge_values(sample_records(p))
    assert _merge_values(sample_records(check)) == want
    rs = decode_samples(path.read_bytes())
    assert _merge_values(_records_from_raw(path)) == want
    stacks = {(locs, labs) for locs, labs, _ in sample_records(p)}
    assert rs.n < 1.5 * len(stacks)  # merged: not one record per written record
    _, _, tree = graph([rs], FlameOptions())
    _, _, tree0 = graph([decode_samples(demo_labels[1].read_bytes())], FlameOptions())
    assert np.array_equal(tree.total, tree0.total) and np.array_equal(tree.frame, tree0.frame)
