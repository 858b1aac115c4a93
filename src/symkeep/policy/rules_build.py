"""Build-setting, hazard and size rules: what `go version -m` recorded, known traps, byte budgets."""

from __future__ import annotations

from typing import Any

from symkeep.errors import SymkeepError
from symkeep.golang.goversion import GoVersion
from symkeep.policy.context import Ctx
from symkeep.policy.facts import CheckFacts, text_start_shift
from symkeep.policy.model import RuleResult

__all__ = ["BUILD_RULES"]


def _on(ctx: Ctx, rule: str) -> bool:
    return ctx.policy.severity(rule) != "off"


def _needs_buildinfo(f: CheckFacts, ctx: Ctx, rule: str) -> RuleResult | None:
    if f.has_buildinfo:
        return None
    return ctx.result(rule, "skip", f"skipped: no build info ({f.pclntab_error or f.buildinfo_error})", {},
                      "build with the go command in module mode so the build settings are recorded")


def rule_trimpath(f: CheckFacts, ctx: Ctx) -> RuleResult | None:
    rule, mode = "build.trimpath", ctx.policy.get("build", "trimpath")
    if mode == "any" or not _on(ctx, rule):
        return None
    if (r := _needs_buildinfo(f, ctx, rule)) is not None:
        return r
    on = f.settings.get("-trimpath") == "true"
    ev = {"-trimpath": f.settings.get("-trimpath", "false"), "mode": mode}
    if on == (mode == "required"):
        return ctx.result(rule, "pass", f"-trimpath {'set' if on else 'not set'}", ev)
    if mode == "required":
        return ctx.result(rule, "fail", "built without -trimpath: build paths are embedded", ev,
                          "add -trimpath to go build (and map sources with pprof -trim_path / gdb substitute-path)")
    return ctx.result(rule, "fail", "built with -trimpath: file names are module-relative", ev,
                      "drop -trimpath, or configure source lookup (pprof -source_path, gdb set substitute-path)")


def rule_vcs(f: CheckFacts, ctx: Ctx) -> RuleResult | None:
    rule = "build.vcs"
    if not ctx.policy.get("build", "vcs") or not _on(ctx, rule):
        return None
    if (r := _needs_buildinfo(f, ctx, rule)) is not None:
        return r
    rev, mod = f.settings.get("vcs.revision"), f.settings.get("vcs.modified")
    ev = {"vcs": f.settings.get("vcs"), "vcs.revision": rev, "vcs.modified": mod, "vcs.time": f.settings.get("vcs.time")}
    if not rev:
        return ctx.result(rule, "fail", "no vcs.revision in the build info", ev,
                          "build inside the repository checkout without -buildvcs=false (Go 1.18+ stamps it)")
    if mod != "false":
        return ctx.result(rule, "fail", f"vcs.modified={mod}: built from a tree with uncommitted changes", ev,
                          "commit (or stash) the changes and build from a clean checkout")
    return ctx.result(rule, "pass", f"revision {rev[:12]}, clean tree", ev)


def rule_cgo(f: CheckFacts, ctx: Ctx) -> RuleResult | None:
    rule, mode = "build.cgo", ctx.policy.get("build", "cgo")
    if mode == "any" or not _on(ctx, rule):
        return None
    if (r := _needs_buildinfo(f, ctx, rule)) is not None:
        return r
    val = f.settings.get("CGO_ENABLED")
    on = val == "1"
    ev = {"CGO_ENABLED": val, "mode": mode}
    if on == (mode == "required"):
        return ctx.result(rule, "pass", f"CGO_ENABLED={val}", ev)
    fix = "build with CGO_ENABLED=1" if mode == "required" else "build with CGO_ENABLED=0 (pure Go, static)"
    return ctx.result(rule, "fail", f"CGO_ENABLED={val}, the policy says cgo is {mode}", ev, fix)


def rule_min_go(f: CheckFacts, ctx: Ctx) -> RuleResult | None:
    rule, want = "build.min-go", ctx.policy.get("build", "min_go")
    if not want or not _on(ctx, rule):
        return None
    ev = {"go_version": f.go_version, "min_go": want}
    if not f.go_version:
        return ctx.result(rule, "skip", "skipped: Go version unknown", ev)
    try:
        have = GoVersion.parse(f.go_version)
        ok = have >= GoVersion.parse("go" + want)
    except SymkeepError:
        return ctx.result(rule, "skip", f"skipped: cannot compare Go version {f.go_version!r}", ev)
    if ok:
        return ctx.result(rule, "pass", f"{f.go_version} >= go{want}", ev)
    return ctx.result(rule, "fail", f"built with {f.go_version}, the policy needs go{want} or newer", ev,
                      f"build with Go {want} or newer (go.mod toolchain directive or the CI image)")


def rule_race(f: CheckFacts, ctx: Ctx) -> RuleResult | None:
    rule = "build.race"
    if ctx.policy.get("build", "race") != "forbidden" or not _on(ctx, rule):
        return None
    race = f.settings.get("-race") == "true" or "runtime/race" in f.packages
    ev = {"-race": f.settings.get("-race", "false"), "runtime/race linked": "runtime/race" in f.packages}
    if f.pclntab_error:
        return ctx.result(rule, "skip", f"skipped: {f.pclntab_error}", ev)
    if not race:
        return ctx.result(rule, "pass", "not a -race build", ev)
    return ctx.result(rule, "fail", "built with -race (race detector: 5-10x CPU and memory)", ev,
                      "drop -race from the release build; run it in tests instead")


def rule_packages(f: CheckFacts, ctx: Ctx) -> RuleResult | None:
    rule = "build.packages"
    req, forb = ctx.policy.get("build", "required_packages"), ctx.policy.get("build", "forbidden_packages")
    if not (req or forb) or not _on(ctx, rule):
        return None
    if f.pclntab_error:
        return ctx.result(rule, "skip", f"skipped: {f.pclntab_error}", {})
    missing = [p for p in req if p not in f.packages]
    present = [p for p in forb if p in f.packages]
    ev = {"required": req, "forbidden": forb, "missing": missing, "present_forbidden": present,
          "packages_linked": len(f.packages)}
    if not missing and not present:
        return ctx.result(rule, "pass", "required packages linked, forbidden ones absent", ev)
    parts = []
    if missing:
        parts.append("missing " + ", ".join(missing))
    if present:
        parts.append("forbidden but linked " + ", ".join(present))
    fix = []
    if missing:
        fix.append("import " + ", ".join(missing) + " (e.g. `import _ \"net/http/pprof\"` in the server's main)")
    if present:
        fix.append("remove the import of " + ", ".join(present) + " (go mod why -m / go list -deps finds who pulls it)")
    return ctx.result(rule, "fail", "; ".join(parts), ev, "; ".join(fix))


def rule_goamd64(f: CheckFacts, ctx: Ctx) -> RuleResult | None:
    rule, want = "build.goamd64", ctx.policy.get("build", "goamd64")
    if not want or not _on(ctx, rule) or f.arch != "amd64":
        return None
    if (r := _needs_buildinfo(f, ctx, rule)) is not None:
        return r
    have = f.settings.get("GOAMD64", "v1")
    ev = {"GOAMD64": have, "min": want}
    if have >= want:
        return ctx.result(rule, "pass", f"GOAMD64={have}", ev)
    return ctx.result(rule, "fail", f"GOAMD64={have}, the policy needs {want} or higher", ev,
                      f"build with GOAMD64={want}")


def rule_stripped_extlink(f: CheckFacts, ctx: Ctx) -> RuleResult | None:
    rule = "hazard.stripped-extlink"
    if not ctx.policy.get("hazards", "stripped_extlink") or not _on(ctx, rule) or f.format != "elf":
        return None
    if f.pclntab_error:
        return None
    shift = text_start_shift(f)
    ev: dict[str, Any] = {"has_symtab": f.has_symtab, ".text": f.text_section, "text_start": f.text_start,
                          "text_start_source": f.text_start_source, "shift": shift}
    if shift == 0:
        why = "symbol table kept (runtime.text)" if f.has_symtab else ".text starts at runtime.text"
        return ctx.result(rule, "pass", f"go tool pprof finds the right text start ({why})", ev)
    return ctx.result(rule, "fail",
                      f"stripped and externally linked: .text starts {shift:#x} bytes before runtime.text "
                      f"(C code first), so `go tool pprof -symbolize=local`/`go tool addr2line` misname every frame",
                      ev, "keep .symtab (drop -s; -w alone still saves DWARF), or symbolize with symkeep "
                          "(`symkeep symbolize PROFILE --binary BIN`), which reads moduledata.text")


def rule_dwarf5(f: CheckFacts, ctx: Ctx) -> RuleResult | None:
    rule = "hazard.dwarf5-binutils"
    if not ctx.policy.get("hazards", "dwarf5_binutils") or not _on(ctx, rule) or not f.has_dwarf:
        return None
    ev = {"dwarf_version": f.dwarf_version, "go_version": f.go_version}
    if (f.dwarf_version or 0) < 5:
        return ctx.result(rule, "pass", f"DWARF {f.dwarf_version}: binutils addr2line reads its lines", ev)
    return ctx.result(rule, "fail", f"DWARF {f.dwarf_version}: binutils 2.40 addr2line prints no line numbers for it",
                      ev, "use llvm-symbolizer, gdb or `symkeep addr2line`; or ship a DWARF 4 debug file "
                          "(`symkeep restore BIN -o BIN.debug`)")


def rule_ignored_w0(f: CheckFacts, ctx: Ctx) -> RuleResult | None:
    rule = "hazard.ignored-w0"
    if not ctx.policy.get("hazards", "ignored_w0") or not _on(ctx, rule):
        return None
    flags = f.settings.get("-ldflags", "")
    toks = flags.split()
    if "-w=0" not in toks and "-w=false" not in toks:
        return None
    ev = {"-ldflags": flags, "has_dwarf": f.has_dwarf, "go_version": f.go_version}
    if f.has_dwarf:
        return ctx.result(rule, "pass", "-w=0 honoured: DWARF kept", ev)
    return ctx.result(rule, "fail", f"-ldflags={flags!r} asked for DWARF, but {f.go_version} dropped it under -s", ev,
                      "on Go < 1.22 drop -s to keep DWARF (or upgrade: 1.22+ honours -s -w=0)")


def _fmt(n: int) -> str:
    return f"{n:,} bytes"


def rule_size_total(f: CheckFacts, ctx: Ctx) -> RuleResult | None:
    rule, mx = "size.total", ctx.policy.get("size", "max_total")
    if mx is None or not _on(ctx, rule):
        return None
    ev = {"file_size": f.file_size, "max_total": mx}
    if f.file_size <= mx:
        return ctx.result(rule, "pass", f"{_fmt(f.file_size)} <= {_fmt(mx)}", ev)
    return ctx.result(rule, "fail", f"{_fmt(f.file_size)} over the budget of {_fmt(mx)} by {_fmt(f.file_size - mx)}",
                      ev, "strip with -ldflags='-s -w' after archiving, or find the growth with `symkeep inspect`")


def rule_size_class(f: CheckFacts, ctx: Ctx) -> RuleResult | None:
    rule, limits = "size.class", ctx.policy.get("size", "max_class")
    if not limits or not _on(ctx, rule):
        return None
    over = {c: (f.classes.get(c, 0), mx) for c, mx in limits.items() if f.classes.get(c, 0) > mx}
    ev = {"classes": {c: f.classes.get(c, 0) for c in limits}, "max_class": limits}
    if not over:
        return ctx.result(rule, "pass", "every budgeted class within its budget", ev)
    parts = [f"{c} {_fmt(have)} > {_fmt(mx)}" for c, (have, mx) in over.items()]
    hint = {"dwarf": "-w", "symtab": "-s"}
    fixes = [f"{hint[c]} removes {c}" for c in over if c in hint]
    return ctx.result(rule, "fail", "over budget: " + "; ".join(parts), ev,
                      "; ".join(fixes) or "look at `symkeep inspect --sections` for what grew")


def _baseline_sizes(b: dict[str, Any]) -> tuple[int, dict[str, int]]:
    total = int(b.get("file_size") or 0)
    classes = {str(c.get("name")): int(c.get("bytes") or 0) for c in b.get("classes") or [] if isinstance(c, dict)}
    return total, classes


def rule_size_growth(f: CheckFacts, ctx: Ctx) -> RuleResult | None:
    rule = "size.growth"
    mx, per = ctx.policy.get("size", "max_growth"), ctx.policy.get("size", "max_class_growth")
    if (mx is None and not per) or not _on(ctx, rule):
        return None
    base = ctx.baseline
    if base is None:
        return ctx.result(rule, "skip", "skipped: no --baseline given (a previous `symkeep inspect --json`)", {},
                          "pass --baseline base.json, made by `symkeep inspect --json BIN > base.json` on the last release")
    btotal, bclasses = _baseline_sizes(base)

    def growth(now: int, before: int) -> float:
        return 100.0 * (now - before) / before if before else (0.0 if now == 0 else float("inf"))

    ev: dict[str, Any] = {"baseline": base.get("path"), "file_size": f.file_size, "baseline_file_size": btotal}
    bad = []
    if mx is not None:
        g = growth(f.file_size, btotal)
        ev["growth_percent"] = round(g, 2)
        if g > mx:
            bad.append(f"file grew {g:.1f}% ({_fmt(btotal)} -> {_fmt(f.file_size)}), budget {mx:g}%")
    for c, lim in (per or {}).items():
        g = growth(f.classes.get(c, 0), bclasses.get(c, 0))
        ev.setdefault("class_growth_percent", {})[c] = round(g, 2) if g != float("inf") else "new"
        if g > lim:
            bad.append(f"{c} grew {g:.1f}% ({_fmt(bclasses.get(c, 0))} -> {_fmt(f.classes.get(c, 0))}), budget {lim:g}%")
    if not bad:
        return ctx.result(rule, "pass", "growth against the baseline within budget", ev)
    return ctx.result(rule, "fail", "; ".join(bad), ev,
                      "compare `symkeep inspect --sections` of both builds to find what grew")


BUILD_RULES = (rule_trimpath, rule_vcs, rule_cgo, rule_min_go, rule_race, rule_packages, rule_goamd64,
               rule_stripped_extlink, rule_dwarf5, rule_ignored_w0, rule_size_total, rule_size_class, rule_size_growth)
