"""Liveness and readiness: ``/health`` checks the database and names the backend.

With read replicas (``BTSPLAN_READ_DATABASE_URLS``) it also lists each one: reachable, lag in seconds,
and whether reads currently go there. A replica that is down does not make the service unhealthy —
reads fall back to the primary — so only the primary decides between 200 and 503."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

from app import __version__
from app.deps import EngineDep
from app.errors import problem_response
from geodata.store.db import engine_backend
from geodata.store.migrate import NotMigrated, require_current
from planning.i18n import N_

router = APIRouter(tags=["health"])


@router.get("/health", summary="Health check (database included)")
def health(request: Request, engine: EngineDep) -> JSONResponse:
    backend = engine_backend(engine)
    reads = request.app.state.reads
    extra = {"replicas": reads.status()} if reads.replicas else {}
    try:
        require_current(engine)
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
            sites = conn.execute(text("SELECT count(*) FROM sites")).scalar()
    except NotMigrated as exc:
        return problem_response(503, N_("Database not migrated"), str(exc), "/health", backend=backend, **extra)
    except Exception as exc:  # noqa: BLE001 — any failure here means "not healthy"
        return problem_response(503, N_("Database unavailable"), str(exc).splitlines()[0], "/health",
                                backend=backend, **extra)
    return JSONResponse({"status": "ok", "backend": backend, "version": __version__, "sites": sites, **extra})
