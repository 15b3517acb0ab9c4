"""The ``btsplan`` command line (typer + rich). One sub-application per area, in ``app/commands``."""

from __future__ import annotations

import os
from typing import Any

import click
import typer
from pydantic import ValidationError
from typer import rich_utils
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
from planning.i18n import N_

#: The headings of Typer's help panels (Typer translates them with the stdlib's gettext, which has no
#: Vietnamese): set per run by :func:`localise_help`.
_PANELS = {"ARGUMENTS_PANEL_TITLE": N_("Arguments"), "OPTIONS_PANEL_TITLE": N_("Options"),
           "COMMANDS_PANEL_TITLE": N_("Commands"), "ERRORS_PANEL_TITLE": N_("Error")}
_SOURCE = "_btsplan_help_source"


def _help_slots(cmd: Any) -> list[tuple[Any, str]]:
    """(object, attribute) of every help text of ``cmd`` and the commands below it."""
    slots = [(cmd, "help"), (cmd, "short_help")] + [(p, "help") for p in cmd.params]
    for sub in (getattr(cmd, "commands", None) or {}).values():
        slots += _help_slots(sub)
    return slots


def localise_help(cmd: Any) -> None:
    """Put every ``--help`` text of ``cmd``'s tree into the current language, in place.

    Why this way: Typer copies each help text (a command's docstring, an option's ``help=``) into the click
    command it builds for the run, before ``--lang`` is known, and its formatter wants plain ``str``. So the
    English source texts stay the msgids — the catalog gives their Vietnamese (every one is checked by
    ``tests/planning/test_i18n.py``) — and this swaps them once the language of the run is set: by the root
    callback for a sub-command's ``--help``, by :meth:`_Commands.get_help` for ``btsplan --help``. The
    English is kept on each object, so a second run in the same process can switch back.
    """
    for obj, attr in _help_slots(cmd):
        if not hasattr(obj, _SOURCE + attr):
            setattr(obj, _SOURCE + attr, getattr(obj, attr, None))
        source = getattr(obj, _SOURCE + attr)
        if source:
            setattr(obj, attr, i18n.gettext(source))
    for name, msgid in _PANELS.items():
        setattr(rich_utils, name, i18n.gettext(msgid))


def _early_language(value: str | None) -> str | None:
    """``--lang`` is eager, so ``btsplan --lang en --help`` shows English help: set the language as soon as
    the option is read (the root callback checks it and falls back to the configuration)."""
    if value is not None and i18n.parse_language(value) is not None:
        i18n.set_language(value)
    return value


class _Commands(TyperGroup):
    """Every command runs inside this group: a refusal from any layer becomes one error line
    (:func:`app.console.refused`) here, so no command catches and rewords errors itself."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except BtsplanError as exc:
            refused(exc)

    def get_help(self, ctx: click.Context) -> str:
        localise_help(self)  # ``btsplan --help``: the root callback has not run
        return super().get_help(ctx)


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
    ctx: typer.Context,
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version."),
    lang: str | None = typer.Option(None, "--lang", metavar="vi|en", is_eager=True, callback=_early_language,
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
    localise_help(ctx.find_root().command)  # for a sub-command's --help


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
    """The ``btsplan`` entry point (refusals are reported by :class:`_Commands`). ``btsplan --help`` is
    answered before the configuration is read, so the language of that help is BTSPLAN_LANG's (else vi)."""
    i18n.set_language(os.environ.get("BTSPLAN_LANG"))
    cli()


if __name__ == "__main__":
    main()
