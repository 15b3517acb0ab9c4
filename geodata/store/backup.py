"""Backups that a department can restore: the SQLite online-backup API for SpatiaLite (consistent
even while the server writes), ``pg_dump``/``pg_restore`` custom format for PostGIS."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import sqlean
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from geodata.errors import BtsplanError
from planning.i18n import _


class BackupError(BtsplanError, RuntimeError):
    """A backup or restore failed (missing client tool, unreadable file); the message is one clear line."""


def _libpq_url(engine: Engine) -> str:
    u = make_url(engine.url.render_as_string(hide_password=False)).set(drivername="postgresql")
    return u.render_as_string(hide_password=False)


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path:
        return path
    for cand in sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), reverse=True):
        return str(cand)
    raise BackupError(_("{name} not found: install the PostgreSQL client (apt-get install postgresql-client)",
                        name=name))


def _copy_sqlite(src: sqlean.Connection, dst_path: str) -> None:
    """Copy a whole SQLite database page by page with the online-backup API; closes both ends."""
    dst = sqlean.connect(dst_path)
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()


def _run_pg_tool(name: str, *args: str) -> None:
    """Run pg_dump / pg_restore; a failure becomes one line naming the tool and its last message."""
    r = subprocess.run([_tool(name), *args], capture_output=True, text=True, check=False)
    if r.returncode != 0:
        raise BackupError(_("{tool} failed: {message}", tool=name,
                            message=(r.stderr.strip().splitlines() or ["?"])[-1]))


def backup(engine: Engine, out: Path) -> Path:
    """Write a backup of the whole database to ``out`` (a .sqlite copy or a pg_dump archive)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    if engine.dialect.name == "sqlite":
        src_path = make_url(str(engine.url)).database
        if not src_path or not Path(src_path).exists():
            raise BackupError(_("SpatiaLite file not found: {src_path}", src_path=src_path))
        tmp = out.with_suffix(out.suffix + ".part")
        tmp.unlink(missing_ok=True)
        _copy_sqlite(sqlean.connect(src_path), str(tmp))
        tmp.replace(out)  # never leave a half-written backup under the final name
        return out
    tmp = out.with_suffix(out.suffix + ".part")
    try:
        _run_pg_tool("pg_dump", "-Fc", "--no-owner", "--no-privileges", "-f", str(tmp), "-d", _libpq_url(engine))
    except BackupError:
        tmp.unlink(missing_ok=True)
        raise
    tmp.replace(out)
    return out


def restore(engine: Engine, src: Path) -> None:
    """Replace the database content with the backup ``src``."""
    if not src.exists():
        raise BackupError(_("backup file not found: {src}", src=src))
    if engine.dialect.name == "sqlite":
        dst_path = make_url(str(engine.url)).database
        engine.dispose()
        try:
            s = sqlean.connect(str(src))
            if s.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
                raise BackupError(_("{src} is not a healthy SQLite database", src=src))
        except sqlean.DatabaseError as exc:
            raise BackupError(_("{src} is not a SQLite backup ({exc})", src=src, exc=exc)) from None
        _copy_sqlite(s, str(dst_path))
        return
    engine.dispose()
    _run_pg_tool("pg_restore", "--clean", "--if-exists", "--no-owner", "--no-privileges", "--single-transaction",
                 "--exit-on-error", "-d", _libpq_url(engine), str(src))
