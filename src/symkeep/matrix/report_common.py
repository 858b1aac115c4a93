"""Helpers shared by the terminal, Markdown and HTML reports (all read the JSON report only)."""

from __future__ import annotations

from typing import Any

from symkeep.matrix.measure import CLASSES

__all__ = [
    "CLASSES", "SYMBOLS", "fmt_num", "fmt_pct", "fmt_size", "grid", "reasons", "runtime_rows", "size_delta",
    "toolchains", "verdict",
]

SYMBOLS = {"ok": "✓", "partial": "◐", "fail": "✗", "na": "–", "error": "!"}


def fmt_size(n: int | None) -> str:
    if n is None:
        return "—"
    if n >= 1 << 20:
        return f"{n / (1 << 20):.2f} MiB"
    if n >= 1 << 10:
        return f"{n / (1 << 10):.1f} KiB"
    return f"{n} B"


def fmt_pct(p: float | None, signed: bool = True) -> str:
    if p is None:
        return ""
    s = f"{p:+.1f}%" if signed else f"{p:.1f}%"
    return s.replace("-", "−")


def fmt_num(v: float | None, digits: int) -> str:
    return "—" if v is None else f"{v:.{digits}f}"


def size_delta(size: dict[str, Any], variant: dict[str, Any]) -> str:
    """The size change against ``default`` as text; "" for default itself (it is the reference)."""
    d = size.get("delta_vs_default_pct")
    return fmt_pct(d) if d is not None and variant["name"] != "default" else ""


def toolchains(report: dict[str, Any]) -> list[str]:
    """Column keys: the resolved version, or the spec for a toolchain that is missing."""
    return [t["version"] or t["spec"] for t in report.get("toolchains", [])]


def _index(report: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(str(r["toolchain"]), str(r["variant"])): r for r in report.get("results", [])}


def visible_variants(report: dict[str, Any]) -> list[dict[str, Any]]:
    return [v for v in report.get("variants", []) if not str(v["name"]).endswith(".base")]


def grid(report: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per variant: size cells and verdict cells, one entry per toolchain."""
    idx = _index(report)
    tcs = toolchains(report)
    rows = []
    for v in visible_variants(report):
        cells = []
        for tc in tcs:
            r = idx.get((tc, v["name"]))
            cells.append(r)
        rows.append({"variant": v, "results": cells})
    return rows


def verdict(r: dict[str, Any] | None, probe: str) -> dict[str, str]:
    if r is None:
        return {"status": "error", "reason": "not measured", "command": "", "line": ""}
    if r.get("status") != "ok":
        return {"status": "error", "reason": str(r.get("error", "error")), "command": "", "line": ""}
    v = r.get("probes", {}).get(probe)
    if not isinstance(v, dict):
        return {"status": "na", "reason": "probe not run", "command": "", "line": ""}
    return v


def reasons(report: dict[str, Any]) -> list[tuple[str, str, list[str]]]:
    """(what, reason, where) for every ✗/◐/! and every failed variant, identical reasons grouped."""
    groups: dict[tuple[str, str], list[str]] = {}
    probes = report.get("probes", {})
    for row in grid(report):
        vname = row["variant"]["name"]
        for r in row["results"]:
            if r is None:
                continue
            where = f"{vname}@{_short(str(r['toolchain']))}"
            if r.get("status") != "ok":
                groups.setdefault(("build/run", _first_line(str(r.get("error", "")))), []).append(where)
                continue
            for p, title in probes.items():
                v = r.get("probes", {}).get(p, {})
                st = v.get("status")
                if st in ("fail", "partial", "error", "na"):
                    key = (f"{title} {SYMBOLS.get(st, '?')}", _norm_reason(str(v.get("reason", ""))))
                    groups.setdefault(key, []).append(where)
            rt = r.get("runtime", {})
            if rt.get("error"):
                groups.setdefault(("runtime", _first_line(str(rt["error"]))), []).append(where)
    return [(k[0], k[1], w) for k, w in groups.items()]


def _norm_reason(s: str) -> str:
    return _first_line(s)


def _first_line(s: str) -> str:
    line = s.strip().splitlines()[0] if s.strip() else ""
    return line[:240]


def _short(tc: str) -> str:
    return tc.removeprefix("go")


def runtime_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Per variant x toolchain: build s, start-up ms, RSS MiB, ops/s Δ, profile overhead (median, spread)."""
    out = []
    for row in grid(report):
        cells: list[dict[str, Any] | None] = []
        for r in row["results"]:
            if r is None or r.get("status") != "ok":
                cells.append(None)
                continue
            rt = r.get("runtime", {})
            cpu = rt.get("cpu", {})
            st = rt.get("startup_seconds", {})
            rss = rt.get("rss_ready_kb", {})
            ov = cpu.get("profile_overhead_pct", {})
            cells.append({
                "build_s": r.get("build", {}).get("seconds"),
                "startup_ms": None if st.get("median") is None else 1000 * st["median"],
                "startup_spread_ms": None if st.get("min") is None else (1000 * st["min"], 1000 * st["max"]),
                "rss_mib": None if rss.get("median") is None else rss["median"] / 1024,
                "ops": cpu.get("ops_per_sec", {}).get("median"),
                "ops_delta": cpu.get("throughput_vs_default_pct"),
                "overhead": ov.get("median"),
                "overhead_spread": None if ov.get("min") is None else (ov["min"], ov["max"]),
                "cpu_error": cpu.get("error"),
                "debug_file_size": r.get("build", {}).get("debug_file_size"),
            })
        out.append({"variant": row["variant"], "cells": cells})
    return out
