"""Ground-truth tool drivers for the restore tests (llvm-symbolizer, addr2line, nm, gdb, perf)."""

from __future__ import annotations

import random
import re
import shutil
import subprocess
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

Chain = tuple[tuple[str, str, int], ...]  # innermost first: (function, file, line)


def have(tool: str) -> bool:
    return shutil.which(tool) is not None


def nm_funcs(path: Path) -> dict[str, int]:
    """Text symbols (T/t) of ``path`` as name -> address (first occurrence)."""
    out = subprocess.run(["nm", "--defined-only", str(path)], capture_output=True, text=True, check=True).stdout
    res: dict[str, int] = {}
    for line in out.splitlines():
        p = line.split(" ", 2)
        if len(p) == 3 and p[1] in "Tt":
            res.setdefault(p[2], int(p[0], 16))
    return res


def nm_all(path: Path) -> dict[str, int]:
    out = subprocess.run(["nm", "--defined-only", str(path)], capture_output=True, text=True, check=True).stdout
    res: dict[str, int] = {}
    for line in out.splitlines():
        p = line.split(" ", 2)
        if len(p) == 3:
            res.setdefault(p[2], int(p[0], 16))
    return res


def _parse_line(s: str) -> tuple[str, int]:
    m = re.match(r"^(.*?):(\d+|\?)(?::\d+)?(?: \(discriminator \d+\))?$", s.strip())
    if not m:
        return s.strip(), 0
    return m.group(1), int(m.group(2)) if m.group(2) != "?" else 0


def symbolize_llvm(obj: Path, pcs: list[int]) -> list[Chain]:
    """llvm-symbolizer --inlines, one chain per PC (blank-line separated blocks)."""
    inp = "".join(f"0x{pc:x}\n" for pc in pcs)
    out = subprocess.run(["llvm-symbolizer", "--inlines", "--functions=linkage", f"--obj={obj}"],
                         input=inp, capture_output=True, text=True, check=True).stdout
    blocks = out.split("\n\n")
    res: list[Chain] = []
    for b in blocks[: len(pcs)]:
        lines = [x for x in b.split("\n") if x != ""]
        chain = []
        for i in range(0, len(lines) - 1, 2):
            f, ln = _parse_line(lines[i + 1])
            chain.append((lines[i], f, ln))
        res.append(tuple(chain))
    while len(res) < len(pcs):
        res.append(())
    return res


def symbolize_addr2line(obj: Path, pcs: list[int]) -> list[Chain]:
    """binutils addr2line -f -i; a sentinel address after each PC splits the inline chains."""
    sentinel = 0
    inp = "".join(f"{pc:x}\n{sentinel:x}\n" for pc in pcs)
    out = subprocess.run(["addr2line", "-f", "-i", "-e", str(obj)], input=inp, capture_output=True, text=True,
                         check=True).stdout.split("\n")
    res: list[Chain] = []
    cur: list[tuple[str, str, int]] = []
    i = 0
    # each PC yields k>=1 pairs; the sentinel yields exactly "??\n??:0".
    while i + 1 < len(out):
        fn, loc = out[i], out[i + 1]
        i += 2
        if fn == "??" and loc.startswith("??:0") and cur:
            res.append(tuple(cur))
            cur = []
            continue
        f, ln = _parse_line(loc)
        cur.append((fn, f, ln))
    return res


def random_text_pcs(funcs: dict[str, int], sizes: dict[str, int], n: int, seed: int = 1) -> list[int]:
    """``n`` random PCs inside function bodies (uniform over bytes, like profile samples)."""
    rng = random.Random(seed)
    items = sorted((a, sizes.get(nm, 0)) for nm, a in funcs.items() if sizes.get(nm, 0) > 0)
    weights = [s for _, s in items]
    picks = rng.choices(items, weights=weights, k=n)
    return [a + rng.randrange(s) for a, s in picks]


def nm_sizes(path: Path) -> tuple[dict[str, int], dict[str, int]]:
    out = subprocess.run(["nm", "-S", "--defined-only", str(path)], capture_output=True, text=True,
                         check=True).stdout
    addr: dict[str, int] = {}
    size: dict[str, int] = {}
    for line in out.splitlines():
        p = line.split(" ", 3)
        if len(p) == 4 and p[2] in "Tt":
            addr.setdefault(p[3], int(p[0], 16))
            size.setdefault(p[3], int(p[1], 16))
    return addr, size


@dataclass
class Agreement:
    total: int = 0
    same: int = 0
    diffs: Counter[str] = field(default_factory=Counter)
    examples: dict[str, tuple[int, Chain, Chain]] = field(default_factory=dict)

    @property
    def ratio(self) -> float:
        return self.same / self.total if self.total else 0.0


def compare(pcs: list[int], ours: list[Chain], truth: list[Chain], classify: bool = True) -> Agreement:
    ag = Agreement()
    for pc, a, b in zip(pcs, ours, truth, strict=False):
        ag.total += 1
        if a == b:
            ag.same += 1
            continue
        if [x[0] for x in a] != [x[0] for x in b]:
            cls = "function/inline chain"
        elif [x[1] for x in a] != [x[1] for x in b]:
            cls = "file"
        else:
            cls = "line"
        ag.diffs[cls] += 1
        ag.examples.setdefault(cls, (pc, a, b))
    return ag


@dataclass(frozen=True)
class NmSym:
    name: str
    addr: int
    letter: str  # nm's type letter (T/t text, D/d data, B/b bss or NOBITS, R/r read-only, ...)


def nm_table(path: Path) -> list[NmSym]:
    """Every defined symbol ``nm`` lists (duplicates kept: generic shapes share abbreviated names)."""
    out = subprocess.run(["nm", "--defined-only", str(path)], capture_output=True, text=True, check=True).stdout
    res = []
    for line in out.splitlines():
        p = line.split(" ", 2)
        if len(p) == 3:
            res.append(NmSym(p[2], int(p[0], 16), p[1]))
    return res


def readelf_sections(path: Path) -> dict[str, tuple[int, int]]:
    """Section name -> (address, size), as ``readelf -SW`` prints them."""
    out = subprocess.run(["readelf", "-SW", str(path)], capture_output=True, text=True, check=True).stdout
    res: dict[str, tuple[int, int]] = {}
    for line in out.splitlines():
        m = re.match(r"\s*\[\s*\d+\]\s+(\S+)\s+\S+\s+([0-9a-f]+)\s+[0-9a-f]+\s+([0-9a-f]+)\s", line)
        if m:
            res.setdefault(m.group(1), (int(m.group(2), 16), int(m.group(3), 16)))
    return res
