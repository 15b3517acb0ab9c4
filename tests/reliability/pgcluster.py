"""A throwaway PostgreSQL cluster for fault tests, so stopping it never disturbs the shared test cluster."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import uuid
from pathlib import Path

import pytest


def _free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return int(port)


class ThrowawayCluster:
    def __init__(self) -> None:
        vers = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
        if not vers or os.geteuid() != 0 or not shutil.which("pg_createcluster"):
            pytest.skip("needs root and Debian's postgresql-common to create a throwaway cluster")
        self.ver = vers[-1].parts[-3]
        self.name = f"fault{uuid.uuid4().hex[:6]}"
        self.port = _free_port()

    def _run(self, *args: str) -> None:
        subprocess.run(list(args), check=True, capture_output=True, timeout=120)

    def create(self) -> str:
        try:
            return self._create()
        except Exception:
            self.drop()
            raise

    def _create(self) -> str:
        self._run("pg_createcluster", self.ver, self.name, "-p", str(self.port), "--", "-A", "trust")
        self.start()
        for sql in ("CREATE ROLE fault LOGIN SUPERUSER PASSWORD 'fault'", "CREATE DATABASE fault OWNER fault"):
            self._run("su", "postgres", "-c", f"psql -p {self.port} -qc \"{sql}\"")
        return f"postgresql+psycopg://fault:fault@127.0.0.1:{self.port}/fault"

    def start(self) -> None:
        self._run("pg_ctlcluster", "--skip-systemctl-redirect", self.ver, self.name, "start")
        for _ in range(50):
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return
            except OSError:
                time.sleep(0.1)

    def stop(self) -> None:
        self._run("pg_ctlcluster", "--skip-systemctl-redirect", self.ver, self.name, "stop", "-m", "fast")

    def drop(self) -> None:
        subprocess.run(["pg_dropcluster", "--stop", self.ver, self.name], capture_output=True, timeout=120)
