"""A real ``btsplan serve`` (or uvicorn with a chosen protocol) on loopback, and a raw HTTP/1.1 client.

The limits under test act before a body is read or while headers trickle in; only a socket we drive
by hand can show that (an HTTP library sends the whole body first, and always sends complete headers).
"""

from __future__ import annotations

import os
import select
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psutil
from sqlalchemy import Engine

from tests.app.live import ROOT, free_port, stop, wait_for_health
from tests.conftest import db_url

#: ``btsplan serve`` as the deployment runs it (its protocol is httptools)
#: one worker: `serve` now starts one per core, and these tests watch the serving process's own
#: memory and open files (a supervisor holds neither the request bodies nor their spooled files)
SERVE = [sys.executable, "-m", "app.cli", "serve", "--workers", "1"]
#: the same app on uvicorn with the pure-Python h11 protocol of app.serving
UVICORN_H11 = [sys.executable, "-m", "uvicorn", "app.main:create_app", "--factory",
               "--http", "app.serving:NoDelayH11Protocol", "--no-server-header"]


@dataclass
class Server:
    host: str
    port: int
    proc: subprocess.Popen[bytes]
    log: Path

    @property
    def base(self) -> str:
        return f"http://{self.host}:{self.port}"

    def log_text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")


@contextmanager
def live(engine: Engine, log: Path, command: list[str] = SERVE, **env: str) -> Iterator[Server]:
    """The app on ``engine``'s database, its stdout and stderr (access log included) in ``log``."""
    port = free_port()
    environ = {**os.environ, "BTSPLAN_DATABASE_URL": db_url(engine), **env}
    with log.open("wb") as out:
        proc = subprocess.Popen([*command, "--host", "127.0.0.1", "--port", str(port)], cwd=ROOT, env=environ,
                                stdout=out, stderr=subprocess.STDOUT)
        server = Server("127.0.0.1", port, proc, log)
        try:
            wait_for_health(server.base, proc, server.log_text, seconds=60)
            yield server
        finally:
            stop(proc)


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes
    seconds: float  # from the first byte sent to the end of the reply
    body_bytes_sent: int  # how much of the request body went out before the reply came


def exchange(server: Server, head: bytes, body: Iterable[bytes] = (), timeout: float = 20.0,
             push: bool = False, patience: float = 0.0) -> Reply:
    """Send ``head``, wait up to ``patience`` seconds for an answer, then send ``body`` chunk by chunk,
    and read the reply until the server closes or its ``Content-Length`` is in. The body stops as soon
    as the server answers, unless ``push``: then it goes on until the server stops taking it (a hostile
    client does not listen)."""
    sock = socket.create_connection((server.host, server.port), timeout=timeout)
    start, sent, received = time.monotonic(), 0, b""
    try:
        sock.sendall(head)
        wait = patience
        for chunk in body:
            readable, wait = select.select([sock], [], [], wait)[0], 0.0
            if readable:
                if not push:
                    break  # the answer is there: the server did not wait for the body
                data = _recv(sock)
                received += data
                if not data:
                    break
            try:
                sock.sendall(chunk)
            except OSError:  # reset or broken pipe: the server closed the connection
                break
            sent += len(chunk)
        while not _complete(received):
            data = _recv(sock)
            if not data:
                break
            received += data
    finally:
        sock.close()
    return _parse(received, time.monotonic() - start, sent)


def _recv(sock: socket.socket) -> bytes:
    try:
        return sock.recv(65536)
    except ConnectionResetError:
        return b""


def _complete(raw: bytes) -> bool:
    head, sep, rest = raw.partition(b"\r\n\r\n")
    if not sep:
        return False
    length = _parse(raw, 0, 0).headers.get("content-length")
    return length is not None and len(rest) >= int(length)


def _parse(raw: bytes, seconds: float, sent: int) -> Reply:
    head, _, rest = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1]) if lines and lines[0].startswith("HTTP/") else 0
    headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
    return Reply(status, headers, rest, seconds, sent)


def request_head(method: str, path: str, headers: dict[str, str]) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def rss_bytes(proc: subprocess.Popen[bytes]) -> int:
    return int(psutil.Process(proc.pid).memory_info().rss)


def files_open_under(proc: subprocess.Popen[bytes], folder: Path) -> list[str]:
    """The files ``proc`` holds open under ``folder``, unlinked temporary files included (a spooled
    upload is an ``O_TMPFILE`` that no directory listing shows)."""
    found = []
    fds = Path(f"/proc/{proc.pid}/fd")
    for fd in fds.iterdir() if fds.exists() else ():
        try:
            target = os.readlink(fd)
        except OSError:  # closed meanwhile
            continue
        if target.startswith(str(folder)):
            found.append(target)
    return found
