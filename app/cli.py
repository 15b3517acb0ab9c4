"""The ``btsplan`` command line (typer + rich). One sub-application per area, in ``app/commands``."""

from __future__ import annotations

from typing import Any

import click
import typer
from pydantic import ValidationError
from typer.core import TyperGroup

from app import __version__
from app.commands import audit as audit_cmd
from app.commands import cables as cables_cmd
from app.commands import check as check_cmd
from app.commands import db as db_cmd
from app.commands import demo as demo_cmd
from app.commands import io as io_cmd
from app.commands import keys as keys_cmd
from app.commands import programmes as programmes_cmd
from app.commands import serve as serve_cmd
from app.commands import users as users_cmd
from app.console import fail, refused
from geodata.errors import BtsplanError
from geodata.settings import get_settings
from planning import i18n


class _Commands(TyperGroup):
    """Every command runs inside this group: a refusal from any layer becomes one error line
    (:func:`app.console.refused`) here, so no command catches and rewords errors itself."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except BtsplanError as exc:
            refused(exc)


cli = typer.Typer(
    cls=_Commands,
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
    lang: str | None = typer.Option(None, "--lang", metavar="vi|en",
                                    help="Language of messages, reports and exports (default: BTSPLAN_LANG, else vi)."),
) -> None:
    """Plan BTS masts and street cables: imports, checks, statistics, exports, API and map."""
    if lang is not None and i18n.parse_language(lang) is None:
        raise typer.BadParameter(i18n.gettext("{lang!r}: one of {languages}", lang=lang,
                                               languages=", ".join(i18n.LANGUAGES)), param_hint="--lang")
    try:
        settings = get_settings()
    except ValidationError as exc:  # BTSPLAN_* values refused (an unknown province …): one line each, no traceback
        fail("; ".join(f"BTSPLAN_{'_'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in exc.errors()), 2)
    i18n.set_language(lang or settings.lang)


cli.add_typer(db_cmd.app, name="db")
cli.add_typer(audit_cmd.app, name="audit")
cli.add_typer(cables_cmd.app, name="cables")
cli.command("demo")(demo_cmd.demo)
cli.command("serve")(serve_cmd.serve)
cli.add_typer(keys_cmd.app, name="keys")
cli.add_typer(users_cmd.app, name="users")
cli.command("import")(io_cmd.import_cmd)
cli.command("export")(io_cmd.export_cmd)
cli.add_typer(programmes_cmd.app, name="programmes")
check_cmd.register(cli)


def main() -> None:
    """The ``btsplan`` entry point (refusals are reported by :class:`_Commands`)."""
    cli()


if __name__ == "__main__":
    main()
