"""Shared rich consoles and progress bars, so every command reports the same way."""

from __future__ import annotations

import datetime as dt

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

console = Console()
err_console = Console(stderr=True, soft_wrap=True)


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


def fail(message: str, code: int = 1) -> None:
    """Print one clear error line and exit non-zero (no traceback)."""
    import typer

    err_console.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(code)


def parse_date_option(value: str | None, option: str) -> dt.date | None:
    """An ISO date given on the command line, or one clear error naming the option."""
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        fail(f"{option} {value!r} is not a date (use YYYY-MM-DD)")
    return None
