"""Every kind of refusal ``geodata`` raises: the domain kinds of :mod:`planning.errors` and the few
that only storage and serving need. No HTTP status here: ``app/errors.py`` maps each kind once.
"""

from __future__ import annotations

from planning.errors import BtsplanError, Conflict, Forbidden, InvalidField, NotFound, TooLarge

__all__ = ["BtsplanError", "Conflict", "Forbidden", "InvalidField", "InvalidParameter", "NotFound", "StaleVersion",
           "TooLarge", "Unavailable", "UnsupportedType"]


class StaleVersion(Conflict):
    """The record changed since the caller read it (optimistic locking): re-read and retry.
    ``current_version`` is what the caller should read next."""

    def __init__(self, message: str, current_version: int | None) -> None:
        super().__init__(message, current_version=current_version)
        self.current_version = current_version


class InvalidParameter(InvalidField):
    """A query-string parameter with an invalid value; ``param`` names it (OGC API style)."""

    def __init__(self, param: str, message: str) -> None:
        super().__init__(f"{param}: {message}", param=param)
        self.param = param


class UnsupportedType(InvalidField):
    """A file whose type (declared or real) is not one we accept; the message lists those we do."""


class Unavailable(BtsplanError, RuntimeError):
    """Not the caller's fault: the database is unreachable or misconfigured, or a query ran out of
    time. Retrying later (or fixing the setup) helps; changing the request does not."""
