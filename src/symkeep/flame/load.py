"""Profiles in, :class:`RawSamples` out: pprof as is (fast path), perf script and folded stacks
through ``symkeep.profile``'s converters, raw addresses symbolized when binaries are given.

Symbolization is ``symkeep.profile.symbolizer.symbolize_file`` (the same code as ``symkeep
symbolize``); without binaries nothing is looked up, and unsymbolized locations are drawn as
``module+0xOFFSET``.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from symkeep.errors import InputError, LimitError
from symkeep.flame.pbsamples import RawSamples, decode_samples
from symkeep.fsio import check_input_file
from symkeep.profile.pprof import MAX_PROFILE_BYTES

__all__ = ["load_samples", "main_module_of"]


def _read(path: str) -> bytes:
    if path == "-":
        data = sys.stdin.buffer.read(MAX_PROFILE_BYTES + 1)
    else:
        p = check_input_file(path)
        try:
            with open(p, "rb") as fh:
                data = fh.read(MAX_PROFILE_BYTES + 1)
        except OSError as e:
            raise InputError(f"{path}: {e.strerror or e}") from e
    if len(data) > MAX_PROFILE_BYTES:
        raise LimitError(f"{path}: larger than {MAX_PROFILE_BYTES} bytes")
    return data


def load_samples(
    path: str,
    *,
    binaries: Sequence[str] = (),
    search_dirs: Sequence[str] = (),
    input_format: str = "auto",
    data: bytes | None = None,
) -> RawSamples:
    """One profile file (or ``data``) as samples; symbolized first when ``binaries`` are given."""
    from symkeep.profile.symbolizer import apply_fallback_names, detect_input, symbolize_file

    if binaries:
        if data is not None:
            raise ValueError("symbolizing needs a path")
        if path != "-":
            check_input_file(path)
        res = symbolize_file(path, binaries=list(binaries), search_dirs=list(search_dirs),
                             input_format=input_format, debuginfod=False)
        return decode_samples(res.profile, name=path)
    raw = data if data is not None else _read(path)
    fmt = detect_input(raw) if input_format == "auto" else input_format
    if fmt == "pprof":
        return decode_samples(raw, name=path)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    if fmt == "perf":
        from symkeep.profile.perfscript import parse_perf_script, perf_to_profile

        prof, names, _ = perf_to_profile(parse_perf_script(text.splitlines()))
    else:
        from symkeep.profile.folded import folded_to_profile

        prof, names, _ = folded_to_profile(text.splitlines())
    apply_fallback_names(prof, names)
    return decode_samples(prof, name=path)


def main_module_of(binaries: Sequence[str]) -> str:
    """The main module path from the first binary's build info ('' when none)."""
    from symkeep.binfmt import open_binary
    from symkeep.errors import SymkeepError
    from symkeep.golang.buildinfo import read_buildinfo

    for b in binaries:
        try:
            bi = read_buildinfo(open_binary(b))
        except SymkeepError:
            continue
        if bi is not None and bi.path and bi.path != "command-line-arguments":
            return bi.path.split("/cmd/")[0] if bi.main is None else bi.main.path
    return ""
