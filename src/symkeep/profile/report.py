"""What a symbolization run did, per mapping and in all (the summary and ``--json`` read this)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

__all__ = ["InputNotes", "MappingReport", "Report", "printable_path"]


def printable_path(s: str) -> str:
    """A valid UTF-8 form of text that may carry surrogate escapes (undecodable bytes of a perf
    path or symbol): those bytes become ``\\xNN``. The one rule for the profile and the summary."""
    try:
        s.encode("utf-8")
        return s
    except UnicodeEncodeError:
        pass
    try:
        return s.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # a surrogate that is no escaped byte
        return s.encode("utf-8", "backslashreplace").decode("utf-8")


@dataclass
class InputNotes:
    """What reading the input skipped or cut (never silently): shown in the summary."""

    skipped_lines: int = 0  # lines no parser rule recognised
    long_lines: int = 0  # lines over the line cap, skipped whole
    truncated_stacks: int = 0  # stacks deeper than the frame cap: the leaf-most frames were kept
    max_frames: int = 0

    def lines(self) -> list[str]:
        out = []
        if self.truncated_stacks:
            out.append(
                f"{self.truncated_stacks} stack(s) deeper than {self.max_frames} frames: kept the "
                f"{self.max_frames} frames nearest the leaf, dropped the root-most ones"
            )
        if self.long_lines:
            out.append(f"{self.long_lines} over-long line(s) skipped")
        if self.skipped_lines:
            out.append(f"{self.skipped_lines} unrecognised line(s) skipped")
        return out

    def to_json(self) -> dict[str, int]:
        return {
            "skipped_lines": self.skipped_lines,
            "long_lines": self.long_lines,
            "truncated_stacks": self.truncated_stacks,
        }


@dataclass
class MappingReport:
    id: int
    filename: str
    build_id: str
    kind: str
    start: int = 0
    limit: int = 0
    binary: str | None = None
    found_by: str = ""
    verified: bool = False  # the binary's build ID was checked against the mapping's
    locations: int = 0
    symbolized: int = 0  # by symkeep in this run
    kept: int = 0  # already symbolized, left as they were
    failed: Counter[str] = field(default_factory=Counter)  # reason -> number of locations
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "filename": printable_path(self.filename),
            "build_id": self.build_id,
            "kind": self.kind,
            "memory_start": self.start,
            "memory_limit": self.limit,
            "binary": None if self.binary is None else printable_path(self.binary),
            "found_by": self.found_by,
            "verified": self.verified,
            "locations": self.locations,
            "symbolized": self.symbolized,
            "kept": self.kept,
            "unsymbolized": sum(self.failed.values()),
            "failures": dict(self.failed),
            "notes": [printable_path(n) for n in self.notes],
        }


@dataclass
class Report:
    mappings: list[MappingReport] = field(default_factory=list)
    locations: int = 0
    named_by_input: int = 0  # unsymbolizable here but named by the input's producer (perf, folded)
    warnings: list[str] = field(default_factory=list)
    input: InputNotes = field(default_factory=InputNotes)

    @property
    def symbolized(self) -> int:
        return sum(m.symbolized for m in self.mappings)

    @property
    def kept(self) -> int:
        return sum(m.kept for m in self.mappings)

    @property
    def failed(self) -> Counter[str]:
        c: Counter[str] = Counter()
        for m in self.mappings:
            c.update(m.failed)
        return c

    def to_json(self) -> dict[str, Any]:
        return {
            "locations": self.locations,
            "symbolized": self.symbolized,
            "kept": self.kept,
            "unsymbolized": sum(self.failed.values()),
            "named_by_input": self.named_by_input,
            "with_names": self.symbolized + self.kept + self.named_by_input,
            "failures": dict(self.failed),
            "warnings": [printable_path(w) for w in self.warnings],
            "input": self.input.to_json(),
            "mappings": [m.to_json() for m in self.mappings],
        }
