"""Hostile binaries through the engine paths behind every command: one answer each, bounded work.

T is a real Go 1.27 program built with ``-ldflags='-s -w'``; each case mutates it the way issue #11
describes and runs the real CLI (``funcs``, ``addr2line``, ``restore``, ``inspect``) in a subprocess
with a generous hang guard (a timeout, not a speed assertion).
"""

from __future__ import annotations

import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from fixtures.factory import FixtureSpec
from symkeep.binfmt.elf import ELFFile
from symkeep.symbolize import GoBinary, open_go_binary

GUARD = 120  # seconds: a hang guard, far above the normal run time of each command


def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """``symkeep ARGS`` as a user runs it (stdout discarded: only the exit code and stderr matter)."""
    return subprocess.run([sys.executable, "-m", "symkeep", *args], input=stdin, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True, timeout=GUARD, env=os.environ.copy())


def all_commands(path: Path, tmp: Path, addrs: str = "0x401000\n") -> dict[str, subprocess.CompletedProcess[str]]:
    return {
        "inspect": run("inspect", str(path)),
        "funcs": run("funcs", "--ndjson", "--lines", str(path)),
        "addr2line": run("addr2line", "-f", "-i", "-e", str(path), stdin=addrs),
        "restore": run("restore", str(path), "-o", str(tmp / "out.debug")),
    }


def one_line_error(r: subprocess.CompletedProcess[str]) -> bool:
    lines = r.stderr.strip().splitlines()
    return len(lines) == 1 and lines[0].startswith("symkeep: error:") and "Traceback" not in r.stderr


@pytest.fixture(scope="module")
def t_bin(fixture) -> tuple[Path, bytes]:
    path = fixture(FixtureSpec("1.27", "linux", "amd64", "sw", "hello"))
    return path, path.read_bytes()


def _write(tmp: Path, name: str, data: bytes | bytearray) -> Path:
    p = tmp / name
    p.write_bytes(bytes(data))
    p.chmod(0o755)
    return p


def test_endless_pcvalue_streams_are_bounded(t_bin, tmp_path: Path) -> None:
    """#11.2: the whole pctab becomes ``02 00`` pairs (value +1, pc delta 0: a stream that never
    advances) and every function's pcsp/pcfile/pcln points at it. Each function's decode stops after
    (size / quantum) + 2 pairs; every command answers (functions by name) instead of walking the
    pctab once per function."""
    path, data = t_bin
    with open_go_binary(path) as g:
        tab, loc = g.pclntab, g.location
        lay = tab.func_layout
        base = loc.offset
        buf = bytearray(data)
        lo, hi = base + tab.pctab_offset, base + tab.pcln_offset
        buf[lo + 2 : hi] = b"\x02\x00" * ((hi - lo - 2) // 2) + b"\x02" * ((hi - lo - 2) % 2)
        for i in range(g.nfunc):
            rec = base + tab.func_record_offset(i)
            for field in (lay.pcsp, lay.pcfile, lay.pcln):
                struct.pack_into("<I", buf, rec + field, 2)
        entries = g.entries
        nfunc = g.nfunc
    bad = _write(tmp_path, "endless", buf)
    with GoBinary(ELFFile(str(bad), bytes(buf))) as h:
        for i in range(0, nfunc, 97):
            size = int(entries[i + 1] - entries[i])
            assert len(h.sp_deltas(i)) <= size + 2
            assert [r.frames[0].file for r in h.ranges(i)] in ([], ["?"])
    addrs = "".join(f"{int(entries[0]) + 7 * k:#x}\n" for k in range(25_000))
    res = all_commands(bad, tmp_path, addrs)
    for cmd, r in res.items():
        assert r.returncode == 0, (cmd, r.stderr[-400:])


def _no_text_start(data: bytes) -> bytearray:
    """T without section headers (as after `objcopy`-style damage) and with its moduledata's pcHeader
    and funcnametab pointers zeroed: no runtime.text, no moduledata, no .text, and Go 1.27 writes 0
    as the header's textStart."""
    buf = bytearray(data)
    with ELFFile("T", bytes(data)) as b:
        g = GoBinary(b)
        md = g.moduledata
        assert md is not None and g.text_start_source in ("moduledata.text", "pclntab header")
        off = b.vaddr_to_offset(md.address)
        assert off is not None
    struct.pack_into("<QQ", buf, off, 0, 0)
    struct.pack_into("<Q", buf, 0x28, 0)  # e_shoff
    struct.pack_into("<HHH", buf, 0x3A, 0, 0, 0)  # e_shentsize, e_shnum, e_shstrndx
    return buf


def test_text_start_zero_is_refused_everywhere(t_bin, tmp_path: Path) -> None:
    """#11.8: a text start that cannot be found is never taken as 0 (every entry would move by
    -0x401000): FormatError, exit 6, in every command."""
    path, data = t_bin
    bad = _write(tmp_path, "notext", _no_text_start(data))
    for cmd, r in all_commands(bad, tmp_path).items():
        assert r.returncode == 6 and one_line_error(r), (cmd, r.returncode, r.stderr[-300:])
        assert "text start" in r.stderr, (cmd, r.stderr)


def test_wrong_text_start_is_refused(fixture, tmp_path: Path) -> None:
    """Go 1.18-1.25 headers still carry textStart: with no symbol, no moduledata and no section
    headers it is the only source. A wrong value (here 0x10) would move every function outside the
    executable segment: refused (exit 6), not used."""
    path = fixture(FixtureSpec("1.21", "linux", "amd64", "sw", "hello"))
    buf = _no_text_start(path.read_bytes())
    with open_go_binary(path) as g:
        at = g.location.offset + 8 + 2 * 8  # header word 2: textStart
        assert g.pclntab.text_start_header == g.text_start
    struct.pack_into("<Q", buf, at, 0x10)
    bad = _write(tmp_path, "wrongtext", buf)
    for cmd, r in all_commands(bad, tmp_path).items():
        assert r.returncode == 6 and one_line_error(r), (cmd, r.returncode, r.stderr[-300:])
        assert "outside the executable segments" in r.stderr, (cmd, r.stderr)


@pytest.mark.parametrize("where", ["before_moduledata", "inside_pclntab"])
def test_truncated_binary_is_a_format_error(t_bin, tmp_path: Path, where: str) -> None:
    """#11.8 / #10.8: T cut just before its module data (and so its section headers), or inside its
    .gopclntab: exit 6 in every command (``inspect`` already said so; the others said 0 or 5)."""
    path, data = t_bin
    with open_go_binary(path) as g:
        sec = g.binary.section(".go.module") or g.binary.section(".noptrdata")
        pcl = g.binary.section(".gopclntab")
        assert sec is not None and pcl is not None
        cut = sec.offset if where == "before_moduledata" else pcl.offset + pcl.file_size // 2
    bad = _write(tmp_path, where, data[:cut])
    for cmd, r in all_commands(bad, tmp_path).items():
        assert r.returncode == 6 and one_line_error(r), (cmd, r.returncode, r.stderr[-300:])
    assert not (tmp_path / "out.debug").exists()


def test_nfunc_zero_is_one_answer(t_bin, tmp_path: Path) -> None:
    """#11.15: a header with no functions: FormatError (exit 6) in every command, not exit 4 in
    restore and an empty listing in funcs."""
    path, data = t_bin
    with open_go_binary(path) as g:
        at = g.location.offset + 8
    buf = bytearray(data)
    struct.pack_into("<Q", buf, at, 0)
    bad = _write(tmp_path, "nfunc0", buf)
    for cmd, r in all_commands(bad, tmp_path).items():
        assert r.returncode == 6 and one_line_error(r), (cmd, r.returncode, r.stderr[-300:])
        assert "no functions" in r.stderr


@pytest.mark.parametrize("kind", ["fifo", "directory", "device"])
def test_non_regular_binary_is_refused(tmp_path: Path, kind: str) -> None:
    """#11.11: a FIFO (no writer: opening it would block), a directory or a device as the binary:
    exit 3 at once in every command."""
    if kind == "fifo":
        p = tmp_path / "fifo"
        os.mkfifo(p)
    elif kind == "directory":
        p = tmp_path
    else:
        p = Path("/dev/zero")
    for cmd, r in all_commands(p, tmp_path).items():
        assert r.returncode == 3 and one_line_error(r), (cmd, r.returncode, r.stderr[-300:])
