"""A throwaway PostgreSQL cluster for fault tests, so stopping it never disturbs the shared test cluster.

``create(replication=True)`` makes a primary that streams WAL (``wal_level=replica``, WAL senders, a
``replicator`` role allowed by pg_hba); ``create_standby(primary)`` makes a hot standby of it from
``pg_basebackup -R``, on its own port."""

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

    def create(self, replication: bool = False) -> str:
        try:
            return self._create(replication)
        except Exception:
            self.drop()
            raise

    def _create(self, replication: bool = False) -> str:
        opts = ["-o", "wal_level=replica", "-o", "max_wal_senders=4"] if replication else []
        self._run("pg_createcluster", self.ver, self.name, "-p", str(self.port), *opts, "--", "-A", "trust")
        if replication:
            with open(f"/etc/postgresql/{self.ver}/{self.name}/pg_hba.conf", "a") as hba:
                hba.write("host replication replicator 127.0.0.1/32 trust\n")
        self.start()
        sqls = ["CREATE ROLE fault LOGIN SUPERUSER PASSWORD 'fault'", "CREATE DATABASE fault OWNER fault"]
        if replication:
            sqls.append("CREATE ROLE replicator LOGIN REPLICATION")
        for sql in sqls:
            self._run("su", "postgres", "-c", f"psql -p {self.port} -qc \"{sql}\"")
        return self.url

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://fault:fault@127.0.0.1:{self.port}/fault"

    def create_standby(self, primary: ThrowawayCluster) -> str:
        """This cluster as a streaming hot standby of ``primary`` (made with ``create(replication=True)``)."""
        try:
            self._run("pg_createcluster", self.ver, self.name, "-p", str(self.port), "--", "-A", "trust")
            data = f"/var/lib/postgresql/{self.ver}/{self.name}"
            shutil.rmtree(data)
            self._run("su", "postgres", "-c", f"pg_basebackup -h 127.0.0.1 -p {primary.port} -U replicator "
                      f"-D {data} -R -X stream -c fast")
            self.start()
        except Exception:
            self.drop()
            raise
        return self.url

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
