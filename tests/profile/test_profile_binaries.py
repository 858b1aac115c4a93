"""`symbolize` no longer trusts any binary (issue #10.4): a `--binary` that is not Go or matches no
mapping is refused; perf input is checked against the build IDs of its perf.data (read directly, and
compared with `perf buildid-list`), or the summary warns that it was not checked."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from sk_profile_helpers import one_line_error, run_symkeep, strip_symbols

from symkeep.binfmt import open_binary
from symkeep.golang.buildid import gnu_build_id
from symkeep.profile.perfdata import read_build_ids
from symkeep.profile.pprof import read_profile, write_profile

CpuProfile = Callable[..., tuple[Path, Path]]


def test_binary_that_is_not_go_is_refused(cpu_profile: CpuProfile, tmp_path: Path) -> None:
    _, path = cpu_profile("sw")
    ls = shutil.which("ls") or "/bin/ls"
    err = one_line_error(run_symkeep(["symbolize", str(path), "--binary", ls, "-o", str(tmp_path / "o")]), 5)
    assert f"--binary {ls} is not a Go binary" in err
    text = tmp_path / "notes.txt"
    text.write_text("not a binary\n")
    err = one_line_error(run_symkeep(["symbolize", str(path), "--binary", str(text), "-o", str(tmp_path / "o")]), 4)
    assert "is not a Go binary" in err
    assert not (tmp_path / "o").exists()


def test_binary_matching_no_mapping_is_refused(cpu_profile: CpuProfile, fixture: Callable[..., Path],
                                               tmp_path: Path) -> None:
    """A Go binary with another build ID than the main mapping's (exit 7, whether or not the profile
    still needs names), and one that stands for no mapping at all (folded stacks with names only)."""
    _, path = cpu_profile("sw")
    other = fixture(variant="sw", program="callers")
    for prof in (path, tmp_path / "raw.pb.gz"):
        if prof != path:
            write_profile(strip_symbols(read_profile(path)), prof)
        err = one_line_error(run_symkeep(["symbolize", str(prof), "--binary", str(other), "-o", str(tmp_path / "o")]), 7)
        assert "does not match mapping" in err and gnu_build_id(open_binary(other)) in err  # type: ignore[operator]
    folded = tmp_path / "names.folded"
    folded.write_text("main.main;main.f 3\n")
    err = one_line_error(run_symkeep(["symbolize", str(folded), "--binary", str(other), "--format", "folded"]), 7)
    assert "matches no mapping" in err


def test_perf_data_build_ids_match_perf_buildid_list(perf_run: tuple[Path, Path, Path], tmp_path: Path) -> None:
    exe, data, _ = perf_run
    r = subprocess.run(["perf", "buildid-list", "-i", str(data)], capture_output=True, text=True, timeout=60,
                       env=dict(os.environ, HOME=str(tmp_path)))
    assert r.returncode == 0, r.stderr
    want = {ln.split(" ", 1)[1]: ln.split(" ", 1)[0] for ln in r.stdout.splitlines() if " " in ln}
    got = read_build_ids(str(data))
    assert got == want
    assert got[str(exe)] == gnu_build_id(open_binary(exe))


def test_perf_data_that_is_not_one(tmp_path: Path) -> None:
    bad = tmp_path / "perf.data"
    bad.write_bytes(b"PERFILE2" + b"\xff" * 200)
    err = one_line_error(run_symkeep(["symbolize", str(bad), "--perf-data", str(bad)]), 9)
    assert "not supported" in err or "perf.data" in err
    bad.write_bytes(b"hello")
    one_line_error(run_symkeep(["symbolize", str(bad), "--perf-data", str(bad)]), 6)


def test_perf_other_binary_at_the_same_path(perf_run: tuple[Path, Path, Path], fixture: Callable[..., Path],
                                            tmp_path: Path) -> None:
    """Replace the recorded binary by another Go program at the same path: without the perf.data the
    run warns that nothing was checked; with it the mapping is refused (and an explicit --binary of
    the wrong build is exit 7)."""
    exe, data, txt = perf_run
    d = tmp_path / "moved"
    d.mkdir()
    # The perf script text names exe's path; put a different binary there (in a copy of the tree).
    swapped = d / "cpuhog"
    shutil.copy(fixture(variant="sw", program="callers"), swapped)
    text = txt.read_text().replace(str(exe), str(swapped))
    moved_txt = d / "perf.txt"
    moved_txt.write_text(text)
    ids = {str(swapped) if k == str(exe) else k: v for k, v in read_build_ids(str(data)).items()}
    assert ids[str(swapped)] != gnu_build_id(open_binary(swapped))

    r = run_symkeep(["symbolize", str(moved_txt), "-o", str(d / "a.pb"), "--json"])
    assert r.code == 0, r.stderr
    js = json.loads(r.stdout)
    assert any("perf script output carries no build IDs" in w for w in js["warnings"]), js["warnings"]

    # The same check through a perf.data whose recorded path is the swapped one: copy perf.data and
    # let the library take its build IDs (the file's own paths name exe, so map them).
    from symkeep.profile.inputs import load_bytes
    from symkeep.profile.locate import Locator
    from symkeep.profile.symbolizer import symbolize_profile

    loaded = load_bytes(moved_txt.read_bytes())
    loaded.set_build_ids(ids, str(data))
    with Locator([], [], use_env=False, debuginfod_urls=[]) as loc:
        rep = symbolize_profile(loaded, loc).report
    m = next(m for m in rep.mappings if m.filename == str(swapped))
    assert m.symbolized == 0 and "different build ID" in " ".join(m.failed), m.failed
    assert any("build ID differs" in n for n in m.notes)

    # CLI with the real perf.data and the wrong binary given explicitly: exit 7.
    err = one_line_error(run_symkeep(["symbolize", str(txt), "--perf-data", str(data), "--binary", str(swapped),
                                      "-o", str(d / "b.pb")]), 7)
    assert "does not match mapping" in err
    # ... and with the right one, every location of the binary is named, and the summary says checked.
    r = run_symkeep(["symbolize", str(txt), "--perf-data", str(data), "-o", str(d / "c.pb"), "--json"])
    assert r.code == 0, r.stderr
    js = json.loads(r.stdout)
    m2 = next(m for m in js["mappings"] if m["filename"] == str(exe))
    assert m2["verified"] and m2["symbolized"] == m2["locations"] > 0
    assert not any(str(exe) in w for w in js["warnings"]), js["warnings"]
