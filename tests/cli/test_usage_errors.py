"""Usage errors are one line, `symkeep: error: ...`, exit 2 (README "Exit codes"), click's or ours (#10.8)."""

from __future__ import annotations

import pytest
from cliutil import piped

from symkeep.errors import EXIT_USAGE

CASES = [
    (["funcs", "--jsn", "x"], "--jsn"),  # unknown option (click suggests --json)
    (["funcs"], "BINARY"),  # missing argument
    (["addr2line", "0x1"], "-e"),  # missing required option
    (["symbolize", "x", "--format", "svg"], "svg"),  # bad choice
    (["nosuchcommand"], "nosuchcommand"),
    (["funcs", "--filter", "(", "/bin/true"], "--filter"),  # bad regex (BadParameter)
    (["matrix", "--variants", "bogus"], "bogus"),  # the library's UsageError
    (["matrix", "--json", "--markdown"], "exclusive"),
]


@pytest.mark.parametrize("args,word", CASES, ids=[" ".join(a) for a, _ in CASES])
def test_usage_error_is_one_line_exit_2(args: list[str], word: str) -> None:
    r = piped(*args)
    assert r.returncode == EXIT_USAGE, (r.returncode, r.stderr)
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("symkeep: error: ") and word in lines[0]
    assert "Usage:" not in r.stderr and "Traceback" not in r.stderr
    assert r.stdout == ""


def test_matrix_help_lists_the_variant_names() -> None:
    from symkeep.matrix.variants import DEFAULT_VARIANTS

    r = piped("matrix", "--help")
    assert r.returncode == 0
    text = " ".join(r.stdout.split())
    for v in DEFAULT_VARIANTS:
        assert f" {v.name}," in text or f" {v.name}." in text, v.name


def test_every_command_documents_json() -> None:
    from symkeep.cli import COMMANDS

    for name in COMMANDS:
        r = piped(name, "--help")
        assert r.returncode == 0 and "--json" in r.stdout, name
