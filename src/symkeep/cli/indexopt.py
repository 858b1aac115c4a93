"""``--no-cache``: the one option that turns the per-build symbol index cache off for a command."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from symkeep.symbolize.symindex import IndexCache

__all__ = ["index_cache", "no_cache_option"]

F = TypeVar("F", bound=Callable[..., Any])


def no_cache_option(f: F) -> F:
    return click.option(
        "--no-cache", is_flag=True,
        help="Neither read nor write the symbol index cache ($SYMKEEP_CACHE/index, default "
             "~/.cache/symkeep/index): decode the binary in this run only.")(f)


def index_cache(no_cache: bool) -> IndexCache | None:
    """The index cache a command passes to ``open_go_binary(index=...)`` (None with ``--no-cache``)."""
    if no_cache:
        return None
    from symkeep.symbolize.symindex import IndexCache

    return IndexCache()
