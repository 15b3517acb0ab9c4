"""Shared rich consoles and progress bars, so every command reports the same way."""

from __future__ import annotations

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
