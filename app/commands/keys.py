"""``btsplan keys create|revoke|list``: API keys for firms and department staff.

The new key is printed alone on the last line of stdout (so scripts can ``| tail -n1``) and is never
shown again: only its SHA-256 digest is stored.
"""

from __future__ import annotations

import json

import typer
from rich.table import Table

from geodata.store.keys import create_key, list_keys, revoke_key
from app.console import console, err_console, fail
from geodata.store.db import transaction
from planning.vocab import ROLES
from planning.i18n import N_, _

app = typer.Typer(help="API keys: create, revoke, list (secrets are shown once, at creation).",
                  no_args_is_help=True)


def _engine():  # type: ignore[no-untyped-def]
    from app.commands.db import engine_from_settings

    return engine_from_settings()


@app.command()
def create(
    role: str = typer.Option(..., "--role", help=f"One of: {', '.join(ROLES)}."),
    operator: str = typer.Option(None, "--operator", help="Operator code (required for --role operator)."),
    name: str = typer.Option(None, "--name", help="Who holds the key (shown in the audit log)."),
) -> None:
    """Create a key; prints it alone on the last line of stdout. It cannot be shown again."""
    with transaction(_engine()) as session:
        new = create_key(session, role.strip().lower(), operator, name, actor="cli")
    firm = _(" for operator {operator}", operator=new.operator) if new.operator else ""
    err_console.print(_("created API key {id} ({role}{firm}); store it now, it is not shown again:", id=new.id,
                        role=new.role, firm=firm))
    typer.echo(new.secret)


@app.command()
def revoke(key_id: int = typer.Argument(..., help="Key id (see `btsplan keys list`).")) -> None:
    """Revoke a key; requests with it get 401 from now on."""
    with transaction(_engine()) as session:
        revoke_key(session, key_id, actor="cli")
    console.print(_("API key {id} revoked", id=key_id))


@app.command("list")
def list_(fmt: str = typer.Option("table", "--format", help="table | json")) -> None:
    """List keys (id, role, operator, name, prefix, dates) — never the secrets."""
    with transaction(_engine()) as session:
        rows = list_keys(session)
    if fmt == "json":
        typer.echo(json.dumps(rows, default=str, ensure_ascii=False))
        return
    if fmt != "table":
        fail(_("unknown --format {fmt!r}; use table or json", fmt=fmt))
    table = Table(*(_(h) for h in (N_("id"), N_("role"), N_("operator"), N_("name"), N_("prefix"), N_("created"),
                                   N_("last used"), N_("revoked"))))
    for r in rows:
        table.add_row(str(r["id"]), r["role"], r["operator"] or "", r["name"] or "", r["prefix"],
                      f"{r['created_at']:%Y-%m-%d %H:%M}" if r["created_at"] else "",
                      f"{r['last_used_at']:%Y-%m-%d %H:%M}" if r["last_used_at"] else "",
                      f"{r['revoked_at']:%Y-%m-%d %H:%M}" if r["revoked_at"] else "")
    console.print(table)
