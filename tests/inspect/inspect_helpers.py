"""Shared by the inspect tests: build a fixture or skip with the reason it cannot exist."""

from __future__ import annotations

from pathlib import Path

import pytest

from fixtures.factory import FixtureSpec, FixtureUnavailable, build_fixture


def built(spec: FixtureSpec) -> Path:
    try:
        return build_fixture(spec)
    except FixtureUnavailable as e:
        pytest.skip(str(e))
