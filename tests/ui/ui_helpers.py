"""Helpers shared by the web UI tests (not fixtures)."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

#: what the hostile build's metadata says (each the same length as what it replaces)
EVIL_MODULE = b"<script>x</script>"
EVIL_REVISION = b"<img/src=x/onerror=alert(1)>".ljust(40, b"a")  # no space or quote: a valid unquoted value
EVIL_NAME = "<img src=x onerror=alert(2)>"


@dataclass(frozen=True)
class Hog:
    toolchain: str
    binary: Path  # the stripped executable
    truth: Path  # its runtime/pprof profile (names from the runtime itself)
    raw: Path  # the same profile without any symbol information (gzip'd pprof)


def go_build_id(buildid_tool: Path, binary: Path) -> str:
    """The Go build ID as ``go tool buildid`` prints it."""
    out = subprocess.run([str(buildid_tool), str(binary)], capture_output=True, text=True, timeout=60, check=True)
    return out.stdout.strip()


def multipart(fields: dict[str, str], files: dict[str, tuple[str, bytes]]) -> tuple[bytes, str]:
    """A multipart/form-data body (what a browser's form sends) and its Content-Type."""
    import uuid

    boundary = "----symkeep" + uuid.uuid4().hex
    out = bytearray()
    for k, v in fields.items():
        out += f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
    for k, (fname, data) in files.items():
        out += (f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"; filename="{fname}"\r\n'
                "Content-Type: application/octet-stream\r\n\r\n").encode() + data + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return bytes(out), f"multipart/form-data; boundary={boundary}"


def patch_same_length(data: bytes, old: bytes, new: bytes) -> bytes:
    """Every occurrence of ``old`` replaced by ``new`` of the same length (lengths in the build info
    stay valid), at least once."""
    assert len(old) == len(new), (old, new)
    assert old in data, old
    return data.replace(old, new)


def hostile_build(src: Path, d: Path) -> Path:
    """A copy of the cpuhog binary ``src`` whose build info names the module ``<script>x</script>``
    and a markup vcs.revision (same lengths: the build info stays valid), under a file name that is
    markup."""
    data = src.read_bytes()
    rev = re.search(rb"vcs\.revision=([0-9a-f]{40})", data)
    assert rev
    data = patch_same_length(data, b"example.com/cpuhog", EVIL_MODULE)
    data = patch_same_length(data, rev.group(1), EVIL_REVISION)
    d.mkdir(parents=True, exist_ok=True)
    out = d / EVIL_NAME
    out.write_bytes(data)
    out.chmod(0o755)
    return out
