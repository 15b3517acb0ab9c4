"""Replay-safe writes: the first answer to (actor, idempotency key) is kept and given back to a replay.

Why: an inspector's phone keeps results and photos entered without a connection and sends them when
the connection returns; an answer lost on the way (the connection drops again mid-request) means the
phone cannot know whether the server stored the row, so it sends the request again. Each queued
request carries a key the phone made (a UUID); API clients send an ``Idempotency-Key`` header. The
server stores, in the same transaction as the row it creates, the key, a fingerprint of the request
and the answer; a second request with the same key from the same actor gets that answer back (same
status, same body) and creates nothing. A key is the sender's own: two actors using the same key do
not collide. The same key with a different request is the sender's mistake and is refused
(:class:`KeyReused`, 422) with a message saying so, never silently answered with the other result.

Two copies of one request racing each other both miss the lookup; the unique constraint on
(actor, key) lets only one commit, and :func:`run_once` retries the loser once, which then finds the
winner's answer.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from geodata.errors import InvalidField
from geodata.store.db import transaction
from geodata.store.models import IdempotencyRecord
from planning.i18n import _

#: What a key may look like: a UUID, or any short token of letters, digits and ``-_.:``.
KEY_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{7,99}$")
KEY_RULE = "8 to 100 letters, digits or . _ : - (a UUID fits)"


class KeyReused(InvalidField):
    """The key was already used by this actor for a different request (422)."""


@dataclass(frozen=True)
class Answer:
    """What the caller sends back: the status and JSON body, and whether it is a replay."""

    status_code: int
    body: dict[str, Any]
    replayed: bool


def check_key(key: str | None, field: str = "Idempotency-Key") -> str | None:
    """The key, stripped, or ``None`` when none was sent; 422 when it is malformed."""
    key = (key or "").strip()
    if not key:
        return None
    if not KEY_PATTERN.match(key):
        raise InvalidField(_("{field} must be {key_rule}", field=field, key_rule=KEY_RULE), field)
    return key


def fingerprint(operation: str, body: Any) -> str:
    """SHA-256 of the operation and its body in canonical JSON (key order and spacing do not matter)."""
    canonical = json.dumps([operation, body], sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                           default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def lookup(session: Session, actor: str, key: str, operation: str, digest: str) -> Answer | None:
    """The stored answer for (actor, key), or ``None``; :class:`KeyReused` when it was for another request."""
    row = session.execute(select(IdempotencyRecord).where(IdempotencyRecord.actor == actor,
                                                          IdempotencyRecord.key == key)).scalar_one_or_none()
    if row is None:
        return None
    if row.operation != operation or row.fingerprint != digest:
        raise KeyReused(_("idempotency key {key!r} was already used for a different request ({operation}); "
                          "send a new key for a new request",
                          key=key, operation=row.operation), "Idempotency-Key")
    return Answer(row.status_code, dict(row.response), True)


def remember(session: Session, actor: str, key: str, operation: str, digest: str, status_code: int,
             body: dict[str, Any]) -> None:
    """Keep the answer; flushed now so a concurrent twin fails on the unique constraint, not later."""
    session.add(IdempotencyRecord(actor=actor, key=key, operation=operation[:200], fingerprint=digest,
                                  status_code=status_code, response=json.loads(json.dumps(body, default=str))))
    session.flush()


def run_once(engine: Engine, actor: str, key: str | None, operation: str, body: Any,
             work: Callable[[Session], tuple[int, dict[str, Any]]]) -> Answer:
    """Run ``work`` (which returns status and JSON body) in one transaction, at most once per (actor, key).

    Without a key it simply runs. With one, a stored answer is replayed, or ``work`` runs and its answer
    is stored in the same transaction (so a rolled-back write leaves no answer behind)."""
    if key is None:
        with transaction(engine) as session:
            status, out = work(session)
        return Answer(status, out, False)
    digest = fingerprint(operation, body)
    for attempt in (1, 2):
        try:
            with transaction(engine) as session:
                seen = lookup(session, actor, key, operation, digest)
                if seen is not None:
                    return seen
                status, out = work(session)
                remember(session, actor, key, operation, digest, status, out)
            return Answer(status, out, False)
        except IntegrityError:
            if attempt == 2:  # not a twin on the same key (that one now replays): a real error
                raise
    raise AssertionError("unreachable")  # pragma: no cover
