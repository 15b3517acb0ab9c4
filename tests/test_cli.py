"""The CLI reports bad configuration as one clear line, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "app.cli", *args], capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=120)


@pytest.mark.parametrize("url, needle", [
    ("not a url", "malformed"),
    ("mysql://u:p@localhost/db", "unsupported backend"),
    ("postgresql+psycopg://nobody:x@127.0.0.1:1/nope", "cannot reach the database"),
])
def test_bad_database_url_is_one_line(url: str, needle: str) -> None:
    r = run(["db", "upgrade"], {"BTSPLAN_DATABASE_URL": url})
    assert r.returncode != 0
    assert needle in r.stderr
    assert "Traceback" not in r.stderr
    assert len([ln for ln in r.stderr.splitlines() if ln.strip()]) <= 2


def test_version_and_upgrade_demo(tmp_path: Path) -> None:
    env = {"BTSPLAN_DATABASE_URL": f"sqlite:///{tmp_path / 'x.sqlite'}"}
    assert run(["--version"], env).stdout.startswith("btsplan ")
    r = run(["db", "upgrade"], env)
    assert r.returncode == 0, r.stderr
    r = run(["demo", "--sites", "200", "--seed", "3"], env)
    assert r.returncode == 0, r.stderr
    r = run(["demo", "--sites", "200", "--seed", "3"], env)
    assert "already loaded" in r.stdout
