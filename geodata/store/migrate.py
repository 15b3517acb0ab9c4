"""Alembic driven from code, so `btsplan db upgrade` works from any directory and on both backends."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from geodata.errors import Unavailable
from planning.i18n import _

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"


class NotMigrated(Unavailable):
    """The database has no schema, or an older one than this code: nothing works until the owner runs
    ``btsplan db upgrade``, so every command and ``/health`` say exactly that instead of a missing table."""


def alembic_config(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False).replace("%", "%%"))
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    cfg = alembic_config(engine)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def downgrade(engine: Engine, revision: str = "base") -> None:
    cfg = alembic_config(engine)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)


def current(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def _scripts() -> ScriptDirectory:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return ScriptDirectory.from_config(cfg)


def require_current(engine: Engine) -> None:
    """Refuse, in one line, a database whose schema is missing or not at this code's revision."""
    where = engine.url.render_as_string(hide_password=True)
    rev = current(engine)
    scripts = _scripts()
    expected = scripts.get_current_head()
    if rev == expected:
        return
    if rev is None:
        raise NotMigrated(_("the database {where} has no schema yet: run `btsplan db upgrade`", where=where))
    if rev not in {s.revision for s in scripts.walk_revisions()}:
        raise NotMigrated(_("the database {where} is at revision {rev}, newer than this btsplan: upgrade "
                            "btsplan", where=where, rev=rev))
    raise NotMigrated(_("the database {where} is at revision {rev}, this btsplan needs {expected}: run "
                        "`btsplan db upgrade`", where=where, rev=rev, expected=expected))
