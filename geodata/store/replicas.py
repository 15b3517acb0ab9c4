"""Read replicas: PostgreSQL streaming standbys that serve the map's reads (tiles, features, stats).

Why a picker with a fallback rather than a fixed replica engine: a standby is a second machine that can
be down, restarting or rebuilt while the primary is fine, and public map traffic must not turn into
503s because of it. So :meth:`ReadEngines.pick` hands out replicas in turn, checks each one with a pool
checkout (``pool_pre_ping``: one ``SELECT 1`` round trip on an already open connection), and answers
the primary when none is usable. A replica that fails is skipped for :attr:`retry_after_s` seconds
(logged once when it goes, once when it is back) so a dead host costs at most one connection attempt
per interval, not one per request.

Lag: a standby shows the primary's data as of a moment ago, so right after a write a read may still see
the old data for the replication lag (normally milliseconds). Caches keyed by the data version stay
correct because every reader takes the version *from the engine that serves the data* (see
:class:`geodata.serve.tiles.TileService`, :func:`geodata.serve.features.extent`, ``app.routers.stats``): a standby
that lags reports the old version, and its (old) answers are cached under that old version.

Connections to replicas carry ``application_name=btsplan-read`` so they can be told apart in
``pg_stat_activity`` on either server.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from geodata.store.db import DatabaseConfigError, backend_of, make_engine
from planning.i18n import _

log = logging.getLogger("btsplan.replicas")

READ_APPLICATION_NAME = "btsplan-read"
RETRY_AFTER_S = 10.0

# One statement, so reachability and lag come from the same round trip. While the standby has replayed
# everything it received the lag is 0 (the replay timestamp only moves with new transactions, so
# ``now() - timestamp`` would grow forever on an idle primary); otherwise it is the age of the last
# replayed transaction, an upper bound of the lag.
_STATUS_SQL = """
SELECT pg_is_in_recovery(),
       CASE WHEN NOT pg_is_in_recovery() THEN NULL
            WHEN pg_last_wal_receive_lsn() IS NOT DISTINCT FROM pg_last_wal_replay_lsn() THEN 0.0
            ELSE EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp())::float8 END
"""


def replica_url(url: str) -> str:
    """``url`` checked to be PostgreSQL, tagged with ``application_name`` (unless it names one)."""
    if backend_of(url) != "postgis":
        raise DatabaseConfigError(
            _("BTSPLAN_READ_DATABASE_URLS: {value!r} is SQLite; read replicas must be PostgreSQL streaming "
              "standbys (postgresql+psycopg://user:pass@host/db) — a SQLite file cannot replicate, so leave "
              "the variable empty", value=make_url(url).render_as_string(hide_password=True)))
    u = make_url(url)
    if "application_name" not in u.query:
        u = u.update_query_dict({"application_name": READ_APPLICATION_NAME})
    return u.render_as_string(hide_password=False)


@dataclass
class Replica:
    engine: Engine
    label: str  # URL without the password, for logs and /health
    down_until: float = 0.0
    error: str | None = None


def _first_line(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    return (str(orig).strip().splitlines() or [type(orig).__name__])[0]


class ReadEngines:
    """The primary and its read replicas; :meth:`pick` is the engine a read request should use."""

    def __init__(self, primary: Engine, urls: Sequence[str], *, statement_timeout_ms: int | None = None,
                 retry_after_s: float = RETRY_AFTER_S) -> None:
        if urls and primary.dialect.name != "postgresql":
            raise DatabaseConfigError(
                _("BTSPLAN_READ_DATABASE_URLS is set but BTSPLAN_DATABASE_URL is SQLite: read replicas are "
                  "PostgreSQL streaming standbys of a PostGIS primary"))
        self.primary = primary
        self.retry_after_s = retry_after_s
        self.replicas = [Replica(make_engine(replica_url(u), statement_timeout_ms=statement_timeout_ms, serving=True),
                                 make_url(u).render_as_string(hide_password=True)) for u in urls]
        self._turn = itertools.count()
        self._lock = threading.Lock()

    def pick(self) -> Engine:
        """A usable replica, in turn; the primary when there is none (or none answers)."""
        n = len(self.replicas)
        if not n:
            return self.primary
        start = next(self._turn)
        for i in range(n):
            r = self.replicas[(start + i) % n]
            if r.down_until > time.monotonic():
                continue
            if self._usable(r):
                return r.engine
        return self.primary

    def _usable(self, r: Replica) -> bool:
        try:
            with r.engine.connect():
                pass
        except DBAPIError as exc:
            with self._lock:
                first = r.error is None
                r.error = _first_line(exc)
                r.down_until = time.monotonic() + self.retry_after_s
            if first:
                log.warning("read replica %s unreachable, reading from the primary (retry every %.0f s): %s",
                            r.label, self.retry_after_s, r.error)
            return False
        if r.error is not None:
            r.error, r.down_until = None, 0.0
            log.warning("read replica %s is back in use", r.label)
        return True

    def status(self) -> list[dict[str, Any]]:
        """One entry per replica for ``/health``: reachable, in recovery, lag in seconds; never raises."""
        out: list[dict[str, Any]] = []
        for r in self.replicas:
            entry: dict[str, Any] = {"url": r.label}
            try:
                with r.engine.connect() as conn:
                    recovering, lag = conn.execute(text(_STATUS_SQL)).one()
                entry.update(reachable=True, in_recovery=bool(recovering),
                             lag_s=None if lag is None else round(float(lag), 3))
                if not recovering:
                    entry["warning"] = "not a standby (pg_is_in_recovery() is false)"
            except DBAPIError as exc:
                entry.update(reachable=False, error=_first_line(exc))
            entry["in_use"] = entry["reachable"] and r.down_until <= time.monotonic()
            out.append(entry)
        return out

    def dispose(self) -> None:
        for r in self.replicas:
            r.engine.dispose()
