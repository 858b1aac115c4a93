"""The warm path of ``symkeep addr2line``: answer from the binary's symbol index before importing click.

Python's start-up is the floor of a small batch (the Go tool answers 1,000 PCs in ~30 ms); importing
click (~40 ms) and numpy (~50 ms) would triple it. When the binary's symbol index is already in the cache
(its path memo matches the file: :mod:`symkeep.symbolize.indexcache`), this module answers with the
pure-Python reader (:mod:`symkeep.symbolize.quick`) and switches to the numpy renderer over the same
index for large batches. Anything it does not handle exactly like the click command (an option it does
not know, ``--offset``, a server, an address argument with blanks, no index yet, a damaged index)
returns ``None`` *before writing anything*, and the click command runs as usual (and builds the index).
"""

from __future__ import annotations

import contextlib
import gc
import os
import sys
from typing import Any

from symkeep.symbolize.a2ltext import SEPARATORS, Layout

__all__ = ["QUICK_BATCH_BYTES", "parse_args", "run_fast"]

# Batches larger than this go to numpy (measured on `compile`: pure Python answers ~2 us/address, numpy
# costs ~50 ms to import then ~0.3 us/address).
QUICK_BATCH_BYTES = 1 << 18
_FLAGS = {"f": "functions", "i": "inlines", "a": "addresses", "p": "pretty"}
_LONG = {"--functions": "functions", "--inlines": "inlines", "--addresses": "addresses",
         "--pretty-print": "pretty", "--json": "json", "--return-addresses": "return_addresses"}


def parse_args(args: list[str]) -> tuple[str, Layout, list[str]] | None:
    """(binary, layout, address arguments) of an ``addr2line`` command line, or None for anything the
    fast path leaves to click (unknown options, help, --offset, --arch, --server, --no-cache)."""
    opts: dict[str, bool] = {}
    exe: str | None = None
    addrs: list[str] = []
    k = 0
    while k < len(args):
        a = args[k]
        k += 1
        if a == "--":
            addrs.extend(args[k:])
            break
        if a.startswith("--"):
            if a in _LONG:
                opts[_LONG[a]] = True
            elif a == "--exe" and k < len(args):
                exe, k = args[k], k + 1
            elif a.startswith("--exe="):
                exe = a[len("--exe="):]
            else:
                return None
        elif a.startswith("-") and len(a) > 1:
            for j, ch in enumerate(a[1:], 1):
                if ch in _FLAGS:
                    opts[_FLAGS[ch]] = True
                elif ch == "e":
                    if j + 1 < len(a):
                        exe = a[j + 1 :]
                    elif k < len(args):
                        exe, k = args[k], k + 1
                    else:
                        return None
                    break
                else:
                    return None
        else:
            addrs.append(a)
    if not exe:
        return None
    if any(not x or any(c in SEPARATORS for c in x.encode("utf-8", "surrogateescape")) for x in addrs):
        return None  # an argument is one token even with blanks inside: the click command's business
    return exe, Layout(**opts), addrs


def run_fast(args: list[str]) -> int | None:
    """Answer ``symkeep addr2line ARGS`` from the symbol index, or None (nothing written) to let click."""
    parsed = parse_args(args)
    if parsed is None or os.environ.get("SYMKEEP_SERVER"):
        return None
    exe, layout, addrs = parsed
    from symkeep.errors import SymkeepError
    from symkeep.symbolize.indexcache import index_path, index_root, read_memo
    from symkeep.symbolize.indexfile import IndexFile
    from symkeep.symbolize.quick import QuickIndex

    try:
        if not os.path.isfile(exe):
            return None
        root = index_root()
        key = read_memo(root, exe)
        if key is None:
            return None
        path = index_path(root, key)
        ix = IndexFile.open(path)
        if ix.meta.get("key") != key:
            return None
        with contextlib.suppress(OSError):  # recently used: the cache prunes it last
            os.utime(path)
        quick = QuickIndex(ix, layout)
    except (OSError, SymkeepError, ValueError):
        return None
    return _answer(ix, quick, layout, addrs)


def _answer(ix: Any, quick: Any, layout: Layout, addrs: list[str]) -> int:
    from symkeep.errors import EXIT_INTERNAL, SymkeepError

    gc.disable()  # many short-lived objects, no cycles
    out = sys.stdout.buffer
    slow: Any = None
    try:
        if addrs:
            out.write(quick.answer(b"\n".join(a.encode("utf-8", "surrogateescape") for a in addrs)))
            out.flush()
            return 0
        from symkeep.cli.stdin import stdin_batches

        for batch in stdin_batches(sys.stdin):
            if slow is None and len(batch) > QUICK_BATCH_BYTES:
                slow = _numpy_answerer(ix, layout)
            if slow is not None:
                for piece in slow(batch):
                    out.write(piece)
            else:
                out.write(quick.answer(batch))
            out.flush()
        return 0
    except BrokenPipeError:
        with contextlib.suppress(OSError, ValueError):  # as the click app does: exit 0 quietly
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.close(devnull)
        return 0
    except KeyboardInterrupt:
        return 130
    except SymkeepError as e:
        sys.stderr.write(f"symkeep: error: {' '.join(str(e).split())}\n")
        return e.exit_code
    except Exception as e:  # noqa: BLE001 - last resort: one line, no traceback
        if os.environ.get("SYMKEEP_DEBUG"):
            raise
        sys.stderr.write(f"symkeep: internal error: {type(e).__name__}: {' '.join(str(e).split())}\n")
        return EXIT_INTERNAL


def _numpy_answerer(ix: Any, layout: Layout) -> Any:
    """The numpy renderer over the same index (large batches)."""
    from symkeep.cli.heap import keep_heap
    from symkeep.symbolize.addr2line import Addresses, Renderer
    from symkeep.symbolize.indexload import IndexedLookups

    keep_heap()
    eng = IndexedLookups(ix)
    r = Renderer(eng, layout, bits=eng.ptr_bits)
    return lambda batch: r.answer(Addresses.of_bytes(batch))
