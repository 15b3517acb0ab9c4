"""Dependency aliases used by every router (tipg / FastAPI full-stack template style)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from geodata.settings import Settings


def get_engine(request: Request) -> Engine:
    return request.app.state.engine


def get_read_engine(request: Request) -> Engine:
    """The engine for a read-only request: a read replica in turn, or the primary when none is
    configured or none answers (see :class:`geodata.store.replicas.ReadEngines`). Pick it once per request
    and use it for everything the request reads, the data version included."""
    return request.app.state.reads.pick()


def get_settings_dep(request: Request) -> Settings:
    return request.app.state.settings


def get_session(request: Request) -> Iterator[Session]:
    with request.app.state.sessions() as session:
        yield session


EngineDep = Annotated[Engine, Depends(get_engine)]
ReadEngineDep = Annotated[Engine, Depends(get_read_engine)]
SessionDep = Annotated[Session, Depends(get_session)]
SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
