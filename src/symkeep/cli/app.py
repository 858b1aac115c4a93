"""The click application of ``symkeep``: a thin group whose subcommands load lazily.

Each subcommand lives in ``symkeep.cli.cmd_<name>`` and exposes a click command named ``command``.
Only the module for the command being run is imported, so ``symkeep --help`` stays fast.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
from typing import Any

import click

# name -> (module, one-line help). Help text is here so --help needs no imports.
COMMANDS: dict[str, tuple[str, str]] = {
    "inspect": ("symkeep.cli.cmd_inspect", "What a Go binary kept, and which tools still work on it."),
    "funcs": ("symkeep.cli.cmd_funcs", "List the functions recorded in .gopclntab."),
    "addr2line": ("symkeep.cli.cmd_addr2line", "Addresses to function, file:line and inline frames."),
    "symbolize": ("symkeep.cli.cmd_symbolize", "Symbolize raw-address profiles (pprof, perf script, folded)."),
    "restore": ("symkeep.cli.cmd_restore", "Write an ELF debug file (symtab + DWARF) from .gopclntab."),
    "matrix": ("symkeep.cli.cmd_matrix", "Measure size vs. observability of build flags on your program."),
    "flamegraph": ("symkeep.cli.cmd_flamegraph", "Flame graphs (HTML, SVG, folded, speedscope) from profiles."),
    "size": ("symkeep.cli.cmd_size", "Attribute every byte of a Go binary to packages, tables and sections."),
    "demo": ("symkeep.cli.cmd_demo", "Build the bundled demo service in several variants and inspect them."),
    "split": ("symkeep.cli.cmd_split", "Split an ELF binary into a stripped executable and a debug file."),
    "archive": ("symkeep.cli.cmd_archive", "Store binaries and debug files by build ID (local store, S3, or server)."),
    "serve": ("symkeep.cli.cmd_serve", "Serve a store over the debuginfod protocol, with uploads and metrics."),
    "store": ("symkeep.cli.cmd_store", "Verify a symbol store, list it, make upload tokens."),
    "check": ("symkeep.cli.cmd_check", "Gate Go binaries on a retention policy (tiers, archive, build settings, size)."),
    "smoke": ("symkeep.cli.cmd_smoke", "Start a service (or use a URL) and check its pprof profiles are named."),
    "doctor": ("symkeep.cli.cmd_doctor", "Explain why a profile or flame graph is blank or wrong, with the fix."),
}


class StdoutClosed(Exception):
    """The reader of our output went away (``| head -1``): raised instead of BrokenPipeError, which
    click would turn into exit 1."""


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return [n for n, (mod, _) in COMMANDS.items() if _module_exists(mod)]

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        mod_name, _ = COMMANDS[name]
        if not _module_exists(mod_name):
            return None
        mod = importlib.import_module(mod_name)
        cmd: click.Command = mod.command
        return cmd

    def invoke(self, ctx: click.Context) -> Any:
        try:
            rv = super().invoke(ctx)
            sys.stdout.flush()  # a closed pipe shows here, not at interpreter exit
            return rv
        except BrokenPipeError as e:
            raise StdoutClosed from e

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(n, COMMANDS[n][1]) for n in self.list_commands(ctx)]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


def _module_exists(mod_name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(mod_name) is not None


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="symkeep")
def cli() -> None:
    """symkeep: ship small, stripped Go binaries without going blind.

    Exit codes: 0 ok; 1 negative answer (e.g. a gate failed); 2 usage; 3 unreadable path;
    4 not an executable; 5 not a Go binary; 6 malformed input; 7 build ID mismatch;
    8 external tool missing or failed; 9 unsupported; 70 internal error.
    """


def main(argv: list[str] | None = None) -> Any:
    """Entry point: every error becomes one line on stderr (``symkeep: error: ...``) and its exit code."""
    from symkeep.errors import EXIT_INTERNAL, EXIT_USAGE, SymkeepError

    try:
        return cli.main(args=argv, prog_name="symkeep", standalone_mode=False)
    except click.exceptions.NoArgsIsHelpError as e:
        e.show()  # bare `symkeep`: the help text, as click prints it
        sys.exit(EXIT_USAGE)
    except click.exceptions.Abort:
        click.echo("symkeep: aborted", err=True)
        sys.exit(130)
    except click.UsageError as e:
        click.echo(f"symkeep: error: {_usage_message(e)}", err=True)
        sys.exit(EXIT_USAGE)
    except click.ClickException as e:
        click.echo(f"symkeep: error: {_one_line(e.format_message())}", err=True)
        sys.exit(e.exit_code)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    except SymkeepError as e:
        click.echo(f"symkeep: error: {_one_line(str(e))}", err=True)
        sys.exit(e.exit_code)
    except (StdoutClosed, BrokenPipeError):
        _stdout_closed()
    except KeyboardInterrupt:
        sys.exit(130)
    except MemoryError:
        click.echo("symkeep: error: out of memory while parsing input", err=True)
        sys.exit(EXIT_INTERNAL)
    except Exception as e:  # noqa: BLE001 - last resort: one line, no traceback
        if os.environ.get("SYMKEEP_DEBUG"):
            raise
        click.echo(f"symkeep: internal error: {type(e).__name__}: {_one_line(str(e))}", err=True)
        sys.exit(EXIT_INTERNAL)


def _one_line(msg: str) -> str:
    return " ".join(msg.split()) if "\n" in msg else msg


def _usage_message(e: click.UsageError) -> str:
    """click's message on one line, naming the command and where its help is."""
    msg = _one_line(e.format_message())
    ctx = e.ctx
    if ctx is not None and ctx.command_path:
        path = ctx.command_path
        sub = path.partition(" ")[2]
        return f"{sub}: {msg} (see '{path} --help')" if sub else f"{msg} (see '{path} --help')"
    return msg


def _stdout_closed() -> None:
    """Output piped into ``head`` and the pipe closed: exit 0 quietly, as coreutils tools do.

    Point fd 1 at /dev/null so the interpreter's final flush of buffered output cannot fail again."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    sys.exit(0)
