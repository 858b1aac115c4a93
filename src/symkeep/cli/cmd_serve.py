"""`symkeep serve`: a debuginfod-compatible symbol server over a store (directory or S3)."""

from __future__ import annotations

import os
import sys

import click

from symkeep.errors import UsageError

_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def parse_size(text: str, what: str) -> int:
    t = text.strip().lower().removesuffix("b").removesuffix("i")
    unit = t[-1:] if t[-1:] in _UNITS and not t[-1:].isdigit() else ""
    num = t[: len(t) - len(unit)]
    try:
        n = int(float(num) * _UNITS[unit])
    except ValueError:
        raise UsageError(f"bad {what} {text!r}: a size like 512M or 1G") from None
    if n <= 0:
        raise UsageError(f"bad {what} {text!r}: must be positive")
    return n


@click.command("serve")
@click.option("--store", "store_url", default=None, metavar="URL",
              help="Store: a directory, file:///dir or s3://bucket/prefix (default ~/.local/share/symkeep/store).")
@click.option("--listen", default="127.0.0.1:8002", show_default=True, metavar="HOST:PORT",
              help="Address to listen on (port 0 picks a free port; the URL is printed).")
@click.option("--workers", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Processes sharing the port (SO_REUSEPORT).")
@click.option("--token-file", type=click.Path(dir_okay=False), default=None,
              help="Upload (and read) tokens, hashed: lines 'NAME ROLE sha256:HEX' (`symkeep store add-token`). "
                   "Tokens in $SYMKEEP_TOKENS ('name:token,...') are accepted too.")
@click.option("--read-token", is_flag=True, help="Require a token for reads too (default: anonymous reads).")
@click.option("--max-upload", default="1G", show_default=True, help="Largest accepted upload (413 above).")
@click.option("--upstream", "upstreams", multiple=True, metavar="URL",
              help="debuginfod server asked on a miss; the answer is stored (default: $DEBUGINFOD_URLS).")
@click.option("--no-upstream", is_flag=True, help="Never federate misses.")
@click.option("--no-synthesize", is_flag=True,
              help="Do not synthesize /debuginfo for a stored stripped Go executable on demand.")
@click.option("--cache-dir", default=None, help="Local blob cache for an S3 store (default ~/.cache/symkeep/s3-blobs).")
@click.option("--access-log", is_flag=True, help="Log every request to stderr.")
@click.option("--json", "as_json", is_flag=True,
              help='Announce the bound address as one JSON line ({"url", "store", "workers", "pid"}).')
def command(store_url: str | None, listen: str, workers: int, token_file: str | None, read_token: bool,
            max_upload: str, upstreams: tuple[str, ...], no_upstream: bool, no_synthesize: bool,
            cache_dir: str | None, access_log: bool, as_json: bool) -> None:
    """Serve the debuginfod protocol (GET/HEAD /buildid/ID/debuginfo|executable|section/NAME|source/PATH)
    from a store, with uploads (PUT, bearer token), /metadata, /metrics and /healthz. ID is a GNU
    build-id or a Go build ID (with '/' sent as %2F)."""
    from symkeep.server import ServerConfig, run_server

    host, sep, port_s = listen.rpartition(":")
    if not sep or not port_s.isdigit() or int(port_s) > 65535:
        raise UsageError(f"bad --listen {listen!r}: HOST:PORT")
    host = host.strip("[]") or "127.0.0.1"
    ups = [] if no_upstream else (list(upstreams) or os.environ.get("DEBUGINFOD_URLS", "").split())
    cfg = ServerConfig(store_url=store_url, host=host, port=int(port_s), workers=workers, token_file=token_file,
                       read_token=read_token, max_upload=parse_size(max_upload, "--max-upload"),
                       upstreams=[u for u in ups if u.startswith(("http://", "https://"))],
                       synthesize=not no_synthesize, cache_dir=cache_dir, access_log=access_log)
    if read_token and not (token_file or os.environ.get("SYMKEEP_TOKENS")):
        raise UsageError("--read-token needs tokens (--token-file or SYMKEEP_TOKENS)")

    def ready(url: str) -> None:
        from symkeep.store import default_store_url

        if as_json:
            import json

            sys.stdout.write(json.dumps({"url": url, "store": store_url or default_store_url(), "workers": workers,
                                         "pid": os.getpid()}) + "\n")
            sys.stdout.flush()
            return
        sys.stdout.write(f"symkeep serve: listening on {url} (store {store_url or default_store_url()}, "
                         f"{workers} worker{'s' if workers > 1 else ''})\n")
        sys.stdout.flush()

    run_server(cfg, ready)
