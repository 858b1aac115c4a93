"""Go build info (``go version -m``): toolchain version, main module, deps and build settings.

The linker writes a 32-byte header ``"\\xff Go buildinf:" ptrSize flags`` 16-byte aligned at the
start of ``.go.buildinfo`` (ELF), ``__go_buildinfo`` (Mach-O) or of the first writable section (PE).
Go 1.18+ follows it with two uvarint-prefixed strings (version, modinfo); older releases store two
pointers to Go string headers. We also read ELF files whose section headers were removed (the
first writable PT_LOAD), which ``go version`` itself no longer does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from symkeep.binfmt.base import Binary
from symkeep.errors import FormatError, SymkeepError
from symkeep.golang.goversion import VERSION_RE, GoVersion

__all__ = [
    "BUILDINFO_MAGIC",
    "BuildInfo",
    "Module",
    "go_version",
    "parse_modinfo",
    "read_buildinfo",
    "quote",
    "quoted_prefix",
    "unquote",
]

BUILDINFO_MAGIC = b"\xff Go buildinf:"
HEADER_SIZE = 32
ALIGN = 16
MAX_STRING = 1 << 20  # version / modinfo longer than 1 MiB is not something a linker wrote
MAX_MAGIC_SCAN = 64 << 20  # bytes of writable data searched for the magic when no section names it
MAX_VERSION_SCAN = 64 << 20  # bytes of read-only data searched for a "go1.N" string


@dataclass(frozen=True)
class Module:
    path: str
    version: str
    sum: str = ""
    replace: Module | None = None

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {"path": self.path, "version": self.version}
        if self.sum:
            d["sum"] = self.sum
        if self.replace is not None:
            d["replace"] = self.replace.to_json()
        return d


@dataclass
class BuildInfo:
    go_version: str
    path: str = ""
    main: Module | None = None
    deps: list[Module] = field(default_factory=list)
    settings: list[tuple[str, str]] = field(default_factory=list)
    source: str = ""  # where the blob was found, e.g. "section .go.buildinfo", "segment 2"
    raw_modinfo: str = ""
    parse_error: str | None = None  # modinfo was present but malformed (fields above are partial)

    def setting(self, key: str) -> str | None:
        """Value of the last build setting named ``key`` (None when absent)."""
        val: str | None = None
        for k, v in self.settings:
            if k == key:
                val = v
        return val

    @property
    def version(self) -> GoVersion | None:
        try:
            return GoVersion.parse(self.go_version)
        except SymkeepError:
            return None

    def to_text(self) -> str:
        """The modinfo text as runtime/debug.BuildInfo.String() writes it (``go version -m`` body)."""
        out: list[str] = []
        if self.go_version:
            out.append(f"go\t{self.go_version}\n")
        if self.path:
            out.append(f"path\t{self.path}\n")

        def fmt_mod(word: str, m: Module) -> None:
            out.append(f"{word}\t{m.path}\t{m.version}")
            if m.replace is None:
                out.append(f"\t{m.sum}")
            else:
                out.append("\n")
                fmt_mod("=>", m.replace)
            out.append("\n")  # Go writes this newline after a replacement's own too: a blank line

        if self.main is not None and self.main != Module("", ""):
            fmt_mod("mod", self.main)
        for d in self.deps:
            fmt_mod("dep", d)
        for k, v in self.settings:
            key = quote(k) if _needs_quote_key(k) else k
            val = quote(v) if _needs_quote_value(v) else v
            out.append(f"build\t{key}={val}\n")
        return "".join(out)

    def to_json(self) -> dict[str, Any]:
        return {
            "go_version": self.go_version,
            "path": self.path,
            "main": self.main.to_json() if self.main is not None else None,
            "deps": [d.to_json() for d in self.deps],
            "settings": dict(self.settings),
        }


# --------------------------------------------------------------------------------------------------
# strconv.Unquote / QuotedPrefix (the rules `go version -m` uses for build settings)

_SIMPLE_ESC = {"a": 7, "b": 8, "f": 12, "n": 10, "r": 13, "t": 9, "v": 11, "\\": 92}


def _go_str(b: bytes | bytearray) -> str:
    """Go strings are bytes; show invalid UTF-8 as U+FFFD rather than failing."""
    return bytes(b).decode("utf-8", errors="replace")


def _unquote_double(s: str, start: int) -> tuple[bytes, int]:
    """Decode a double-quoted Go literal starting at ``s[start] == '"'``; returns (bytes, end index)."""
    out = bytearray()
    i = start + 1
    n = len(s)
    while i < n:
        c = s[i]
        if c == '"':
            return bytes(out), i + 1
        if c == "\n":
            raise ValueError("newline in quoted string")
        if c != "\\":
            out += c.encode("utf-8", errors="surrogateescape")
            i += 1
            continue
        if i + 1 >= n:
            raise ValueError("truncated escape")
        e = s[i + 1]
        if e in _SIMPLE_ESC:
            out.append(_SIMPLE_ESC[e])
            i += 2
        elif e == '"':
            out.append(0x22)
            i += 2
        elif e in "xuU":
            width = {"x": 2, "u": 4, "U": 8}[e]
            digits = s[i + 2 : i + 2 + width]
            if len(digits) != width or any(d not in "0123456789abcdefABCDEF" for d in digits):
                raise ValueError("bad hex escape")
            v = int(digits, 16)
            if e == "x":
                out.append(v)
            else:
                if v > 0x10FFFF or 0xD800 <= v <= 0xDFFF:
                    raise ValueError("invalid rune escape")
                out += chr(v).encode("utf-8")
            i += 2 + width
        elif e in "01234567":
            digits = s[i + 1 : i + 4]
            if len(digits) != 3 or any(d not in "01234567" for d in digits):
                raise ValueError("bad octal escape")
            v = int(digits, 8)
            if v > 255:
                raise ValueError("octal escape out of range")
            out.append(v)
            i += 4
        else:
            raise ValueError(f"unknown escape \\{e}")
    raise ValueError("unterminated quoted string")


_QUOTE_ESC = {7: "\\a", 8: "\\b", 12: "\\f", 10: "\\n", 13: "\\r", 9: "\\t", 11: "\\v"}


def quote(s: str) -> str:
    """strconv.Quote: a double-quoted Go literal (printable runes kept, others escaped)."""
    out = ['"']
    for ch in s:
        o = ord(ch)
        if ch in "\"\\":
            out.append("\\" + ch)
        elif o in _QUOTE_ESC:
            out.append(_QUOTE_ESC[o])
        elif o < 0x20 or o == 0x7F:
            out.append(f"\\x{o:02x}")
        elif ch.isprintable():
            out.append(ch)
        elif 0xDC80 <= o <= 0xDCFF:  # a byte of invalid UTF-8 kept by surrogateescape
            out.append(f"\\x{o - 0xDC00:02x}")
        elif o < 0x10000:
            out.append(f"\\u{o:04x}")
        else:
            out.append(f"\\U{o:08x}")
    out.append('"')
    return "".join(out)


def quoted_prefix(s: str) -> str:
    """The quoted Go string literal at the start of ``s`` (like strconv.QuotedPrefix)."""
    if not s:
        raise ValueError("empty")
    if s[0] == "`":
        j = s.find("`", 1)
        if j < 0:
            raise ValueError("unterminated raw string")
        return s[: j + 1]
    if s[0] == '"':
        _, end = _unquote_double(s, 0)
        return s[:end]
    raise ValueError("not a quoted string")


def unquote(s: str) -> str:
    """strconv.Unquote for "..." and `...` literals; raises ValueError when ``s`` is not exactly one."""
    if len(s) < 2:
        raise ValueError("too short")
    if s[0] == "`":
        if s[-1] != "`" or "`" in s[1:-1]:
            raise ValueError("bad raw string")
        return s[1:-1].replace("\r", "")
    if s[0] == '"':
        b, end = _unquote_double(s, 0)
        if end != len(s):
            raise ValueError("trailing bytes after quoted string")
        return _go_str(b)
    raise ValueError("not a quoted string")


def _needs_quote_key(key: str) -> bool:
    return key == "" or any(c in key for c in "= \t\r\n\"`")


def _needs_quote_value(value: str) -> bool:
    return any(c in value for c in " \t\r\n\"`")


# --------------------------------------------------------------------------------------------------
# modinfo text


def _module_line(elem: list[str], lineno: int) -> Module:
    if len(elem) not in (2, 3):
        raise FormatError(f"line {lineno}: expected 2 or 3 columns, got {len(elem)}", what="modinfo")
    return Module(elem[0], elem[1], elem[2] if len(elem) == 3 else "")


def parse_modinfo(text: str) -> tuple[str, Module | None, list[Module], list[tuple[str, str]]]:
    """Parse modinfo lines into (path, main, deps, settings) with runtime/debug.ParseBuildInfo's rules.

    Raises :class:`FormatError` naming the line on malformed input. Like Go, a final line without a
    newline is ignored and unknown line kinds are skipped.
    """
    path = ""
    main: Module | None = None
    deps: list[Module] = []
    settings: list[tuple[str, str]] = []
    # last: ("main", None) or ("dep", index) of the module a "=>" line may replace
    last: tuple[str, int] | None = None
    lines = text.split("\n")
    for lineno, line in enumerate(lines[:-1], start=1):
        if line.startswith("path\t"):
            path = line[5:]
        elif line.startswith("mod\t"):
            main = _module_line(line[4:].split("\t"), lineno)
            last = ("main", 0)
        elif line.startswith("dep\t"):
            deps.append(_module_line(line[4:].split("\t"), lineno))
            last = ("dep", len(deps) - 1)
        elif line.startswith("=>\t"):
            elem = line[3:].split("\t")
            if len(elem) != 3:
                raise FormatError(f"line {lineno}: expected 3 columns for replacement, got {len(elem)}", what="modinfo")
            if last is None:
                raise FormatError(f"line {lineno}: replacement with no module on previous line", what="modinfo")
            rep = Module(elem[0], elem[1], elem[2])
            if last[0] == "main" and main is not None:
                main = Module(main.path, main.version, main.sum, rep)
            else:
                d = deps[last[1]]
                deps[last[1]] = Module(d.path, d.version, d.sum, rep)
            last = None
        elif line.startswith("build\t"):
            settings.append(_build_line(line[6:], lineno))
    return path, main, deps, settings


def _build_line(kv: str, lineno: int) -> tuple[str, str]:
    def bad(msg: str) -> FormatError:
        return FormatError(f"line {lineno}: {msg}", what="modinfo", val=kv[:80])

    if not kv:
        raise bad("build line missing '='")
    if kv[0] == "=":
        raise bad("build line with missing key")
    if kv[0] in "`\"":
        try:
            raw_key = quoted_prefix(kv)
            key = unquote(raw_key)
        except ValueError as e:
            raise bad("invalid quoted key in build line") from e
        if len(kv) == len(raw_key):
            raise bad("build line missing '=' after quoted key")
        if kv[len(raw_key)] != "=":
            raise bad("unexpected character after quoted key")
        raw_value = kv[len(raw_key) + 1 :]
    else:
        key, sep, raw_value = kv.partition("=")
        if not sep:
            raise bad("build line missing '=' after key")
        if _needs_quote_key(key):
            raise bad("unquoted key must be quoted")
    value = ""
    if raw_value:
        if raw_value[0] in "`\"":
            try:
                value = unquote(raw_value)
            except ValueError as e:
                raise bad("invalid quoted value in build line") from e
        else:
            value = raw_value
            if _needs_quote_value(value):
                raise bad("unquoted value must be quoted")
    return key, value


# --------------------------------------------------------------------------------------------------
# locating and decoding the blob


@dataclass(frozen=True)
class _Region:
    """A run of file bytes mapped at ``vaddr`` (a section or a segment)."""

    name: str
    offset: int
    size: int
    vaddr: int


def _regions(b: Binary) -> list[_Region]:
    """Where the linker may have put the build info, most specific first (like debug/buildinfo)."""
    out: list[_Region] = []
    for name in (".go.buildinfo", "__go_buildinfo"):
        sec = b.section(name)
        if sec is not None and sec.file_size:
            out.append(_Region(f"section {name}", sec.offset, sec.file_size, sec.addr))
    if out:
        return out
    secs = [s for s in b.sections() if s.write and not s.execute and s.file_size and s.alloc]
    if secs:
        first = min(secs, key=lambda s: s.addr) if b.format != "pe" else secs[0]
        out.append(_Region(f"section {first.name}", first.offset, first.file_size, first.addr))
        return out
    for seg in b.iter_loaded_ranges(writable=True):
        if seg.filesz:
            out.append(_Region(f"segment {seg.index}", seg.offset, seg.filesz, seg.vaddr))
    return out


def _find_magic(b: Binary, r: _Region) -> int | None:
    """File offset of the first 16-byte aligned (by vaddr) magic in the region, or None."""
    if r.offset < 0 or r.offset >= b.length:
        return None
    size = min(r.size, b.length - r.offset, MAX_MAGIC_SCAN)
    if size < HEADER_SIZE:
        return None
    base = r.vaddr if r.vaddr else r.offset
    chunk = 1 << 20
    pos = 0
    while pos < size:
        end = min(size, pos + chunk + len(BUILDINFO_MAGIC))
        data = bytes(b.view(r.offset + pos, end - pos, what="build info search"))
        i = data.find(BUILDINFO_MAGIC)
        while i >= 0:
            at = pos + i
            if (base + at) % ALIGN == 0:
                return r.offset + at if size - at >= HEADER_SIZE else None
            i = data.find(BUILDINFO_MAGIC, i + 1)
        pos += chunk
    return None


def _uvarint(b: Binary, off: int, end: int) -> tuple[int, int]:
    """(value, next offset) of a uvarint at ``off`` that must end before ``end``."""
    val = 0
    shift = 0
    for i in range(10):
        if off + i >= end:
            raise FormatError("truncated uvarint", off, what="build info")
        c = b.data[off + i]
        if i == 9 and c > 1:
            raise FormatError("uvarint overflows 64 bits", off, what="build info")
        val |= (c & 0x7F) << shift
        if c < 0x80:
            return val, off + i + 1
        shift += 7
    raise FormatError("uvarint too long", off, what="build info")


def _inline_string(b: Binary, off: int, end: int, what: str) -> tuple[bytes, int]:
    n, off = _uvarint(b, off, end)
    if n > MAX_STRING or off + n > end:
        raise FormatError(f"{what} string length past the end of its section", off, n, what="build info")
    return b.read(off, n, what=what), off + n


def _string_header(b: Binary, addr: int, ptr_size: int, endian: str, what: str) -> bytes:
    """Bytes of the Go string whose {ptr, len} header is at virtual address ``addr`` (pre-1.18)."""
    hoff = b.vaddr_to_offset(addr)
    if hoff is None:
        raise FormatError(f"{what} string header not in the file", addr, what="build info")
    if ptr_size == b.ptr_size and endian == b.byteorder:
        ptr = b.read_pointer(addr)  # Mach-O decodes chained fixups here
    else:
        ptr = int.from_bytes(b.read(hoff, ptr_size, what=what), endian)  # type: ignore[arg-type]
    n = int.from_bytes(b.read(hoff + ptr_size, ptr_size, what=what), endian)  # type: ignore[arg-type]
    if n > MAX_STRING:
        raise FormatError(f"{what} string too long", addr, n, what="build info")
    if n == 0:
        return b""
    return b.read_vaddr(ptr, n, what=what)


def read_buildinfo(b: Binary) -> BuildInfo | None:
    """The build info of a Go binary, or None when it has none (pre-1.13, GOPATH builds, stripped out).

    Raises :class:`FormatError` when the header is there but its strings cannot be read; a malformed
    modinfo text does not raise: the result carries ``parse_error`` and the raw text.
    """
    try:
        return _read_buildinfo(b)
    except SymkeepError:
        raise
    except (IndexError, ValueError, OverflowError) as e:  # defensive: never leak a raw Python error
        raise FormatError(f"malformed build info: {e}", what="build info") from e


def _read_buildinfo(b: Binary) -> BuildInfo | None:
    for r in _regions(b):
        hoff = _find_magic(b, r)
        if hoff is None:
            continue
        hdr = b.read(hoff, HEADER_SIZE, what="build info header")
        ptr_size = hdr[14]
        flags = hdr[15]
        end = r.offset + min(r.size, b.length - r.offset)
        if flags & 2:
            vers_b, nxt = _inline_string(b, hoff + HEADER_SIZE, end, "version")
            mod_b, _ = _inline_string(b, nxt, end, "modinfo")
        else:
            if ptr_size not in (4, 8):
                raise FormatError("bad pointer size in build info header", hoff + 14, ptr_size, what="build info")
            endian = "big" if flags & 1 else "little"
            vaddr = b.offset_to_vaddr(hoff)
            if vaddr is None:
                vaddr = r.vaddr + (hoff - r.offset)
            vptr = int.from_bytes(hdr[16 : 16 + ptr_size], endian)  # type: ignore[arg-type]
            mptr = int.from_bytes(hdr[16 + ptr_size : 16 + 2 * ptr_size], endian)  # type: ignore[arg-type]
            if ptr_size == b.ptr_size and endian == b.byteorder:
                # re-read through the binary so Mach-O chained fixups get decoded
                vptr = b.read_pointer(vaddr + 16)
                mptr = b.read_pointer(vaddr + 16 + ptr_size)
            vers_b = _string_header(b, vptr, ptr_size, endian, "version")
            mod_b = _string_header(b, mptr, ptr_size, endian, "modinfo") if mptr else b""
        if not vers_b:
            return None
        # modinfo is framed by 16-byte sentinels (cmd/go/internal/modload infoStart/infoEnd)
        mod = _go_str(mod_b[16:-16]) if len(mod_b) >= 33 and mod_b[-17] == 0x0A else ""
        info = BuildInfo(go_version=_go_str(vers_b), source=r.name, raw_modinfo=mod)
        try:
            info.path, info.main, info.deps, info.settings = parse_modinfo(mod)
        except FormatError as e:
            info.parse_error = str(e)
        return info
    return None


# --------------------------------------------------------------------------------------------------
# Go version with fallbacks


def _version_from_symbol(b: Binary) -> str | None:
    sym = b.symbol_go("runtime.buildVersion")
    if sym is None or not sym.value:
        return None
    try:
        data = _string_header(b, sym.value, b.ptr_size, b.byteorder, "runtime.buildVersion")
    except SymkeepError:
        return None
    v = _go_str(data)
    return v if v.startswith(("go1", "devel")) else None


_DEVEL_RE = re.compile(rb"devel (?:go1\.\d{1,3}-[0-9a-f]{6,40}|\+[0-9a-f]{6,40})")


def _rodata_regions(b: Binary) -> list[tuple[int, int]]:
    names = (".rodata", "__rodata", ".rdata", ".noptrdata", "__noptrdata", ".data", "__data")
    out: list[tuple[int, int]] = []
    for n in names:
        s = b.section(n)
        if s is not None and s.file_size and not s.compressed:
            out.append((s.offset, s.file_size))
    if not out:
        # no section headers: read-only, non-executable segments, then writable ones
        for seg in b.iter_loaded_ranges(executable=False):
            if seg.filesz:
                out.append((seg.offset, seg.filesz))
        if not out:
            out = [(0, b.length)]
    return out


def _version_from_scan(b: Binary) -> str | None:
    """Most plausible Go version string in the read-only data (bounded scan).

    ``runtime.buildVersion`` points at a string "go1.N.P" stored among the other string data; the
    standard library mentions few other versions, so the most frequent full match wins and ties
    go to the longest (most specific) one.
    """
    counts: dict[bytes, int] = {}
    budget = MAX_VERSION_SCAN
    for off, size in _rodata_regions(b):
        if budget <= 0:
            break
        size = min(size, budget, max(0, b.length - off))
        budget -= size
        if size <= 0:
            continue
        data = bytes(b.view(off, size, what="version scan"))
        for m in _DEVEL_RE.finditer(data):
            counts[m.group(0)] = counts.get(m.group(0), 0) + 1
        for m in VERSION_RE.finditer(data):
            if m.group(1) is None:
                continue
            s = m.group(0)
            # reject a match glued into a longer number (go1.2 inside "go1.234")
            nxt = data[m.end() : m.end() + 1]
            if nxt.isdigit() or nxt == b".":
                continue
            counts[s] = counts.get(s, 0) + 1
    if not counts:
        return None
    best = max(counts.items(), key=lambda kv: (kv[1], kv[0].count(b"."), len(kv[0])))
    return best[0].decode("ascii")


def go_version(b: Binary, buildinfo: BuildInfo | None = None) -> tuple[str | None, str]:
    """(version, source): from build info, the ``runtime.buildVersion`` symbol, or a data scan.

    ``source`` is 'buildinfo', 'symbol', 'scan' or 'none'.
    """
    bi = buildinfo
    if bi is None:
        try:
            bi = read_buildinfo(b)
        except SymkeepError:
            bi = None
    if bi is not None and bi.go_version:
        return bi.go_version, "buildinfo"
    v = _version_from_symbol(b)
    if v:
        return v, "symbol"
    try:
        v = _version_from_scan(b)
    except SymkeepError:
        v = None
    if v:
        return v, "scan"
    return None, "none"
