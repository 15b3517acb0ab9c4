"""The ``btsplan`` command line (typer + rich). One sub-application per area, in ``app/commands``."""

from __future__ import annotations

import sys

import typer

from app import __version__
from app.commands import cables as cables_cmd
from app.commands import check as check_cmd
from app.commands import db as db_cmd
from app.commands import demo as demo_cmd
from app.commands import io as io_cmd
from app.commands import keys as keys_cmd
from app.commands import programmes as programmes_cmd
from app.commands import serve as serve_cmd
from app.console import err_console
from geodata.store.db import DatabaseConfigError

cli = typer.Typer(
    name="btsplan",
    help="btsplan — quy hoạch hạ tầng viễn thông thụ động / passive telecom infrastructure planner.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"btsplan {__version__}")
        raise typer.Exit()


@cli.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version."),
) -> None:
    """Plan BTS masts and street cables: imports, checks, statistics, exports, API and map."""


cli.add_typer(db_cmd.app, name="db")
cli.add_typer(cables_cmd.app, name="cables")
cli.command("demo")(demo_cmd.demo)
cli.command("serve")(serve_cmd.serve)
cli.add_typer(keys_cmd.app, name="keys")
cli.command("import")(io_cmd.import_cmd)
cli.command("export")(io_cmd.export_cmd)
cli.add_typer(programmes_cmd.app, name="programmes")
check_cmd.register(cli)


def main() -> None:
    """Entry point: known failures become one clear line on stderr and a non-zero exit."""
    try:
        cli()
    except DatabaseConfigError as exc:
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False)
        sys.exit(2)


if __name__ == "__main__":
    main()
