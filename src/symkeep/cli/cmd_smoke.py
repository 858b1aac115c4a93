"""`symkeep smoke`: is the service's pprof endpoint there, and are its profiles named?"""

from __future__ import annotations

import sys

import click


@click.command("smoke", context_settings={"ignore_unknown_options": False})
@click.argument("cmd", nargs=-1, type=click.UNPROCESSED)
@click.option("--url", default=None, help="A running service (its base URL, or .../debug/pprof/).")
@click.option("--seconds", type=float, default=5.0, show_default=True, help="CPU profile duration.")
@click.option("--min-named", type=float, default=0.99, show_default=True,
              help="Fraction of samples whose every frame has a name and a line.")
@click.option("--timeout", type=float, default=30.0, show_default=True,
              help="Seconds to wait for the started program's /debug/pprof/.")
@click.option("--binary", type=click.Path(path_type=str), default=None,
              help="Check the running process is this build (default: the started program).")
@click.option("--store", "store_url", default=None, metavar="URL",
              help="Also check the binary's build is archived there (as `check --store`).")
@click.option("--save-dir", type=click.Path(path_type=str), default=None,
              help="Keep the fetched profiles there (cpu.pb.gz, heap.pb.gz, goroutine.pb.gz, mutex.pb.gz).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable report.")
def command(cmd: tuple[str, ...], url: str | None, seconds: float, min_named: float, timeout: float,
            binary: str | None, store_url: str | None, save_dir: str | None, as_json: bool) -> None:
    """Start `-- BIN ARGS...` (in its own process group) or use --url, fetch CPU, heap, goroutine and mutex
    profiles from /debug/pprof/ and check their samples are named.

    The started program is always stopped (SIGTERM, then SIGKILL to its process group), also on
    timeouts and when smoke itself is interrupted. Exit 0 pass, 1 fail (the reason on stderr), 2 usage.
    """
    from symkeep.cli.render import emit_json
    from symkeep.errors import EXIT_NEGATIVE
    from symkeep.smoke import SmokeOptions, smoke

    rep = smoke(SmokeOptions(url=url, cmd=cmd, seconds=seconds, min_named=min_named, timeout=timeout,
                             binary=binary, store=store_url, save_dir=save_dir))
    if as_json:
        emit_json(rep.to_json())
    else:
        sys.stdout.write(rep.to_text())
    sys.stdout.flush()
    if not rep.passed:
        click.echo(f"symkeep: smoke failed: {rep.reason}", err=True)
        sys.exit(EXIT_NEGATIVE)
