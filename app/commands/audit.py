"""``btsplan audit …``: check that the audit log's hash chain is whole."""

from __future__ import annotations

import re

import typer

from app.commands.db import engine_from_settings
from app.console import console, fail
from geodata.store import audit
from planning.i18n import _

app = typer.Typer(help="The audit log: verify its hash chain.", no_args_is_help=True)

_ANCHOR = re.compile(r"^(\d+):([0-9a-f]{64})$")


def _anchor(value: str | None) -> tuple[int, str] | None:
    if value is None:
        return None
    m = _ANCHOR.match(value.strip().lower())
    if m is None:
        fail(_("--anchor {value!r} is not ID:HASH as `btsplan audit verify` prints the head", value=value))
    return int(m[1]), m[2]


@app.command()
def verify(
    anchor: str = typer.Option(None, "--anchor", metavar="ID:HASH",
                               help="A head printed by an earlier run: also catches a log rewritten from that "
                                    "row on, or its last rows deleted."),
) -> None:
    """Recompute the chain; exit 1 naming the first row changed, deleted or inserted behind the app's back."""
    expected = _anchor(anchor)
    with engine_from_settings().connect() as conn:
        report = audit.verify(conn, expected)
    if not report.intact:
        fail(report.line())
    console.print(report.line(), highlight=False, soft_wrap=True)
