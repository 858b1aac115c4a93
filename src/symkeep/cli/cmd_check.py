"""`symkeep check`: the retention-tier policy gate (exit 0 pass, 1 policy failure)."""

from __future__ import annotations

import sys

import click


@click.command("check")
@click.argument("binaries", nargs=-1, required=True, type=click.Path(path_type=str))
@click.option("--policy", "policy_file", type=click.Path(path_type=str), default=None,
              help="TOML policy file (README 'Policy file'); overrides the tier's built-in defaults.")
@click.option("--tier", type=click.Choice(["dev", "staging", "prod"]), default=None,
              help="Retention tier (default: the policy file's [policy] tier, else dev).")
@click.option("--store", "store_url", default=None, metavar="URL",
              help="Symbol store the archive rules ask: a symkeep store URL, or debugdir:PATH (a build-id tree).")
@click.option("--baseline", type=click.Path(path_type=str), default=None,
              help="A previous `symkeep inspect --json` (object or list) for the size.growth rule.")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "junit", "sarif"]), default="text",
              show_default=True, help="Report format.")
@click.option("-o", "--output", type=click.Path(path_type=str), default=None,
              help="Write the report here (atomically); with a non-text format the text report still goes to stdout.")
def command(binaries: tuple[str, ...], policy_file: str | None, tier: str | None, store_url: str | None,
            baseline: str | None, fmt: str, output: str | None) -> None:
    """Check Go BINARIES against a retention policy: rules with evidence and a fix for each failure.

    Exit codes: 0 every rule passed (or failed below the fail_on severity), 1 policy failure,
    2 usage error (bad option or policy file), 3-6 unreadable or malformed input.
    """
    from importlib.metadata import PackageNotFoundError, version

    from symkeep.errors import EXIT_NEGATIVE
    from symkeep.fsio import OutputTarget
    from symkeep.policy import load_policy, open_archive, run_check
    from symkeep.policy.check import load_baseline
    from symkeep.policy.formats import render, render_text

    target = OutputTarget.check(output) if output else None
    pol = load_policy(policy_file, tier)
    base = load_baseline(baseline) if baseline else None
    archive = open_archive(store_url)
    rep = run_check(list(binaries), pol, archive, base)
    try:
        ver = version("symkeep")
    except PackageNotFoundError:
        ver = ""
    text = render(rep, fmt, ver)
    if target is None:
        sys.stdout.write(text)
    else:
        target.write(text.encode())
        if fmt != "text" and not target.is_stdout:
            sys.stdout.write(render_text(rep))
    sys.stdout.flush()
    if not rep.passed:
        sys.exit(EXIT_NEGATIVE)
