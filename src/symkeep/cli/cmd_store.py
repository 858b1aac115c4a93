"""`symkeep store`: verify a store, list what it holds, and make upload tokens."""

from __future__ import annotations

import json
import sys

import click


@click.group("store")
@click.option("--json", "as_json", is_flag=True, help="JSON output for every subcommand (same as their --json).")
@click.pass_context
def command(ctx: click.Context, as_json: bool) -> None:
    """Inspect and maintain a symbol store (verify, ls, add-token)."""
    ctx.obj = {"json": as_json}


def _json(as_json: bool) -> bool:
    """A subcommand's --json, or the group's."""
    parent = click.get_current_context().parent
    return as_json or bool(parent is not None and (parent.obj or {}).get("json"))


@command.command("verify")
@click.option("--store", "store_url", default=None, metavar="URL", help="Store URL (default: the local default).")
@click.option("--expect-head", default=None, help="Fail unless the audit chain ends at this hash.")
@click.option("--json", "as_json", is_flag=True)
def verify(store_url: str | None, expect_head: str | None, as_json: bool) -> None:
    """Re-hash every blob, check the audit chain and the index against it (exit 1 on any problem)."""
    from symkeep.errors import NotFoundError
    from symkeep.store import open_store
    from symkeep.store.verify import verify_store

    as_json = _json(as_json)
    store = open_store(store_url)
    try:
        rep = verify_store(store)
    finally:
        store.close()
    if expect_head and rep.audit_head != expect_head:
        rep.problems.append(f"audit head is {rep.audit_head}, expected {expect_head} (entries removed or added)")
    if as_json:
        sys.stdout.write(json.dumps(rep.as_dict(), indent=2) + "\n")
    else:
        click.echo(f"{rep.blobs} blobs ({rep.bytes} bytes), {rep.records} records, {rep.audit_entries} audit entries")
        click.echo(f"audit head: {rep.audit_head}")
        for n in rep.notes:
            click.echo(f"note: {n}")
        for p in rep.problems:
            click.echo(f"PROBLEM: {p}")
        click.echo("ok" if rep.ok else f"{len(rep.problems)} problem(s)")
    if not rep.ok:
        raise NotFoundError(f"store verify found {len(rep.problems)} problem(s)")


@command.command("ls")
@click.option("--store", "store_url", default=None, metavar="URL")
@click.option("--json", "as_json", is_flag=True, help="One JSON record per line.")
def ls(store_url: str | None, as_json: bool) -> None:
    """List every record (build ID, kind, rank, size, module, file)."""
    from symkeep.store import open_store

    as_json = _json(as_json)
    store = open_store(store_url)
    try:
        for r in store.iter_records():
            if as_json:
                sys.stdout.write(json.dumps(r.public()) + "\n")
            else:
                sys.stdout.write(f"{r.build_id}\t{r.kind}\t{r.rank}\t{r.size}\t{r.module or '-'}\t"
                                 f"{r.go_version or '-'}\t{r.path or r.file}\n")
    finally:
        store.close()


@command.command("add-token")
@click.argument("name")
@click.option("--token-file", required=True, type=click.Path(dir_okay=False), help="File to append the hash to.")
@click.option("--role", type=click.Choice(["write", "read"]), default="write", show_default=True)
@click.option("--json", "as_json", is_flag=True, help='Print {"name", "role", "token"}.')
def add_token(name: str, token_file: str, role: str, as_json: bool) -> None:
    """Create a random token NAME, append its sha256 to TOKEN_FILE and print the token (once)."""
    import os

    from symkeep.errors import OutputError
    from symkeep.server.auth import new_token, token_line

    tok = new_token()
    line = token_line(name, role, tok)
    try:
        fd = os.open(token_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "a") as f:
            f.write(line)
            f.flush()
            os.fsync(f.fileno())
    except OSError as e:
        raise OutputError(f"{token_file}: {e.strerror or e}") from e
    if _json(as_json):
        sys.stdout.write(json.dumps({"name": name, "role": role, "token": tok, "token_file": token_file}) + "\n")
    else:
        click.echo(tok)
