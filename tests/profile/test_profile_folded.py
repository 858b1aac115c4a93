"""Folded output follows the FlameGraph conventions (issue #15.2): inline frames `_[i]`, kernel frames
`_[k]`, one `stack count` line per distinct stack; and the README's recipe for the hottest stack
really prints the hottest stack."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from sk_profile_helpers import run_symkeep

README = Path(__file__).resolve().parents[2] / "README.md"
# flamegraph.pl's own line grammar (stackcollapse output): everything up to the last blank is the
# stack, then the count.
FLAMEGRAPH_LINE = re.compile(r"^(.*)\s+?(\d+(?:\.\d*)?)$")


def _folded(perf_run: tuple[Path, Path, Path], *extra: str) -> str:
    _, data, txt = perf_run
    r = run_symkeep(["symbolize", str(txt), "--perf-data", str(data), "--format", "folded", "-q", *extra])
    assert r.code == 0, r.stderr
    return r.stdout.decode()


def test_folded_suffixes_and_grammar(perf_run: tuple[Path, Path, Path]) -> None:
    out = _folded(perf_run)
    lines = out.splitlines()
    assert lines and len(set(ln.rpartition(" ")[0] for ln in lines)) == len(lines)  # one line per stack
    for ln in lines:
        m = FLAMEGRAPH_LINE.match(ln)
        assert m and m.group(1) == ln.rpartition(" ")[0], ln
        frames = m.group(1).split(";")
        assert all(frames), ln
        assert not any(f.endswith(" (inline)") for f in frames)
    frames = {f for ln in lines for f in ln.rpartition(" ")[0].split(";")}
    assert "main.mix_[i]" in frames  # inlined into main.spin
    assert "main.spin" in frames and "main.spin_[i]" not in frames
    kernel = [f for f in frames if f.endswith("_[k]")]
    # every frame perf named from kallsyms is a kernel frame, and nothing of the Go binary is
    assert kernel and not any(f.startswith(("main.", "runtime.")) for f in kernel)
    if shutil.which("flamegraph.pl") or shutil.which("flamegraph"):
        tool = shutil.which("flamegraph.pl") or shutil.which("flamegraph")
        svg = subprocess.run([str(tool)], input=out, capture_output=True, text=True, timeout=60)
        assert svg.returncode == 0 and "<svg" in svg.stdout, svg.stderr


def test_readme_recipe_prints_the_hottest_stack(perf_run: tuple[Path, Path, Path], tmp_path: Path) -> None:
    text = README.read_text()
    recipe = next(
        ln[2:] for ln in text.splitlines()
        if ln.startswith("$ symkeep symbolize") and "--format folded" in ln and "|" in ln
    )
    _, data, txt = perf_run
    cmd = recipe.replace("perf.txt", str(txt)).replace("perf.data", str(data)).replace("symkeep ", "python3 -m symkeep ", 1)
    # symkeep's own status (the first stage): `sort` may die of SIGPIPE once `head -1` has its line, when the
    # output is larger than a pipe buffer, as it does in any shell
    r = subprocess.run(["bash", "-c", cmd + '; exit "${PIPESTATUS[0]}"'], capture_output=True, text=True, timeout=300,
                       cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    got = r.stdout.strip()
    lines = _folded(perf_run).splitlines()
    best = max(int(ln.rpartition(" ")[2]) for ln in lines)
    hottest = {ln for ln in lines if int(ln.rpartition(" ")[2]) == best}
    assert got in hottest, (got, sorted(hottest))
