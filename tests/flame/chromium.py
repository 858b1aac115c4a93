"""Real Chromium for the HTML tests (flame graphs, size treemaps): Debian ``chromium`` driven by
Playwright, headless with a fresh user-data dir; screenshots go to ``artifacts`` (path printed)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fixtures.env import unavailable

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run",
    "--disable-component-update", "--disable-sync",
]


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("playwright (pip install playwright) is not installed")
    if not Path(CHROMIUM).is_file():
        unavailable(f"{CHROMIUM} missing (apt-get install chromium)")
    udd = tempfile.mkdtemp(prefix="symkeep-chromium-")
    with sync_playwright() as p:
        ctx = p.chromium.launch_persistent_context(udd, executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
                                                   viewport={"width": 1400, "height": 900})
        try:
            yield ctx
        finally:
            ctx.close()


def artifacts_dir() -> Path:
    """$SYMKEEP_ARTIFACTS, else <tmp>/symkeep-test-artifacts: screenshots of the last run (overwritten)."""
    return Path(os.environ.get("SYMKEEP_ARTIFACTS") or Path(tempfile.gettempdir()) / "symkeep-test-artifacts")


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """Where screenshots go (kept after the run; the conftest prints the path in the summary)."""
    d = artifacts_dir()
    d.mkdir(parents=True, exist_ok=True)
    return d


_reported = False


def report_artifacts(terminalreporter: object) -> None:
    """One summary line with the screenshots' directory (both conftests call this; it prints once)."""
    global _reported
    d = artifacts_dir()
    shots = sorted(d.glob("*.png")) if d.is_dir() else []
    if shots and not _reported:
        _reported = True
        terminalreporter.write_line(f"browser screenshots ({len(shots)}): {d}")  # type: ignore[attr-defined]
