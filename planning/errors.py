"""The kinds of refusal every layer raises: one small hierarchy, with no HTTP status or exit code.

``planning`` defines the kinds (it imports nothing of ours), ``geodata/errors.py`` adds the ones
only storage and serving need, and ``app`` maps each kind once: ``app/errors.py`` to problem+json,
``app/console.py`` to one error line. A module's own error class subclasses the kind it is (a
:class:`planning.cables.TransitionError` is a :class:`Conflict`), so a caller catches either.
"""

from __future__ import annotations

from typing import Any


class BtsplanError(Exception):
    """A request refused for a reason its author can act on; the message says what to change.

    ``field`` names the offending input (field, parameter, column) when there is one; ``title``
    overrides the kind's short summary where a more specific one helps ("Reason required");
    ``members`` are facts a client needs to recover (e.g. ``current_version``).
    """

    title: str | None = None

    def __init__(self, message: str, field: str | None = None, *, title: str | None = None,
                 **members: Any) -> None:
        super().__init__(message)
        self.field = field
        self.members = members
        if title is not None:
            self.title = title

    @property
    def detail(self) -> str:
        """The message led by the field it is about (``date: … is in the future``)."""
        return f"{self.field}: {self}" if self.field else str(self)


class NotFound(BtsplanError, LookupError):
    """The thing named does not exist (or is not visible to the caller); the message says what does."""


class Conflict(BtsplanError):
    """A well-formed request that contradicts the stored state: a stale version, a duplicate name,
    a status change the workflow does not allow."""


class InvalidField(BtsplanError, ValueError):
    """An input value that can never be accepted; ``field`` names it (a field, row column or option)."""


class Forbidden(BtsplanError):
    """The caller is known but may not do this."""


class TooLarge(BtsplanError, ValueError):
    """The request is over a size or count limit; ``members`` say the limit."""
