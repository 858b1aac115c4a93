"""``symbolize_file``: the file-and-search-path front of the symbolizer (what the CLI calls).

A thin wrapper: refuse a non-regular input (a FIFO or ``/dev/zero`` would block or never end), read
it in bounded chunks (``-`` is stdin), build a :class:`~symkeep.profile.locate.Locator` from the
search options, check every ``--binary`` against the profile's mappings before any work, take build
IDs from a perf.data file when one is given, symbolize, and close the binaries it opened.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from contextlib import ExitStack
from typing import TYPE_CHECKING, BinaryIO

from symkeep.fsio import check_input_file
from symkeep.profile.inputs import load_input
from symkeep.profile.limits import DEFAULT_LIMITS, Limits
from symkeep.profile.locate import Locator
from symkeep.profile.resolver import BinaryResolver, FirstFound
from symkeep.profile.streams import Source
from symkeep.profile.symbolizer import SymbolizeResult, mapping_requests, symbolize_profile

if TYPE_CHECKING:
    from symkeep.symbolize.engine import GoEngine
    from symkeep.symbolize.symindex import IndexCache

__all__ = ["symbolize_file"]


def symbolize_file(
    path: str,
    *,
    binaries: list[str] | None = None,
    search_dirs: list[str] | None = None,
    input_format: str = "auto",
    force: bool = False,
    debuginfod: bool = True,
    limits: Limits = DEFAULT_LIMITS,
    perf_data: str | None = None,
    fallback: BinaryResolver | None = None,
    index: IndexCache | None = None,
) -> SymbolizeResult:
    """Read any supported input (``-`` = stdin), symbolize it, return the profile and the report.
    ``fallback`` is asked for the mappings the search paths did not find (``--store``); ``index``: the
    symbol index cache the binaries found are opened with (``GoBinary(index=...)``)."""
    with ExitStack() as stack:
        # Options first: a bad --binary or perf.data is refused before the input is read.
        locator = stack.enter_context(
            Locator(binaries or [], search_dirs or [], debuginfod_urls=None if debuginfod else [],
                    opener=_indexed_opener(index) if index is not None else None)
        )
        perf_ids: dict[str, str] | None = None
        if perf_data is not None:
            from symkeep.profile.perfdata import read_build_ids

            perf_ids = read_build_ids(perf_data)
        if path == "-":
            fh: BinaryIO = sys.stdin.buffer
        else:
            fh = stack.enter_context(check_input_file(path).open("rb"))
        loaded = load_input(Source.from_stream(fh, path), input_format, limits)
        if perf_ids is not None and perf_data is not None:
            loaded.set_build_ids(perf_ids, perf_data)
        locator.check_binaries([r for _, r in mapping_requests(loaded)])
        resolver: BinaryResolver = locator if fallback is None else FirstFound([locator, fallback])
        return symbolize_profile(loaded, resolver, force=force)


def _indexed_opener(index: IndexCache) -> Callable[[str], GoEngine]:
    def open_indexed(path: str) -> GoEngine:
        from symkeep.symbolize import open_go_binary

        return open_go_binary(path, index=index)

    return open_indexed
