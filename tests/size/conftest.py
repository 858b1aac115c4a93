"""The browser and artifact fixtures are shared with the flame tests."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "flame"))

from chromium import artifacts, browser  # noqa: E402,F401


def pytest_terminal_summary(terminalreporter: object) -> None:
    from chromium import report_artifacts

    report_artifacts(terminalreporter)
