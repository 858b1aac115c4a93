"""Symbol-table bytes per package (what ``-s`` removes) and, where the symbol table names them,
data objects per package.

- ELF ``.symtab``: each entry (24/16 bytes) and its name in ``.strtab`` go to the package of the
  symbol's name (Go names: ``pkg.F``, ``type:*``, ``go:*``; C names: ``(no package)``).
  Mach-O ``LC_SYMTAB`` and PE COFF symbols are claimed as a whole (outside any section).
- ELF ``STT_OBJECT`` symbols in data sections: variables, and the type descriptors and itabs the
  linker names individually, to their package.
"""

from __future__ import annotations

import struct

import numpy as np

from symkeep.binfmt import Binary
from symkeep.golang.functab import package_of
from symkeep.inspect.retention import classify
from symkeep.size.ledger import SYMTAB, Ledger

__all__ = ["claim_data_symbols", "claim_symtab", "pkg_of_symbol"]


def pkg_of_symbol(name: str) -> str:
    """Package of a symbol name; '(go generated)' for type:/go: names, '(no package)' for C."""
    p = package_of(name)
    if p:
        return p
    if name.startswith(("type:", "type..", "go:", "go.")):
        return "(go generated)"
    return "(no package)"


def claim_symtab(b: Binary, led: Ledger) -> int:
    """Claim symbol-table bytes; returns how many were attributed to a package."""
    if b.format != "elf":
        _claim_outside_sections(b, led)
        return 0
    sym = b.section(".symtab")
    if sym is None or not sym.file_size:
        return 0
    strtab = next((s for s in b.sections() if s.name == ".strtab"), None)
    esize = 24 if b.bits == 64 else 16
    bo = "<" if b.byteorder == "little" else ">"
    raw = bytes(b.view(sym.offset, sym.file_size - sym.file_size % esize, what=".symtab"))
    n = len(raw) // esize
    st_name = np.frombuffer(raw, dtype=np.dtype(bo + "u4"))[:: esize // 4][:n].astype(np.int64)
    strs = bytes(b.view(strtab.offset, strtab.file_size, what=".strtab")) if strtab is not None else b""
    names: list[str] = []
    name_end = np.zeros(n, dtype=np.int64)
    for i, o in enumerate(st_name.tolist()):
        if 0 < o < len(strs):
            e = strs.find(b"\0", o)
            e = len(strs) if e < 0 else e
            names.append(strs[o:e].decode("utf-8", "replace"))
            name_end[i] = e + 1
        else:
            names.append("")
            name_end[i] = o
    pk = [pkg_of_symbol(x) if x else "(symtab)" for x in names]
    starts = sym.offset + esize * np.arange(n, dtype=np.int64)
    led.claim_many(starts, starts + esize, pk, None, SYMTAB, ".symtab")
    if strtab is not None:
        # a string can be shared (suffix merging): first symbol wins, the ledger drops the overlap
        has = (st_name > 0) & (name_end > st_name)
        idx = np.flatnonzero(has)
        # linkers merge string tails ("pkg.F" and "F" share bytes): keep the first symbol of each run
        o = idx[np.lexsort((-name_end[idx], st_name[idx]))]
        reach = np.maximum.accumulate(name_end[o])
        keep = np.ones(len(o), dtype=bool)
        keep[1:] = st_name[o][1:] >= reach[:-1]
        idx = np.sort(o[keep])
        led.claim_many(strtab.offset + st_name[idx], strtab.offset + name_end[idx], [pk[i] for i in idx.tolist()],
                       None, SYMTAB, ".strtab")
    return n


def _claim_outside_sections(b: Binary, led: Ledger) -> None:
    cmd = getattr(b, "symtab_cmd", None)
    if b.format == "macho" and cmd:
        symoff, nsyms, stroff, strsize = cmd
        esize = 16 if b.bits == 64 else 12
        led.section("(LC_SYMTAB symbols)", symoff, nsyms * esize, SYMTAB, "(symtab)")
        led.section("(LC_SYMTAB strings)", stroff, strsize, SYMTAB, "(symtab)")
    off = getattr(b, "symtab_offset", 0)
    if b.format == "pe" and off:
        nsyms = int(getattr(b, "nsyms", 0))
        led.section("(COFF symbols)", off, nsyms * 18, SYMTAB, "(symtab)")
        try:
            strsize = struct.unpack("<I", b.read(off + nsyms * 18, 4))[0]
        except Exception:  # noqa: BLE001 - a truncated table: the ledger names the rest as trailing bytes
            strsize = 0
        led.section("(COFF strings)", off + nsyms * 18, int(strsize), SYMTAB, "(symtab)")


def _typepkg_of_symbol(name: str) -> str:
    """Package of the named type inside a ``type:`` / ``go:itab.`` symbol ('(go generated)' for unnamed)."""
    body = name.split(":", 1)[1] if ":" in name else name
    if body.startswith("itab."):
        body = body[5:].split(",", 1)[0]
    body = body.lstrip("*[]0123456789")
    for pre in ("map[", "chan ", "func(", "struct {", "interface {", ".eq.", ".hash.", ".namedata."):
        if body.startswith(pre):
            return "(go generated)"
    return package_of(body) or "(go generated)"


def claim_data_symbols(b: Binary, led: Ledger) -> int:
    """With a symbol table: data objects (type descriptors, itabs, variables, strings) to their package.

    Only ELF ``STT_OBJECT`` symbols with a size inside a section that has file bytes; text symbols are
    left to the pclntab (``gocode``). Stripped binaries keep these bytes as their section's."""
    from symkeep.size.ledger import DATA, TYPES

    if b.format != "elf" or b.section(".symtab") is None:
        return 0
    secs = {s.index: s for s in b.sections()}
    starts: list[int] = []
    ends: list[int] = []
    pk: list[str] = []
    parts: list[str] = []
    for sym in b.symbols():
        if sym.kind != "object" or sym.size <= 0 or sym.section_index is None:
            continue
        s = secs.get(sym.section_index)
        if s is None or not s.file_size or not s.alloc or not s.addr <= sym.value < s.addr + s.file_size:
            continue
        if classify(s) != "data" or sym.name.startswith(("go:func.", "go.func.")):
            continue  # pclntab, funcdata and runtime tables are attributed function by function
        off = s.offset + sym.value - s.addr
        starts.append(off)
        ends.append(min(off + sym.size, s.offset + s.file_size))
        if sym.name.startswith(("type:", "type.", "go:itab.", "go.itab.")):
            pk.append(_typepkg_of_symbol(sym.name))
            parts.append(TYPES)
        else:
            pk.append(pkg_of_symbol(sym.name))
            parts.append(DATA)
    n = 0
    for part in (TYPES, DATA):
        idx = [i for i, p in enumerate(parts) if p == part]
        if idx:
            led.claim_many(np.array([starts[i] for i in idx], np.int64), np.array([ends[i] for i in idx], np.int64),
                           [pk[i] for i in idx], None, part, "type descriptor / itab" if part == TYPES else "data symbol")
            n += len(idx)
    return n
