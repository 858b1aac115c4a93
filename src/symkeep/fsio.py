"""Reading inputs and writing outputs safely: the one place every command and the server go through.

Why one module: a FIFO given as a binary blocks forever, ``-o`` pointing at a device node or a symlink
must never be replaced by a regular file, and a failed run must leave nothing half-written. Each of
those rules is written here once (``check_input_file``, ``OutputTarget``, ``atomic_write``).

Rules:
- inputs must be regular files (symlinks to regular files are fine); anything else is ``InputError``;
- ``-`` as an output means standard output;
- an existing output path must be a regular file, or a symlink to one (then the *target* is replaced
  atomically and the link stays); directories, FIFOs, sockets and device nodes are refused;
- the destination's directory must exist (or be creatable, with ``parents=True``) and be writable,
  checked before any work is done (``OutputTarget.check``), so a run never fails after the work;
- writes go to a temporary file in the same directory, are fsync'ed, then renamed over the target.
"""

from __future__ import annotations

import contextlib
import os
import stat
import sys
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, BinaryIO

from symkeep.errors import InputError, OutputError

__all__ = ["STDIO", "OutputTarget", "atomic_write", "check_input_file", "fsync_dir", "open_atomic", "sha256_stream"]

STDIO = "-"


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def check_input_file(path: str | os.PathLike[str]) -> Path:
    """The path if it names a readable regular file (following symlinks); else one-line InputError."""
    p = Path(path)
    try:
        st = os.stat(p)
    except FileNotFoundError:
        raise InputError(f"{p}: no such file") from None
    except PermissionError as e:
        raise InputError(f"{p}: permission denied") from e
    except OSError as e:
        raise InputError(f"{p}: {e.strerror or e}") from e
    if not stat.S_ISREG(st.st_mode):
        raise InputError(f"{p}: is {_kind(st.st_mode)}, not a regular file")
    if not os.access(p, os.R_OK):
        raise InputError(f"{p}: permission denied")
    return p


@dataclass(frozen=True)
class OutputTarget:
    """A checked destination: ``path`` is where the bytes land (a symlink's target), or stdout."""

    given: str
    path: Path | None  # None = standard output
    existed: bool = False  # a file was already there when checked (a failed run must not delete it)

    @property
    def is_stdout(self) -> bool:
        return self.path is None

    def __str__(self) -> str:
        return "<stdout>" if self.path is None else str(self.given)

    @staticmethod
    def check(given: str | os.PathLike[str], *, parents: bool = False) -> OutputTarget:
        """Validate a destination before any work is done (raises OutputError naming the reason).

        ``parents``: the directory may be missing and will be created (checked up to the first
        existing ancestor)."""
        g = os.fspath(given)
        if g == STDIO:
            return OutputTarget(g, None)
        p = Path(g)
        existed = False
        if os.path.lexists(p):
            try:
                real = p.resolve(strict=True)
                st = os.stat(real)
            except (OSError, RuntimeError) as e:
                raise OutputError(f"{g}: cannot resolve: {getattr(e, 'strerror', None) or e}") from e
            if not stat.S_ISREG(st.st_mode):
                hint = " (use -o - for standard output)" if stat.S_ISCHR(st.st_mode) else ""
                raise OutputError(f"{g}: is {_kind(st.st_mode)}; refusing to replace it{hint}")
            if not os.access(real, os.W_OK):
                raise OutputError(f"{g}: permission denied")
            p = real
            existed = True
        else:
            p = p.absolute()
        d = p.parent
        probe = d
        while not probe.exists():
            if not parents:
                raise OutputError(f"{g}: directory {d} does not exist")
            if probe.parent == probe:
                break
            probe = probe.parent
        if not probe.is_dir():
            raise OutputError(f"{g}: {probe} is not a directory")
        if not os.access(probe, os.W_OK | os.X_OK):
            raise OutputError(f"{g}: directory {probe} is not writable")
        return OutputTarget(g, p, existed)

    def discard(self) -> None:
        """Undo a write of this run: remove the file if it did not exist before (never stdout, never a
        file that was there when checked). For rolling back a multi-file operation that failed."""
        if self.path is not None and not self.existed:
            with contextlib.suppress(OSError):
                os.unlink(self.path)

    def write(self, data: bytes | Iterable[bytes], mode: int = 0o644) -> None:
        """Write atomically (temp + fsync + rename), or to stdout."""
        if self.path is None:
            out = sys.stdout.buffer
            if isinstance(data, bytes | bytearray | memoryview):
                out.write(data)
            else:
                for chunk in data:
                    out.write(chunk)
            out.flush()
            return
        atomic_write(self.path, data, mode=mode)


def atomic_write(path: str | os.PathLike[str], data: bytes | Iterable[bytes | memoryview], mode: int = 0o644) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the whole new one, never a part."""
    with open_atomic(path, mode=mode) as fh:
        if isinstance(data, bytes | bytearray | memoryview):
            fh.write(data)
        else:
            for chunk in data:
                fh.write(chunk)


@contextlib.contextmanager
def open_atomic(path: str | os.PathLike[str], mode: int = 0o644) -> Iterator[BinaryIO]:
    """A binary file that becomes ``path`` only if the block completes (temp + fsync + rename).

    On any exception the temporary file is removed and ``path`` is untouched."""
    p = Path(path)
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=f".{p.name}.", suffix=".tmp")
    except OSError as e:
        raise OutputError(f"cannot write {p}: {e.strerror or e}") from e
    ok = False
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, p)
        ok = True
        with contextlib.suppress(OSError):  # make the rename durable too
            fsync_dir(p.parent)
    except OSError as e:
        raise OutputError(f"cannot write {p}: {e.strerror or e}") from e
    finally:
        if not ok:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def fsync_dir(path: str | os.PathLike[str]) -> None:
    """fsync a directory, so that a rename or link inside it survives a crash."""
    dfd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def sha256_stream(f: IO[bytes], chunk: int = 1 << 20) -> tuple[str, int]:
    """(hex sha256, byte count) of what ``f`` yields, read in ``chunk``-sized pieces (bounded memory)."""
    import hashlib

    h = hashlib.sha256()
    n = 0
    while True:
        b = f.read(chunk)
        if not b:
            break
        h.update(b)
        n += len(b)
    return h.hexdigest(), n
