"""The planning context of ``POST /checks/site``, kept current by updates instead of rebuilds.

Every write records what it changed with the data version it made (``meta['data_changes.<v>']``,
see :func:`geodata.store.meta.bump_data_version`). On a request that finds a newer version the
holder reads those records and:

- masts added, moved, changed or removed (by code): re-reads those masts and updates the index
  (:mod:`planning.context_updates`) — milliseconds for one, well under a second for thousands;
- A1-only routes or zones: rebuilds the A1 targets alone (the masts' index is kept);
- anything else the context does not hold (findings, cables, inspections): only the version moves;
- the units, every mast at once, a write that did not say what it changed, or a gap longer than
  the journal: a full rebuild, in a background thread, while the current context keeps answering
  — each answer carries the ``data_version`` of the context that made it.

The rule pack is part of the holder's key, so a new pack gets its own context.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from dataclasses import dataclass, replace
from typing import Any

import pandas as pd
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, Engine

from geodata.store import repository as repo
from geodata.store.meta import data_changes, data_version
from planning.checks import PlanningContext, build_context
from planning.context_updates import COMPACT_AT, SiteLayers, apply_site_changes, layered
from planning.rules import RulePack
from planning.zoning import build_a1_targets

log = logging.getLogger(__name__)

#: codes per read of changed masts
CODES_PER_READ = 5_000
#: keys of a change record that the planning context does not depend on
_NOT_IN_CONTEXT = frozenset({"findings", "cables", "inspections", "plans", "programmes", "documents"})


@dataclass(frozen=True)
class _Delta:
    """What a stretch of versions changed, as the context sees it."""

    full: bool
    codes: tuple[Any, ...] = ()
    a1: bool = False


def summarise(records: list[dict[str, Any] | None] | None) -> _Delta:
    """Merge the change records of several versions (None: unknown, so everything)."""
    if records is None:
        return _Delta(True)
    codes: dict[Any, None] = {}
    a1 = False
    for r in records:
        if r is None or r.get("units") or r.get("sites") == "all":
            return _Delta(True)
        unknown = set(r) - _NOT_IN_CONTEXT - {"sites", "routes", "zones"}
        if unknown:
            return _Delta(True)
        codes.update(dict.fromkeys(r.get("sites") or ()))
        a1 = a1 or bool(r.get("routes")) or bool(r.get("zones"))
    return _Delta(False, tuple(codes), a1)


def existing_masts(engine: Engine | Connection, pack: RulePack, *, metric_crs: str,
                   codes: list[Any] | None = None) -> Any:
    """The masts the pack counts as existing (all, or those of ``codes``), as the site index reads them."""
    statuses = sorted(set(pack.spacing.existing_statuses))
    sites = repo.load_existing_masts(engine, statuses=statuses, metric_crs=metric_crs, codes=codes)
    sites["status"] = statuses[0]  # every row is an existing mast; the index keeps them all
    return sites


def load_context(engine: Engine, pack: RulePack, *, metric_crs: str, version: int | None = None) -> PlanningContext:
    """Build the planning context from the database (a few seconds for a million sites)."""
    return build_context(existing_masts(engine, pack, metric_crs=metric_crs), repo.load_routes(engine),
                         repo.load_zones(engine), repo.load_admin_units(engine), pack,
                         metric_crs=metric_crs, data_version=version if version is not None else data_version(engine))


def settle_heap() -> None:
    """Collect, then move every object alive to the interpreter's permanent generation (``gc.freeze``).

    Measured at a million masts: a full cyclic collection traverses every element of the context's
    object arrays (codes, operators, classes) and took ~170 ms — with the interpreter lock held, so
    every request of the worker stalled: the p99 of a server holding a big context. Frozen, a full
    collection takes under a millisecond. Called after each (re)build; unfreezing first lets the
    collection reclaim what the previous context left behind."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()


class ContextHolder:
    """The current context of one database, rule pack and metric CRS, and its updates."""

    def __init__(self, engine: Engine, pack: RulePack, metric_crs: str) -> None:
        self.engine, self.pack, self.metric_crs = engine, pack, metric_crs
        self._current: tuple[PlanningContext, SiteLayers] | None = None
        self._lock = threading.Lock()
        self._rebuild: threading.Thread | None = None
        self.last_update_s = 0.0
        self.updates = 0
        self.rebuilds = 0

    # -- building ------------------------------------------------------------------------------

    def _masts(self, codes: list[Any], conn: Connection) -> Any:
        """The changed masts, read by code in chunks (SQLite caps the values of one statement)."""
        frames = [existing_masts(conn, self.pack, metric_crs=self.metric_crs, codes=codes[lo:lo + CODES_PER_READ])
                  for lo in range(0, max(len(codes), 1), CODES_PER_READ)]
        return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]

    @contextmanager
    def _snapshot(self) -> Iterator[Connection]:
        """One connection for the reads of an update — one pool checkout instead of three. On
        PostgreSQL a repeatable-read transaction: every read sees the same committed state, so the
        version an update is labelled with is exactly the data it read. (SQLite reads each statement
        afresh: a mast written between two reads is already in the rows, and its own version
        re-reads it, so the context still converges on the stored data.)"""
        with self.engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                conn = conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                yield conn

    def build(self, version: int | None = None) -> tuple[PlanningContext, SiteLayers]:
        """A context from scratch (seconds for a million masts), made updatable; the heap is
        settled after it (:func:`settle_heap`)."""
        ctx = load_context(self.engine, self.pack, metric_crs=self.metric_crs, version=version)
        index, layers = layered(ctx.sites)
        built = replace(ctx, sites=index), layers
        settle_heap()
        return built

    def _rebuild_in_background(self) -> None:
        if self._rebuild is not None and self._rebuild.is_alive():
            return

        def run() -> None:
            try:
                built = self.build()
                with self._lock:
                    cur = self._current
                    if cur is None or (cur[0].data_version or 0) <= (built[0].data_version or 0):
                        self._current = built
                    self.rebuilds += 1
            except Exception:  # the old context keeps answering; the next change tries again
                log.exception("rebuilding the planning context failed")

        self._rebuild = threading.Thread(target=run, name="planning-context-rebuild", daemon=True)
        self._rebuild.start()

    def wait_rebuilt(self, timeout: float | None = None) -> None:
        """Wait for a background rebuild in progress (tests, benchmarks, warm-up)."""
        t = self._rebuild
        if t is not None:
            t.join(timeout)

    # -- reading -------------------------------------------------------------------------------

    def get(self, version: int | None = None) -> PlanningContext:
        """The context for ``version`` (default: the stored one) — or, while a full rebuild runs in
        the background, the newest context there is (its ``data_version`` says which)."""
        v = version if version is not None else data_version(self.engine)
        cur = self._current
        if cur is not None and cur[0].data_version == v:
            return cur[0]
        with self._lock:
            cur = self._current
            if cur is None:
                self._current = cur = self.build(v)
                return cur[0]
            have = cur[0].data_version or 0
            if have > v and data_version(self.engine) < have:  # versions never go back: another database
                self._current = cur = self.build()           # now answers at this URL (a restore)
                return cur[0]
            if have >= v or (self._rebuild is not None and self._rebuild.is_alive()):
                return cur[0]
            t0 = time.perf_counter()
            with self._snapshot() as conn:
                # the newest version (>= v), its change records and the changed rows, as one snapshot
                v = max(v, data_version(conn))
                delta = summarise(data_changes(conn, have, v))
                if delta.full:
                    self._rebuild_in_background()
                    return cur[0]
                rows = self._masts(list(delta.codes), conn) if delta.codes else None
                a1 = (repo.load_routes(conn), repo.load_zones(conn)) if delta.a1 else None
            ctx, layers = cur
            if rows is not None:
                index, layers = apply_site_changes(ctx.sites, layers, list(delta.codes), rows, self.pack,
                                                   metric_crs=self.metric_crs)
                ctx = replace(ctx, sites=index)
            if a1 is not None:
                ctx = replace(ctx, a1=build_a1_targets(*a1, self.pack, self.metric_crs))
            ctx = replace(ctx, data_version=v, built_at=time.time())
            self._current = (ctx, layers)
            self.updates += 1
            self.last_update_s = time.perf_counter() - t0
            if layers.overlay_size > COMPACT_AT:
                self._rebuild_in_background()
            return ctx


_holders: dict[tuple[str, str, str, str], ContextHolder] = {}
_holders_lock = threading.Lock()


def context_holder(engine: Engine, pack: RulePack, metric_crs: str) -> ContextHolder:
    """The process's holder for this database, pack and CRS."""
    key = (engine.url.render_as_string(hide_password=False), pack.id, pack.version, metric_crs)
    with _holders_lock:
        if key not in _holders:
            _holders[key] = ContextHolder(engine, pack, metric_crs)
        return _holders[key]


__all__ = ["ContextHolder", "context_holder", "summarise"]
