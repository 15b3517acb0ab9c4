"""Helpers every benchmark needs: a timestamped log line and the PostgreSQL server to benchmark on."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def postgres_base_url() -> str:
    """``BTSPLAN_BENCH_POSTGRES_URL``, else the test URL, else the local cluster (scripts/pg_local.sh)."""
    url = os.environ.get("BTSPLAN_BENCH_POSTGRES_URL") or os.environ.get("BTSPLAN_TEST_POSTGRES_URL")
    if not url:
        url = subprocess.run(["bash", str(ROOT / "scripts" / "pg_local.sh")], capture_output=True, text=True,
                             check=True).stdout.strip()
    return url
