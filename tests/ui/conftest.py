"""Real builds, real profiles and a real server for the web UI tests.

- ``hog``: the stripped (``-s -w``) cpuhog fixture of Go 1.27 (GNU build-id) and Go 1.21 (none), each
  run to write its own runtime/pprof CPU profile (symbolized in-process: the truth) and the same
  profile with every name, line and has_* flag removed (the raw profile the UI must symbolize).
- ``ui_store``: a directory store with both builds archived by ``symkeep archive``.
- ``ui_server``: ``symkeep serve`` on it (``ServeProc``), with its own profile directory.
- ``browser``/``artifacts`` (root conftest, tests/fixtures/chromium.py); a fresh context is ``browser.browser.new_context()``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "profile"))

from sk_profile_helpers import hog_profiles  # noqa: E402
from ui_helpers import Hog  # noqa: E402

from server.harness import ServeProc, seaweed, store_url, symkeep  # noqa: E402,F401


@pytest.fixture(scope="session")
def buildid_tool(gotool: Callable[[str, str], Path]) -> Path:
    return gotool("1.27", "buildid")


@pytest.fixture(scope="session")
def hog(fixture: Callable[..., Path], tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Hog]:
    cache: dict[str, Hog] = {}

    def get(toolchain: str = "1.27") -> Hog:
        if toolchain not in cache:
            binary = fixture(variant="sw", toolchain=toolchain, program="cpuhog")
            truth, raw = hog_profiles(binary, tmp_path_factory.mktemp(f"hog{toolchain}"), f"cpuhog-{toolchain}")
            cache[toolchain] = Hog(toolchain, binary, truth, raw)
        return cache[toolchain]

    return get


@pytest.fixture(scope="session")
def ui_store(hog: Callable[[str], Hog], tmp_path_factory: pytest.TempPathFactory) -> Path:
    store = tmp_path_factory.mktemp("uistore") / "store"
    symkeep("archive", "--store", str(store), str(hog("1.27").binary), str(hog("1.21").binary), check=True)
    return store


@pytest.fixture(scope="session")
def ui_server(ui_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProc]:
    prof = tmp_path_factory.mktemp("uiprofiles")
    with ServeProc(str(ui_store), "--no-upstream", "--ui-profiles", str(prof)) as s:
        yield s

