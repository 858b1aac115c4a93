"""The ``symkeep`` command. ``main`` is the entry point; the click application lives in
:mod:`symkeep.cli.app` and is imported only when needed: a warm ``symkeep addr2line`` whose binary has a
symbol index answers from :mod:`symkeep.cli.fastpath` without importing click or numpy.
"""

from __future__ import annotations

import sys
from typing import Any

__all__ = ["COMMANDS", "StdoutClosed", "cli", "main"]


def main(argv: list[str] | None = None) -> Any:
    """Entry point: every error becomes one line on stderr (``symkeep: error: ...``) and its exit code."""
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["addr2line"]:
        from symkeep.cli.fastpath import run_fast

        rc = run_fast(args[1:])
        if rc is not None:
            sys.exit(rc)
    from symkeep.cli.app import main as app_main

    return app_main(argv)


def __getattr__(name: str) -> Any:
    """``cli``, ``COMMANDS``, ``StdoutClosed``... from :mod:`symkeep.cli.app`, on first use."""
    if name.startswith("__"):
        raise AttributeError(name)
    from symkeep.cli import app

    return getattr(app, name)
