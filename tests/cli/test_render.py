"""cli.render's contract on synthetic tables: piped rows are complete; terminal tables fit, paths give way first."""

from __future__ import annotations

import io

from symkeep.cli.render import Column, Screen, cell_len

COLS = [Column("entry", "fixed"), Column("size", "fixed", "right"), Column("name", "name"),
        Column("file:line", "path")]
ROWS = [("0x401000", "224", "internal/abi.BoundsDecode", "/very/long/goroot/src/internal/abi/bounds.go:86"),
        ("0x4010e0", "32", "main.(*handler).ServeHTTP.func1.deferwrap1", "/home/u/src/example.com/svc/handlers.go:35"),
        ("0x4011e0", "7", ("styled.name", "green"), "x.go:1")]


def render(terminal: bool, width: int | None = None) -> list[str]:
    buf = io.StringIO()
    s = Screen(buf, terminal=terminal, width=width)
    s.color = False
    s.table(COLS, ROWS, title="T")
    return buf.getvalue().splitlines()


def test_piped_rows_are_complete_and_aligned() -> None:
    lines = render(False)
    assert lines[0] == "T"
    body = lines[2:]
    for line, row in zip(body, ROWS, strict=True):
        cells = [c if isinstance(c, str) else c[0] for c in row]
        assert line.split() == cells  # every cell whole, in order, on one line
        assert line == line.rstrip()
    # aligned: each column starts at the same offset on every row
    starts = {line.index(r[3]) for line, r in zip(body, ROWS, strict=True) if r[3] != "x.go:1"}
    assert len(starts) == 1


def test_piped_ignores_the_width_it_is_given() -> None:
    assert render(False, width=20) == render(False)


def test_terminal_elides_paths_before_names() -> None:
    width = 8 + 2 + 4 + 2 + len(ROWS[1][2]) + 2 + 20
    lines = render(True, width)
    assert all(cell_len(ln) <= width for ln in lines)
    text = "\n".join(lines)
    assert ROWS[1][2] in text and ROWS[0][2] in text  # names whole
    assert "…" in text and ROWS[0][3] not in text  # the long path was shortened from the left
    assert any(ln.endswith("bounds.go:86") for ln in lines)  # its end (file and line) is kept


def test_terminal_wraps_names_only_when_paths_are_at_their_minimum() -> None:
    width = 8 + 2 + 4 + 2 + 12 + 2 + 16
    lines = render(True, width)
    assert all(cell_len(ln) <= width for ln in lines)
    joined = "".join(ln[16:28].strip() for ln in lines[2:])
    assert ROWS[1][2] in joined  # folded over continuation lines, never elided


def test_rich_console_when_piped_does_not_wrap() -> None:
    from rich.table import Table

    buf = io.StringIO()
    c = Screen(buf, terminal=False).rich_console()
    t = Table(title="matrix")
    t.add_column("variant")
    t.add_column("why")
    t.add_row("-ldflags='-s -w' -trimpath", "x " * 150)
    c.print(t)
    out = buf.getvalue()
    assert "\x1b[" not in out
    assert any(("x " * 150).strip() in ln for ln in out.splitlines())
