"""Typed errors and the CLI exit codes they map to.

Every parser raises a subclass of :class:`SymkeepError`; the CLI prints ``str(err)`` on one line and
exits with ``err.exit_code``. Exit codes are part of the public contract (README "Exit codes").
"""

from __future__ import annotations

# Exit codes (documented in README). 1 is reserved for "ran fine, but the answer is negative"
# (e.g. a policy gate failing); 2 is click's usage error.
EXIT_OK = 0
EXIT_NEGATIVE = 1
EXIT_USAGE = 2
EXIT_IO = 3  # missing path, directory, unreadable file
EXIT_NOT_BINARY = 4  # not ELF / Mach-O / PE (text file, empty file, ...)
EXIT_NOT_GO = 5  # a valid executable with no Go metadata (no pclntab)
EXIT_MALFORMED = 6  # recognised format, but truncated/corrupt/hostile structure
EXIT_MISMATCH = 7  # build ID mismatch between binary and profile/debug file
EXIT_TOOL = 8  # an external tool (go toolchain, perf, ...) is missing or failed
EXIT_INTERNAL = 70  # a bug in symkeep (still no traceback unless SYMKEEP_DEBUG=1)


class SymkeepError(Exception):
    """Base of every error symkeep reports to a user."""

    exit_code = EXIT_INTERNAL


class InputError(SymkeepError):
    """The path cannot be read: missing, a directory, permission denied."""

    exit_code = EXIT_IO


class NotABinaryError(SymkeepError):
    """The bytes are not a container format we read (ELF, Mach-O, PE)."""

    exit_code = EXIT_NOT_BINARY


class NotGoError(SymkeepError):
    """A well-formed executable that carries no Go metadata."""

    exit_code = EXIT_NOT_GO


class FormatError(SymkeepError):
    """A structure is malformed; names the byte offset and the field, like Go's debug/elf."""

    exit_code = EXIT_MALFORMED

    def __init__(self, msg: str, off: int | None = None, val: object = None, what: str = "") -> None:
        self.msg = msg
        self.off = off
        self.val = val
        self.what = what
        parts = []
        if what:
            parts.append(f"{what}: ")
        parts.append(msg)
        if off is not None:
            parts.append(f" at offset {off:#x}")
        if val is not None:
            parts.append(f" ({val!r})" if not isinstance(val, int) else f" ({val:#x})")
        super().__init__("".join(parts))


class MismatchError(SymkeepError):
    """Two artifacts that must belong together do not (e.g. build IDs differ)."""

    exit_code = EXIT_MISMATCH


class ToolError(SymkeepError):
    """An external tool is missing or failed."""

    exit_code = EXIT_TOOL
