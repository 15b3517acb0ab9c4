"""Shared rich consoles and progress bars, so every command reports the same way."""

from __future__ import annotations

import datetime as dt
from typing import NoReturn

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from geodata.errors import BtsplanError, Unavailable
from planning.i18n import _, gettext

console = Console()
err_console = Console(stderr=True, soft_wrap=True)

#: ``--format`` of the report commands: a table for people, CSV for spreadsheets, JSON for scripts.
REPORT_FORMATS = ("table", "csv", "json")


def progress(transient: bool = False) -> Progress:
    """A progress bar on stderr (stdout stays clean for JSON/CSV output)."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err_console,
        transient=transient,
    )


def fail(message: str, code: int = 1) -> NoReturn:
    """Print one clear error line and exit non-zero (no traceback)."""
    import typer

    label = _("error")
    err_console.print(f"[bold red]{label}:[/] {message}", highlight=False)
    raise typer.Exit(code)


def refused(exc: BtsplanError) -> NoReturn:
    """The command line's answer to any refusal: its message on one line; exit 2 when the setup
    (database, its URL) is at fault rather than what was asked, 1 otherwise."""
    fail(gettext(str(exc)), 2 if isinstance(exc, Unavailable) else 1)


def choice(value: str, allowed: tuple[str, ...], option: str) -> str:
    """``value`` if it is one of ``allowed``, else one clear error naming the option and the choices."""
    if value not in allowed:
        fail(_("{option} {value!r} is not one of {allowed}", option=option, value=value, allowed=", ".join(allowed)))
    return value


def parse_date_option(value: str | None, option: str) -> dt.date | None:
    """An ISO date given on the command line, or one clear error naming the option."""
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        fail(_("{option} {value!r} is not a date (use YYYY-MM-DD)", option=option, value=value))
