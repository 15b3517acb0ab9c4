"""Engines and sessions for the two backends: SpatiaLite (embedded default) and PostGIS.

Why ``sqlean``: the CPython ``sqlite3`` module on Debian-built Pythons (and on these machines) is
compiled without ``enable_load_extension``, so it cannot load ``mod_spatialite``. ``sqlean.py`` is a
maintained drop-in DB-API module that bundles a recent SQLite *with* extension loading enabled;
SQLAlchemy accepts it through ``create_engine(..., module=sqlean)``. GeoAlchemy2's
``load_spatialite`` then loads ``mod_spatialite`` (from Debian ``libsqlite3-mod-spatialite``) on
every new connection.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

# Load the wheels' own PROJ and GEOS *before* mod_spatialite pulls in Debian's libproj/libgeos:
# the C++ symbols of the two copies interpose, and when the system copy comes first the wheel's
# static objects get registered twice and the process aborts at exit ("double free or corruption").
import pyproj  # noqa: F401  (import order is the point)
import shapely  # noqa: F401
# Same for GDAL (pyogrio's libgdal bundles SQLite): loaded after mod_spatialite, its SQLite calls bind
# to the system libsqlite3 that SQLite's dlopen(RTLD_GLOBAL) exposed, and writing a GeoPackage then
# segfaults (seen with an open SpatiaLite cursor during an export).
import pyogrio  # noqa: F401
import sqlean
from geoalchemy2 import load_spatialite
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError
from sqlalchemy.orm import Session, sessionmaker

from geodata.errors import Unavailable
from planning.i18n import _

Backend = Literal["spatialite", "postgis"]

# GeoAlchemy2 reads this to find the extension; users should never have to set it themselves.
os.environ.setdefault("SPATIALITE_LIBRARY_PATH", "mod_spatialite")


class DatabaseConfigError(Unavailable):
    """The database URL is malformed or the database cannot be reached; message is one clear line."""


def backend_of(url: str) -> Backend:
    try:
        u = make_url(url)
    except ArgumentError as exc:
        raise DatabaseConfigError(_("BTSPLAN_DATABASE_URL is malformed: {url!r} ({exc})",
                                    url=url, exc=exc)) from None
    if u.get_backend_name() == "sqlite":
        return "spatialite"
    if u.get_backend_name() == "postgresql":
        return "postgis"
    raise DatabaseConfigError(
        _("BTSPLAN_DATABASE_URL uses unsupported backend {value!r}; use sqlite:///path.sqlite (SpatiaLite) "
          "or postgresql+psycopg://user:pass@host/db (PostGIS)", value=u.get_backend_name())
    )


def _on_sqlite_connect(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
    try:
        load_spatialite(dbapi_conn, init_mode="WGS84")
    except Exception as exc:  # the extension is a system package; say which one
        raise DatabaseConfigError(
            _("cannot load the SpatiaLite extension (mod_spatialite): install it with `apt-get install "
              "libsqlite3-mod-spatialite` ({exc})", exc=exc)
        ) from None
    cur = dbapi_conn.cursor()
    # WAL: readers never block the writer, and a killed import leaves the main file intact.
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def make_engine(url: str, *, statement_timeout_ms: int | None = None, echo: bool = False,
                serving: bool = False) -> Engine:
    """Build an engine for either backend; raises :class:`DatabaseConfigError` on a bad URL.

    PostGIS sessions run without JIT: its compilation took ~10 ms of a backend's CPU on every
    statement the planner costs above ``jit_above_cost`` (an OGC items count over a few thousand
    rows), more than such statements take to run. ``serving``: the HTTP server's engines, whose
    statements also run without parallel workers — under the load benchmark on 2 cores a feature
    query started two extra backends for a 60 ms plan; with many requests in flight every core is
    already busy, so one backend per request costs less and answers no slower."""
    backend = backend_of(url)
    try:
        if backend == "spatialite":
            u = make_url(url)
            if u.database and u.database != ":memory:":
                Path(u.database).parent.mkdir(parents=True, exist_ok=True)
            engine = create_engine(url, module=sqlean, echo=echo)
            event.listen(engine, "connect", _on_sqlite_connect)
        else:
            connect_args: dict[str, object] = {"connect_timeout": 5}
            options = ["-c jit=off"]
            if statement_timeout_ms:
                options.append(f"-c statement_timeout={int(statement_timeout_ms)}")
            if serving:
                options.append("-c max_parallel_workers_per_gather=0")
            connect_args["options"] = " ".join(options)
            engine = create_engine(
                url, echo=echo, pool_pre_ping=True, pool_size=10, max_overflow=10,
                pool_timeout=10, connect_args=connect_args,
            )
    except (ArgumentError, NoSuchModuleError) as exc:
        raise DatabaseConfigError(_("BTSPLAN_DATABASE_URL is malformed: {url!r} ({exc})",
                                    url=url, exc=exc)) from None
    return engine


def check_connection(engine: Engine) -> str:
    """Open one connection and return the spatial engine's version; one-line error otherwise."""
    try:
        with engine.connect() as conn:
            if engine.dialect.name == "sqlite":
                return "SpatiaLite " + str(conn.execute(text("SELECT spatialite_version()")).scalar())
            ver = conn.execute(
                text("SELECT extversion FROM pg_extension WHERE extname = 'postgis'")
            ).scalar()
            return f"PostGIS {ver}" if ver else "PostgreSQL (PostGIS not yet enabled: run `btsplan db upgrade`)"
    except DBAPIError as exc:
        msg = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise DatabaseConfigError(_("cannot reach the database {value}: {msg}",
                                    value=engine.url.render_as_string(hide_password=True), msg=msg)) from None


def engine_backend(engine: Engine) -> Backend:
    return "spatialite" if engine.dialect.name == "sqlite" else "postgis"


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(engine: Engine) -> Iterator[Session]:
    """One unit of work: commits on success, rolls back everything on any error."""
    with session_factory(engine)() as session, session.begin():
        yield session
