"""Typed errors, and the CLI exit code and HTTP status each one maps to.

Every parser raises a subclass of :class:`SymkeepError`; the CLI prints ``str(err)`` on one line and
exits with ``err.exit_code``; the server answers ``err.http_status`` with the same one-line text. Each
class maps to exactly one exit code and one HTTP status (README "Exit codes" and HACKING.md), so a
caller never has to parse a message to decide what happened.
"""

from __future__ import annotations

# Exit codes (documented in README). 1 is reserved for "ran fine, but the answer is negative"
# (e.g. a policy gate failing, a build not in the store); 2 is a usage error.
EXIT_OK = 0
EXIT_NEGATIVE = 1
EXIT_USAGE = 2
EXIT_IO = 3  # an input path cannot be read, or an output destination cannot be written
EXIT_NOT_BINARY = 4  # not ELF / Mach-O / PE (text file, empty file, ...)
EXIT_NOT_GO = 5  # a valid executable with no Go metadata (no pclntab)
EXIT_MALFORMED = 6  # recognised format, but truncated/corrupt/hostile structure, or over a size cap
EXIT_MISMATCH = 7  # build ID mismatch between binary and profile/debug file
EXIT_TOOL = 8  # an external tool (go toolchain, perf, ...) or a remote server is missing or failed
EXIT_UNSUPPORTED = 9  # a valid input this operation does not handle (restore of a PE file, ...)
EXIT_INTERNAL = 70  # a bug in symkeep (still no traceback unless SYMKEEP_DEBUG=1)


class SymkeepError(Exception):
    """Base of every error symkeep reports to a user."""

    exit_code = EXIT_INTERNAL
    http_status = 500


class UsageError(SymkeepError):
    """A bad option value or argument (not a bad file): the caller must change the request."""

    exit_code = EXIT_USAGE
    http_status = 400


class InputError(SymkeepError):
    """A named input cannot be read: missing, a directory, not a regular file, permission denied."""

    exit_code = EXIT_IO
    http_status = 404


class OutputError(SymkeepError):
    """A destination cannot be written (checked before anything is written)."""

    exit_code = EXIT_IO
    http_status = 500


class NotFoundError(SymkeepError):
    """A lookup found nothing (a build ID not in the store): a negative answer, not a failure."""

    exit_code = EXIT_NEGATIVE
    http_status = 404


class AuthError(SymkeepError):
    """A request lacks a valid token for what it asks (server writes, protected reads)."""

    exit_code = EXIT_USAGE
    http_status = 401


class NotABinaryError(SymkeepError):
    """The bytes are not a container format we read (ELF, Mach-O, PE)."""

    exit_code = EXIT_NOT_BINARY
    http_status = 415


class NotGoError(SymkeepError):
    """A well-formed executable that carries no Go metadata."""

    exit_code = EXIT_NOT_GO
    http_status = 422


class FormatError(SymkeepError):
    """A structure is malformed; names the byte offset and the field, like Go's debug/elf."""

    exit_code = EXIT_MALFORMED
    http_status = 422

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


class LimitError(SymkeepError):
    """An input exceeds a documented cap (decompressed size, line length, count); names the cap."""

    exit_code = EXIT_MALFORMED
    http_status = 413


class MismatchError(SymkeepError):
    """Two artifacts that must belong together do not (e.g. build IDs differ)."""

    exit_code = EXIT_MISMATCH
    http_status = 409


class ToolError(SymkeepError):
    """An external tool (or an upstream server) is missing or failed."""

    exit_code = EXIT_TOOL
    http_status = 502


class UnsupportedError(SymkeepError):
    """A valid input that this operation does not handle (restore writes ELF only, ...)."""

    exit_code = EXIT_UNSUPPORTED
    http_status = 422


#: Every error class with its exit code and HTTP status; README's table is checked against it.
ERROR_CLASSES: tuple[type[SymkeepError], ...] = (
    UsageError, InputError, OutputError, NotFoundError, AuthError, NotABinaryError, NotGoError,
    FormatError, LimitError, MismatchError, ToolError, UnsupportedError, SymkeepError,
)
