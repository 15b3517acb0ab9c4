"""The audit log, read-only, for admins.

There is deliberately no route that updates or deletes audit entries (PUT/PATCH/DELETE answer 405):
the log is written only by :func:`geodata.store.audit.record`, inside the transaction of each change.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from app.auth import AdminOnly
from app.deps import MAX_OFFSET, EngineDep
from geodata.store import audit

router = APIRouter(tags=["audit"])


@router.get("/audit", summary="Audit entries (admin only), oldest first")
def read_audit(
    engine: EngineDep,
    _who: AdminOnly,
    entity: Annotated[str | None, Query(max_length=50, description="plan, site, cable_segment, api_key, …")] = None,
    id: Annotated[str | None, Query(max_length=100, description="Entity id (plan id, site code, …)")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> dict[str, Any]:
    with engine.connect() as conn:
        rows = audit.entries(conn, entity or None, id, limit=limit, offset=offset)
    return {"entries": rows, "numberReturned": len(rows), "limit": limit, "offset": offset}


@router.get("/audit/verify", summary="Check the audit log's hash chain (admin only)")
def verify_audit(engine: EngineDep, _who: AdminOnly) -> dict[str, Any]:
    """The whole chain is read (one pass, flat memory): ``intact``, the ``head`` to keep as an anchor for
    ``btsplan audit verify --anchor``, and the first ``broken`` row (changed, deleted or inserted)."""
    with engine.connect() as conn:
        report = audit.verify(conn)
    head = None if report.head_id is None else {"id": report.head_id, "hash": report.head_hash}
    broken = report.broken
    return {"intact": report.intact, "rows": report.rows, "head": head,
            "broken": None if broken is None else {"id": broken.id, "problem": broken.problem,
                                                   "detail": broken.detail}}
