"""speedscope's published JSON schema, from the npm package (``dist/release/file-format-schema.json``),
fetched once with ``npm pack`` into the test cache."""

from __future__ import annotations

import json
import shutil
import subprocess
import tarfile
from pathlib import Path
from typing import Any

from fixtures.env import cache_root, unavailable

VERSION = "1.25.0"


def speedscope_schema() -> dict[str, Any]:
    d = cache_root() / "npm" / f"speedscope-{VERSION}"
    schema = d / "file-format-schema.json"
    if not schema.is_file():
        npm = shutil.which("npm")
        if not npm:
            unavailable("npm not installed (apt-get install npm): needed to fetch speedscope's schema")
        d.mkdir(parents=True, exist_ok=True)
        r = subprocess.run([npm, "pack", f"speedscope@{VERSION}", "--silent"], cwd=d, capture_output=True,
                           text=True, timeout=300)
        if r.returncode != 0:
            unavailable(f"npm pack speedscope@{VERSION} failed: {r.stderr.strip()[:200]}")
        tgz = d / r.stdout.strip().splitlines()[-1]
        with tarfile.open(tgz) as tf:
            member = tf.extractfile("package/dist/release/file-format-schema.json")
            assert member is not None
            data = member.read()
        tmp = schema.with_suffix(".tmp")
        tmp.write_bytes(data)
        tmp.replace(schema)
        tgz.unlink()
    return dict(json.loads(Path(schema).read_text()))
