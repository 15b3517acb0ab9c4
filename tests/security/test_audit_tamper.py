"""The audit log is tamper-evident, and out of the application's reach.

Two layers, attacked separately. As the database's owner (the test superuser, or whoever holds the
SQLite file) nothing stops a change, so every change, deletion or forged row must be *found*:
``btsplan audit verify`` names the first row where the hash chain breaks, and why. As the
application's own role (what ``btsplan db upgrade`` grants it on PostGIS) the guards themselves must
hold: no UPDATE, DELETE or TRUNCATE, no disabling or dropping the triggers; on SQLite neither UPDATE
nor ``INSERT OR REPLACE`` rewrites a row.
"""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from typer.testing import CliRunner

from app.cli import cli
from geodata.settings import get_settings
from geodata.store import audit, migrate
from geodata.store.db import make_engine, transaction
from tests.app.plan_helpers import client, make_keys
from tests.conftest import db_url


def _seed(engine: Engine, n: int = 5) -> None:
    for i in range(n):
        with transaction(engine) as s:
            audit.record(s, f"planner {i}", "edit", "plan", i, {"status": "draft", "n": i},
                         {"status": "submitted", "n": i + 0.5, "title": f"Kế hoạch {i}"})


def _head(engine: Engine) -> tuple[int, str]:
    with engine.connect() as c:
        row = c.execute(text("SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1")).one()
    return int(row[0]), str(row[1])


@contextmanager
def _as_owner(engine: Engine) -> Iterator[Connection]:
    """A transaction in which the append-only triggers are off, as the table's owner (or the SQLite
    file's holder) can always arrange."""
    with engine.begin() as c:
        if engine.dialect.name == "postgresql":
            c.execute(text("ALTER TABLE audit_log DISABLE TRIGGER USER"))
            yield c
            c.execute(text("ALTER TABLE audit_log ENABLE TRIGGER USER"))
            return
        triggers = c.execute(text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' "
                                  "AND tbl_name = 'audit_log'")).all()
        for name, _ in triggers:
            c.execute(text(f'DROP TRIGGER "{name}"'))
        yield c
        for _, sql in triggers:
            c.exec_driver_sql(sql)


@pytest.fixture
def verify_cli(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    """``btsplan audit verify [args]`` against an engine's database: (exit code, output)."""
    def run(engine: Engine, *args: str) -> tuple[int, str]:
        monkeypatch.setenv("BTSPLAN_DATABASE_URL", db_url(engine))
        get_settings.cache_clear()
        res = CliRunner().invoke(cli, ["audit", "verify", *args])
        return res.exit_code, " ".join(res.output.split())

    yield run
    get_settings.cache_clear()


def test_an_untouched_log_verifies_and_names_its_head(empty_db: Engine, verify_cli) -> None:  # type: ignore[no-untyped-def]
    code, out = verify_cli(empty_db)
    assert (code, out) == (0, "audit log intact: empty")
    _seed(empty_db)
    head_id, head_hash = _head(empty_db)
    code, out = verify_cli(empty_db)
    assert code == 0 and out == f"audit log intact: 5 rows, head {head_id}:{head_hash}", out
    assert verify_cli(empty_db, "--anchor", f"{head_id}:{head_hash}")[0] == 0
    with empty_db.connect() as c:
        ids = c.execute(text("SELECT id FROM audit_log ORDER BY id")).scalars().all()
    assert ids == [1, 2, 3, 4, 5], "rows take consecutive ids, so a gap means rows deleted"


@pytest.mark.parametrize("edit", [
    "UPDATE audit_log SET actor = 'somebody else' WHERE id = 3",
    "UPDATE audit_log SET entity_id = NULL WHERE id = 3",
    "UPDATE audit_log SET at = at - INTERVAL '1 day' WHERE id = 3",
    "UPDATE audit_log SET \"after\" = '{\"status\": \"approved\"}' WHERE id = 3",
])
def test_an_edited_row_is_named(empty_db: Engine, verify_cli, edit: str) -> None:  # type: ignore[no-untyped-def]
    _seed(empty_db)
    if empty_db.dialect.name == "sqlite":
        edit = edit.replace("at - INTERVAL '1 day'", "datetime(at, '-1 day')")
    with _as_owner(empty_db) as c:
        c.execute(text(edit))
    code, out = verify_cli(empty_db)
    assert code == 1
    assert "audit log broken at row 3: changed (its content no longer matches its hash)" in out, out


def test_an_edited_row_made_unreadable_is_named(empty_db: Engine, verify_cli) -> None:  # type: ignore[no-untyped-def]
    """SQLite stores anything in any column: a row edited into junk is reported, not a traceback."""
    if empty_db.dialect.name != "sqlite":
        pytest.skip("PostgreSQL's column types refuse the junk")
    _seed(empty_db)
    with _as_owner(empty_db) as c:
        c.execute(text("UPDATE audit_log SET at = 'yesterday', \"before\" = '{not json' WHERE id = 2"))
    code, out = verify_cli(empty_db)
    assert code == 1 and "broken at row 2: changed" in out, out


def test_a_deleted_middle_row_is_named(empty_db: Engine, verify_cli) -> None:  # type: ignore[no-untyped-def]
    _seed(empty_db)
    with _as_owner(empty_db) as c:
        c.execute(text("DELETE FROM audit_log WHERE id = 3"))
    code, out = verify_cli(empty_db)
    assert code == 1
    assert "broken at row 3: deleted (row 3 missing: row 4 chains to a row that is gone)" in out, out

    with _as_owner(empty_db) as c:
        c.execute(text("DELETE FROM audit_log WHERE id IN (1, 2)"))
    assert "broken at row 3: deleted (the rows before row 4 are gone" in verify_cli(empty_db)[1]


def test_forged_rows_are_named(empty_db: Engine, verify_cli) -> None:  # type: ignore[no-untyped-def]
    """A row INSERTed behind the writer's back: without a hash, with a hash that does not chain, or
    chained correctly (the algorithm is public) but back-dated."""
    _seed(empty_db)
    head_id, head_hash = _head(empty_db)
    forged = {"id": head_id + 1, "at": dt.datetime(2020, 1, 1, 9, 0), "actor": "Chuyên viên Lan",
              "action": "approve", "entity": "plan", "entity_id": "7", "before": None, "after": None}
    insert = text("INSERT INTO audit_log (id, at, actor, action, entity, entity_id, prev_hash, hash) "
                  "VALUES (:id, :at, :actor, :action, :entity, :entity_id, :prev_hash, :hash)")

    def attempt(prev_hash: str | None, hash_: str | None) -> str:
        with _as_owner(empty_db) as c:
            c.execute(text("DELETE FROM audit_log WHERE id > :h"), {"h": head_id})
            c.execute(insert, {**forged, "prev_hash": prev_hash, "hash": hash_})
        code, out = verify_cli(empty_db)
        assert code == 1, out
        return out

    out = attempt(None, None)
    assert f"broken at row {head_id + 1}: inserted (written outside the audit writer" in out, out
    out = attempt("f" * 64, audit.chain_hash("f" * 64, **{("row_id" if k == "id" else k): v for k, v in forged.items()}))
    assert f"broken at row {head_id + 1}: inserted (it does not chain to row {head_id}" in out, out
    chained = audit.chain_hash(head_hash, **{("row_id" if k == "id" else k): v for k, v in forged.items()})
    out = attempt(head_hash, chained)
    assert f"broken at row {head_id + 1}: inserted (back-dated: its time 2020-01-01 09:00:00.000000" in out, out


def test_a_row_slipped_into_a_gap_is_named(empty_db: Engine, verify_cli) -> None:  # type: ignore[no-untyped-def]
    """Ids from before the chain may have gaps (rolled-back sequence values); a row forged into one,
    chained to the row before it, leaves the next row chaining past it."""
    migrate.downgrade(empty_db, "0002")
    with empty_db.begin() as c:
        for i in (1, 2, 4):
            c.execute(text("INSERT INTO audit_log (id, at, actor, action, entity) VALUES (:i, :at, 'a', 'b', 'c')"),
                      {"i": i, "at": dt.datetime(2026, 1, i)})
    migrate.upgrade(empty_db)
    assert verify_cli(empty_db)[0] == 0
    with _as_owner(empty_db) as c:
        row2 = c.execute(text("SELECT hash FROM audit_log WHERE id = 2")).scalar()
        forged = {"row_id": 3, "at": dt.datetime(2026, 1, 3), "actor": "x", "action": "approve", "entity": "plan",
                  "entity_id": "9", "before": None, "after": None}
        c.execute(text("INSERT INTO audit_log (id, at, actor, action, entity, entity_id, prev_hash, hash) "
                       "VALUES (3, :at, 'x', 'approve', 'plan', '9', :p, :h)"),
                  {"at": forged["at"], "p": row2, "h": audit.chain_hash(row2, **forged)})
    code, out = verify_cli(empty_db)
    assert code == 1 and "broken at row 3: inserted (row 4 chains past it to the row before it)" in out, out


def test_an_anchor_catches_a_rewritten_or_shortened_tail(empty_db: Engine, verify_cli) -> None:  # type: ignore[no-untyped-def]
    """The chain alone cannot see its last rows deleted, or a row re-hashed after editing; a head kept
    elsewhere can."""
    _seed(empty_db)
    head_id, head_hash = _head(empty_db)
    anchor = f"{head_id}:{head_hash}"
    with _as_owner(empty_db) as c:
        row = c.execute(text("SELECT prev_hash, at, entity_id FROM audit_log WHERE id = :i"), {"i": head_id}).one()
        values = {"row_id": head_id, "at": row.at if isinstance(row.at, dt.datetime) else
                  dt.datetime.fromisoformat(row.at), "actor": "somebody else", "action": "edit", "entity": "plan",
                  "entity_id": row.entity_id, "before": {"status": "draft", "n": 4},
                  "after": {"status": "submitted", "n": 4.5, "title": "Kế hoạch 4"}}
        c.execute(text("UPDATE audit_log SET actor = 'somebody else', hash = :h WHERE id = :i"),
                  {"h": audit.chain_hash(row.prev_hash, **values), "i": head_id})
    assert verify_cli(empty_db)[0] == 0, "re-hashed: the chain alone is fooled"
    code, out = verify_cli(empty_db, "--anchor", anchor)
    assert code == 1 and f"broken at row {head_id}: changed (its hash is not the anchored one" in out, out

    with _as_owner(empty_db) as c:
        c.execute(text("DELETE FROM audit_log WHERE id >= :i"), {"i": head_id - 1})
    assert verify_cli(empty_db)[0] == 0
    code, out = verify_cli(empty_db, "--anchor", anchor)
    assert code == 1 and f"broken at row {head_id}: deleted (the anchored row is gone" in out, out
    code, out = verify_cli(empty_db, "--anchor", "5:nothex")
    assert code == 1 and "is not ID:HASH" in out


def test_concurrent_writers_do_not_fork_the_chain(empty_db: Engine) -> None:
    """Each writer appends under the chain's lock: ids stay consecutive and every row chains to the
    one before it, however the transactions interleave."""
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def writer(n: int) -> None:
        try:
            start.wait()
            for i in range(8):
                with transaction(empty_db) as s:
                    audit.record(s, f"writer {n}", "edit", "plan", i, None, {"i": i})
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    with empty_db.connect() as c:
        report = audit.verify(c)
        ids = c.execute(text("SELECT id FROM audit_log ORDER BY id")).scalars().all()
    assert report.intact and report.rows == 32, report.line()
    assert ids == list(range(1, 33))


def test_migration_chains_the_rows_already_stored(empty_db: Engine, verify_cli) -> None:  # type: ignore[no-untyped-def]
    """Rows written before 0003 (ids with gaps, times out of order: they were taken without a lock)
    are chained as they are, and a ``chain`` row says so; tampering with them is found afterwards."""
    migrate.downgrade(empty_db, "0002")
    rows = [(1, "2026-01-02 10:00:00"), (2, "2026-01-02 09:59:59"), (5, "2026-01-03 08:00:00")]
    with empty_db.begin() as c:
        for i, at in rows:
            c.execute(text("INSERT INTO audit_log (id, at, actor, action, entity, entity_id, \"after\") "
                           "VALUES (:i, :at, 'Quản trị', 'create', 'api_key', :e, '{\"role\": \"admin\"}')"),
                      {"i": i, "at": dt.datetime.fromisoformat(at), "e": str(i)})
    migrate.upgrade(empty_db)
    with empty_db.connect() as c:
        marker = c.execute(text("SELECT id, action, entity, \"after\" FROM audit_log ORDER BY id DESC")).first()
    assert marker is not None and (marker[0], marker[1], marker[2]) == (6, "chain", "audit_log")
    assert "chained_rows" in str(marker[3]) and "through_id" in str(marker[3])
    _seed(empty_db, 2)
    assert verify_cli(empty_db)[0] == 0, verify_cli(empty_db)[1]
    with _as_owner(empty_db) as c:
        c.execute(text("UPDATE audit_log SET actor = 'x' WHERE id = 2"))
    assert "broken at row 2: changed" in verify_cli(empty_db)[1]


def test_guards_hold_on_sqlite_for_everyone(empty_db: Engine) -> None:
    """SQLite has no roles: the triggers are the guard against any client that does not drop them.
    ``INSERT OR REPLACE`` would delete the old row without firing the DELETE trigger."""
    if empty_db.dialect.name != "sqlite":
        pytest.skip("PostGIS: see test_the_apps_role_cannot_undo_the_guards")
    _seed(empty_db, 3)
    for stmt in ("INSERT OR REPLACE INTO audit_log (id, at, actor, action, entity) "
                 "VALUES (2, '2026-01-01 00:00:00', 'evil', 'approve', 'plan')",
                 "REPLACE INTO audit_log (id, at, actor, action, entity) VALUES (2, '2026-01-01', 'e', 'a', 'p')",
                 "UPDATE audit_log SET actor = 'evil' WHERE id = 2",
                 "UPDATE OR REPLACE audit_log SET id = 1 WHERE id = 2",
                 "DELETE FROM audit_log WHERE id = 2"):
        with pytest.raises(DBAPIError, match="append-only"), empty_db.begin() as c:
            c.execute(text(stmt))
    with empty_db.connect() as c:
        assert audit.verify(c).intact
        assert c.execute(text("SELECT actor FROM audit_log WHERE id = 2")).scalar() == "planner 1"


@pytest.fixture
def app_role(empty_db: Engine, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    """An engine connected as the application's own role, made as a deployment makes it:
    ``btsplan db upgrade`` with the owner's URL for migrations and the app's URL (a role that does not
    exist yet) for the application."""
    if empty_db.dialect.name != "postgresql":
        pytest.skip("SQLite has no roles")
    role, password = f"btsplan_app_{uuid.uuid4().hex[:8]}", "p:w%d'\"x"
    app_url = make_url(db_url(empty_db)).set(username=role, password=password).render_as_string(hide_password=False)
    monkeypatch.setenv("BTSPLAN_DATABASE_URL", app_url)
    monkeypatch.setenv("BTSPLAN_MIGRATE_DATABASE_URL", db_url(empty_db))
    get_settings.cache_clear()
    try:
        res = CliRunner().invoke(cli, ["db", "upgrade"])
        assert res.exit_code == 0, res.output
        said = " ".join(res.output.split())
        assert f"role '{role}' may read and write the data, and only SELECT and INSERT the audit log" in said
        engine = make_engine(app_url)
        yield engine
        engine.dispose()
    finally:
        get_settings.cache_clear()
        owner = create_engine(make_url(db_url(empty_db)), isolation_level="AUTOCOMMIT")
        with owner.connect() as c:
            c.exec_driver_sql(f'DROP OWNED BY "{role}"')
            c.exec_driver_sql(f'DROP ROLE IF EXISTS "{role}"')
        owner.dispose()


def test_the_apps_role_cannot_undo_the_guards(empty_db: Engine, app_role: Engine) -> None:
    with transaction(app_role) as s:  # the app writes and reads the log, and the data, as usual
        audit.record(s, "tester", "create", "plan", 1, None, {"status": "draft"})
        s.execute(text("INSERT INTO meta (key, value) VALUES ('t', '1')"))
        s.execute(text("UPDATE meta SET value = '2' WHERE key = 't'"))
        s.execute(text("DELETE FROM meta WHERE key = 't'"))
        s.execute(text("TRUNCATE tile_site_cells"))
    for stmt in ("TRUNCATE audit_log", "TRUNCATE audit_log CASCADE",
                 "ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only",
                 "ALTER TABLE audit_log DISABLE TRIGGER USER",
                 "DROP TRIGGER audit_log_append_only ON audit_log",
                 "DROP TRIGGER audit_log_no_truncate ON audit_log",
                 "DROP TABLE audit_log", "ALTER TABLE audit_log RENAME TO old_log",
                 "UPDATE audit_log SET actor = 'evil'", "DELETE FROM audit_log",
                 "CREATE TABLE audit_copy (id int)", "SET session_replication_role = replica",
                 "DROP FUNCTION audit_log_append_only() CASCADE"):
        with pytest.raises(DBAPIError, match="permission denied|must be owner|append-only"), app_role.begin() as c:
            c.execute(text(stmt))
    with app_role.connect() as c:
        assert c.execute(text("SELECT actor FROM audit_log")).scalars().all() == ["tester"]
        assert audit.verify(c).intact
    with pytest.raises(DBAPIError, match="append-only"), empty_db.begin() as c:
        c.execute(text("TRUNCATE audit_log"))  # even the owner, unless it first drops the trigger


def test_the_apps_role_still_does_the_apps_work(app_role: Engine, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """What the application does beyond plain DML works without owning anything: a bulk import (which
    would drop and rebuild indexes as the owner) loads with them kept, and the statistics statements
    only the owner may run are skipped with a warning, not an error."""
    import pandas as pd

    from geodata.io import import_store
    from geodata.io.importer import ImportOptions, import_file

    monkeypatch.setattr(import_store, "BULK_MIN_ROWS", 50)
    with app_role.begin() as c:
        c.execute(text("INSERT INTO operators (code, name) VALUES ('VTL', 'Viettel')"))
    src = tmp_path / "sites.csv"
    pd.DataFrame({"code": [f"B-{i:03d}" for i in range(120)], "operator": "VTL", "mast_height_m": 30.0,
                  "lon": [106.67 + i * 1e-4 for i in range(120)], "lat": 20.855}).to_csv(src, index=False)
    res = import_file(app_role, "sites", src, ImportOptions(batch_size=50))
    assert res.committed and res.inserted == 120, [e.line() for e in res.log.sorted()[:3]]
    with app_role.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        c.exec_driver_sql("ANALYZE tile_site_cells")
        c.exec_driver_sql("VACUUM (ANALYZE) sites")
        assert audit.verify(c).intact


def test_the_apps_role_must_not_be_a_superuser_or_the_owner(empty_db: Engine) -> None:
    from geodata.store.db import DatabaseConfigError
    from geodata.store.roles import grant_app_role

    if empty_db.dialect.name != "postgresql":
        assert grant_app_role(empty_db, db_url(empty_db)) is None
        return
    said = grant_app_role(empty_db, db_url(empty_db))
    assert said is not None and "connects as the schema's owner" in said
    role = f"btsplan_own_{uuid.uuid4().hex[:8]}"
    with empty_db.begin() as c:
        c.exec_driver_sql(f'CREATE ROLE "{role}" LOGIN')
        c.exec_driver_sql(f'ALTER TABLE audit_log OWNER TO "{role}"')
    try:
        with pytest.raises(DatabaseConfigError, match="owns the audit log"):
            grant_app_role(empty_db, make_url(db_url(empty_db)).set(username=role).render_as_string(False))
    finally:
        with empty_db.begin() as c:
            c.exec_driver_sql("ALTER TABLE audit_log OWNER TO CURRENT_USER")
            c.exec_driver_sql(f'DROP OWNED BY "{role}"')
            c.exec_driver_sql(f'DROP ROLE "{role}"')


def test_verify_over_http_is_for_admins(demo_db: Engine) -> None:
    c, k = client(demo_db), make_keys(demo_db)
    assert c.get("/audit/verify").status_code == 401
    for who in ("planner", "inspector", "vtl"):
        assert c.get("/audit/verify", headers=k.h(who)).status_code == 403
    body = c.get("/audit/verify", headers=k.h("admin")).json()
    head_id, head_hash = _head(demo_db)
    assert body == {"intact": True, "rows": head_id, "head": {"id": head_id, "hash": head_hash}, "broken": None}
    with _as_owner(demo_db) as conn:
        conn.execute(text("DELETE FROM audit_log WHERE id = 2"))
    body = c.get("/audit/verify", headers=k.h("admin")).json()
    assert body["intact"] is False
    assert body["broken"] == {"id": 2, "problem": "deleted",
                              "detail": "row 2 missing: row 3 chains to a row that is gone"}
