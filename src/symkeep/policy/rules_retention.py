"""Retention and identity rules: what the tier keeps, what the archive holds, what names the build."""

from __future__ import annotations

from symkeep.binfmt.debugdirs import build_id_debug_path
from symkeep.golang.goversion import GoVersion
from symkeep.policy.archive import BuildIdDirArchive
from symkeep.policy.context import Ctx
from symkeep.policy.facts import CheckFacts
from symkeep.policy.model import RuleResult

__all__ = ["RETENTION_RULES"]

_STRIP_HINT = {"symtab": "drop -s from -ldflags (keep -w to shed only DWARF)",
               "dwarf": "drop -w (and -s) from -ldflags, or build with -ldflags='-s -w=0' on Go 1.22+"}


def _archive_cmd(ctx: Ctx, f: CheckFacts) -> str:
    if isinstance(ctx.archive, BuildIdDirArchive) and f.gnu_id:
        d = build_id_debug_path(ctx.archive.root, f.gnu_id)
        return (f"symkeep restore {f.path} --install {ctx.archive.root} && sha256sum {d} | cut -d' ' -f1 > "
                f"{d}.sha256")
    return f"symkeep archive --store {ctx.archive.name if ctx.archive.name != '(none)' else 'URL'} {f.path}"


def _keep(what: str, present: bool, ctx: Ctx, f: CheckFacts) -> RuleResult | None:
    rule = f"retention.{what}"
    mode = ctx.policy.get("retention", what)
    if mode == "any" or ctx.policy.severity(rule) == "off":
        return None
    label = ".symtab" if what == "symtab" else "DWARF"
    ev = {"present": present, "mode": mode, "tier": ctx.policy.tier}
    if what == "dwarf" and f.dwarf_version:
        ev["dwarf_version"] = f.dwarf_version
    if mode == "forbidden":
        if not present:
            return ctx.result(rule, "pass", f"no {label}", ev)
        return ctx.result(rule, "fail", f"{label} present, the policy forbids it ({f.classes.get(what, 0):,} bytes)",
                          ev, "build with -ldflags='-s -w' (or strip) and archive the unstripped build")
    if present:
        return ctx.result(rule, "pass", f"{label} present", ev)
    if mode == "required":
        return ctx.result(rule, "fail", f"{label} stripped; tier {ctx.policy.tier} keeps it", ev, _STRIP_HINT[what])
    st = ctx.archived(f)  # required-unless-archived
    if st.unavailable:
        return ctx.result(rule, "skip", f"{label} stripped and archive unknown: skipped: {st.unavailable}", ev,
                          f"pass --store URL so the archived debug info can be checked, or {_STRIP_HINT[what]}")
    ev["archived"] = st.evidence()
    if st.usable(f):
        return ctx.result(rule, "pass", f"{label} stripped, debug info archived in {ctx.archive.name}", ev)
    return ctx.result(rule, "fail", f"{label} stripped and no verified debug info in {ctx.archive.name}", ev,
                      f"{_STRIP_HINT[what]}, or archive the debug info: {_archive_cmd(ctx, f)}")


def rule_symtab(f: CheckFacts, ctx: Ctx) -> RuleResult | None:
    return _keep("symtab", f.has_symtab, ctx, f)


def rule_dwarf(f: CheckFacts, ctx: Ctx) -> RuleResult | None:
    return _keep("dwarf", f.has_dwarf, ctx, f)


def rule_archived(f: CheckFacts, ctx: Ctx) -> RuleResult | None:
    rule = "retention.archived"
    mode = ctx.policy.get("retention", "archive")
    if mode == "off" or ctx.policy.severity(rule) == "off":
        return None
    stripped = not (f.has_symtab and f.has_dwarf)
    ev = {"mode": mode, "stripped": stripped, "has_symtab": f.has_symtab, "has_dwarf": f.has_dwarf,
          "gnu_build_id": f.gnu_id, "go_build_id": f.go_id, "sha256": f.sha256}
    if mode == "if-stripped" and not stripped:
        return ctx.result(rule, "pass", "symbol table and DWARF kept in the binary: nothing to archive", ev)
    if not f.gnu_id and (not f.go_id or f.go_redacted):
        return ctx.result(rule, "fail", "no GNU build-id and no usable Go build ID: nothing to archive it under",
                          ev, "link with -ldflags=-B gobuildid (Go 1.22+) so the build has an ID")
    st = ctx.archived(f)
    if st.unavailable:
        return ctx.result(rule, "skip", f"skipped: {st.unavailable}", ev,
                          f"pass --store URL (the symbol store this binary's debug info goes to): {_archive_cmd(ctx, f)}")
    ev["store"] = ctx.archive.name
    ev["archived"] = st.evidence()
    good = st.usable(f)
    if good:
        kinds = sorted({r.kind for r in good})
        return ctx.result(rule, "pass", f"archived in {ctx.archive.name} ({', '.join(kinds)}; sha256 verified)", ev)
    bad = [st.problems[i] for i in range(len(st.records)) if st.problems.get(i)]
    if bad:
        return ctx.result(rule, "fail", f"archived bytes fail verification: {bad[0]}", ev,
                          f"re-archive the build ({_archive_cmd(ctx, f)}) and find out who changed the store")
    if st.records:
        return ctx.result(rule, "fail", "only a different executable is archived under this build ID", ev,
                          f"archive this build's own bytes: {_archive_cmd(ctx, f)}")
    ids = " / ".join(x for x in (f.gnu_id, f.go_id) if x)
    return ctx.result(rule, "fail", f"stripped, and nothing archived under {ids} in {ctx.archive.name}", ev,
                      f"{_archive_cmd(ctx, f)} (archive the unstripped build too, if you have it)")


def rule_size_preferred(f: CheckFacts, ctx: Ctx) -> RuleResult | None:
    rule = "retention.size-preferred"
    if not ctx.policy.get("retention", "prefer_stripped") or ctx.policy.severity(rule) == "off":
        return None
    kept = f.classes.get("symtab", 0) + f.classes.get("dwarf", 0)
    ev = {"symtab_bytes": f.classes.get("symtab", 0), "dwarf_bytes": f.classes.get("dwarf", 0),
          "file_size": f.file_size}
    if kept == 0:
        return ctx.result(rule, "pass", "no symbol table or DWARF bytes in the shipped binary", ev)
    pct = 100.0 * kept / f.file_size if f.file_size else 0.0
    return ctx.result(rule, "fail", f"ships {kept:,} bytes of symbol table and DWARF ({pct:.0f}% of the file)",
                      ev, f"archive this build ({_archive_cmd(ctx, f)}), then ship it built with -ldflags='-s -w'")


def rule_pclntab(f: CheckFacts, ctx: Ctx) -> RuleResult | None:
    rule = "identity.pclntab"
    if ctx.policy.severity(rule) == "off":
        return None
    if f.pclntab_error:
        return ctx.result(rule, "fail", f"no readable .gopclntab: {f.pclntab_error}", {"error": f.pclntab_error},
                          "check that this is a Go binary built by the go command (not a C program or a wrapper)")
    return ctx.result(rule, "pass", f"pclntab readable (Go {f.go_version or '?'})", {"go_version": f.go_version})


def rule_buildinfo(f: CheckFacts, ctx: Ctx) -> RuleResult | None:
    rule = "identity.buildinfo"
    if not ctx.policy.get("identity", "buildinfo") or ctx.policy.severity(rule) == "off":
        return None
    if f.pclntab_error:
        return ctx.result(rule, "skip", "skipped: not a readable Go binary", {})
    if f.buildinfo_error:
        return ctx.result(rule, "fail", f"build info unreadable: {f.buildinfo_error}", {"error": f.buildinfo_error},
                          "build with the go command in module mode (Go 1.18+ records module and build settings)")
    return ctx.result(rule, "pass", f"build info readable ({f.main_path or 'no module path'})",
                      {"module": f.main_path, "settings": len(f.settings)})


def rule_gnu_build_id(f: CheckFacts, ctx: Ctx) -> RuleResult | None:
    rule = "identity.gnu-build-id"
    if not ctx.policy.get("identity", "gnu_build_id") or ctx.policy.severity(rule) == "off" or f.format != "elf":
        return None
    ev = {"gnu_build_id": f.gnu_id, "go_version": f.go_version}
    if f.gnu_id:
        return ctx.result(rule, "pass", f"GNU build-id {f.gnu_id}", ev)
    old = False
    try:
        old = f.go_version is not None and not GoVersion.parse(f.go_version).at_least(22)
    except Exception:  # noqa: BLE001 - an unparsable version gets the modern advice
        old = False
    fix = ("upgrade to Go 1.22+ and link with -ldflags=-B gobuildid (default from Go 1.24), or link externally"
           if old else "link with -ldflags=-B gobuildid (Go 1.22+; the default from Go 1.24 with the internal linker)")
    return ctx.result(rule, "fail", "no GNU build-id note: debuginfod, perf and gdb cannot find debug files by ID",
                      ev, fix)


def rule_go_build_id(f: CheckFacts, ctx: Ctx) -> RuleResult | None:
    rule = "identity.go-build-id"
    if not ctx.policy.get("identity", "go_build_id") or ctx.policy.severity(rule) == "off":
        return None
    ev = {"go_build_id": f.go_id}
    if f.go_id is None:
        return ctx.result(rule, "fail", "no Go build ID", ev, "build with the go command (it writes the Go build ID)")
    if f.go_redacted:
        return ctx.result(rule, "fail", "Go build ID is 'redacted' (Bazel rules_go): builds cannot be told apart",
                          ev, "let the toolchain write the real build ID (do not override -buildid), "
                              "or give each build a GNU build-id with -ldflags=-B 0x<unique hex>")
    return ctx.result(rule, "pass", f"Go build ID {f.go_id}", ev)


def rule_unique_build_id(f: CheckFacts, ctx: Ctx) -> RuleResult | None:
    rule = "identity.unique-build-id"
    if not ctx.policy.get("identity", "unique_build_id") or ctx.policy.severity(rule) == "off":
        return None
    if not f.gnu_id and not f.go_id or ctx.archive.name == "(none)":
        return None  # only with a store to look in
    st = ctx.archived(f)
    if st.unavailable:
        return ctx.result(rule, "skip", f"skipped: {st.unavailable}", {}, "pass --store URL to check the archive")
    others = [r for r in st.records if r.kind == "executable" and r.sha256 and r.sha256 != f.sha256]
    ev = {"sha256": f.sha256, "store": ctx.archive.name, "archived": st.evidence()}
    if not others:
        return ctx.result(rule, "pass", f"no other executable archived under this build's IDs in {ctx.archive.name}",
                          ev)
    o = others[0]
    return ctx.result(rule, "fail", f"a different executable (sha256 {o.sha256}) is archived under {o.build_id}",
                      ev, "make build IDs unique per build: do not pass a fixed -B 0x... or -buildid; "
                          "rebuild and archive the new build")


RETENTION_RULES = (rule_symtab, rule_dwarf, rule_archived, rule_size_preferred, rule_pclntab, rule_buildinfo,
                   rule_gnu_build_id, rule_go_build_id, rule_unique_build_id)
