"""Checks on `perf record` data and perf's build-id cache.

- frame-pointer callchains (`perf record -g`): a sample taken where the function has no frame yet (a
  frameless leaf, or a prologue before the frame pointer is pushed; pcsp delta 0 or one word) loses
  its caller: the unwinder reads the caller's frame pointer and jumps to the caller's caller. The
  frame sizes come from .gopclntab's pcsp tables (``GoEngine.sp_deltas``), the stacks from `perf script`.
- `--call-graph=dwarf` on a Go binary without .eh_frame: libunwind stops at the first frame.
- perf's ``~/.debug`` holding a different file under this binary's build-id (an unstripped twin):
  `perf report` names the binary from the cache, so what works here fails elsewhere (FACTS.md §2).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from symkeep.doctor.binary import BinaryFacts
from symkeep.doctor.model import Finding
from symkeep.errors import ToolError
from symkeep.fsio import sha256_stream
from symkeep.profile.perfscript import PerfFrame, parse_frame

__all__ = ["PerfData", "cache_entry", "check_cache_twin", "check_unwinding", "read_perf_data"]

PERF_TIMEOUT = 600
MAX_SCRIPT_BYTES = 512 << 20


@dataclass
class PerfData:
    path: str
    sample_type: str  # from `perf evlist -v`
    samples: list[list[tuple[int, str]]] = field(default_factory=list)  # per sample: (ip, dso) leaf first

    @property
    def callchain(self) -> str:
        if "CALLCHAIN" not in self.sample_type:
            return "none"
        return "dwarf" if "STACK_USER" in self.sample_type else "fp"

    def dsos(self) -> Counter[str]:
        return Counter(fr[0][1] for fr in self.samples if fr)


def _perf() -> str:
    p = shutil.which("perf")
    if p is None:
        raise ToolError("perf is not installed (Debian: linux-perf): needed to read --perf-data")
    return p


def read_perf_data(path: str, env: dict[str, str] | None = None) -> PerfData:
    """Sample stacks (instruction pointers as perf prints them, with their DSO) from `perf script`."""
    perf = _perf()
    e = dict(os.environ if env is None else env)
    try:
        ev = subprocess.run([perf, "evlist", "-v", "-i", path], capture_output=True, text=True, env=e,
                            timeout=PERF_TIMEOUT)
        sc = subprocess.run([perf, "script", "-F", "comm,pid,tid,ip,sym,dso", "-i", path], capture_output=True,
                            env=e, timeout=PERF_TIMEOUT)
    except subprocess.TimeoutExpired as exc:
        raise ToolError(f"perf timed out reading {path}") from exc
    if sc.returncode != 0:
        raise ToolError(f"perf script -i {path} failed: {sc.stderr.decode(errors='replace').strip()[-300:]}")
    text = sc.stdout[:MAX_SCRIPT_BYTES].decode("utf-8", errors="replace")
    st = next((seg.split(":", 1)[1].split(",")[0].strip() for ln in ev.stdout.splitlines()
               for seg in ln.split(", ") if seg.strip().startswith("sample_type:")), "")
    pd = PerfData(path, st)
    pd.samples = [[(fr.ip, fr.dso) for fr in frames] for frames in _stacks(text.splitlines())]
    return pd


def _stacks(lines: list[str]) -> list[list[PerfFrame]]:
    """Leaf-first frames of each sample of ``perf script -F comm,pid,tid,ip,sym,dso``.

    With callchains a sample is a header line (``comm pid/tid``), indented frame lines and a blank line;
    without, one line per sample with the frame after ``pid/tid``. The frame grammar is the profile
    layer's (``perfscript.parse_frame``); only the header shape, fixed by our own ``-F``, is read here."""
    out: list[list[PerfFrame]] = []
    cur: list[PerfFrame] | None = None
    for ln in lines:
        if not ln.strip():
            cur = None
            continue
        if ln[0] in " \t":
            fr = parse_frame(ln.strip(), True, strict=False)
            if fr is not None:
                if cur is None:
                    cur = []
                    out.append(cur)
                cur.append(fr)
            continue
        cur = None
        toks = ln.split()
        pid = next((i for i, t in enumerate(toks) if "/" in t and t.replace("/", "").isdigit()), None)
        if pid is not None and pid + 1 < len(toks):
            fr = parse_frame(" ".join(toks[pid + 1:]), False, strict=False)
            if fr is not None:
                out.append([fr])
                continue
        cur = []
        out.append(cur)
    return [s for s in out if s]


def _matches(dso: str, binary: str) -> bool:
    return os.path.abspath(dso) == os.path.abspath(binary) or os.path.basename(dso) == os.path.basename(binary)


def _offset_to_vaddr(binary: str) -> list[tuple[int, int, int]]:
    from symkeep.binfmt import open_binary

    with open_binary(binary) as b:
        return [(s.offset, s.filesz, s.vaddr) for s in b.segments() if s.load and s.execute]


def check_unwinding(pd: PerfData, f: BinaryFacts) -> Finding | None:
    from symkeep.symbolize import GoEngine, open_go_binary

    if pd.callchain == "none":
        return None
    mine = [s for s in pd.samples if s and _matches(s[0][1], f.path)]
    if pd.callchain == "dwarf":
        has_cfi = _has_eh_frame(f.path)
        if has_cfi:
            return Finding("dwarf-unwind-no-cfi", "ok", "the binary has .eh_frame for dwarf unwinding")
        deep = sum(1 for s in mine if len(s) > 2)
        return Finding("dwarf-unwind-no-cfi", "problem" if mine and deep < 0.5 * len(mine) else "info",
                       "perf --call-graph=dwarf: Go binaries have no .eh_frame, so libunwind stops at the first frame",
                       [f"{pd.path}: sample_type {pd.sample_type}", f"{deep} of {len(mine)} samples in {f.path} "
                        "have more than two frames"],
                       f"`symkeep restore {f.path} --perf-cache` adds an unwindable copy to perf's cache")
    segs = _offset_to_vaddr(f.path)

    def vaddr(off: int) -> int | None:
        # callchain entries of a file are perf's map_ip: file offsets (FACTS.md; symkeep.profile.perfscript)
        for o, n, v in segs:
            if o <= off < o + n:
                return off - o + v
        return None

    eng: GoEngine = open_go_binary(f.path)
    frameless: Counter[str] = Counter()
    prologue: Counter[str] = Counter()
    callers: dict[str, Counter[str]] = {}
    try:
        whole: dict[str, bool] = {}
        for s in mine:
            pc = vaddr(s[0][0])
            fn = eng.function_at(pc) if pc is not None else None
            if fn is None or pc is None:
                continue
            deltas = eng.sp_deltas(fn)
            d = next((x for a, b, x in deltas if a <= pc < b), None)
            if d is None or d > eng.pclntab.ptrsize:
                continue
            if fn.name not in whole:
                whole[fn.name] = all(x == 0 for _, _, x in deltas)
            (frameless if whole[fn.name] else prologue)[fn.name] += 1
            if len(s) > 1 and _matches(s[1][1], f.path):
                cpc = vaddr(s[1][0])
                cf = eng.lookup(cpc - 1) if cpc else []
                callers.setdefault(fn.name, Counter())[cf[-1].function if cf else "?"] += 1
    finally:
        eng.close()
    lost = sum(frameless.values()) + sum(prologue.values())
    ev = [f"{pd.path}: frame-pointer callchains (sample_type {pd.sample_type}), {len(mine)} samples with their "
          f"leaf in {f.path}",
          f"{lost} samples ({100.0 * lost / max(1, len(mine)):.1f}%) were taken where .gopclntab's pcsp says the "
          f"function has no frame (frameless functions: {sum(frameless.values())}, prologues: {sum(prologue.values())})"]
    for name, n in frameless.most_common(3):
        shown = ", ".join(f"{c} ({k})" for c, k in callers.get(name, Counter()).most_common(2))
        ev.append(f"{name}: {n} samples, frame size 0 in its whole body; perf shows its caller as: {shown or '-'} "
                  "(the caller's caller: the real caller is skipped)")
    data = {"samples": len(mine), "lost": lost, "frameless": dict(frameless), "prologue": dict(prologue)}
    # A frameless function with any visible self time (0.2% of the samples, at least 5) is drawn under
    # the wrong parent in every flame graph made from these stacks: worth naming.
    if not mine or lost < max(5, 0.002 * len(mine)):
        return Finding("frameless-leaf", "ok", f"{lost} of {len(mine)} samples in frameless code", ev, data=data)
    top = ", ".join(n for n, _ in frameless.most_common(3)) or ", ".join(n for n, _ in prologue.most_common(3))
    return Finding("frameless-leaf", "problem",
                   f"frame-pointer unwinding lost the caller in {lost} of {len(mine)} samples: they land in code "
                   f"without a frame ({top}), so flame graphs hang them under the caller's caller", ev,
                   f"record with --call-graph=dwarf after `symkeep restore {f.path} --perf-cache` (unwind tables "
                   "from .gopclntab), or use runtime/pprof (the Go runtime unwinds exactly)", data)


def _has_eh_frame(path: str) -> bool:
    from symkeep.binfmt import open_binary

    with open_binary(path) as b:
        return b.section(".eh_frame") is not None and b.section(".eh_frame_hdr") is not None


def sha256_file(path: str | os.PathLike[str]) -> str:
    with open(path, "rb") as f:
        return sha256_stream(f)[0]


def cache_entry(cache: Path, gnu_id: str) -> Path | None:
    from symkeep.binfmt.debugdirs import perf_cache_link

    link = perf_cache_link(cache, gnu_id)
    try:
        target = link.resolve(strict=True)
    except (OSError, RuntimeError):
        return None
    return target if target.is_dir() else None


def check_cache_twin(cache: Path, f: BinaryFacts) -> tuple[Finding | None, str | None]:
    """(finding, what rescues naming for perf: a cached file with symbols, or None)."""
    from symkeep.binfmt import open_binary
    from symkeep.inspect.retention import has_dwarf, has_symtab

    if not f.gnu_id:
        return None, None
    entry = cache_entry(cache, f.gnu_id)
    if entry is None:
        return Finding("perf-cache-twin", "ok", f"perf's cache {cache} has no entry for build-id {f.gnu_id}"), None
    own = sha256_file(f.path)
    ev = [f"{cache}/.build-id/{f.gnu_id[:2]}/{f.gnu_id[2:]} -> {entry}", f"{f.path}: sha256 {own}, .symtab "
          f"{'present' if f.has_symtab else 'stripped'}"]
    rescue = None
    twin = None
    for name in ("elf", "debug"):
        p = entry / name
        if not p.is_file():
            continue
        try:
            with open_binary(str(p)) as b:
                sym, dw = has_symtab(b), has_dwarf(b)
        except Exception:  # noqa: BLE001 - an unreadable cache file is evidence, not a crash
            sym = dw = False
        sha = sha256_file(p)
        ev.append(f"{p}: sha256 {sha}, .symtab {'present' if sym else 'absent'}, DWARF {'present' if dw else 'absent'}")
        if sym or dw:
            rescue = f"perf's cache ({p})"
        if name == "elf" and sha != own and (sym and not f.has_symtab or dw and not f.has_dwarf):
            twin = p
    if twin is None:
        return Finding("perf-cache-twin", "ok", "perf's cache entry for this build-id holds no unstripped twin", ev), rescue
    return Finding("perf-cache-twin", "problem",
                   f"perf's build-id cache holds a different, unstripped file with this build-id ({twin}): perf "
                   "report names your stripped binary from it, so results depend on this machine's cache", ev,
                   f"perf buildid-cache --remove {twin} (or rm -r {entry}); test with HOME set to an empty "
                   "directory; give each build its own build-id"), rescue
