"""One matrix cell = one (toolchain, variant): its keys, build outcome and the JSON result record.

The runner creates cells, ``building`` fills in the binary, ``running`` the measurements; the result
records (``base_result``/``error_result``) and the deltas against ``default`` are the report's rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from symkeep.errors import SymkeepError
from symkeep.matrix.variants import Variant

if TYPE_CHECKING:
    from symkeep.build.toolchain import Toolchain

__all__ = ["Cell", "add_deltas", "base_result", "error_result", "fail"]


@dataclass(eq=False)
class Cell:
    tc_spec: str
    tc: Toolchain | None
    variant: Variant
    bkey: str = ""  # build cache key
    rkey: str = ""  # result cache key (build key + measurement options + code hash)
    binary: Path | None = None
    build: dict[str, Any] = field(default_factory=dict)
    error: str = ""
    error_stage: str = ""  # toolchain | source | build | post
    result: dict[str, Any] | None = None
    cached: bool = False
    built_ldflags: str | None = None  # of the go build that made the binary (the base's, for post steps)


def fail(c: Cell, stage: str, what: str, e: Exception) -> None:
    """Record a failed build/post step on the cell; our own errors are worded for the user already."""
    detail = str(e) if isinstance(e, SymkeepError) else f"{type(e).__name__}: {e}"
    c.error, c.error_stage = f"{what}: {detail}", stage


def base_result(c: Cell) -> dict[str, Any]:
    return {
        "toolchain": c.tc.version if c.tc is not None else c.tc_spec,
        "toolchain_spec": c.tc_spec,
        "variant": c.variant.name,
        "label": c.variant.label,
        "flags": c.variant.go_flags(),
        "post": c.variant.post,
    }


def error_result(c: Cell) -> dict[str, Any]:
    return {**base_result(c), "status": "error", "stage": c.error_stage, "error": c.error}


def add_deltas(cells: list[Cell]) -> None:
    """Size and throughput of each variant relative to ``default`` of the same toolchain."""
    ref: dict[str, dict[str, Any]] = {}
    for c in cells:
        if c.variant.name == "default" and c.result and c.result.get("status") == "ok":
            ref[c.tc_spec] = c.result
    for c in cells:
        r = c.result
        d = ref.get(c.tc_spec)
        if not r or r.get("status") != "ok" or d is None:
            continue
        try:
            base = d["size"]["file"]
            r["size"]["delta_vs_default_pct"] = 100.0 * (r["size"]["file"] - base) / base
            r["size"]["delta_vs_default_bytes"] = r["size"]["file"] - base
        except (KeyError, TypeError, ZeroDivisionError):
            pass
        try:
            a = r["runtime"]["cpu"]["ops_per_cpu_sec"]["median"]
            b = d["runtime"]["cpu"]["ops_per_cpu_sec"]["median"]
            r["runtime"]["cpu"]["throughput_vs_default_pct"] = 100.0 * (a - b) / b
        except (KeyError, TypeError, ZeroDivisionError):
            pass
