"""Profiles in, :class:`RawSamples` out: pprof as is (fast path), perf script and folded stacks
through ``symkeep.profile``'s converters, raw addresses symbolized when binaries are given.

Symbolization is ``symkeep.profile.files.symbolize_file`` (the same code as ``symkeep symbolize``);
without binaries nothing is looked up (``profile.resolver.NoBinaries``: text inputs keep the names
they printed), and unsymbolized locations are drawn as ``module+0xOFFSET``.
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
    from symkeep.profile.files import symbolize_file
    from symkeep.profile.inputs import load_bytes
    from symkeep.profile.resolver import NoBinaries
    from symkeep.profile.symbolizer import symbolize_profile

    if binaries:
        if data is not None:
            raise ValueError("symbolizing needs a path")
        if path != "-":
            check_input_file(path)
        res = symbolize_file(path, binaries=list(binaries), search_dirs=list(search_dirs),
                             input_format=input_format, debuginfod=False)
        return decode_samples(res.profile, name=path)
    raw = data if data is not None else _read(path)
    fmt = _sniff(raw) if input_format == "auto" else input_format
    if fmt == "pprof":
        return decode_samples(raw, name=path)
    loaded = load_bytes(raw, fmt, name=path)
    return decode_samples(symbolize_profile(loaded, NoBinaries()).profile, name=path)


def _sniff(raw: bytes) -> str:
    """The input format from its first 64 KiB (decompressed first when gzip'ed)."""
    import zlib

    from symkeep.profile.inputs import detect_input

    head = raw[: 1 << 16]
    if raw[:2] == b"\x1f\x8b":
        try:
            head = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(raw[: 1 << 20], 1 << 16)
        except zlib.error:
            return "pprof"  # let the pprof reader name the damage
    return detect_input(head, complete=len(head) < 1 << 16)


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
