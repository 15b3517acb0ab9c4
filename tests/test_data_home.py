"""The data has one home whatever folder a command runs from, and an un-migrated database says, in one
line, to run `btsplan db upgrade` (CLI) or answers 503 saying so (HTTP)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from geodata.settings import Settings, default_home

ROOT = Path(__file__).resolve().parents[1]


def run(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """The CLI as a user starts it: from ``cwd``, with no database URL of its own."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("BTSPLAN_")}
    return subprocess.run([sys.executable, "-m", "app.cli", *args], cwd=cwd, capture_output=True, text=True,
                          env={**base, **env}, timeout=120)


def test_default_home_is_the_checkout_from_any_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("BTSPLAN_HOME", "BTSPLAN_DATABASE_URL", "BTSPLAN_UPLOAD_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    s = Settings()
    assert default_home() == ROOT, "running from a checkout: the data lives in it, where `make run` puts it"
    assert s.database_url == f"sqlite:///{ROOT / 'data' / 'btsplan.sqlite'}"
    assert s.upload_dir == str(ROOT / "data" / "uploads")


def test_relative_and_absolute_urls(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert Settings(home=home, database_url="sqlite:///db/x.sqlite").database_url == \
        f"sqlite:///{home / 'db' / 'x.sqlite'}", "relative SQLite paths are under the home"
    assert Settings(home=home, database_url="sqlite:////srv/x.sqlite").database_url == "sqlite:////srv/x.sqlite"
    pg = "postgresql+psycopg://u:p@h/db"
    assert Settings(home=home, database_url=pg).database_url == pg
    assert Settings(home=home, upload_dir="/srv/photos").upload_dir == "/srv/photos"


def test_cli_uses_the_homes_database_not_the_working_directory(tmp_path: Path) -> None:
    home, elsewhere = tmp_path / "home", tmp_path / "elsewhere"
    elsewhere.mkdir()
    r = run(["db", "upgrade"], elsewhere, BTSPLAN_HOME=str(home))
    assert r.returncode == 0, r.stderr
    assert (home / "data" / "btsplan.sqlite").exists()
    assert not (elsewhere / "data").exists(), "nothing is created in the working directory"
    r = run(["keys", "create", "--role", "admin", "--name", "ops"], tmp_path, BTSPLAN_HOME=str(home))
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("args", [["keys", "create", "--role", "admin"], ["classify"], ["check", "all"],
                                  ["export", "sites", "--format", "csv", "--out", "sites.csv"]],
                         ids=lambda a: a[0])
def test_cli_on_an_unmigrated_database_is_one_line(tmp_path: Path, args: list[str]) -> None:
    """Every command that reads the database, run from a folder that is not the home."""
    r = run(args, tmp_path, BTSPLAN_HOME=str(tmp_path / "empty"))
    assert r.returncode != 0
    lines = [ln for ln in (r.stdout + r.stderr).splitlines() if ln.strip()]
    assert len(lines) == 1, lines
    assert "btsplan db upgrade" in lines[0]
    assert "Traceback" not in r.stderr


def test_health_and_reads_on_an_unmigrated_database_say_upgrade(tmp_path: Path) -> None:
    with TestClient(create_app(Settings(home=tmp_path, database_url="sqlite:///empty.sqlite"))) as c:
        r = c.get("/health")
        assert r.status_code == 503
        assert "btsplan db upgrade" in r.json()["detail"]
        r = c.get("/stats/sites")
        assert r.status_code == 503
        assert "btsplan db upgrade" in r.json()["detail"]
