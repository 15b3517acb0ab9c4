"""``btsplan db …``: schema migrations, backup/restore and table upkeep (``optimize``)."""

from __future__ import annotations

import typer

from pathlib import Path

from app.console import console
from geodata.store import migrate, roles
from geodata.store.db import check_connection, make_engine
from geodata.settings import get_settings
from planning.i18n import _

app = typer.Typer(help="Database schema: upgrade, downgrade, current revision.", no_args_is_help=True)


def engine_from_settings():  # type: ignore[no-untyped-def]
    """Engine for ``BTSPLAN_DATABASE_URL``, connection and schema revision checked so errors surface as
    one line (an un-migrated database says to run `btsplan db upgrade`, not which table is missing)."""
    s = get_settings()
    engine = make_engine(s.database_url, statement_timeout_ms=s.statement_timeout_ms)
    check_connection(engine)
    migrate.require_current(engine)
    return engine


def owner_engine():  # type: ignore[no-untyped-def]
    """Engine of the schema's owner (``BTSPLAN_MIGRATE_DATABASE_URL``, else ``BTSPLAN_DATABASE_URL``):
    the application's own role may not change the schema, nor recreate tables from a backup."""
    s = get_settings()
    engine = make_engine(s.owner_database_url, statement_timeout_ms=s.statement_timeout_ms)
    check_connection(engine)
    return engine


def _grant_app_role(engine) -> None:  # type: ignore[no-untyped-def]
    """After the schema changed or came back from a backup (which holds no grants): the app's role
    gets its privileges again."""
    done = roles.grant_app_role(engine, get_settings().database_url)
    if done:
        console.print(done)


@app.command()
def upgrade(revision: str = typer.Argument("head", help="Target revision")) -> None:
    """Create or update the schema (idempotent), then grant the app's role what it needs."""
    engine = owner_engine()
    migrate.upgrade(engine, revision)
    console.print(_("database at revision {revision} ({connection})", revision=migrate.current(engine),
                    connection=check_connection(engine)))
    _grant_app_role(engine)


@app.command()
def downgrade(revision: str = typer.Argument("base", help="Target revision ('base' = empty)")) -> None:
    """Undo migrations down to REVISION."""
    engine = owner_engine()
    migrate.downgrade(engine, revision)
    console.print(_("database at revision {revision}", revision=migrate.current(engine) or "base"))


@app.command()
def current() -> None:
    """Print the current schema revision."""
    engine = owner_engine()
    console.print(migrate.current(engine) or "base")


@app.command()
def backup(out: Path = typer.Argument(..., help="Backup file to write (.sqlite copy or pg_dump archive)")) -> None:
    """Back up the whole database (SQLite online backup, or pg_dump -Fc for PostGIS)."""
    from geodata.store.backup import backup as do_backup

    do_backup(owner_engine(), out)
    console.print(_("backup written to {path} ({size:,} bytes)", path=out, size=out.stat().st_size))


@app.command()
def restore(
    src: Path = typer.Argument(..., help="Backup file made by `btsplan db backup`"),
    yes: bool = typer.Option(False, "--yes", help="Do not ask for confirmation."),
) -> None:
    """Replace the database content with a backup."""
    from geodata.store.backup import restore as do_restore

    engine = owner_engine()
    if not yes and not typer.confirm(f"Replace everything in {engine.url.render_as_string()} with {src}?"):
        raise typer.Exit(1)
    do_restore(engine, src)
    console.print(_("restored {path}", path=src))
    _grant_app_role(engine)


@app.command()
def optimize(
    force: bool = typer.Option(False, "--force", help="Reorder even when nothing changed since the last run."),
) -> None:
    """Store the sites in spatial order (PostGIS CLUSTER on the geometry index), after large imports.

    Area reads (OGC items and their counts, the map) then read a few hundred table pages instead of one
    per site. The table is locked while it is rewritten (about a minute per million sites): run it in a
    quiet hour, as the schema's owner. Skips while under 1 in 100 sites changed since the last run;
    nothing to do on SpatiaLite."""
    from geodata.store.maintenance import optimize_sites

    res = optimize_sites(owner_engine(), force=force)
    if res.outcome == "reordered":
        console.print(_("sites stored in spatial order: {sites:,} sites in {seconds:.1f} s",
                        sites=res.sites, seconds=res.seconds))
    elif res.outcome == "current":
        console.print(_("sites already in spatial order (under 1 in 100 written since the last run; --force to redo)"))
    elif res.outcome == "sqlite":
        console.print(_("nothing to do on SpatiaLite: its rows are stored in id order"))
    elif res.outcome == "empty":
        console.print(_("no sites to reorder"))
    else:
        console.print(_("only the owner of the sites table can reorder it: set BTSPLAN_MIGRATE_DATABASE_URL"))
        raise typer.Exit(1)
