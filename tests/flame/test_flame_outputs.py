"""Folded, speedscope and SVG outputs, written by the real CLI, checked against the formats' own rules."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

import pytest
from flame_helpers import FLAMEGRAPH_PL_LINE, read_pb, weight
from speedscope_schema import speedscope_schema

from fixtures.env import unavailable


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "symkeep", "flamegraph", *args], capture_output=True, text=True,
                          timeout=300)


def test_folded_follows_flamegraph_pl_grammar(cpuhog: tuple[Path, Path], tmp_path: Path) -> None:
    out = tmp_path / "cpu.folded"
    r = run(str(cpuhog[1]), "-o", str(out))
    assert r.returncode == 0, r.stderr
    p = read_pb(cpuhog[1])
    total = 0
    per_frame: Counter[str] = Counter()
    for line in out.read_text().splitlines():
        m = FLAMEGRAPH_PL_LINE.match(line)
        assert m, line
        stack, n = m.group(1), int(m.group(2))
        assert " " not in stack, "a space in a frame breaks column tools (sort -k2)"
        total += n
        for fr in set(stack.split(";")):
            per_frame[fr] += n
    assert total == weight(p)
    # the inlined helper carries FlameGraph's _[i] suffix; its weight is that of the samples holding it
    assert per_frame["main.mix_[i]"] == weight(p, match=r"^main\.mix$")
    assert "main.mix" not in per_frame


def test_folded_diff_two_counts(cpuhog: tuple[Path, Path], demo_labels: tuple[Path, Path], tmp_path: Path) -> None:
    out = tmp_path / "diff.folded"
    r = run(str(cpuhog[1]), "--diff", str(cpuhog[1]), "-o", str(out))
    assert r.returncode == 0, r.stderr
    for line in out.read_text().splitlines():
        stack, a, b = line.rsplit(" ", 2)
        assert a == b, line  # a profile against itself: nothing changed


def test_speedscope_validates_against_published_schema(cpuhog: tuple[Path, Path], tmp_path: Path) -> None:
    try:
        import jsonschema
    except ImportError:
        unavailable("jsonschema (pip install jsonschema) is not installed")
    schema = speedscope_schema()
    out = tmp_path / "cpu.speedscope.json"
    r = run(str(cpuhog[1]), "-o", str(out))
    assert r.returncode == 0, r.stderr
    doc = json.loads(out.read_text())
    jsonschema.validate(doc, schema)
    frames = doc["shared"]["frames"]
    names = [f["name"] for f in frames]
    # inline frames kept (speedscope's own pprof import keeps only the last line of a location)
    assert "main.mix (inlined)" in names
    prof = doc["profiles"][0]
    assert prof["unit"] == "nanoseconds"
    p = read_pb(cpuhog[1])
    assert sum(prof["weights"]) == weight(p)
    mix = names.index("main.mix (inlined)")
    assert sum(w for s, w in zip(prof["samples"], prof["weights"], strict=True) if mix in s) == weight(p, match=r"^main\.mix$")
    spin = frames[names.index("main.spin")]
    assert spin["file"].endswith("cpuhog/main.go") and spin["line"] > 0


def test_svg_is_well_formed(demo_labels: tuple[Path, Path], tmp_path: Path) -> None:
    out = tmp_path / "demo.svg"
    r = run(str(demo_labels[1]), "-o", str(out), "--group-by-label", "worker")
    assert r.returncode == 0, r.stderr
    root = ET.fromstring(out.read_bytes())
    titles = [t.text or "" for t in root.iter("{http://www.w3.org/2000/svg}title")]
    assert any(t.startswith("worker=busy ") for t in titles)
    assert any(t.startswith("main.crunch ") for t in titles)


def test_unsymbolized_frames_are_named_module_offset(cpuhog: tuple[Path, Path], tmp_path: Path) -> None:
    """Without names a location is drawn as module+0xOFFSET (file offset), never dropped; with --binary
    the same profile is symbolized on the way in."""
    from symkeep.profile import profile_pb2

    p = read_pb(cpuhog[1])
    q = profile_pb2.Profile()
    q.CopyFrom(p)
    for loc in q.location:
        del loc.line[:]
    del q.function[:]
    for m in q.mapping:
        m.has_functions = m.has_filenames = m.has_line_numbers = m.has_inline_frames = False
    raw = tmp_path / "raw.pb"
    raw.write_bytes(q.SerializeToString())
    out = tmp_path / "raw.folded"
    assert run(str(raw), "-o", str(out)).returncode == 0
    maps = {m.id: m for m in q.mapping}
    expect: Counter[str] = Counter()
    idx = len(q.sample_type) - 1
    for s in q.sample:
        names = []
        for lid in reversed(s.location_id):
            loc = next(x for x in q.location if x.id == lid)
            m = maps[loc.mapping_id]
            base = q.string_table[m.filename].rsplit("/", 1)[-1]
            names.append(f"{base}+{loc.address - m.memory_start + m.file_offset:#x}")
        expect[";".join(names)] += s.value[idx]
    got = Counter({ln.rsplit(" ", 1)[0]: int(ln.rsplit(" ", 1)[1]) for ln in out.read_text().splitlines()})
    assert got == +expect
    # with the binary: names again, same totals as the original profile
    out2 = tmp_path / "sym.folded"
    r = run(str(raw), "--binary", str(cpuhog[0]), "-o", str(out2))
    assert r.returncode == 0, r.stderr
    text = out2.read_text()
    assert "main.spin" in text and "main.mix_[i]" in text
    assert sum(int(ln.rsplit(" ", 1)[1]) for ln in text.splitlines()) == weight(p)


@pytest.mark.parametrize(
    "args, code, msg",
    [
        (["--focus", "("], 2, "bad regular expression"),
        (["--tag", "novalue"], 2, "expected KEY=VALUE"),
        (["--sample-type", "nope"], 2, "the profile has"),
        (["-o", "x.unknown"], 2, "cannot tell the format"),
    ],
)
def test_bad_options(cpuhog: tuple[Path, Path], tmp_path: Path, args: list[str], code: int, msg: str) -> None:
    a = [str(cpuhog[1]), *args]
    if "-o" not in args:
        a += ["-o", str(tmp_path / "o.html")]
    r = run(*a)
    assert r.returncode == code, r.stderr
    assert msg in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_bad_inputs(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pb"
    bad.write_bytes(b"\x0a\x05hello-not-a-profile" * 3)
    for path, code in ((tmp_path / "missing.pb", 3), (tmp_path, 2), (bad, 6)):
        r = run(str(path), "-o", str(tmp_path / "o.html"))
        assert r.returncode == code, (path, r.stderr)
        assert "Traceback" not in r.stderr
        assert not (tmp_path / "o.html").exists()
    trunc = tmp_path / "trunc.pb.gz"
    trunc.write_bytes(b"\x1f\x8b\x08\x00" + b"\x00" * 20)
    r = run(str(trunc), "-o", str(tmp_path / "o.html"))
    assert r.returncode == 6 and "Traceback" not in r.stderr


def test_speedscope_refuses_diff(cpuhog: tuple[Path, Path], tmp_path: Path) -> None:
    r = run(str(cpuhog[1]), "--diff", str(cpuhog[1]), "-o", str(tmp_path / "x.speedscope.json"))
    assert r.returncode == 2 and "speedscope" in r.stderr
    assert re.search(r"^symkeep: error: ", r.stderr)


def test_json_summary(demo_labels: tuple[Path, Path], tmp_path: Path) -> None:
    r = run(str(demo_labels[1]), "-o", str(tmp_path / "d.html"), "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    p = read_pb(demo_labels[1])
    assert doc["total"] == weight(p) and doc["sample_type"] == "cpu" and doc["unit"] == "nanoseconds"
    assert "worker=busy" in doc["labels"] and doc["inlined_frames"] >= 1
    assert doc["frames_by_class"]["main"] >= 3


def test_folded_diff_is_normalised(cpuhog: tuple[Path, Path], demo_labels: tuple[Path, Path], tmp_path: Path) -> None:
    """flamegraph.pl's differential input: AFTER is the profile, BEFORE the base scaled to the same total."""
    out = tmp_path / "d.folded"
    r = run(str(demo_labels[1]), "--diff", str(cpuhog[1]), "-o", str(out))
    assert r.returncode == 0, r.stderr
    before = after = 0
    only_base = 0
    for line in out.read_text().splitlines():
        stack, a, b = line.rsplit(" ", 2)
        before += int(a)
        after += int(b)
        if int(b) == 0:
            only_base += 1
            assert "main.spin" in stack or "runtime." in stack  # cpuhog's stacks
    demo_total = weight(read_pb(demo_labels[1]))
    assert after == demo_total
    assert abs(before - demo_total) <= len(out.read_text().splitlines())  # rounding only
    assert only_base > 0
