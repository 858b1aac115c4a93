"""The CLI's one text renderer: complete plain rows when piped, width-fitted tables on a terminal.

Contract (every command's text output goes through :class:`Screen`):

- Piped (stdout is not a terminal): nothing is ever wrapped, truncated or elided. Tables are rows of
  space-aligned columns (two spaces apart, no trailing blanks, no box characters, no colour), so
  ``| grep``, ``| awk`` and ``| cut`` see every name, path and build ID whole on one line.
- Terminal: tables are fitted to the terminal's width (``COLUMNS`` overrides it). When a table is too
  wide, path columns are elided from the left first (``…/pkg/file.go:12``), then free-text columns wrap
  onto continuation lines, and only then name columns wrap (fold); names are never elided. Styles are
  ANSI colours (none with ``NO_COLOR`` or ``TERM=dumb``).
- Progress (:meth:`Screen.phases`) goes to stderr: a live bar on a terminal, one line per finished phase
  otherwise.

Renderers that already take a rich ``Console`` (``matrix.report_term.print_report``) get one from
:meth:`Screen.rich_console` that follows the same contract (sized to the terminal, or unbounded width
and no colour when piped). Rich is imported only there and for the progress bar, so piped output
costs no rich import.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import textwrap
import time
import unicodedata
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["Column", "Phases", "Screen", "Styled", "emit_json", "human_bytes", "plain"]

Styled = str | tuple[str, str]  # text, or (text, style) with style like "bold", "red", "bold green"

_ANSI = {"bold": "1", "dim": "2", "italic": "3", "underline": "4", "red": "31", "green": "32", "yellow": "33",
         "blue": "34", "magenta": "35", "cyan": "36"}
_GAP = "  "
_MIN_PATH, _MIN_TEXT, _MIN_NAME = 16, 20, 12
_UNBOUNDED = 1 << 20  # "width" of a pipe for rich: never reached, so rich never wraps


@dataclass(frozen=True)
class Column:
    """A table column. ``kind`` decides what gives way on a narrow terminal: ``path`` (elided from the
    left, first), ``text`` (wrapped, second), ``name`` (wrapped, last; never elided), ``fixed`` (never
    shrinks: numbers, addresses, flags)."""

    header: str
    kind: Literal["name", "path", "text", "fixed"] = "name"
    justify: Literal["left", "right", "center"] = "left"


def plain(part: Styled) -> str:
    return part if isinstance(part, str) else part[0]


def cell_len(s: str) -> int:
    """Terminal columns ``s`` takes (East Asian wide characters count 2)."""
    if s.isascii():
        return len(s)
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 0 if unicodedata.combining(c) else 1 for c in s)


def _elide_left(s: str, width: int) -> str:
    if cell_len(s) <= width:
        return s
    keep = max(width - 1, 1)
    return "…" + s[len(s) - keep :]


def _pad(s: str, width: int, justify: str) -> str:
    n = width - cell_len(s)
    if n <= 0:
        return s
    if justify == "right":
        return " " * n + s
    if justify == "center":
        return " " * (n // 2) + s + " " * (n - n // 2)
    return s + " " * n


class Screen:
    """Where a command's text goes (stdout by default) and whether it is a terminal."""

    def __init__(self, stream: IO[str] | None = None, *, terminal: bool | None = None,
                 width: int | None = None) -> None:
        self.stream = stream if stream is not None else sys.stdout
        if terminal is None:
            try:
                terminal = self.stream.isatty()
            except (AttributeError, ValueError, OSError):
                terminal = False
        self.is_terminal = terminal
        self.width = width or (shutil.get_terminal_size((100, 24)).columns if terminal else None)
        self.color = terminal and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"

    # -- lines -------------------------------------------------------------------------------------------

    def style(self, part: Styled) -> str:
        if isinstance(part, str) or not self.color:
            return plain(part)
        text, style = part
        codes = ";".join(_ANSI[s] for s in style.split() if s in _ANSI)
        return f"\x1b[{codes}m{text}\x1b[0m" if codes else text

    def line(self, *parts: Styled) -> None:
        """One line, never wrapped or cut by us (a terminal soft-wraps it; a pipe gets it whole)."""
        self.stream.write("".join(self.style(p) for p in parts) + "\n")

    def flush(self) -> None:
        self.stream.flush()

    # -- tables ------------------------------------------------------------------------------------------

    def table(self, columns: Sequence[Column], rows: Sequence[Sequence[Styled]], title: str | None = None,
              caption: str | None = None) -> None:
        """Aligned rows under a header. Piped: natural widths, nothing cut. Terminal: fitted (see module)."""
        if title:
            self.line((title, "bold"))
        widths = [cell_len(c.header) for c in columns]
        for r in rows:
            for i, cell in enumerate(r):
                n = cell_len(plain(cell))
                if n > widths[i]:
                    widths[i] = n
        if self.is_terminal and self.width:
            widths = _fit(columns, widths, self.width)
        self._row(columns, widths, [(c.header, "bold") for c in columns])
        for r in rows:
            self._row(columns, widths, r)
        if caption:
            self.line(caption)

    def _row(self, columns: Sequence[Column], widths: list[int], cells: Sequence[Styled]) -> None:
        last = len(columns) - 1
        if not self.is_terminal:
            out = []
            for i, (col, cell) in enumerate(zip(columns, cells, strict=True)):
                s = plain(cell)
                out.append(s if i == last and col.justify == "left" else _pad(s, widths[i], col.justify))
            self.stream.write(_GAP.join(out).rstrip() + "\n")
            return
        # terminal: elide paths, wrap text/names onto continuation lines
        lines_per: list[list[str]] = []
        styles: list[str | None] = []
        for i, (col, cell) in enumerate(zip(columns, cells, strict=True)):
            s = plain(cell)
            styles.append(None if isinstance(cell, str) else cell[1])
            w = widths[i]
            if cell_len(s) <= w or col.kind == "fixed":
                lines_per.append([s])
            elif col.kind == "path":
                lines_per.append([_elide_left(s, w)])
            elif col.kind == "text":
                lines_per.append(textwrap.wrap(s, w, break_long_words=True, break_on_hyphens=False) or [""])
            else:  # name: fold, never elide
                lines_per.append([s[k : k + w] for k in range(0, len(s), w)])
        for n in range(max(len(x) for x in lines_per)):
            out = []
            for i, col in enumerate(columns):
                s = lines_per[i][n] if n < len(lines_per[i]) else ""
                st = styles[i]
                shown = self.style((s, st)) if st and s else s
                if not (i == last and col.justify == "left"):  # pad outside the colour codes
                    padded = _pad(s, widths[i], col.justify)
                    lpad = len(padded) - len(padded.lstrip(" ")) if s else 0
                    shown = " " * lpad + shown + " " * (len(padded) - lpad - len(s))
                out.append(shown)
            self.stream.write(_GAP.join(out).rstrip() + "\n")

    # -- rich, for renderers that take a Console ---------------------------------------------------------

    def rich_console(self) -> Console:
        """A rich Console obeying this contract: terminal-sized, or unbounded width, no colour, when piped."""
        return _rich_console(self.stream, self.is_terminal, self.width)

    # -- progress ----------------------------------------------------------------------------------------

    @contextmanager
    def phases(self, quiet: bool = False) -> Iterator[Phases]:
        """Progress on stderr: a bar per phase on a terminal, one line per finished phase otherwise."""
        err = sys.stderr
        try:
            tty = err.isatty()
        except (AttributeError, ValueError, OSError):
            tty = False
        if quiet:
            yield Phases(None, None)
            return
        if not tty:
            yield Phases(None, err)
            return
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        con = _rich_console(err, True, None)
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=con, transient=True) as bar:
            yield Phases(bar, None)


class Phases:
    """Named phases with real step counts: ``start(label, total)``, ``advance()``, ``done(note)``."""

    def __init__(self, bar: Any, lines: IO[str] | None) -> None:
        self._bar, self._lines = bar, lines
        self._task: Any = None
        self._label = ""
        self._t0 = 0.0
        self._total: int | None = None

    def start(self, label: str, total: int | None = None) -> None:
        self._label, self._t0, self._total = label, time.monotonic(), total
        if self._bar is not None:
            self._task = self._bar.add_task(label, total=total)
        elif self._lines is not None:
            self._lines.write(f"symkeep: {label} ...\n")
            self._lines.flush()

    def advance(self, n: int = 1, total: int | None = None, label: str | None = None) -> None:
        if total is not None:
            self._total = total
        if self._bar is not None and self._task is not None:
            self._bar.update(self._task, advance=n, total=self._total, description=label or self._label)

    def done(self, note: str = "") -> None:
        msg = f"{self._label}: done in {time.monotonic() - self._t0:.1f}s" + (f" ({note})" if note else "")
        if self._bar is not None and self._task is not None:
            total = self._total or 1
            self._bar.update(self._task, total=total, completed=total, description=self._label)
            self._bar.console.print(msg)
        elif self._lines is not None:
            self._lines.write(f"symkeep: {msg}\n")
            self._lines.flush()
        self._task = None


def _fit(columns: Sequence[Column], natural: list[int], width: int) -> list[int]:
    """Column widths for a terminal ``width``: shrink paths, then text, then names (never below minima)."""
    w = list(natural)
    excess = sum(w) + len(_GAP) * (len(w) - 1) - width
    for kind, floor in (("path", _MIN_PATH), ("text", _MIN_TEXT), ("name", _MIN_NAME)):
        while excess > 0:  # water-filling: the widest column of this kind gives way first
            idx = [i for i, c in enumerate(columns) if c.kind == kind and w[i] > floor]
            if not idx:
                break
            i = max(idx, key=w.__getitem__)
            second = max((w[k] for k in idx if k != i), default=floor)
            target = max(floor, second, w[i] - excess)
            if target >= w[i]:
                target = w[i] - 1
            excess -= w[i] - target
            w[i] = target
    return w


def _rich_console(stream: IO[str], terminal: bool, width: int | None) -> Console:
    from rich.console import Console

    class _Console(Console):
        def on_broken_pipe(self) -> None:  # rich would exit 1; the CLI's handler exits 0 quietly
            raise BrokenPipeError

    if terminal:
        return _Console(file=stream, highlight=False, width=width, force_terminal=True)
    return _Console(file=stream, highlight=False, width=_UNBOUNDED, color_system=None, force_terminal=False,
                    soft_wrap=True, emoji=False)


def emit_json(obj: Any) -> None:
    json.dump(obj, sys.stdout, indent=2, sort_keys=False, default=str)
    sys.stdout.write("\n")


def human_bytes(n: int) -> str:
    f = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if f < 1024 or unit == "GiB":
            return f"{f:.0f} {unit}" if unit == "B" else f"{f:.1f} {unit}"
        f /= 1024
    return f"{n} B"
