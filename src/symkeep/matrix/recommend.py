"""A recommendation per scenario, derived only from the measured verdicts and sizes.

Each scenario lists the probes that must pass; the smallest variant (per toolchain) that passes them
wins. A probe that could not run on any variant of a toolchain (tool missing) is not required there.
"""

from __future__ import annotations

from typing import Any

__all__ = ["SCENARIOS", "recommend"]

# scenario -> (what it needs, probes that must be "ok")
SCENARIOS: dict[str, tuple[str, tuple[str, ...]]] = {
    "dev": ("the most tools work on the binary itself (highest ✓ count; size breaks ties)",
            ("runtime_pprof", "panic", "go_pprof", "gdb", "perf")),
    "staging": ("profiles, panics, perf and gdb work (a debug file beside the binary is fine)",
                ("runtime_pprof", "panic", "go_pprof", "perf", "gdb")),
    "prod": ("small; runtime profiles and panics named; pprof works offline; debuginfod can index it",
             ("runtime_pprof", "panic", "go_pprof", "debuginfod")),
    "embedded": ("smallest binary whose runtime profiles and panic traces still name functions and lines",
                 ("runtime_pprof", "panic")),
}


def recommend(report: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    by_tc: dict[str, list[dict[str, Any]]] = {}
    for r in report.get("results", []):
        by_tc.setdefault(str(r.get("toolchain")), []).append(r)
    for scen, (why, needs) in SCENARIOS.items():
        per: dict[str, Any] = {}
        for tc, rows in by_tc.items():
            ok_rows = [r for r in rows if r.get("status") == "ok" and isinstance(r.get("size", {}).get("file"), int)]
            if not ok_rows:
                per[tc] = {"variant": None, "reason": "no variant built and ran"}
                continue
            runnable = [p for p in needs
                        if any(r.get("probes", {}).get(p, {}).get("status") not in (None, "error", "na")
                               for r in ok_rows)]
            skipped = [p for p in needs if p not in runnable]
            good = [r for r in ok_rows
                    if all(r.get("probes", {}).get(p, {}).get("status") == "ok" for p in runnable)]
            if not good:
                per[tc] = {"variant": None, "reason": f"no variant passes {', '.join(runnable)}"}
                continue
            if scen == "dev":
                best = max(good, key=lambda r: (_score(r), r["variant"] == "default", -r["size"]["file"]))
            else:
                best = min(good, key=lambda r: (r["size"]["file"], r["variant"] != "default"))
            per[tc] = {
                "variant": best["variant"],
                "label": best.get("label", best["variant"]),
                "size": best["size"]["file"],
                "delta_vs_default_pct": best["size"].get("delta_vs_default_pct"),
                "reason": (f"most ✓ ({_score(best)} points) with {', '.join(runnable)} all ✓" if scen == "dev"
                           else f"smallest variant with {', '.join(runnable)} all ✓")
                + (f" (not checked, tool unavailable: {', '.join(skipped)})" if skipped else ""),
            }
        out[scen] = {"needs": why, "probes": list(needs), "by_toolchain": per}
    return out


def _score(r: dict[str, Any]) -> int:
    pts = {"ok": 2, "partial": 1}
    return sum(pts.get(str(v.get("status")), 0) for v in r.get("probes", {}).values())
