"""``POST /symbolize`` on a real 2-worker ``symkeep serve``: the answer is byte for byte what
``symkeep symbolize --store`` writes for the same raw profile of a real stripped Go binary, and its names
equal the Go runtime's own in-process profile (the truth)."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

import pytest

from server.api_fixtures import ApiHog, frames_by_location, weighted_agreement
from server.harness import ServeProc, http, symkeep
from symkeep.binfmt import open_binary
from symkeep.golang.buildid import build_ids
from symkeep.profile.folded import profile_to_folded
from symkeep.profile.pprof import parse_profile, read_profile


def _cli(store: Path, raw: Path, out: Path, *args: str) -> tuple[bytes, str]:
    r = symkeep("symbolize", str(raw), "--store", str(store), "--no-debuginfod", "-o", str(out), *args, check=True)
    return out.read_bytes(), r.stderr


def test_pprof_equals_cli_and_truth(api_server: ServeProc, api_store: Path, api_hog: Callable[[str], ApiHog],
                                    tmp_path: Path) -> None:
    hog = api_hog("1.27")
    st, hdr, body = http("POST", api_server.url + "/symbolize", hog.raw.read_bytes())
    assert st == 200, body[:300]
    want, stderr = _cli(api_store, hog.raw, tmp_path / "cli.pb.gz")
    assert body == want  # byte for byte, gzip'd like the CLI's default
    got = parse_profile(gzip.decompress(body))
    truth = read_profile(hog.truth)
    agree, diffs = weighted_agreement(truth, got)
    assert agree >= 0.999, diffs[:5]
    m = got.mapping[0]
    assert m.has_functions and m.has_filenames and m.has_line_numbers and m.has_inline_frames
    chains = frames_by_location(got).values()
    assert any(len(c) >= 2 and c[0][0] == "main.mix" and c[1][0] == "main.spin" for c in chains)  # inline Line[]
    n = len(got.location)
    assert hdr["X-Symkeep-Locations"] == str(n) and hdr["X-Symkeep-Named"] == str(n)
    assert hdr["X-Symkeep-Unsymbolized"] == "0" and hdr["X-Symkeep-Input-Format"] == "pprof"
    # report=json: the CLI's own summary text and --json report
    st, _, body = http("POST", api_server.url + "/symbolize?report=json", hog.raw.read_bytes())
    meta = json.loads(body)
    assert "input: pprof\n" + meta["summary"] == stderr
    rj = symkeep("symbolize", str(hog.raw), "--store", str(api_store), "--no-debuginfod", "--json",
                 "-o", str(tmp_path / "x.pb.gz"), check=True)
    assert meta["report"] == json.loads(rj.stdout)
    assert "found by store (build ID), build ID checked" in meta["summary"]


@pytest.mark.parametrize("query,args", [
    ("format=folded", ["--format", "folded"]),
    ("format=folded&lines=1&inline_suffix=" + quote("@inl") + "&sample_index=0",
     ["--format", "folded", "--lines", "--inline-suffix", "@inl", "--sample-index", "0"]),
    ("gzip=0", ["--no-gzip"]),
    ("gzip=0&force=1", ["--no-gzip", "--force"]),
])
def test_options_equal_cli(api_server: ServeProc, api_store: Path, api_hog: Callable[[str], ApiHog], tmp_path: Path,
                           query: str, args: list[str]) -> None:
    hog = api_hog("1.27")
    st, _, body = http("POST", f"{api_server.url}/symbolize?{query}", hog.raw.read_bytes())
    assert st == 200, body[:300]
    want, _ = _cli(api_store, hog.raw, tmp_path / "out", *args)
    assert body == want
    if "folded" in query and "lines" not in query:
        # the folded text of the truth (FlameGraph convention, _[i] inline suffix)
        truth = read_profile(hog.truth)
        assert body.decode() == profile_to_folded(truth)


def test_build_for_mapping_without_build_id(api_server: ServeProc, api_hog: Callable[[str], ApiHog]) -> None:
    """Go 1.21 writes no GNU build-id: the mapping records none, so the store cannot be asked by it;
    ``build=GO_BUILD_ID`` names the build (unverified, said in the report)."""
    hog = api_hog("1.21")
    raw = hog.raw.read_bytes()
    st, hdr, body = http("POST", api_server.url + "/symbolize?report=json", raw)
    meta = json.loads(body)
    assert st == 200 and meta["report"]["symbolized"] == 0
    assert "records no build ID" in meta["summary"]
    go_id = build_ids(open_binary(hog.binary)).go
    assert go_id and "/" in go_id
    st, hdr, body = http("POST", f"{api_server.url}/symbolize?build={quote(go_id, safe='')}", raw)
    assert st == 200, body
    got = parse_profile(gzip.decompress(body))
    agree, diffs = weighted_agreement(read_profile(hog.truth), got)
    assert agree >= 0.999, diffs[:5]
    st, _, body = http("POST", f"{api_server.url}/symbolize?build=not..an..id", raw)
    assert st == 400 and body.startswith(b"symkeep: error: ")


def test_folded_input_equals_cli(api_server: ServeProc, api_hog: Callable[[str], ApiHog], tmp_path: Path) -> None:
    """Folded stacks with ``module+0xOFFSET`` frames (no build IDs): ``build=`` names the binary, the answer
    equals ``symkeep symbolize --binary`` on the same text."""
    hog = api_hog("1.27")
    folded = profile_to_folded(read_profile(hog.raw))
    assert "cpuhog+0x" in folded
    src = tmp_path / "in.folded"
    src.write_text(folded)
    gnu = build_ids(open_binary(hog.binary)).gnu
    assert gnu
    st, hdr, body = http("POST", f"{api_server.url}/symbolize?format=folded&build={gnu}", folded.encode())
    assert st == 200, body
    assert hdr["X-Symkeep-Input-Format"] == "folded"
    r = symkeep("symbolize", str(src), "--binary", str(hog.binary), "--no-debuginfod", "--format", "folded",
                "-o", str(tmp_path / "o"), check=True)
    assert body == (tmp_path / "o").read_bytes(), r.stderr
    assert "main.mix_[i]" in body.decode()
