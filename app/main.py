"""FastAPI application factory: one app per database, so tests can build one per backend."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.middleware.gzip import GZipMiddleware

from app import __version__, errors, openapi, web
from app.routers import cables as cables_router
from app.routers import features as features_router
from app.routers import tiles as tiles_router
from app.routers import ogc_tiles as ogc_tiles_router
from app.routers import checks as checks_router
from app.routers import stats as stats_router
from app.routers import exports as exports_router
from app.routers import health
from app.routers import audit as audit_router
from app.routers import programmes as programmes_router
from app.routers import inspections as inspections_router
from app.routers import monitoring as monitoring_router
from app.routers import plans as plans_router
from app.routers import map as map_router
from app.routers import staff_auth as staff_auth_router
from app.routers import workspace as workspace_router
from app.routers import workspace_admin as workspace_admin_router
from app.routers import workspace_inspections as workspace_inspections_router
from app.routers import workspace_cables as workspace_cables_router
from app.gate import Gate
from app.language import Language
from app.security import RejectMalformedQuery, SecurityHeaders
from geodata.store.db import make_engine, session_factory
from geodata.store.replicas import ReadEngines
from geodata.settings import Settings, get_settings


#: What a browser on an allowed origin may send (every method and request header the API reads) and
#: read back (``ETag`` is the plans' ``If-Match`` token).
CORS_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH"]
CORS_HEADERS = ["Authorization", "Content-Type", "Idempotency-Key", "If-Match", "If-None-Match"]
CORS_EXPOSED = ["ETag", "Location", "Retry-After", "Content-Disposition", "X-Data-Version"]

#: in inclusion order: where two routers could answer the same path, the one included first does
_ROUTERS = (health, audit_router, programmes_router, inspections_router, monitoring_router, features_router,
            tiles_router, ogc_tiles_router, checks_router, stats_router, exports_router, plans_router, cables_router, map_router,
            staff_auth_router, workspace_router, workspace_admin_router,
            workspace_cables_router, workspace_inspections_router)


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    if app.state.settings.warm_check_context:
        checks_router.warm_site_checks(app.state.engine, app.state.settings)
    yield
    app.state.reads.dispose()  # read-replica pools, and the tile pools opened on first tile
    tiles = getattr(app.state, "tiles", None)
    if tiles is not None:
        tiles.dispose()


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    app = FastAPI(
        title="btsplan",
        version=__version__,
        description=(
            "Quy hoạch hạ tầng kỹ thuật viễn thông thụ động — passive telecom infrastructure planning: "
            "BTS sites and mast classes, A1-only zones and routes, spacing, cable undergrounding."
        ),
        docs_url=None,  # /docs and /redoc: app.openapi serves them from vendored assets (offline, strict CSP)
        redoc_url=None,
        openapi_url="/openapi.json",
        lifespan=_lifespan,
    )
    app.state.settings = settings
    app.state.engine = make_engine(settings.database_url, statement_timeout_ms=settings.statement_timeout_ms,
                                   serving=True)
    app.state.sessions = session_factory(app.state.engine)
    # reads of tiles, features, stats and map data (app.deps.ReadEngineDep); a SQLite URL here is refused
    app.state.reads = ReadEngines(app.state.engine, settings.read_database_urls,
                                  statement_timeout_ms=settings.statement_timeout_ms)
    errors.install(app)
    web.install(app)  # the workspace's sign-in redirect
    app.add_middleware(GZipMiddleware, minimum_size=1024)
    app.add_middleware(RejectMalformedQuery)
    # keys, roles, body caps and JSON depth before any route reads the body
    app.add_middleware(Gate, routes=[route for module in _ROUTERS for route in module.router.routes])
    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=CORS_METHODS,
                           allow_headers=CORS_HEADERS, expose_headers=CORS_EXPOSED)
    app.add_middleware(Language, default=settings.lang)  # ?lang= / Accept-Language for everything inside, error answers too
    app.add_middleware(SecurityHeaders)  # outermost: its headers are on every answer, early ones too
    for module in _ROUTERS:
        app.include_router(module.router)
    openapi.install(app)
    return app
