"""Build IDs recorded in a ``perf.data`` file (what ``perf buildid-list`` prints), read directly.

Why: ``perf script`` text names each dso by path only, so a different binary now at that path would
be used silently. ``perf record`` stores the GNU build-id of every dso with samples in the file's
HEADER_BUILD_ID feature section; with it, the symbolizer checks the binary it finds.

Layout (tools/perf/Documentation/perf.data-file-format.txt): a 104-byte header (magic
``PERFILE2``, header size, attr size, then {offset, size} of attrs, data and event types, then a
256-bit feature bitmap); after the data section, one {offset, size} per feature bit set, in bit
order. The build-id section is a run of records: ``{u32 type, u16 misc, u16 size}``, ``s32 pid``,
24 bytes of build ID (its length in byte 20 when ``misc`` has bit 15, else 20), then the
NUL-terminated file name, padded to ``size``. Little-endian files only (what x86-64 and arm64 write).
"""

from __future__ import annotations

import struct

from symkeep.errors import FormatError, UnsupportedError
from symkeep.fsio import check_input_file

__all__ = ["read_build_ids"]

MAGIC = b"PERFILE2"
HEADER = struct.Struct("<8sQQ" + "QQ" * 3 + "4Q")
SECTION = struct.Struct("<QQ")
RECORD = struct.Struct("<IHHi24s")
HEADER_BUILD_ID = 2
MISC_BUILD_ID_SIZE = 1 << 15
MAX_SECTION = 64 << 20  # a build-id section of more than 64 MiB is not one perf wrote
WHAT = "perf.data"


def read_build_ids(path: str) -> dict[str, str]:
    """File name (as perf recorded it; undecodable bytes as surrogate escapes) -> hex build ID."""
    p = check_input_file(path)
    with p.open("rb") as fh:
        head = fh.read(HEADER.size)
        if head[:8] == MAGIC[::-1]:
            raise UnsupportedError(f"{path}: big-endian perf.data is not supported")
        if len(head) < 16 or head[:8] != MAGIC:
            raise FormatError("not a perf.data file (no PERFILE2 magic)", what=str(path))
        if len(head) < HEADER.size:
            raise UnsupportedError(f"{path}: perf.data written in pipe mode keeps build IDs in its event "
                                   "stream, not read here (record to a file)")
        _, hsize, _, _, _, data_off, data_size, _, _, *feat_words = HEADER.unpack(head)
        if hsize != HEADER.size:
            raise UnsupportedError(f"{path}: perf.data header of {hsize} bytes (pipe mode?) is not supported")
        bits = sum(w << (64 * i) for i, w in enumerate(feat_words))
        if not bits >> HEADER_BUILD_ID & 1:
            return {}
        index = bin(bits & ((1 << HEADER_BUILD_ID) - 1)).count("1")
        fh.seek(data_off + data_size + index * SECTION.size)
        entry = fh.read(SECTION.size)
        if len(entry) < SECTION.size:
            raise FormatError("feature section table past the end of the file", data_off + data_size, what=WHAT)
        off, size = SECTION.unpack(entry)
        if size > MAX_SECTION:
            raise FormatError(f"build-id section of {size} bytes", off, what=WHAT)
        fh.seek(off)
        sec = fh.read(size)
        if len(sec) < size:
            raise FormatError("build-id section past the end of the file", off, what=WHAT)
    return _records(sec, off)


def _records(sec: bytes, base: int) -> dict[str, str]:
    out: dict[str, str] = {}
    pos = 0
    while pos + RECORD.size <= len(sec):
        _type, misc, size, _pid, raw = RECORD.unpack_from(sec, pos)
        if size < RECORD.size or pos + size > len(sec):
            raise FormatError(f"build-id record of {size} bytes", base + pos, what=WHAT)
        n = raw[20] if misc & MISC_BUILD_ID_SIZE else 20
        if not 0 < n <= 20:
            raise FormatError(f"build-id length {n}", base + pos, what=WHAT)
        name = sec[pos + RECORD.size : pos + size].split(b"\0", 1)[0]
        if name:
            out.setdefault(name.decode("utf-8", "surrogateescape"), raw[:n].hex())
        pos += size
    return out
