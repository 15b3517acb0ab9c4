"""Token buckets kept in the database, so a limit holds across uvicorn workers and hosts.

A limiter in each process's memory lets N workers allow N times the limit; the database is the one
place every worker already shares, so each bucket is one row of ``rate_limits`` (tokens left, and when
they were counted). Taking a token is one ``INSERT … ON CONFLICT DO UPDATE … WHERE … RETURNING``:
the refill, the cap at ``burst`` and the decrement happen inside the statement, atomically on both
backends (PostgreSQL locks the conflicting row; SQLite runs the statement as its own transaction,
which takes the write lock as it starts, as ``BEGIN IMMEDIATE`` would). A granted token writes one
row; a refused request writes nothing (the ``WHERE`` leaves the row alone) and only reads its wait.

The clock is the callers' wall clock (``time.time``): workers and hosts share it, within what NTP
keeps them apart. On PostgreSQL the table is ``UNLOGGED`` (migration 0004): counts lost in a crash only
give every caller a full bucket again, and skipping the WAL keeps the statement cheap.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import OperationalError

log = logging.getLogger(__name__)

#: How often one process deletes buckets that have refilled (they are the same as absent rows).
PRUNE_EVERY_S = 3600.0
#: On SQLite, how long a token waits for another writer (a long import holds the only write lock)
#: before the request is let through unmetered: a read must never queue behind an import.
SQLITE_LOCK_WAIT_MS = 1000

# ``refilled``: the row's tokens plus what flowed in since it was written, capped at the burst. CASE
# rather than LEAST/MAX, whose names differ between the backends; a clock that went back adds nothing.
_REFILLED = ("CASE WHEN rate_limits.tokens + :rate * (CASE WHEN :now > rate_limits.updated_at "
             "THEN :now - rate_limits.updated_at ELSE 0 END) > :burst THEN :burst "
             "ELSE rate_limits.tokens + :rate * (CASE WHEN :now > rate_limits.updated_at "
             "THEN :now - rate_limits.updated_at ELSE 0 END) END")
_TAKE = text(
    "INSERT INTO rate_limits (bucket, tokens, updated_at) VALUES (:bucket, :burst - 1, :now) "
    f"ON CONFLICT (bucket) DO UPDATE SET tokens = {_REFILLED} - 1, updated_at = :now "
    f"WHERE {_REFILLED} >= 1 "
    "RETURNING tokens")
_READ = text("SELECT tokens, updated_at FROM rate_limits WHERE bucket = :bucket")
_PRUNE = text("DELETE FROM rate_limits WHERE updated_at < :before")


@dataclass(frozen=True)
class Limit:
    """``burst`` requests at once, refilled at ``per_minute``."""

    per_minute: float
    burst: int

    @property
    def rate(self) -> float:
        """Tokens per second."""
        return self.per_minute / 60.0

    @property
    def refill_s(self) -> float:
        """Seconds an empty bucket takes to fill: after that its row says nothing an absent row does not."""
        return self.burst / self.rate


class TokenBuckets:
    """The shared buckets of one database; ``take`` is safe from any thread, process or host."""

    def __init__(self, engine: Engine, limits: Iterable[Limit], clock: Callable[[], float] = time.time,
                 lock_wait_ms: int = SQLITE_LOCK_WAIT_MS) -> None:
        self.engine = engine
        self.clock = clock
        self.lock_wait_ms = lock_wait_ms
        #: rows untouched for this long are full under every limit in use, so pruning them changes nothing
        self.keep_s = max((lim.refill_s for lim in limits), default=0.0)
        self._next_prune = clock() + PRUNE_EVERY_S

    def take(self, bucket: str, limit: Limit) -> float:
        """Take one token from ``bucket``: 0 when allowed, else the seconds until a token is there."""
        now = self.clock()
        params = {"bucket": bucket, "burst": float(limit.burst), "rate": limit.rate, "now": now}
        try:
            with self._connection() as conn:
                taken = conn.execute(_TAKE, params).first() is not None
                row = None if taken else conn.execute(_READ, params).first()
        except OperationalError as exc:
            if self.engine.dialect.name != "sqlite":
                raise
            log.warning("rate limit not applied to %s: the SQLite write lock is busy (%s)", bucket, exc.orig)
            return 0.0
        if now >= self._next_prune:
            self._next_prune = now + PRUNE_EVERY_S
            self.prune()
        if taken:
            return 0.0
        tokens = limit.burst - 1.0 if row is None else _refilled(float(row[0]), float(row[1]), now, limit)
        return max((1.0 - tokens) / limit.rate, 0.001)

    def prune(self) -> int:
        """Delete the buckets that have refilled (a bucket with no row is a full one); returns how many."""
        with self._connection() as conn:
            return conn.execute(_PRUNE, {"before": self.clock() - self.keep_s}).rowcount

    @contextmanager
    def _connection(self) -> Iterator[Connection]:
        """An autocommit connection: each statement is its own transaction, one round trip on PostgreSQL.
        On SQLite the wait for the write lock is shortened while it is used (and restored after)."""
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            if self.engine.dialect.name != "sqlite":
                yield conn
                return
            previous = conn.exec_driver_sql("PRAGMA busy_timeout").scalar()
            conn.exec_driver_sql(f"PRAGMA busy_timeout = {int(self.lock_wait_ms)}")
            try:
                yield conn
            finally:
                conn.exec_driver_sql(f"PRAGMA busy_timeout = {int(previous or 0)}")


def _refilled(tokens: float, updated_at: float, now: float, limit: Limit) -> float:
    """The same arithmetic as ``_REFILLED``, for the wait told to a refused caller."""
    return min(float(limit.burst), tokens + limit.rate * max(now - updated_at, 0.0))
