"""Real builds, real profiles and a real 2-worker server for the POST /symbolize and /addr2line tests.

- ``api_hog(toolchain)``: the stripped (``-s -w``) cpuhog fixture, run to write its own runtime/pprof CPU
  profile (symbolized in-process: the truth), and the same profile with every name, line and has_* flag
  removed and the mapping renamed to a path that does not exist here (as a profile from another
  machine: only the store can name its binary). Go 1.27 carries a GNU build-id, Go 1.21 only a Go one.
- ``api_store``: a directory store with both builds archived by ``symkeep archive``.
- ``api_server``: ``symkeep serve --workers 2`` on it.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "profile"))

from sk_profile_helpers import frames_by_location, hog_profiles, weighted_agreement  # noqa: E402

from server.harness import ServeProc, symkeep  # noqa: E402

__all__ = ["ApiHog", "api_hog", "api_server", "api_store", "frames_by_location", "weighted_agreement"]

ELSEWHERE = "/srv/elsewhere/cpuhog"


@dataclass
class ApiHog:
    toolchain: str
    binary: Path
    truth: Path  # the runtime's own profile
    raw: Path  # no names, mapping path that does not exist here


@pytest.fixture(scope="session")
def api_hog(fixture: Callable[..., Path], tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], ApiHog]:
    cache: dict[str, ApiHog] = {}

    def get(toolchain: str = "1.27") -> ApiHog:
        if toolchain not in cache:
            binary = fixture(variant="sw", toolchain=toolchain, program="cpuhog")
            truth, raw = hog_profiles(binary, tmp_path_factory.mktemp(f"apihog{toolchain}"), f"cpuhog-{toolchain}",
                                      mapping_file=ELSEWHERE)
            cache[toolchain] = ApiHog(toolchain, binary, truth, raw)
        return cache[toolchain]

    return get


@pytest.fixture(scope="session")
def api_store(api_hog: Callable[[str], ApiHog], tmp_path_factory: pytest.TempPathFactory) -> Path:
    store = tmp_path_factory.mktemp("apistore") / "store"
    symkeep("archive", "--store", str(store), str(api_hog("1.27").binary), str(api_hog("1.21").binary), check=True)
    return store


@pytest.fixture(scope="session")
def api_server(api_store: Path) -> Iterator[ServeProc]:
    with ServeProc(str(api_store), "--workers", "2", "--no-upstream", "--no-ui", "--api-max-body", "4M",
                   "--api-max-input", "64M") as s:
        yield s
