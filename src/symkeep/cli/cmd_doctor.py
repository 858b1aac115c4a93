"""`symkeep doctor`: name the cause of a blank or wrong profile, with evidence and the fix."""

from __future__ import annotations

import sys

import click


@click.command("doctor")
@click.option("--binary", type=click.Path(path_type=str), default=None, help="The Go binary (default: from --pid or the perf data).")
@click.option("--profile", type=click.Path(path_type=str), default=None, help="A pprof profile (gzip or plain).")
@click.option("--perf-data", type=click.Path(path_type=str), default=None, help="A perf.data file (needs perf).")
@click.option("--pid", type=int, default=None, help="A running process (its binary, mount namespace, kernel settings).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable findings.")
@click.option("--proc-root", type=click.Path(path_type=str), default="/proc", show_default=True,
              help="Where /proc is (a container's, or a staged copy).")
@click.option("--sys-root", type=click.Path(path_type=str), default=None,
              help="Where /proc/sys is (default PROC_ROOT/sys).")
def command(binary: str | None, profile: str | None, perf_data: str | None, pid: int | None, as_json: bool,
            proc_root: str, sys_root: str | None) -> None:
    """Why is my flame graph blank or wrong? Each cause found comes with its evidence and the fix.

    With no option it checks the kernel settings perf depends on. Exit 0: no problem found; 1: at least
    one problem (listed first); 2 usage; 3-8 unreadable input or perf missing.
    """
    from pathlib import Path

    from symkeep.cli.render import emit_json
    from symkeep.doctor import DoctorInputs, SystemView, diagnose
    from symkeep.errors import EXIT_NEGATIVE

    sv = SystemView(Path(proc_root), Path(sys_root) if sys_root else None)
    rep = diagnose(DoctorInputs(binary, profile, perf_data, pid), sv)
    if as_json:
        emit_json(rep.to_json())
    else:
        sys.stdout.write(rep.to_text())
    sys.stdout.flush()
    if rep.problems():
        sys.exit(EXIT_NEGATIVE)
