"""The web UI's settings (``symkeep serve --ui-*``), passed as ``ServerConfig.options["ui"]``."""

from __future__ import annotations

import os
from dataclasses import dataclass

from symkeep.errors import UsageError

__all__ = ["UPLOAD_POLICIES", "UiConfig", "default_profile_dir"]

#: who may upload a profile through the UI: anyone who may read, a write-token holder, or nobody
UPLOAD_POLICIES = ("anonymous", "token", "off")


def default_profile_dir() -> str:
    """``$XDG_STATE_HOME/symkeep/ui-profiles`` (``~/.local/state/symkeep/ui-profiles``)."""
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return os.path.join(base, "symkeep", "ui-profiles")


@dataclass(frozen=True)
class UiConfig:
    enabled: bool = True
    profile_dir: str | None = None  # None: default_profile_dir()
    keep_count: int = 1000  # uploaded profiles kept (oldest dropped first)
    keep_bytes: int = 1 << 30  # their bytes in all
    keep_seconds: float = 30 * 86400.0  # and their age
    max_profile: int = 32 << 20  # largest upload (413 above)
    max_input: int = 256 << 20  # memory budget for parsing one profile (decompressed; profile.Limits)
    timeout: float = 60.0  # seconds a symbolize + render (or inspect, size) may take before the client gets 413
    jobs: int = 2  # heavy jobs (symbolize, render, inspect, size) running at once per worker
    queue: int = 4  # ... and waiting; more gets 503
    upload: str = "anonymous"  # UPLOAD_POLICIES
    list_ttl: float = 5.0  # seconds the grouped build list is reused
    page_size: int = 50  # builds per list page
    verdict_budget: float = 3.0  # seconds a list page may spend inspecting builds not yet inspected

    def __post_init__(self) -> None:
        if self.upload not in UPLOAD_POLICIES:
            raise UsageError(f"bad --ui-upload {self.upload!r}: one of {', '.join(UPLOAD_POLICIES)}")
        for name in ("keep_count", "keep_bytes", "max_profile", "max_input", "jobs", "page_size"):
            if getattr(self, name) <= 0:
                raise UsageError(f"ui {name.replace('_', '-')} must be positive")
        if self.keep_seconds <= 0 or self.timeout <= 0:
            raise UsageError("ui retention age and timeout must be positive")

    @property
    def profiles_path(self) -> str:
        return self.profile_dir or default_profile_dir()
