"""`symkeep addr2line`: addresses to function, file:line and inline frames, addr2line-compatible."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from typing import Any

import click


def _parse_addr(tok: str) -> int | None:
    t = tok.strip()
    if not t:
        return None
    if t.lower().startswith("0x"):
        t = t[2:]
    try:
        return int(t, 16)  # addr2line reads hex with or without 0x
    except ValueError:
        return None


def _addresses(args: tuple[str, ...]) -> Iterator[str]:
    if args:
        yield from args
        return
    for line in sys.stdin:
        for tok in line.split():
            yield tok


@click.command("addr2line")
@click.option("-e", "--exe", "binary", required=True, type=click.Path(path_type=str), help="The Go binary.")
@click.option("-f", "--functions", is_flag=True, help="Print function names too.")
@click.option("-i", "--inlines", is_flag=True, help="Print the inline chain, innermost first.")
@click.option("-a", "--addresses", "show_addr", is_flag=True, help="Print each address first.")
@click.option("-p", "--pretty-print", is_flag=True, help="One line per address: 'func at file:line'.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per address (NDJSON).")
@click.option("--return-addresses", is_flag=True,
              help="Addresses are return addresses from stack traces: look up ADDR-1 (the call).")
@click.option("--offset", "as_offset", is_flag=True,
              help="Addresses are file offsets (as perf/pprof report for PIE mappings): map through the "
                   "program headers to link-time addresses first.")
@click.option("--arch", default=None, help="Slice of a universal Mach-O (GOARCH name).")
@click.argument("addrs", nargs=-1)
def command(binary: str, functions: bool, inlines: bool, show_addr: bool, pretty_print: bool, as_json: bool,
            return_addresses: bool, as_offset: bool, arch: str | None, addrs: tuple[str, ...]) -> None:
    """Translate ADDRS (hex; read from stdin when none are given) like binutils `addr2line -f -i`.

    Works on binaries stripped with -s -w: answers come from .gopclntab. Unknown addresses print
    `??` / `??:0` (text) or `"frames": []` (JSON). Output is flushed after each address so it can
    be used as a co-process.
    """
    from symkeep.symbolize import open_go_binary

    gob = open_go_binary(binary, arch=arch)
    out = sys.stdout
    for tok in _addresses(addrs):
        addr = _parse_addr(tok)
        frames: list[Any] = []
        pc = addr
        if addr is not None and as_offset:
            pc = gob.binary.offset_to_vaddr(addr)
        if pc is not None:
            frames = gob.lookup(pc, return_address=return_addresses)
        if as_json:
            rec = {
                "address": f"{addr:#x}" if addr is not None else tok,
                "frames": [
                    {"function": f.function, "file": f.file, "line": f.line, "start_line": f.start_line,
                     "inlined": f.inlined}
                    for f in frames
                ],
            }
            if addr is None:
                rec["error"] = "not a hex address"
            out.write(json.dumps(rec) + "\n")
            out.flush()
            continue
        shown = frames if inlines else frames[-1:] if frames else []
        if not inlines and frames:
            # Without -i, addr2line reports the innermost line with the outermost function name? No:
            # binutils reports the innermost (inlined) function and its line. Keep that behaviour.
            shown = frames[:1]
        lines: list[str] = []
        if show_addr:
            w = 16 if gob.binary.bits == 64 else 8
            lines.append(f"0x{(addr or 0):0{w}x}" if not pretty_print else f"0x{(addr or 0):0{w}x}: ")
        if not shown:
            if pretty_print:
                lines.append(("?? " if functions else "") + "??:0")
            else:
                if functions:
                    lines.append("??")
                lines.append("??:0")
        elif pretty_print:
            parts = []
            for i, f in enumerate(shown):
                loc = f"{f.file}:{f.line}"
                s = (f"{f.function} at {loc}" if functions else loc)
                parts.append(s if i == 0 else f" (inlined by) {s}")
            lines.append("\n".join(parts))
        else:
            for f in shown:
                if functions:
                    lines.append(f.function)
                lines.append(f"{f.file}:{f.line}")
        if pretty_print and show_addr:
            out.write(lines[0] + "".join(lines[1:]) + "\n")
        else:
            out.write("\n".join(lines) + "\n")
        out.flush()
