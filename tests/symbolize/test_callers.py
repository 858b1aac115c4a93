"""runtime.Callers PCs expanded by symkeep vs runtime.CallersFrames in the same process (ground truth).

The ``callers`` fixture program records stacks through three levels of inlining and writes both the
raw PCs and what runtime.CallersFrames made of them. runtime.Callers returns *return* PCs, and for
inlined calls it also returns one "virtual" PC per outer logical frame (entry + parentPc + 1).
CallersFrames backs each PC up by one (when past the entry) and yields its innermost frame; when the
next PC is not the implied virtual PC of the outer frame it yields that frame too. We emulate exactly
that on top of ``GoBinary.lookup(pc, return_address=True)``.
"""

from __future__ import annotations

import json
import platform
import subprocess
from pathlib import Path

import pytest

from fixtures.factory import FixtureSpec
from symkeep.symbolize import Frame, GoBinary, open_go_binary

pytestmark = pytest.mark.skipif(platform.machine() != "x86_64", reason="runs linux/amd64 fixtures natively")


def run_callers(path: Path, tmp: Path) -> tuple[dict[int, list[int]], dict[int, list[dict[str, object]]]]:
    out = tmp / "callers.jsonl"
    subprocess.run([str(path), str(out)], check=True, capture_output=True, timeout=120)
    stacks: dict[int, list[int]] = {}
    frames: dict[int, list[dict[str, object]]] = {}
    for line in out.read_text().splitlines():
        rec = json.loads(line)
        if "pcs" in rec:
            stacks[rec["stack"]] = rec["pcs"]
        else:
            frames.setdefault(rec["stack"], []).append(rec)
    return stacks, frames


def expand_like_callersframes(g: GoBinary, pcs: list[int]) -> list[Frame]:
    out: list[Frame] = []
    for i, pc in enumerate(pcs):
        chain = g.lookup(pc, return_address=True)
        if not chain:
            continue
        out.append(chain[0])
        nxt = g.lookup(pcs[i + 1], return_address=True) if i + 1 < len(pcs) else None
        for k in range(1, len(chain)):
            if nxt == chain[k:]:
                break  # the next PC is the virtual PC of this outer frame
            out.append(chain[k])
            if not chain[k].inlined:
                break
    return out


@pytest.mark.parametrize("variant", ["sw", "pie", "default"])
@pytest.mark.parametrize("tc", ["1.19", "1.21", "1.24", "1.27"])
def test_callers_frames_match_runtime(fixture, tmp_path: Path, tc: str, variant: str) -> None:
    path = fixture(FixtureSpec(tc, "linux", "amd64", variant, "callers"))
    stacks, truth = run_callers(path, tmp_path)
    assert stacks, "the program recorded no stacks"
    with open_go_binary(path) as g:
        # PIE runs at a random base: the slide is runtime entry minus link-time entry of main.main.
        mains = [f for s in truth.values() for f in s if f["function"] == "main.main"]
        assert mains
        fn = next(f for f in g.functions() if f.name == "main.main")
        slide = int(mains[0]["entry"]) - fn.entry  # type: ignore[call-overload]
        if variant != "pie":
            assert slide == 0
        n_inlined = 0
        for k, pcs in stacks.items():
            ours = expand_like_callersframes(g, [pc - slide for pc in pcs])
            want = [(f["function"], f["file"], f["line"]) for f in truth[k]]
            got = [(f.function, f.file, f.line) for f in ours]
            assert got == want, f"stack {k}"
            n_inlined += sum(f.inlined for f in ours)
            for f in truth[k]:
                phys = g.function_at(int(f["pc"]) - slide)  # type: ignore[call-overload]
                assert phys is not None and phys.entry == int(f["entry"]) - slide  # type: ignore[call-overload]
        assert n_inlined >= 3, "the fixture's inlined frames were not exercised"
