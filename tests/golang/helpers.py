"""Helpers shared by the build ID and build info tests: one fixture matrix, one way to get a binary."""

from __future__ import annotations

from pathlib import Path

import pytest

from fixtures.env import unavailable
from fixtures.factory import FixtureSpec, FixtureUnavailable, build_fixture
from symkeep.errors import SymkeepError

TOOLCHAINS = ("1.19", "1.21", "1.22", "1.24", "1.26", "1.27")
VARIANTS = ("default", "sw", "trimpath", "pie", "extlink", "gobuildid", "nosections", "strip")
CROSS: tuple[tuple[str, str, str], ...] = (
    ("1.27", "darwin", "arm64"),
    ("1.27", "darwin", "amd64"),
    ("1.27", "windows", "amd64"),
    ("1.27", "windows", "386"),
    ("1.27", "linux", "s390x"),
    ("1.27", "linux", "arm"),
    ("1.27", "linux", "386"),
    ("1.21", "windows", "amd64"),
    ("1.21", "darwin", "arm64"),
)


def matrix(cross: tuple[tuple[str, str, str], ...] = CROSS) -> list[FixtureSpec]:
    """Every variant of linux/amd64 for every toolchain, then the default build of each cross target."""
    return [FixtureSpec(tc, "linux", "amd64", v) for tc in TOOLCHAINS for v in VARIANTS] + [
        FixtureSpec(tc, goos, goarch, "default") for tc, goos, goarch in cross
    ]


def get_fixture(spec: FixtureSpec) -> Path:
    """The binary for ``spec``; skip if it cannot exist, or (outside CI) if its toolchain is missing."""
    try:
        return build_fixture(spec)
    except FixtureUnavailable as e:
        pytest.skip(f"{spec}: {e}")
    except SymkeepError as e:
        if "not found" in str(e):
            unavailable(f"{spec}: {e}")
        raise
