"""The application's database role on PostGIS: what it may do, granted by the schema's owner.

Why two roles: the triggers that keep the audit log append-only stop a client that plays by the
rules, but the table's owner (or a superuser) can disable or drop them, or TRUNCATE the table. So
the schema belongs to one role, used only by ``btsplan db upgrade|downgrade|backup|restore``
(``BTSPLAN_MIGRATE_DATABASE_URL``), and the application connects as another
(``BTSPLAN_DATABASE_URL``) that owns nothing: it reads and writes the data, may only SELECT and
INSERT the audit log, and has no right to ALTER, DROP or TRUNCATE it. The grants are applied after
every upgrade and restore, so tables added by later migrations are covered too.
"""

from __future__ import annotations

from sqlalchemy import Connection, Engine, text
from sqlalchemy.engine import make_url

from geodata.store.db import DatabaseConfigError
from geodata.store.models import Base
from planning.i18n import _

#: What the application may do on each table; every other table of the schema gets DATA.
DATA = "SELECT, INSERT, UPDATE, DELETE, TRUNCATE"
PRIVILEGES = {"audit_log": "SELECT, INSERT", "alembic_version": "SELECT"}


def _run(conn: Connection, template: str, *values: str) -> None:
    """Run a utility statement whose identifiers (``%I``) and literals (``%L``) the server's own
    ``format`` quotes: role names and passwords come from a URL, and DDL takes no bound parameters.
    The result is sent as it is (``no_parameters``), so a ``:`` or ``%`` in a password stays text."""
    params = {f"v{i}": v for i, v in enumerate(values)}
    args = "".join(f", CAST(:v{i} AS text)" for i in range(len(values)))
    stmt = str(conn.execute(text(f"SELECT format(CAST(:t AS text){args})"), {"t": template, **params}).scalar())
    conn.execution_options(no_parameters=True).exec_driver_sql(stmt)


def _ensure_role(conn: Connection, role: str, password: str | None) -> None:
    """Create the role when it does not exist; refuse one that could undo the audit log's guards."""
    found = conn.execute(text("SELECT rolsuper FROM pg_roles WHERE rolname = :r"), {"r": role}).first()
    if found is None:
        if password is None:
            _run(conn, "CREATE ROLE %I LOGIN", role)
        else:
            _run(conn, "CREATE ROLE %I LOGIN PASSWORD %L", role, password)
        return
    if found[0]:
        raise DatabaseConfigError(_("the application's database role {role!r} is a superuser: it could "
                                    "disable the audit log's triggers; give BTSPLAN_DATABASE_URL an ordinary "
                                    "role", role=role))
    owns = conn.execute(text("SELECT pg_has_role(:r, c.relowner, 'MEMBER') FROM pg_class c "
                             "WHERE c.oid = to_regclass('audit_log')"), {"r": role}).scalar()
    if owns:
        raise DatabaseConfigError(_("the application's database role {role!r} owns the audit log (or is a "
                                    "member of its owner): run migrations as another role "
                                    "(BTSPLAN_MIGRATE_DATABASE_URL)", role=role))


def grant_app_role(owner: Engine, app_url: str) -> str | None:
    """Give the role of ``app_url`` exactly the application's privileges, as ``owner`` (creating the
    role, with the URL's password, when it does not exist yet). Returns one line saying what was done
    or why nothing was, None on SQLite (no roles: the file's permissions are the guard). An
    application that connects as the owner is left as it is (the audit log then rests on its triggers
    and its hash chain alone)."""
    if owner.dialect.name != "postgresql":
        return None
    url = make_url(app_url)
    with owner.begin() as conn:
        me = str(conn.execute(text("SELECT current_user")).scalar())
        role = url.username or me
        if role == me:
            return (f"the application connects as the schema's owner {me!r}: set BTSPLAN_MIGRATE_DATABASE_URL to "
                    "the owner and BTSPLAN_DATABASE_URL to a role of its own to keep the audit log out of its reach")
        _ensure_role(conn, role, url.password)
        database, schema = conn.execute(text("SELECT current_database(), current_schema()")).one()
        _run(conn, "GRANT CONNECT ON DATABASE %I TO %I", database, role)
        _run(conn, "GRANT USAGE ON SCHEMA %I TO %I", schema, role)
        for table in [*Base.metadata.tables, "alembic_version"]:
            if conn.execute(text("SELECT to_regclass(:t)"), {"t": table}).scalar() is None:
                continue
            _run(conn, "REVOKE ALL ON TABLE %I FROM %I", table, role)
            _run(conn, f"GRANT {PRIVILEGES.get(table, DATA)} ON TABLE %I TO %I", table, role)
        _run(conn, "GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA %I TO %I", schema, role)
    return f"role {role!r} may read and write the data, and only SELECT and INSERT the audit log"
