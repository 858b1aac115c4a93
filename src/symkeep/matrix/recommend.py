"""A recommendation per scenario, derived only from the measured verdicts and sizes.

Each scenario lists the probes that must pass; the smallest variant (per toolchain) that passes them
wins. A probe that could not run on any variant of a toolchain (tool missing) is not required there.
"""

from __future__ import annotations

from typing import Any

__all__ = ["SCENARIOS", "recommend"]

# scenario -> (what it needs, probes that must be "ok")
SCENARIOS: dict[str, tuple[str, tuple[str, ...]]] = {
    "dev": ("debuggers, perf and every symbolizer work on the binary itself",
            ("runtime_pprof", "panic", "go_pprof", "gdb", "perf", "nm", "llvm_symbolizer")),
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
            best = min(good, key=lambda r: (r["size"]["file"], r["variant"] != "default"))
            per[tc] = {
                "variant": best["variant"],
                "label": best.get("label", best["variant"]),
                "size": best["size"]["file"],
                "delta_vs_default_pct": best["size"].get("delta_vs_default_pct"),
                "reason": f"smallest variant with {', '.join(runnable)} all ✓"
                + (f" (not checked, tool unavailable: {', '.join(skipped)})" if skipped else ""),
            }
        out[scen] = {"needs": why, "probes": list(needs), "by_toolchain": per}
    return out
