"""``btsplan users create|list|disable|enable|set-password``: department staff accounts for the workspace.

The first admin is made here (the workspace's admin pages make the rest). A password is read from
stdin (``--password-stdin``) or asked twice without echo, never taken as an argument, where it would
land in the shell history and the process list.
"""

from __future__ import annotations

import json
import sys

import typer
from rich.table import Table

from app.console import console, fail
from geodata.store import staff
from geodata.store.db import transaction
from planning.i18n import N_, _

app = typer.Typer(help="Staff accounts for the browser workspace (planner, inspector, admin).", no_args_is_help=True)


def _engine():  # type: ignore[no-untyped-def]
    from app.commands.db import engine_from_settings

    return engine_from_settings()


def _password(from_stdin: bool) -> str:
    if from_stdin:
        line = sys.stdin.readline()
        return line.rstrip("\r\n")
    return typer.prompt("Password", hide_input=True, confirmation_prompt=True)


@app.command()
def create(
    username: str = typer.Argument(..., help="Sign-in name: lower-case letters, digits, '.', '_' or '-'."),
    role: str = typer.Option(..., "--role", help=f"One of: {', '.join(staff.STAFF_ROLES)}."),
    name: str = typer.Option(None, "--name", help="The person's full name (shown in the workspace)."),
    password_stdin: bool = typer.Option(False, "--password-stdin", help="Read the password from the first line of stdin."),
) -> None:
    """Create a staff account; the password is stored only as an Argon2 hash."""
    password = _password(password_stdin)
    with transaction(_engine()) as session:
        row = staff.create_user(session, username, role.strip().lower(), password, name, actor="cli")
    console.print(_("created staff account {username} ({role})", username=row['username'], role=row['role']))


@app.command("list")
def list_(fmt: str = typer.Option("table", "--format", help="table | json")) -> None:
    """List staff accounts (never their password hashes)."""
    with transaction(_engine()) as session:
        rows = staff.list_users(session)
    if fmt == "json":
        typer.echo(json.dumps(rows, default=str, ensure_ascii=False))
        return
    if fmt != "table":
        fail(_("unknown --format {fmt!r}; use table or json", fmt=fmt))
    table = Table(*(_(h) for h in (N_("id"), N_("username"), N_("role"), N_("name"), N_("created"),
                                   N_("disabled"), N_("locked until"))))
    for r in rows:
        table.add_row(str(r["id"]), r["username"], r["role"], r["name"] or "", f"{r['created_at']:%Y-%m-%d %H:%M}",
                      f"{r['disabled_at']:%Y-%m-%d %H:%M}" if r["disabled_at"] else "",
                      f"{r['locked_until']:%Y-%m-%d %H:%M}" if r["locked_until"] else "")
    console.print(table)


@app.command()
def disable(username: str = typer.Argument(...)) -> None:
    """Disable an account: it cannot sign in, and its open sessions end now."""
    with transaction(_engine()) as session:
        staff.set_disabled(session, username, True, actor="cli")
    console.print(_("staff account {username} disabled", username=username))


@app.command()
def enable(username: str = typer.Argument(...)) -> None:
    """Enable a disabled account again (and lift a sign-in lockout)."""
    with transaction(_engine()) as session:
        staff.set_disabled(session, username, False, actor="cli")
    console.print(_("staff account {username} enabled", username=username))


@app.command("set-password")
def set_password(
    username: str = typer.Argument(...),
    password_stdin: bool = typer.Option(False, "--password-stdin", help="Read the password from the first line of stdin."),
) -> None:
    """Set a new password (ends the account's open sessions)."""
    password = _password(password_stdin)
    with transaction(_engine()) as session:
        staff.set_password(session, username, password, actor="cli")
    console.print(_("password of {username} changed; its sessions were ended", username=username))
