"""Helpers shared by the profile tests (not fixtures)."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from symkeep.profile.pprof import Profile


def strip_symbols(p: Profile) -> Profile:
    """Copy of ``p`` with all symbol information removed: no functions, no lines, no has_* flags."""
    q = Profile()
    q.CopyFrom(p)
    for loc in q.location:
        del loc.line[:]
    del q.function[:]
    for m in q.mapping:
        m.has_functions = m.has_filenames = m.has_line_numbers = m.has_inline_frames = False
    return q


def frames_by_location(p: Profile) -> dict[int, list[tuple[str, str, int, int]]]:
    """location id -> [(function, file, line, start_line)] innermost first."""
    st = p.string_table
    fn = {f.id: f for f in p.function}
    out: dict[int, list[tuple[str, str, int, int]]] = {}
    for loc in p.location:
        fr = []
        for ln in loc.line:
            f = fn[ln.function_id]
            fr.append((st[f.name], st[f.filename], ln.line, f.start_line))
        out[loc.id] = fr
    return out


def weighted_agreement(orig: Profile, got: Profile, value_index: int = -1) -> tuple[float, list[str]]:
    """Fraction of sample weight whose every location has identical (function, line) frames."""
    a = frames_by_location(orig)
    b = frames_by_location(got)
    tot = ok = 0
    diffs: list[str] = []
    for s in orig.sample:
        w = s.value[value_index]
        tot += w
        bad = [lid for lid in s.location_id if [(x[0], x[2]) for x in a[lid]] != [(x[0], x[2]) for x in b[lid]]]
        if not bad:
            ok += w
        else:
            diffs.extend(f"loc {lid}: want {a[lid]} got {b[lid]}" for lid in bad[:3])
    return (ok / tot if tot else 0.0), diffs


@dataclass
class Run:
    code: int
    stdout: bytes
    stderr: str
    max_rss: int  # bytes (the child's own VmHWM)


def run_symkeep(args: list[str], *, stdin: bytes | Path | None = None, timeout: float = 120,
                mem_cap: int = 256 << 20, env: dict[str, str] | None = None) -> Run:
    """``python -m symkeep ARGS`` in a child with its data segment capped at ``mem_cap`` (a memory
    bound, as the hostile-input issue asks), a hang guard, and its peak RSS read back."""
    fd, rss_file = tempfile.mkstemp(prefix="symkeep-rss-")
    os.close(fd)
    boot = (
        "import atexit, sys\n"
        "def _hwm():\n"
        "    for ln in open('/proc/self/status'):\n"
        "        if ln.startswith('VmHWM:'):\n"
        f"            open({rss_file!r}, 'w').write(ln.split()[1])\n"
        "atexit.register(_hwm)\n"
        "sys.argv[0] = 'symkeep'\n"
        "from symkeep.cli import main\n"
        "main()\n"
    )
    e = dict(os.environ if env is None else env, OPENBLAS_NUM_THREADS="1")
    e.pop("SYMKEEP_DEBUG", None)

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_DATA, (mem_cap, mem_cap))

    fin = open(stdin, "rb") if isinstance(stdin, Path) else subprocess.PIPE  # noqa: SIM115
    try:
        p = subprocess.Popen([sys.executable, "-c", boot, *args], stdin=fin, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, env=e, preexec_fn=limit)
        try:
            out, err = p.communicate(stdin if isinstance(stdin, bytes) else None, timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.communicate()
            raise AssertionError(f"symkeep {args[:3]} hung for {timeout}s") from None
    finally:
        if isinstance(stdin, Path):
            fin.close()  # type: ignore[union-attr]
    try:
        with open(rss_file) as fh:
            rss = int(fh.read() or 0) * 1024
    finally:
        os.unlink(rss_file)
    return Run(p.returncode, out, err.decode("utf-8", "replace"), rss)


def one_line_error(r: Run, code: int) -> str:
    """The error line of a failed run, after checking the contract: the exit code, one line, no traceback."""
    assert r.code == code, (r.code, r.stderr[-2000:])
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("symkeep: error:") and "Traceback" not in r.stderr, r.stderr
    return lines[0]


def hog_profiles(binary: Path, d: Path, name: str, mapping_file: str | None = None) -> tuple[Path, Path]:
    """Run a cpuhog ``binary`` for 2 s in ``d``: its own runtime/pprof CPU profile (symbolized in-process:
    the truth) and the same profile with every name removed (``name``-raw.pb.gz, what a symbolizer must
    name); ``mapping_file`` renames the main mapping's file (a path that does not exist here)."""
    import subprocess

    from symkeep.profile.pprof import read_profile, serialize_profile

    truth = d / "cpu.pprof"
    subprocess.run([str(binary), str(truth), "2"], check=True, capture_output=True, timeout=120)
    q = strip_symbols(read_profile(truth))
    if mapping_file is not None:
        fname = q.string_table[q.mapping[0].filename]
        assert fname == str(binary), fname
        q.string_table.append(mapping_file)
        q.mapping[0].filename = len(q.string_table) - 1
    raw = d / f"{name}-raw.pb.gz"
    raw.write_bytes(serialize_profile(q))
    return truth, raw
