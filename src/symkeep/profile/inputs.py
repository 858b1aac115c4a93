"""Any supported input -> a profile ready for the symbolizer (:class:`LoadedInput`).

Detection looks at the first 64 KiB only; then the input is read in bounded chunks: a pprof profile
under its parse budget, text (perf script, folded stacks) line by line into the streaming
converters, so memory follows the number of distinct locations, not the input's size. gzip is
undone on the way for every format.
"""

from __future__ import annotations

import io
from typing import BinaryIO

from symkeep.errors import FormatError, UsageError
from symkeep.profile import profile_pb2
from symkeep.profile.folded import FoldedConverter, looks_like_folded
from symkeep.profile.limits import DEFAULT_LIMITS, Limits
from symkeep.profile.perfconvert import PerfConverter
from symkeep.profile.perfscript import looks_like_perf_script
from symkeep.profile.pprof import parse_profile, read_pprof, validate_profile
from symkeep.profile.rawprofile import LoadedInput
from symkeep.profile.streams import HEAD, LineStats, Source, gunzip, is_gzip, iter_lines

__all__ = ["FORMATS", "detect_input", "load_bytes", "load_input", "loaded_from_profile"]

FORMATS = ("auto", "pprof", "perf", "folded")


def detect_input(head: bytes, *, complete: bool = False) -> str:
    """'pprof', 'perf' or 'folded' from the first bytes of an (uncompressed) input.

    Only complete lines are judged (``complete``: ``head`` is the whole input); a first line longer
    than the head is judged by its shape (frames separated by ``;`` -> folded). Text may hold bytes
    that are not UTF-8 (paths, symbols): they do not make it binary; a NUL byte does (every pprof
    profile has one: its string table starts with "")."""
    if not head:
        raise FormatError("empty input: not a profile", what="input")
    if b"\x00" in head:
        return "pprof"
    text = head.decode("utf-8", "surrogateescape")
    cut = len(head) >= HEAD and not complete
    lines = text
    if cut:
        nl = text.rfind("\n")
        lines = text[:nl] if nl >= 0 else ""
    if lines.strip():
        if looks_like_perf_script(lines):
            return "perf"
        if looks_like_folded(lines):
            return "folded"
        return "pprof"
    # one line longer than the head: a deep folded stack
    if ";" in text and not text[:1].isspace():
        return "folded"
    return "pprof"


def loaded_from_profile(prof: profile_pb2.Profile) -> LoadedInput:
    """A parsed pprof profile as symbolizer input (its first mapping is the main one, as Go writes)."""
    return LoadedInput(prof, "pprof", main_mapping_id=prof.mapping[0].id if prof.mapping else None)


def load_input(source: Source, input_format: str = "auto", limits: Limits = DEFAULT_LIMITS) -> LoadedInput:
    """Read and convert ``source`` (see :class:`~symkeep.profile.streams.Source`)."""
    if input_format not in FORMATS:
        raise UsageError(f"unknown input format {input_format!r} (one of {', '.join(FORMATS)})")
    if not source.head:
        raise FormatError("empty input: not a profile", what=source.name)
    if is_gzip(source.head):
        source = Source.from_stream(gunzip(source.raw(), limits.max_input, what=source.name), source.name)
        if not source.head:
            raise FormatError("empty input: not a profile", what=source.name)
    head = source.head
    fmt = detect_input(head, complete=len(head) < HEAD) if input_format == "auto" else input_format
    if fmt == "pprof":
        raw = read_pprof(source, limits)
        prof = parse_profile(raw, name=source.name, limits=limits, budget_checked=True, validate=False)
        del raw
        loaded = loaded_from_profile(prof)
        loaded.columns = validate_profile(prof, name=source.name)
        return loaded
    stream: BinaryIO = source.raw()
    conv: PerfConverter | FoldedConverter = PerfConverter(limits) if fmt == "perf" else FoldedConverter(limits)
    stats = LineStats()
    for lineno, line in iter_lines(stream, max_line=limits.max_line, max_total=limits.max_input, stats=stats,
                                   what=source.name):
        conv.feed(lineno, line)
    loaded = conv.finish()
    loaded.notes.long_lines += stats.too_long
    return loaded


def load_bytes(data: bytes, input_format: str = "auto", limits: Limits = DEFAULT_LIMITS, name: str = "profile") -> LoadedInput:
    """:func:`load_input` of bytes already in memory (an HTTP body, a test); no copy of ``data``."""
    return load_input(Source.from_stream(io.BytesIO(data), name), input_format, limits)
