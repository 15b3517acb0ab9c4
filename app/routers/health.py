"""Liveness and readiness: ``/health`` checks the database and names the backend."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text

from app import __version__
from app.deps import EngineDep
from app.errors import problem_response
from geodata.db import engine_backend

router = APIRouter(tags=["health"])


@router.get("/health", summary="Health check (database included)")
def health(engine: EngineDep) -> JSONResponse:
    backend = engine_backend(engine)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
            sites = conn.execute(text("SELECT count(*) FROM sites")).scalar()
    except Exception as exc:  # noqa: BLE001 — any failure here means "not healthy"
        return problem_response(503, "Database unavailable", str(exc).splitlines()[0], "/health",
                                backend=backend)
    return JSONResponse({"status": "ok", "backend": backend, "version": __version__, "sites": sites})
