"""`symkeep archive`: put binaries and debug files into a store, or upload them through a server."""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import click


class _Lines:
    """Progress when stderr is not a terminal: one line per phase, never redrawn."""

    def phase(self, name: str, total: int) -> None:
        click.echo(f"archive: {name}: {total} file{'s' if total != 1 else ''}", err=True)

    def advance(self, what: str) -> None:
        pass


class _Bar:
    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.p = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                          TimeElapsedColumn(), console=Console(stderr=True), transient=True)
        self.task: Any = None

    def phase(self, name: str, total: int) -> None:
        if self.task is None:
            self.p.start()
        else:
            self.p.remove_task(self.task)
        self.task = self.p.add_task(name, total=total)

    def advance(self, what: str) -> None:
        self.p.advance(self.task)

    def stop(self) -> None:
        self.p.stop()


@click.command("archive")
@click.argument("paths", nargs=-1, required=True)
@click.option("--store", "store_url", default=None, metavar="URL",
              help="Store: a directory, file:///dir or s3://bucket/prefix (default ~/.local/share/symkeep/store).")
@click.option("--server", default=None, metavar="URL", help="Upload through a `symkeep serve` instead.")
@click.option("--token", default=None, help="Bearer token for --server (default $SYMKEEP_TOKEN).")
@click.option("--no-synthesize", is_flag=True, help="Do not store synthesized debug files for stripped Go binaries.")
@click.option("--key", default=None, help="File a binary without build IDs under this key (one file only).")
@click.option("--sources", is_flag=True,
              help="Also archive the source files named in each Go binary's function table that exist here.")
@click.option("--source-root", "source_roots", multiple=True, metavar="DIR",
              help="With --sources: only files under these directories.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary on stdout.")
def command(paths: tuple[str, ...], store_url: str | None, server: str | None, token: str | None,
            no_synthesize: bool, key: str | None, sources: bool, source_roots: tuple[str, ...],
            as_json: bool) -> None:
    """Archive executables and debug files (files, or directories walked recursively, .build-id trees
    included) under their GNU build-id and Go build ID. Stripped Go executables also get a debug file
    synthesized from .gopclntab (unless --no-synthesize)."""
    from symkeep.errors import UsageError
    from symkeep.store.archive import StoreSink, archive_paths

    if store_url and server:
        raise UsageError("give --store or --server, not both")
    if key is not None:
        from symkeep.store import normalize_id

        key = normalize_id(key)
        if len(paths) != 1 or os.path.isdir(paths[0]):
            raise UsageError("--key applies to exactly one file")
    sink: Any
    store = None
    if server:
        from symkeep.store.client import ServerSink

        sink = ServerSink(server, token or os.environ.get("SYMKEEP_TOKEN"))
    else:
        from symkeep.store import open_store

        store = open_store(store_url)
        sink = StoreSink(store)
    progress: Any = _Bar() if sys.stderr.isatty() and not as_json else _Lines()
    try:
        summ = archive_paths(list(paths), sink, synthesize=not no_synthesize, key=key, sources=sources,
                             source_roots=list(source_roots), progress=progress)
    finally:
        if isinstance(progress, _Bar):
            progress.stop()
        if store is not None:
            store.close()
    if as_json:
        doc = {"store": server or (store.url if store else None), **summ.as_dict()}
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
    else:
        counts = summ.counts()
        what = ", ".join(f"{n} {k}" for k, n in sorted(counts.items())) or "nothing stored"
        click.echo(f"archived {summ.files} file{'s' if summ.files != 1 else ''}: {what}")
        for r in summ.results:
            if r.status != "exists":
                click.echo(f"  {r.status:<11} {r.kind:<11} {r.build_id}  {r.path or r.file}")
        for s in summ.skipped:
            click.echo(f"  skipped     {s['path']}: {s['reason']}")
        for e in summ.errors:
            click.echo(f"  error       {e['path']}: {e['error']}", err=True)
    if summ.fatal is not None:
        raise summ.fatal
    if summ.errors:
        from symkeep.errors import InputError

        raise InputError(summ.errors[0]["error"])
