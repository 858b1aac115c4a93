"""The published schemas the report formats are validated against, taken from registry packages.

- SARIF 2.1.0 JSON schema (``sarif-2.1.0-rtm.5.json``, draft-04) as shipped in the npm package
  ``@microsoft/jest-sarif`` (Microsoft's SARIF validation matchers), fetched with ``npm pack``;
- the JUnit XML schema ``junit-10.xsd`` (Jenkins xunit-plugin, the one pytest validates its own
  ``--junitxml`` output against), shipped in pytest's source distribution, fetched with ``pip download``.

Both are pinned by the archive's and the file's sha256 and cached under ``cache_root()/schemas``.
When they cannot be fetched the test is ``unavailable`` (skip locally, fail under CI).
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from fixtures.env import cache_root, unavailable


@dataclass(frozen=True)
class Pinned:
    name: str
    fetch: tuple[str, ...]  # command, run in an empty directory; leaves exactly one archive there
    archive_sha256: str
    member: str
    sha256: str


SARIF = Pinned(
    "sarif-2.1.0-rtm.5.json",
    ("npm", "pack", "--silent", "@microsoft/jest-sarif@1.0.0-beta.0"),
    "748e2c3d1a842e7bb258416685c7ea3a0da40005b72267b2052c2856d48ad102",
    "package/lib/schemas/sarif-2.1.0-rtm.5.json",
    "2d99159ae54a3eea97f81781cff48780548657c35949f4b7f25e99a2ba4de4f8",
)
JUNIT = Pinned(
    "junit-10.xsd",
    (sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", "-q", "-d", ".", "pytest==9.0.3"),
    "b86ada508af81d19edeb213c681b1d48246c1a91d304c6c81a427674c17eb91c",
    "pytest-9.0.3/testing/example_scripts/junit-10.xsd",
    "a1a816f58d1bf95ebabf371994df0b9246dee66ea9572fbec4f9296f1b2c0ff6",
)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def schema_path(p: Pinned) -> Path:
    """The cached schema file, fetched and checked against its pins on first use."""
    dest = cache_root() / "schemas" / p.name
    if dest.is_file() and _sha(dest.read_bytes()) == p.sha256:
        return dest
    if shutil.which(p.fetch[0]) is None and not os.path.isabs(p.fetch[0]):
        unavailable(f"{p.fetch[0]} is needed to fetch {p.name}")
    with tempfile.TemporaryDirectory() as d:
        try:
            r = subprocess.run(p.fetch, cwd=d, capture_output=True, text=True, timeout=300)
        except (OSError, subprocess.TimeoutExpired) as e:
            unavailable(f"cannot fetch {p.name}: {e}")
        files = [f for f in Path(d).iterdir() if f.is_file()]
        if r.returncode != 0 or len(files) != 1:
            unavailable(f"cannot fetch {p.name} ({' '.join(p.fetch)}): {r.stderr.strip()[-300:]}")
        data = files[0].read_bytes()
    if _sha(data) != p.archive_sha256:
        raise AssertionError(f"{p.name}: archive sha256 {_sha(data)} != pinned {p.archive_sha256}")
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tf:
        f = tf.extractfile(p.member)
        assert f is not None, p.member
        body = f.read()
    if _sha(body) != p.sha256:
        raise AssertionError(f"{p.name}: sha256 {_sha(body)} != pinned {p.sha256}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_suffix(f".tmp{os.getpid()}")
    tmp.write_bytes(body)
    os.replace(tmp, dest)
    return dest
