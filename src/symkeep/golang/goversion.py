"""Parse and compare Go toolchain version strings.

Layouts (pclntab, moduledata, inline records) change with the Go release, so upper layers key on the
version a binary reports: ``go1.21.13``, ``go1.22rc1``, ``go1.2``, ``go1.21.0 X:boringcrypto`` or a
development build ``devel go1.23-abcdef Tue ...``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import total_ordering

from symkeep.errors import InputError, SymkeepError, UsageError

__all__ = ["GoVersion", "VERSION_RE", "go_minor", "is_go_version"]

# One Go release name: go1.N[.P][(rc|beta)K]; "go1" alone was the very first release.
VERSION_RE = re.compile(rb"go1(?:\.(\d{1,3})(?:\.(\d{1,3}))?)?(?:(rc|beta)(\d{1,3}))?")
_FULL_RE = re.compile(r"go1(?:\.(\d{1,3})(?:\.(\d{1,3}))?)?(?:(rc|beta)(\d{1,3}))?")
# Pre-release rank: devel < beta < rc < release.
_RANK = {"devel": 0, "beta": 1, "rc": 2, "": 3}


@total_ordering
@dataclass(frozen=True)
class GoVersion:
    """A parsed Go version. ``minor`` is None only for a devel build that names no base release."""

    raw: str
    major: int = 1
    minor: int | None = None
    patch: int = 0
    pre: str = ""  # "", "rc", "beta", "devel"
    pre_num: int = 0
    extra: str = field(default="", compare=False)  # e.g. "X:boringcrypto"

    @classmethod
    def parse(cls, s: str) -> GoVersion:
        """Parse a version; raises :class:`InputError` when the text is not a Go version."""
        text = s.strip()
        devel = False
        if text.startswith("devel"):
            devel = True
            rest = text[5:].strip()
            if rest.startswith("+"):  # very old devel: "devel +abcdef ..."
                return cls(raw=text, minor=None, pre="devel")
            text = rest
        head, _, extra = text.partition(" ")
        # Development builds name their base as "go1.23-abcdef"
        base = head.split("-", 1)[0] if devel else head
        m = _FULL_RE.fullmatch(base)
        if m is None:
            if devel:
                return cls(raw=s.strip(), minor=None, pre="devel", extra=text)
            raise UsageError(f"not a Go version: {s!r}")
        minor = int(m.group(1)) if m.group(1) is not None else 0
        patch = int(m.group(2)) if m.group(2) is not None else 0
        pre = m.group(3) or ""
        pre_num = int(m.group(4)) if m.group(4) is not None else 0
        if devel:
            pre, pre_num = "devel", 0
        return cls(raw=s.strip(), minor=minor, patch=patch, pre=pre, pre_num=pre_num, extra=extra.strip())

    @property
    def is_devel(self) -> bool:
        return self.pre == "devel"

    @property
    def is_release(self) -> bool:
        return self.pre == ""

    def key(self) -> tuple[int, int, int, int, int]:
        # A devel build without a base release is newer than anything we know.
        minor = self.minor if self.minor is not None else 1 << 30
        return (self.major, minor, self.patch, _RANK[self.pre], self.pre_num)

    def at_least(self, minor: int, patch: int = 0) -> bool:
        """True for go1.<minor>.<patch> and later (pre-releases of that minor count as that minor)."""
        m = self.minor if self.minor is not None else 1 << 30
        return (m, self.patch) >= (minor, patch) if m == minor else m > minor

    def _coerce(self, other: object) -> GoVersion | None:
        if isinstance(other, GoVersion):
            return other
        if isinstance(other, str):
            return GoVersion.parse(other)
        return None

    def __eq__(self, other: object) -> bool:
        o = self._coerce(other)
        if o is None:
            return NotImplemented
        return self.key() == o.key()

    def __lt__(self, other: object) -> bool:
        o = self._coerce(other)
        if o is None:
            return NotImplemented
        return self.key() < o.key()

    def __hash__(self) -> int:
        return hash(self.key())

    def __str__(self) -> str:
        return self.raw


def is_go_version(s: str) -> bool:
    """True when ``s`` parses as a Go version (release, pre-release or devel)."""
    try:
        GoVersion.parse(s)
    except InputError:
        return False
    return True


def go_minor(version: str | None) -> int | None:
    """The minor version of a Go version string (``go1.27.3`` -> 27); None when absent or unparsable."""
    if not version:
        return None
    try:
        return GoVersion.parse(version).minor
    except (SymkeepError, ValueError):
        return None
