"""Folded stacks (Brendan Gregg's ``stackcollapse`` format): read raw-address stacks, write names.

Input lines are ``root;caller;leaf COUNT`` (COUNT a whole number below 2^63). A frame is
``module+0xOFF`` (OFF is a file offset in ``module``, as perf's ``dsoff`` and pprof mappings mean
it), a hex address ``0xADDR`` (a link-time address of the main binary: non-PIE, or already
unrelocated), or anything else (a name someone already resolved: kept). Stacks deeper than the frame
cap keep their leaf-most frames (the leaf is last on the line) and the summary says so.

Output follows the FlameGraph conventions: one ``stack count`` line per distinct stack, root first;
inline frames carry the ``_[i]`` suffix and kernel frames ``_[k]`` (no space, so column tools and
flamegraph.pl's colour palettes read them as part of the frame).
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Iterator
from itertools import chain

import numpy as np

from symkeep.errors import FormatError
from symkeep.profile import profile_pb2
from symkeep.profile.limits import DEFAULT_LIMITS, HEX_DIGITS, INT64_MAX, UINT64_MAX, Limits, parse_int_field
from symkeep.profile.mapping import classify_mapping
from symkeep.profile.rawprofile import LoadedInput, RawProfileBuilder

__all__ = [
    "DEFAULT_INLINE_SUFFIX",
    "KERNEL_SUFFIX",
    "FoldedConverter",
    "folded_lines",
    "folded_to_profile",
    "looks_like_folded",
    "profile_to_folded",
    "split_folded_line",
]

DEFAULT_INLINE_SUFFIX = "_[i]"
KERNEL_SUFFIX = "_[k]"
WHAT = "folded stacks"
_WS = " \t"
FILE_OFFSETS = 1 << 63  # placeholder limit of a module's mapping; set from the offsets at the end


def split_folded_line(line: str) -> tuple[str, str] | None:
    """'a;b;c 12' -> ('a;b;c', '12'); None without a stack and a last field (linear time)."""
    s = line.rstrip()
    i = max(s.rfind(" "), s.rfind("\t"))
    if i <= 0:
        return None
    stack = s[:i].rstrip(_WS)
    return (stack, s[i + 1 :]) if stack else None


def looks_like_folded(text: str) -> bool:
    seen = 0
    for line in text.splitlines()[:200]:
        if not line.strip() or line.startswith("#"):
            continue
        parts = split_folded_line(line)
        if parts is None or not parts[1].isdigit() and not _is_decimal(parts[1]):
            return False
        seen += 1
    return seen > 0


def _is_decimal(s: str) -> bool:
    a, dot, b = s.partition(".")
    return bool(dot) and a.isdigit() and (not b or b.isdigit())


def _is_hex(s: str) -> bool:
    return HEX_DIGITS.fullmatch(s) is not None


class FoldedConverter:
    """Feed lines with :meth:`feed`, then :meth:`finish` (one Sample per line, as the input has)."""

    def __init__(self, limits: Limits = DEFAULT_LIMITS) -> None:
        self.limits = limits
        self.b = RawProfileBuilder("folded", [("samples", "count")], aggregate=False)
        self.b.out.notes.max_frames = limits.max_frames
        self.main = 0
        self.cache: tuple[dict[str, int], dict[str, int]] = ({}, {})  # frame text -> id (leaf, caller)

    def feed(self, lineno: int, line: str) -> None:
        s = line.rstrip()
        if not s or s.lstrip()[:1] == "#":
            return
        parts = split_folded_line(s)
        if parts is None:
            raise FormatError(f"line {lineno}: not 'frame;frame;... COUNT'", what=WHAT)
        stack, count_s = parts
        if count_s.isascii() and count_s.isdigit() and len(count_s) <= 18:
            count = int(count_s)  # the usual case, below 2^63 for sure
        else:
            count = parse_int_field(count_s, base=10, lo=0, hi=INT64_MAX, line=lineno, field="count", what=WHAT)
        frames = stack.split(";")
        if len(frames) > self.limits.max_frames:
            del frames[: len(frames) - self.limits.max_frames]  # the leaf is last: keep that side
            self.b.out.notes.truncated_stacks += 1
        frames.reverse()  # leaf first
        leaf, callers = self.cache
        lid = leaf.get(frames[0])
        if lid is None:
            lid = leaf[frames[0]] = self._location(frames[0].strip(), False, lineno)
        ids = [lid]
        for fr in frames[1:]:
            lid = callers.get(fr)
            if lid is None:
                lid = callers[fr] = self._location(fr.strip(), True, lineno)
            ids.append(lid)
        self.b.sample(ids, [count], lineno)

    def _location(self, fr: str, caller: bool, lineno: int) -> int:
        b = self.b
        mod, sep, off_s = fr.rpartition("+0x")
        if sep and mod and _is_hex(off_s) and not fr.startswith("0x"):
            off = parse_int_field(off_s, base=16, lo=0, hi=UINT64_MAX, line=lineno, field=f"offset of frame {fr[:60]!r}",
                                  what=WHAT)
            mid = b.mapping(mod, 0, FILE_OFFSETS, 0, widen=True)  # address == file offset
            return b.location(mid, off, ret=caller)
        has_0x = fr[:2] in ("0x", "0X")
        digits = fr[2:] if has_0x else fr
        # Bare hex is an address only when it cannot well be a name: 0x-prefixed, or 4 to 16 hex
        # digits with a letter among them or at least 6 of them.
        if _is_hex(digits) and (has_0x or (4 <= len(digits) <= 16 and (len(digits) >= 6 or not digits.isdigit()))):
            addr = parse_int_field(digits, base=16, lo=0, hi=UINT64_MAX, line=lineno, field="address", what=WHAT)
            if not self.main:
                self.main = b.mapping("")  # identity: link-time addresses of the main binary
            return b.location(self.main, addr, ret=caller)
        return b.location(0, 0, name=fr)

    def finish(self) -> LoadedInput:
        if not self.b.samples:
            raise FormatError("no stacks found in folded input", what=WHAT)
        self.cache = ({}, {})
        return self.b.finish(main_mapping_id=self.main or None)


def folded_to_profile(lines: Iterable[str], limits: Limits = DEFAULT_LIMITS) -> LoadedInput:
    """Convert folded-stack text lines to a raw-address profile."""
    conv = FoldedConverter(limits)
    for lineno, line in enumerate(lines, 1):
        conv.feed(lineno, line.rstrip("\n"))
    return conv.finish()


def _frame_label(loc: profile_pb2.Location, m: profile_pb2.Mapping | None, fn: str) -> str:
    """An unnamed location is never dropped: ``module+0xOFFSET`` in a file mapping, ``[name]+0xADDR``
    (the runtime address) in kernel, vdso and anonymous ones, else its hex address."""
    if m is not None and fn:
        if classify_mapping(fn, m.memory_start) != "file":
            return f"{fn}+{loc.address:#x}"
        base = fn.rsplit("/", 1)[-1]
        return f"{base}+{loc.address - m.memory_start + m.file_offset:#x}"
    return f"{loc.address:#x}"


def profile_to_folded(
    prof: profile_pb2.Profile,
    *,
    sample_index: int = -1,
    inline_suffix: str = DEFAULT_INLINE_SUFFIX,
    kernel_suffix: str = KERNEL_SUFFIX,
    fallback_names: dict[int, str] | None = None,
    with_lines: bool = False,
) -> str:
    """Aggregate samples into flamegraph.pl input: root first, one line per distinct stack."""
    return "".join(folded_lines(prof, sample_index=sample_index, inline_suffix=inline_suffix,
                                kernel_suffix=kernel_suffix, fallback_names=fallback_names, with_lines=with_lines))


def folded_lines(
    prof: profile_pb2.Profile,
    *,
    sample_index: int = -1,
    inline_suffix: str = DEFAULT_INLINE_SUFFIX,
    kernel_suffix: str = KERNEL_SUFFIX,
    fallback_names: dict[int, str] | None = None,
    with_lines: bool = False,
) -> Iterator[str]:
    """:func:`profile_to_folded` line by line, for writing without one big string.

    Frames are numbered (in sorted order of their text) and a stack is a tuple of frame numbers:
    samples are summed per distinct frame sequence without building a string per sample, every
    location with the same frames shares one tuple, and no message object is kept. Lines come out
    sorted by stack, frame by frame."""
    st = prof.string_table
    if not prof.sample_type:
        return
    idx = sample_index if sample_index >= 0 else len(prof.sample_type) - 1
    idx = min(idx, len(prof.sample_type) - 1)
    nst = len(st)

    def s(i: int) -> str:
        return st[i] if 0 <= i < nst else ""

    funcs = {f.id: (s(f.name) or "?", s(f.filename).rsplit("/", 1)[-1]) for f in prof.function}
    maps = {m.id: m for m in prof.mapping}
    kernel = {m.id for m in prof.mapping if classify_mapping(s(m.filename), m.memory_start) == "kernel"}
    fallback_names = fallback_names or {}
    frame_no: dict[str, int] = {}
    shared: dict[tuple[bool, tuple[tuple[int, int], ...]], tuple[int, ...]] = {}

    def number(names: list[str]) -> tuple[int, ...]:  # innermost first in, outermost first out
        return tuple(frame_no.setdefault(n.replace(";", ":"), len(frame_no)) for n in reversed(names))

    per_loc: list[tuple[int, ...]] = []
    ids = array("Q")
    for loc in prof.location:
        ids.append(loc.id)
        in_kernel = loc.mapping_id in kernel
        ksfx = kernel_suffix if in_kernel else ""
        if loc.line:
            lkey = (in_kernel, tuple((ln.function_id, ln.line if with_lines else 0) for ln in loc.line))
            frames = shared.get(lkey)
            if frames is None:
                out = []
                for j, (fid, line) in enumerate(lkey[1]):
                    name, file = funcs.get(fid, ("?", ""))
                    if with_lines and file:
                        name = f"{name} {file}:{line}"
                    out.append(name + (inline_suffix if j < len(lkey[1]) - 1 else "") + ksfx)
                frames = shared[lkey] = number(out)
        else:
            m = maps.get(loc.mapping_id)
            frames = number([(fallback_names.get(loc.id) or _frame_label(loc, m, s(m.filename) if m else "")) + ksfx])
        per_loc.append(frames)
    shared.clear()
    unknown = number(["?"])
    # renumber frames in sorted order of their text, so that sorting the tuples sorts the stacks
    texts = sorted(frame_no, key=frame_no.__getitem__)
    order = sorted(range(len(texts)), key=texts.__getitem__)
    rank = [0] * len(texts)
    for r, i in enumerate(order):
        rank[i] = r
    texts = [texts[i] for i in order]
    frame_no.clear()
    renumbered: dict[tuple[int, ...], tuple[int, ...]] = {}
    per_loc = [renumbered.setdefault(t, tuple(rank[i] for i in t)) for t in per_loc]
    unknown = tuple(rank[i] for i in unknown)
    renumbered.clear()
    # location id -> its frames: by position when the ids are 1..n in order (what Go and symkeep
    # write), through a dict otherwise
    n = len(ids)
    if n and bool((np.frombuffer(ids, dtype=np.uint64) == np.arange(1, n + 1, dtype=np.uint64)).all()):
        by_id: list[tuple[int, ...]] | dict[int, tuple[int, ...]] = [unknown, *per_loc]
    else:
        by_id = dict(zip(ids, per_loc, strict=True))
    del per_loc
    agg: dict[tuple[int, ...], int] = {}
    for smp in prof.sample:
        v = smp.value[idx] if idx < len(smp.value) else 0
        if v == 0:
            continue
        lids = list(smp.location_id)
        lids.reverse()
        try:
            key = tuple(chain.from_iterable([by_id[lid] for lid in lids]))
        except (IndexError, KeyError):  # validated profiles refer to known locations only
            key = tuple(chain.from_iterable([by_id[lid] if 0 < lid < len(by_id) or isinstance(by_id, dict)
                                             and lid in by_id else unknown for lid in lids]))
        agg[key] = agg.get(key, 0) + v
    for key in sorted(agg):
        yield ";".join([texts[i] for i in key]) + f" {agg[key]}\n"
