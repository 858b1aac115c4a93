"""``perf script`` lines -> a raw-address pprof profile (streamed; see :mod:`rawprofile`).

Address semantics, measured on perf 6.1: callchain entries of user-space DSOs print perf's
``map_ip`` (the file offset), while a sample's own ``ip`` without ``-g`` is the runtime address.
So callchain addresses of a file become locations in a mapping starting at 0 with file offset 0
(address == file offset, which pprof's own rules turn back into link-time addresses); runtime
addresses use the process's mmap event when there is one, else are taken as link-time addresses
(non-PIE executables). Caller frames are return addresses (flagged; the symbolizer looks them up at
``address - 1``). Names perf printed (kernel, libc, ...) are kept as fallbacks.

perf script output carries no build IDs: the mapping's binary cannot be verified from it alone
(``LoadedInput.set_build_ids`` takes them from the perf.data file, :mod:`perfdata`).
"""

from __future__ import annotations

from collections.abc import Iterable

from symkeep.errors import FormatError
from symkeep.profile.limits import DEFAULT_LIMITS, Limits
from symkeep.profile.mapping import classify_mapping
from symkeep.profile.perfscript import (
    WHAT,
    Header,
    PerfFrame,
    parse_frame,
    parse_header,
    parse_mmap,
    parse_simple_event,
)
from symkeep.profile.rawprofile import LoadedInput, RawProfileBuilder

__all__ = ["MAX_MMAPS", "PerfConverter", "perf_to_profile"]

MAX_MMAPS = 1 << 16  # executable mmap events kept (beyond: counted as skipped lines)
MAX_MMAPS_PER_FILE = 64  # per (pid, file): a process maps its binary a handful of times
FILE_OFFSETS = 1 << 63  # placeholder limit of a file-offset mapping; set from the addresses at the end


class PerfConverter:
    """Feed lines with :meth:`feed`, then :meth:`finish`. Keeps O(distinct locations + stacks)."""

    def __init__(self, limits: Limits = DEFAULT_LIMITS) -> None:
        self.limits = limits
        self.b = RawProfileBuilder("perf", [("samples", "count"), ("period", "count")], aggregate=True)
        self.notes = self.b.out.notes
        self.notes.max_frames = limits.max_frames
        self.mmaps: dict[tuple[int | None, str], list[tuple[int, int, int]]] = {}
        self.n_mmaps = 0
        self.saw_header = False
        self.event = ""
        self.any_period = False
        self.cur: list[PerfFrame] | None = None
        self.cur_pid: int | None = None
        self.cur_period: int | None = None
        self.cur_line = 0
        self.truncated = False
        # Before any header: lines are either callchain blocks (blank line between) or one sample
        # per line (-F ip,sym,dso without -g); undecided until a blank line or a long run.
        self.block: list[PerfFrame] = []
        self.headerless_mode = ""  # '', 'blocks' or 'lines'
        self.frame_cache: dict[tuple[str, int, bool, bool, int | None], tuple[int, bool]] = {}

    # -- lines ------------------------------------------------------------------------------------
    def feed(self, lineno: int, line: str) -> None:
        if "PERF_RECORD_" in line:
            if "PERF_RECORD_MMAP" in line:
                self._mmap(lineno, line)
            return
        if not line.strip():
            if self.saw_header:
                self._flush()
            elif self.block:
                self.headerless_mode = "blocks"
                self._flush_block()
            return
        if line.startswith("#"):
            return  # perf script --header
        hm = parse_header(line.strip(), lineno)
        if hm is not None and not (hm.has_time or hm.has_tid or hm.period is not None) and line[:1].isspace():
            hm = None  # "  comm pid event:" shape on an indented line: a frame line, not a header
        if hm is not None or not line[:1].isspace():
            sm = hm or parse_simple_event(line, lineno)
            if sm is None:
                self.notes.skipped_lines += 1
                return
            self._start(lineno, sm)
            return
        fr = parse_frame(line, True, lineno)
        if fr is None:
            self.notes.skipped_lines += 1
            return
        if self.saw_header:
            if self.cur is None:
                self._start(lineno, Header("", None, None, "", ""))
            assert self.cur is not None
            self._append(self.cur, fr)
        elif self.headerless_mode == "lines":
            fr.in_callchain = False
            self._emit([fr], None, None, lineno)
        elif self.headerless_mode == "blocks":
            self._append(self.block, fr)  # capped: the frames kept are the leaf-most
        else:
            self.block.append(fr)
            if len(self.block) > self.limits.max_frames:
                self.headerless_mode = "lines"  # no blank line after this many: one sample per line
                self._flush_block()

    def _append(self, frames: list[PerfFrame], fr: PerfFrame) -> None:
        if len(frames) < self.limits.max_frames:  # leaf first: the frames kept are the leaf-most
            frames.append(fr)
        else:
            self.truncated = True

    def _start(self, lineno: int, h: Header) -> None:
        self._flush()
        self.saw_header = True
        self.cur, self.cur_pid, self.cur_period, self.cur_line = [], h.pid, h.period, lineno
        if h.period is not None:
            self.any_period = True
        if h.event and not self.event:
            self.event = h.event
        if h.rest.strip():
            fr = parse_frame(h.rest, False, lineno)
            if fr is not None:
                self.cur.append(fr)

    def _flush(self) -> None:
        if self.cur:
            self._emit(self.cur, self.cur_pid, self.cur_period, self.cur_line)
        self.cur = None

    def _flush_block(self) -> None:
        block, self.block = self.block, []
        if self.headerless_mode == "lines":
            for fr in block:
                fr.in_callchain = False
                self._emit([fr], None, None, 0)
        elif block:
            if len(block) > self.limits.max_frames:
                del block[self.limits.max_frames :]
                self.truncated = True
            self._emit(block, None, None, 0)

    def _mmap(self, lineno: int, line: str) -> None:
        mm = parse_mmap(line, lineno)
        if mm is None:
            self.notes.skipped_lines += 1
            return
        if not mm.executable:
            return
        for key in ((mm.pid, mm.file), (None, mm.file)):
            lst = self.mmaps.setdefault(key, [])
            if self.n_mmaps >= MAX_MMAPS or len(lst) >= MAX_MMAPS_PER_FILE:
                self.notes.skipped_lines += 1
                return
            lst.append((mm.start, mm.limit, mm.pgoff))
            self.n_mmaps += 1

    # -- samples ----------------------------------------------------------------------------------
    def _emit(self, frames: list[PerfFrame], pid: int | None, period: int | None, lineno: int) -> None:
        if self.truncated:
            self.notes.truncated_stacks += 1
            self.truncated = False
        ids: list[int] = []
        prev_kernel = False
        for k, fr in enumerate(frames):
            # A return address, unless it is the first frame or the first user frame under kernel
            # frames (the interrupted user PC of a trap/syscall is not a return address).
            caller = k > 0 and not prev_kernel
            key = (fr.dso, fr.ip, fr.in_callchain, caller, pid if not fr.in_callchain else None)
            got = self.frame_cache.get(key)
            if got is None:
                got = self.frame_cache[key] = self._location(fr, pid, caller)
            lid, prev_kernel = got
            ids.append(lid)
        if period is not None:
            self.b.note_period(period)
        self.b.sample(ids, [1, period or 0], lineno)

    def _location(self, fr: PerfFrame, pid: int | None, caller: bool) -> tuple[int, bool]:
        """(location id, whether the frame is in the kernel) for a frame seen the first time."""
        kind = classify_mapping(fr.dso, fr.ip)
        b = self.b
        if kind == "file":
            if fr.in_callchain:
                mid = b.mapping(fr.dso, 0, FILE_OFFSETS, 0, widen=True)  # perf's map_ip: file offsets
            else:
                mm = self._find_mmap(pid, fr.dso, fr.ip)
                mid = b.mapping(fr.dso, *mm) if mm is not None else b.mapping(fr.dso)  # else link-time
        else:
            mid = b.mapping(fr.dso or "[unknown]", widen=True)
        return b.location(mid, fr.ip, ret=caller and kind == "file", name=fr.sym), kind == "kernel"

    def _find_mmap(self, pid: int | None, dso: str, ip: int) -> tuple[int, int, int] | None:
        for key in ((pid, dso), (None, dso)):
            for start, limit, pgoff in reversed(self.mmaps.get(key, ())):  # the latest mapping first
                if start <= ip < limit:
                    return start, limit, pgoff
        return None

    def finish(self) -> LoadedInput:
        self._flush()
        if self.block:
            if not self.headerless_mode:
                self.headerless_mode = "lines"  # never a blank line: one sample per line (no -g)
            self._flush_block()
        if not self.b.samples:
            raise FormatError("no samples found in perf script output", what=WHAT)
        b = self.b
        ev = (self.event or "cpu-clock").split(":")[0]
        prof, st = b.prof, b.st
        if self.any_period:
            unit = "nanoseconds" if ev in ("cpu-clock", "task-clock") else "count"
            prof.sample_type[1].type = st(ev)
            prof.sample_type[1].unit = st(unit)
            prof.period_type.type = st(ev)
            prof.period_type.unit = st(unit)
            if b.periods:
                prof.period = max(b.periods.items(), key=lambda kv: (kv[1], -kv[0]))[0]
        self.frame_cache.clear()
        return b.finish(keep_values=None if self.any_period else 1)


def perf_to_profile(lines: Iterable[str], limits: Limits = DEFAULT_LIMITS) -> LoadedInput:
    """Convert ``perf script`` text lines (an iterable of str) to a raw-address profile."""
    conv = PerfConverter(limits)
    for lineno, line in enumerate(lines, 1):
        conv.feed(lineno, line.rstrip("\n"))
    return conv.finish()
