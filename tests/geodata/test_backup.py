"""Backups restore into a fresh database with identical table checksums (both backends)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, delete

from geodata.store import models as m
from geodata.store.backup import BackupError, backup, restore
from geodata.store.checksum import table_checksums
from geodata.store.db import make_engine


def test_backup_restore_round_trip(demo_db: Engine, db_factory, backend: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    before = table_checksums(demo_db)
    assert before["sites"][0] == 1000
    out = backup(demo_db, tmp_path / "b.dump")
    assert out.stat().st_size > 10_000
    # restore into a fresh, empty database
    url = db_factory.clone(backend, "empty")
    fresh = make_engine(url)
    restore(fresh, out)
    assert table_checksums(fresh) == before
    # restore over changed data brings the backup back
    with fresh.begin() as c:
        c.execute(delete(m.Finding))
        c.execute(delete(m.Inspection))
        c.execute(delete(m.Site).where(m.Site.code.like("HP-VTL%")))
    assert table_checksums(fresh) != before
    restore(fresh, out)
    assert table_checksums(fresh) == before
    fresh.dispose()
    db_factory.drop(url)


def test_restore_rejects_garbage(empty_db: Engine, tmp_path: Path) -> None:
    bad = tmp_path / "garbage.bin"
    bad.write_bytes(b"not a backup at all" * 100)
    before = table_checksums(empty_db)
    with pytest.raises(BackupError):
        restore(empty_db, bad)
    assert table_checksums(empty_db) == before
    with pytest.raises(BackupError, match="not found"):
        restore(empty_db, tmp_path / "missing.dump")
