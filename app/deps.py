"""Dependency aliases used by every router (tipg / FastAPI full-stack template style)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from geodata.settings import Settings


#: Largest ``offset`` any paged endpoint takes: beyond it no client pages, and an unbounded integer would
#: overflow the database's 64-bit parameters (a 500 instead of a 422).
MAX_OFFSET = 10_000_000


def get_engine(request: Request) -> Engine:
    return request.app.state.engine


def get_read_engine(request: Request) -> Engine:
    """The engine for a read-only request: a read replica in turn, or the primary when none is
    configured or none answers (see :class:`geodata.store.replicas.ReadEngines`). Pick it once per request
    and use it for everything the request reads, the data version included."""
    return request.app.state.reads.pick()


def get_settings_dep(request: Request) -> Settings:
    return request.app.state.settings


def public_base(request: Request) -> str:
    """The base URL links are built from, never an arbitrary ``Host`` header: a client that sends
    ``Host: evil.example`` must not get links (next pages, TileJSON tile URLs) pointing there, since
    caches and clients would follow them. ``BTSPLAN_PUBLIC_URL`` when set; else the request's own base
    when its host is in ``BTSPLAN_ALLOWED_HOSTS`` (loopback by default, for `make run`); else the address
    the server actually listens on."""
    settings: Settings = request.app.state.settings
    if settings.public_url:
        return settings.public_url.rstrip("/")
    host = (request.url.hostname or "").strip("[]").lower()
    if host in {h.strip("[]").lower() for h in settings.allowed_hosts}:
        return str(request.base_url).rstrip("/")
    host, port = request.scope.get("server") or ("127.0.0.1", 8000)
    scheme = request.url.scheme
    addr = f"[{host}]" if ":" in str(host) else str(host)
    if port and (scheme, port) not in (("http", 80), ("https", 443)):
        addr = f"{addr}:{port}"
    return f"{scheme}://{addr}{request.scope.get('root_path', '').rstrip('/')}"


def get_session(request: Request) -> Iterator[Session]:
    with request.app.state.sessions() as session:
        yield session


EngineDep = Annotated[Engine, Depends(get_engine)]
ReadEngineDep = Annotated[Engine, Depends(get_read_engine)]
SessionDep = Annotated[Session, Depends(get_session)]
SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
