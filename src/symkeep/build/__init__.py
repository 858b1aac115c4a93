"""Go toolchain discovery and hermetic ``go build`` (used by demo, matrix and the test fixtures)."""

from __future__ import annotations

from symkeep.build.gobuild import BuildResult, build
from symkeep.build.toolchain import (
    DEFAULT_VERSIONS,
    Toolchain,
    build_go_tool,
    find_toolchains,
    get_toolchain,
    install_toolchain,
)

__all__ = [
    "DEFAULT_VERSIONS",
    "BuildResult",
    "Toolchain",
    "build",
    "build_go_tool",
    "find_toolchains",
    "get_toolchain",
    "install_toolchain",
]
