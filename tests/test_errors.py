"""The README's exit-code table and errors.py agree, class by class (code and HTTP status)."""

from __future__ import annotations

import re
from pathlib import Path

from symkeep import errors

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_table_matches_error_classes() -> None:
    text = README.read_text()
    section = text[text.index("## Exit codes"):text.index("## Architecture")]
    rows = {m.group(2): (int(m.group(1)), int(m.group(3)))
            for m in re.finditer(r"^\| (\d+) \| `(\w+)` \| (\d+) \|", section, re.M)}
    classes = {c.__name__: (c.exit_code, c.http_status) for c in errors.ERROR_CLASSES if c is not errors.SymkeepError}
    assert rows == classes


def test_each_class_one_code() -> None:
    for c in errors.ERROR_CLASSES:
        assert isinstance(c.exit_code, int) and 100 <= c.http_status < 600
    assert errors.LimitError.exit_code == errors.FormatError.exit_code == errors.EXIT_MALFORMED
    assert errors.LimitError.http_status == 413
