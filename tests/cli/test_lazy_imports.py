"""`symkeep --help` must start fast: the CLI group imports no parser, numpy or rich."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("numpy", "rich", "symkeep.binfmt", "symkeep.golang", "symkeep.symbolize", "symkeep.profile",
         "google.protobuf", "symkeep.matrix", "symkeep.restore")


def test_help_imports_nothing_heavy() -> None:
    code = (
        "import sys\n"
        "from symkeep.cli import cli\n"
        "try:\n"
        "    cli.main(args=['--help'], prog_name='symkeep', standalone_mode=False)\n"
        "except BaseException:\n"
        "    pass\n"
        f"print('LOADED:' + ','.join(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = out.stdout.strip().splitlines()[-1]
    assert loaded == "LOADED:", f"--help imported: {loaded}"
    assert "inspect" in out.stdout and "addr2line" in out.stdout


def test_every_command_has_json_and_help() -> None:
    from symkeep.cli import COMMANDS

    for name in COMMANDS:
        out = subprocess.run([sys.executable, "-m", "symkeep", name, "--help"], capture_output=True, text=True)
        assert out.returncode == 0, (name, out.stderr)
        assert "--json" in out.stdout, f"{name} has no --json"
