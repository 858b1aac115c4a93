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
@click.option("--workers", type=click.IntRange(1, 64), default=None,
              help="Processes sharing the port (SO_REUSEPORT); default: the number of CPUs.")
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
@click.option("--no-ui", is_flag=True, help="Do not serve the web UI at /ui.")
@click.option("--ui-upload", type=click.Choice(["anonymous", "token", "off"]), default="anonymous", show_default=True,
              help="Who may upload a profile in the web UI: anyone who may read, write-token holders, nobody.")
@click.option("--ui-profiles", default=None, metavar="DIR",
              help="Where UI uploads are kept by sha256 (default ~/.local/state/symkeep/ui-profiles).")
@click.option("--ui-keep", type=click.IntRange(1, 10_000_000), default=1000, show_default=True,
              help="Uploaded profiles kept (the least recently uploaded go first).")
@click.option("--ui-keep-bytes", default="1G", show_default=True, help="Bytes of uploaded profiles kept.")
@click.option("--ui-keep-days", type=click.FloatRange(min=0, min_open=True), default=30.0, show_default=True,
              help="Days an uploaded profile is kept after its last upload.")
@click.option("--ui-max-profile", default="32M", show_default=True, help="Largest profile upload (413 above).")
@click.option("--ui-max-input", default="256M", show_default=True,
              help="Memory budget for parsing one uploaded profile (decompressed; 413 above).")
@click.option("--ui-timeout", type=click.FloatRange(min=0, min_open=True), default=60.0, show_default=True,
              help="Seconds the UI may spend symbolizing and drawing one profile (413 after).")
@click.option("--ui-jobs", type=click.IntRange(1, 64), default=2, show_default=True,
              help="Profiles symbolized/drawn at once per worker (a few more wait; 503 beyond).")
@click.option("--api-max-body", default="64M", show_default=True,
              help="POST /symbolize and /addr2line: largest request body (413 above).")
@click.option("--api-max-input", default="256M", show_default=True,
              help="POST /symbolize: memory budget for parsing one profile (decompressed; 413 above).")
@click.option("--api-timeout", type=click.FloatRange(min=0, min_open=True), default=60.0, show_default=True,
              help="Seconds one /symbolize or /addr2line request may compute (413 after).")
@click.option("--api-jobs", type=click.IntRange(1, 64), default=2, show_default=True,
              help="/symbolize and /addr2line requests computing at once per worker.")
@click.option("--api-queue", type=click.IntRange(0, 10000), default=8, show_default=True,
              help="... and waiting for a thread; more get 503 with Retry-After.")
@click.option("--max-engines", type=click.IntRange(1, 100000), default=16, show_default=True,
              help="Go binaries kept open per worker for symbolizing (least recently used closed first).")
@click.option("--max-engine-bytes", default="2G", show_default=True,
              help="... and the bytes of the files they map.")
@click.option("--json", "as_json", is_flag=True,
              help='Announce the bound address as one JSON line ({"url", "store", "workers", "pid"}).')
def command(store_url: str | None, listen: str, workers: int, token_file: str | None, read_token: bool,
            max_upload: str, upstreams: tuple[str, ...], no_upstream: bool, no_synthesize: bool,
            cache_dir: str | None, access_log: bool, no_ui: bool, ui_upload: str, ui_profiles: str | None,
            ui_keep: int, ui_keep_bytes: str, ui_keep_days: float, ui_max_profile: str, ui_max_input: str,
            ui_timeout: float, ui_jobs: int, api_max_body: str, api_max_input: str, api_timeout: float,
            api_jobs: int, api_queue: int, max_engines: int, max_engine_bytes: str, as_json: bool) -> None:
    """Serve the debuginfod protocol (GET/HEAD /buildid/ID/debuginfo|executable|section/NAME|source/PATH)
    from a store, with uploads (PUT, bearer token), /metadata, /metrics, /healthz, a web UI at /ui
    (archived builds, inspect reports, size treemaps, flame graphs of uploaded profiles), and
    POST /symbolize (a profile) and POST /addr2line?build_id=ID (addresses) answered from the store.
    ID is a GNU build-id or a Go build ID (with '/' sent as %2F)."""
    from symkeep.server import ServerConfig, run_server
    from symkeep.server.api import ApiConfig
    from symkeep.server.ui.config import UiConfig

    if workers is None:
        workers = max(1, min(64, os.cpu_count() or 1))

    host, sep, port_s = listen.rpartition(":")
    if not sep or not port_s.isdigit() or int(port_s) > 65535:
        raise UsageError(f"bad --listen {listen!r}: HOST:PORT")
    host = host.strip("[]") or "127.0.0.1"
    ups = [] if no_upstream else (list(upstreams) or os.environ.get("DEBUGINFOD_URLS", "").split())
    cfg = ServerConfig(store_url=store_url, host=host, port=int(port_s), workers=workers, token_file=token_file,
                       read_token=read_token, max_upload=parse_size(max_upload, "--max-upload"),
                       upstreams=[u for u in ups if u.startswith(("http://", "https://"))],
                       synthesize=not no_synthesize, cache_dir=cache_dir, access_log=access_log,
                       max_engines=max_engines, max_engine_bytes=parse_size(max_engine_bytes, "--max-engine-bytes"))
    cfg.options["api"] = ApiConfig(max_body=parse_size(api_max_body, "--api-max-body"),
                                   max_input=parse_size(api_max_input, "--api-max-input"), timeout=api_timeout,
                                   jobs=api_jobs, queue=api_queue)
    cfg.options["ui"] = UiConfig(
        enabled=not no_ui, upload=ui_upload, profile_dir=ui_profiles, keep_count=ui_keep,
        keep_bytes=parse_size(ui_keep_bytes, "--ui-keep-bytes"), keep_seconds=ui_keep_days * 86400.0,
        max_profile=parse_size(ui_max_profile, "--ui-max-profile"),
        max_input=parse_size(ui_max_input, "--ui-max-input"), timeout=ui_timeout, jobs=ui_jobs)
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
